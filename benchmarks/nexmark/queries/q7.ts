/**
 * Nexmark Query 7, highest bid: the bid(s) with the highest price in each tumbling window of
 * 10 s (nexmark-flink `q7.sql`: bids joined with their window's `MAX(price)`; ties all come out).
 *
 * Two stages, as a local-global aggregation: bids are spread over `SPREAD_KEYS` keys by their
 * millisecond (not by auction: half of all bids are on one hot auction) and each key keeps its
 * highest-priced bids per window (`aggregate`); then, keyed by window end, a
 * KeyedProcessFunction keeps the overall highest and emits them at the window's last millisecond.
 */
import {
  type AggregateFunction,
  type Collector,
  defineJob,
  type KeyedProcessContext,
  type KeyedProcessFunction,
  listState,
  type OnTimerContext,
  seconds,
  tumbling,
} from '@sluice/core';
import { maxOutOfOrdernessMs, type NexmarkConfig, nexmarkEvent } from '../generator.ts';
import { eventTimestamp, type NexmarkEvent } from '../model.ts';
import { nexmarkInput, type QueryArgs, queryOutput } from './query-io.ts';

/** A bid with the highest price of its window. */
export interface Q7Out {
  readonly auction: number;
  readonly bidder: number;
  readonly price: number;
  readonly dateTime: number;
  readonly extra: string;
}

const WINDOW_MS = seconds(10);
/** Keys of the first stage: enough to spread over any parallelism used here. */
const SPREAD_KEYS = 64;

/** The highest-priced bids of one window and key. */
interface Highest {
  readonly windowEnd: number;
  readonly bids: readonly Q7Out[];
}

/** Keeps the bids with the highest price (all of them when tied). */
const highestBids: AggregateFunction<Q7Out, Q7Out[], Q7Out[]> = {
  createAccumulator: () => [],
  add(bid, acc) {
    const top = acc[0];
    if (top === undefined || bid.price > top.price) return [bid];
    if (bid.price === top.price) acc.push(bid);
    return acc;
  },
  getResult: (acc) => acc,
  // Accumulators of one key and window, `b` from records after `a`'s: what adding them would give.
  merge(a, b) {
    const top = a[0];
    const other = b[0];
    if (top === undefined || (other !== undefined && other.price > top.price)) return b;
    if (other !== undefined && other.price === top.price) a.push(...b);
    return a;
  },
};

class HighestPerWindow implements KeyedProcessFunction<number, Highest, Q7Out> {
  readonly highest = listState<Q7Out>('highest');

  processElement(partial: Highest, ctx: KeyedProcessContext<number>, _out: Collector<Q7Out>): void {
    const state = ctx.getState(this.highest);
    const current = state.get();
    const top = current[0];
    const candidate = partial.bids[0];
    if (candidate === undefined) return;
    if (top === undefined) ctx.timerService.registerEventTimeTimer(partial.windowEnd - 1);
    if (top === undefined || candidate.price > top.price) state.update(partial.bids);
    else if (candidate.price === top.price) state.addAll(partial.bids);
  }

  onTimer(_timestamp: number, ctx: OnTimerContext<number>, out: Collector<Q7Out>): void {
    const state = ctx.getState(this.highest);
    for (const bid of state.get()) out.collect(bid);
    state.clear();
  }
}

function bidsOnly(event: NexmarkEvent, out: Collector<Q7Out>): void {
  if (event.kind === 'bid') {
    const b = event.bid;
    out.collect({
      auction: b.auction,
      bidder: b.bidder,
      price: b.price,
      dateTime: b.dateTime,
      extra: b.extra,
    });
  }
}

export default defineJob<QueryArgs>({ name: 'nexmark-q7' }, (env, args) => {
  const highest = nexmarkInput(env, args)
    .flatMap(bidsOnly)
    .name('bids')
    .keyBy((bid) => bid.dateTime % SPREAD_KEYS)
    .window(tumbling(WINDOW_MS))
    .aggregate(highestBids, (_key, window, bids): Highest => ({ windowEnd: window.end, bids }))
    .uid('highest-per-key')
    .keyBy((partial) => partial.windowEnd)
    .process(new HighestPerWindow())
    .name('highest-per-window')
    .uid('highest-per-window');
  queryOutput(highest, args);
});

/**
 * The same by hand: the highest-priced bids of each open window, and a watermark (highest event
 * time seen minus the generator's disorder) that closes windows.
 */
export function q7Plain(config: NexmarkConfig, events: number, emit: (out: Q7Out) => void): void {
  const size = 10_000;
  const disorderMs = maxOutOfOrdernessMs(config);
  const open = new Map<number, Q7Out[]>(); // window start -> its highest-priced bids
  let maxTimestamp = Number.NEGATIVE_INFINITY;
  for (let n = 0; n < events; n++) {
    const event = nexmarkEvent(n, config);
    const ts = eventTimestamp(event);
    if (ts > maxTimestamp) maxTimestamp = ts;
    if (event.kind === 'bid') {
      const b = event.bid;
      const start = ts - (ts % size);
      const top = open.get(start);
      const bid = {
        auction: b.auction,
        bidder: b.bidder,
        price: b.price,
        dateTime: b.dateTime,
        extra: b.extra,
      };
      if (top === undefined || b.price > (top[0] as Q7Out).price) open.set(start, [bid]);
      else if (b.price === (top[0] as Q7Out).price) top.push(bid);
    }
    if ((n & 1023) === 1023) {
      const watermark = maxTimestamp - disorderMs - 1;
      for (const [start, bids] of open) {
        if (start + size - 1 > watermark) continue;
        for (const bid of bids) emit(bid);
        open.delete(start);
      }
    }
  }
  for (const bids of open.values()) for (const bid of bids) emit(bid);
}
