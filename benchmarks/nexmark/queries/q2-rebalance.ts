/**
 * Nexmark Query 2 (see `q2.ts`) with a `rebalance()` between the source and the selection, so
 * every record crosses a channel between tasks: for measuring the latency of the exchange.
 * The results are the same as q2's; `q2Plain` is its reference.
 */
import { defineJob } from '@sluice/core';
import { q2Query } from './q2.ts';
import { nexmarkInput, type QueryArgs, queryOutput } from './query-io.ts';

export default defineJob<QueryArgs>({ name: 'nexmark-q2-rebalance' }, (env, args) => {
  queryOutput(q2Query(nexmarkInput(env, args).rebalance()), args);
});
