/**
 * Nexmark Query 0, pass-through: every bid, unchanged. Measures the cost of the source, the
 * framework and the sink with no work in between (nexmark-flink `q0.sql` selects all bid columns).
 */
import { defineJob } from '@sluice/core';
import { type NexmarkConfig, nexmarkEvent } from '../generator.ts';
import type { Bid } from '../model.ts';
import { nexmarkInput, type QueryArgs, queryOutput } from './query-io.ts';

export type Q0Out = Bid;

export default defineJob<QueryArgs>({ name: 'nexmark-q0' }, (env, args) => {
  const bids = nexmarkInput(env, args).flatMap<Bid>((event, out) => {
    if (event.kind === 'bid') out.collect(event.bid);
  });
  bids.name('pass-through');
  queryOutput(bids, args);
});

/** The same by hand: one loop over the events. */
export function q0Plain(config: NexmarkConfig, events: number, emit: (out: Q0Out) => void): void {
  for (let n = 0; n < events; n++) {
    const event = nexmarkEvent(n, config);
    if (event.kind === 'bid') emit(event.bid);
  }
}
