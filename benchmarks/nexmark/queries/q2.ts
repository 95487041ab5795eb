/**
 * Nexmark Query 2, selection: the auction and price of bids on every 123rd auction
 * (nexmark-flink `q2.sql`: `WHERE MOD(auction, 123) = 0`).
 */
import { type Collector, type DataStream, defineJob } from '@sluice/core';
import { type NexmarkConfig, nexmarkEvent } from '../generator.ts';
import type { NexmarkEvent } from '../model.ts';
import { nexmarkInput, type QueryArgs, queryOutput } from './query-io.ts';

export interface Q2Out {
  readonly auction: number;
  readonly price: number;
}

const AUCTION_MODULUS = 123;

function selectBids(event: NexmarkEvent, out: Collector<Q2Out>): void {
  if (event.kind === 'bid' && event.bid.auction % AUCTION_MODULUS === 0) {
    out.collect({ auction: event.bid.auction, price: event.bid.price });
  }
}

/** The query on a stream of events: one flatMap (selecting matching bids and projecting them). */
export function q2Query(events: DataStream<NexmarkEvent>): DataStream<Q2Out> {
  return events.flatMap(selectBids).name('selection');
}

/** Chained: source, selection and sink run in one task per subtask. */
export default defineJob<QueryArgs>({ name: 'nexmark-q2' }, (env, args) => {
  queryOutput(q2Query(nexmarkInput(env, args)), args);
});

/** The same by hand: one loop over the events. */
export function q2Plain(config: NexmarkConfig, events: number, emit: (out: Q2Out) => void): void {
  for (let n = 0; n < events; n++) {
    const event = nexmarkEvent(n, config);
    if (event.kind === 'bid' && event.bid.auction % 123 === 0) {
      emit({ auction: event.bid.auction, price: event.bid.price });
    }
  }
}
