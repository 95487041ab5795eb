/**
 * Nexmark Query 0, pass-through: every bid, unchanged. Measures the cost of the source, the
 * framework and the sink with no work in between (nexmark-flink `q0.sql` selects all bid columns).
 */
import { type Collector, defineJob } from '@sluice/core';
import { type NexmarkConfig, nexmarkEvent } from '../generator.ts';
import type { Bid, NexmarkEvent } from '../model.ts';
import { nexmarkInput, type QueryArgs, queryOutput } from './query-io.ts';

export type Q0Out = Bid;

function bidsOnly(event: NexmarkEvent, out: Collector<Bid>): void {
  if (event.kind === 'bid') out.collect(event.bid);
}

export default defineJob<QueryArgs>({ name: 'nexmark-q0' }, (env, args) => {
  queryOutput(nexmarkInput(env, args).flatMap(bidsOnly).name('pass-through'), args);
});

/** The same by hand: one loop over the events. */
export function q0Plain(config: NexmarkConfig, events: number, emit: (out: Q0Out) => void): void {
  for (let n = 0; n < events; n++) {
    const event = nexmarkEvent(n, config);
    if (event.kind === 'bid') emit(event.bid);
  }
}
