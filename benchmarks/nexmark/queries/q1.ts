/**
 * Nexmark Query 1, currency conversion: every bid with its price turned from dollars to euros
 * (nexmark-flink `q1.sql`: `0.908 * price`). Prices are integer cents, so the euro price is too:
 * `floor(price * 908 / 1000)`, exact in doubles (`price * 908` stays far below 2^53).
 */
import { type Collector, type DataStream, defineJob } from '@sluice/core';
import { type NexmarkConfig, nexmarkEvent } from '../generator.ts';
import type { Bid, NexmarkEvent } from '../model.ts';
import { nexmarkInput, type QueryArgs, queryOutput } from './query-io.ts';

export interface Q1Out {
  readonly auction: number;
  readonly bidder: number;
  /** Euro cents, rounded down. */
  readonly price: number;
  readonly dateTime: number;
  readonly extra: string;
}

/** Dollar cents to euro cents at 0.908, rounded down. */
export function dollarsToEuros(cents: number): number {
  return Math.floor((cents * 908) / 1000);
}

function convert(bid: Bid): Q1Out {
  return {
    auction: bid.auction,
    bidder: bid.bidder,
    price: dollarsToEuros(bid.price),
    dateTime: bid.dateTime,
    extra: bid.extra,
  };
}

function convertBids(event: NexmarkEvent, out: Collector<Q1Out>): void {
  if (event.kind === 'bid') out.collect(convert(event.bid));
}

/** The query on a stream of events: one flatMap (selecting bids and converting them). */
export function q1Query(events: DataStream<NexmarkEvent>): DataStream<Q1Out> {
  return events.flatMap(convertBids).name('currency-conversion');
}

/** Chained: source, conversion and sink run in one task per subtask. */
export default defineJob<QueryArgs>({ name: 'nexmark-q1' }, (env, args) => {
  queryOutput(q1Query(nexmarkInput(env, args)), args);
});

/** The same by hand: one loop over the events. */
export function q1Plain(config: NexmarkConfig, events: number, emit: (out: Q1Out) => void): void {
  for (let n = 0; n < events; n++) {
    const event = nexmarkEvent(n, config);
    if (event.kind === 'bid') {
      const bid = event.bid;
      emit({
        auction: bid.auction,
        bidder: bid.bidder,
        price: Math.floor((bid.price * 908) / 1000),
        dateTime: bid.dateTime,
        extra: bid.extra,
      });
    }
  }
}
