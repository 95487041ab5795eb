/**
 * Nexmark Query 1 (see `q1.ts`) with a `rebalance()` between the source and the conversion, so
 * every record crosses a channel between tasks: for measuring the latency of the exchange.
 * The results are the same as q1's; `q1Plain` is its reference.
 */
import { defineJob } from '@sluice/core';
import { q1Query } from './q1.ts';
import { nexmarkInput, type QueryArgs, queryOutput } from './query-io.ts';

export default defineJob<QueryArgs>({ name: 'nexmark-q1-rebalance' }, (env, args) => {
  queryOutput(q1Query(nexmarkInput(env, args).rebalance()), args);
});
