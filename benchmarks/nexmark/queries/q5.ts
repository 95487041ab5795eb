/**
 * Nexmark Query 5, hot items: in each sliding window of 10 s every 2 s, the auction(s) with the
 * most bids (nexmark-flink `q5.sql`: bids counted per auction in `HOP(2 s, 10 s)` windows,
 * joined with the per-window maximum; ties all come out).
 *
 * Two keyed stages: a sliding-window `count()` per auction, then, keyed by window end, a
 * KeyedProcessFunction that keeps the highest count and its auctions and emits them at an
 * event-time timer on the window's last millisecond (the timestamp the counts carry).
 */
import {
  type Collector,
  count,
  defineJob,
  type KeyedProcessContext,
  type KeyedProcessFunction,
  listState,
  type OnTimerContext,
  seconds,
  sliding,
  valueState,
} from '@sluice/core';
import { maxOutOfOrdernessMs, type NexmarkConfig, nexmarkEvent } from '../generator.ts';
import { type Bid, eventTimestamp, type NexmarkEvent } from '../model.ts';
import { nexmarkInput, type QueryArgs, queryOutput } from './query-io.ts';

/** A hot auction: its bid count in the window `[windowStart, windowEnd)`. */
export interface Q5Out {
  readonly auction: number;
  readonly count: number;
  readonly windowStart: number;
  readonly windowEnd: number;
}

const SIZE_MS = seconds(10);
const SLIDE_MS = seconds(2);

class HottestPerWindow implements KeyedProcessFunction<number, Q5Out, Q5Out> {
  /** The auctions with the highest count so far in this window (all with the same count). */
  readonly hottest = listState<Q5Out>('hottest');
  readonly highest = valueState<number>('highest-count');

  processElement(counted: Q5Out, ctx: KeyedProcessContext<number>, _out: Collector<Q5Out>): void {
    const highest = ctx.getState(this.highest);
    const max = highest.value();
    if (max === undefined) ctx.timerService.registerEventTimeTimer(counted.windowEnd - 1);
    if (max === undefined || counted.count > max) {
      highest.update(counted.count);
      ctx.getState(this.hottest).update([counted]);
    } else if (counted.count === max) {
      ctx.getState(this.hottest).add(counted);
    }
  }

  onTimer(_timestamp: number, ctx: OnTimerContext<number>, out: Collector<Q5Out>): void {
    const hottest = ctx.getState(this.hottest);
    for (const counted of hottest.get()) out.collect(counted);
    hottest.clear();
    ctx.getState(this.highest).clear();
  }
}

function bidsOnly(event: NexmarkEvent, out: Collector<Bid>): void {
  if (event.kind === 'bid') out.collect(event.bid);
}

export default defineJob<QueryArgs>({ name: 'nexmark-q5' }, (env, args) => {
  const hot = nexmarkInput(env, args)
    .flatMap(bidsOnly)
    .name('bids')
    .keyBy((bid) => bid.auction)
    .window(sliding(SIZE_MS, SLIDE_MS))
    .aggregate(
      count<Bid>(),
      (auction, window, n): Q5Out => ({
        auction,
        count: n,
        windowStart: window.start,
        windowEnd: window.end,
      }),
    )
    .uid('bids-per-auction')
    .keyBy((counted) => counted.windowEnd)
    .process(new HottestPerWindow())
    .name('hottest-per-window')
    .uid('hottest-per-window');
  queryOutput(hot, args);
});

/**
 * The same by hand: a map of counts per auction for each open window, and a watermark (highest
 * event time seen minus the generator's disorder); a window whose last millisecond the watermark
 * has reached is done: its hottest auctions are emitted and it is forgotten.
 */
export function q5Plain(config: NexmarkConfig, events: number, emit: (out: Q5Out) => void): void {
  const size = 10_000;
  const slide = 2_000;
  const disorderMs = maxOutOfOrdernessMs(config);
  const open = new Map<number, Map<number, number>>(); // window start -> auction -> bids
  let maxTimestamp = Number.NEGATIVE_INFINITY;
  const close = (start: number, counts: Map<number, number>): void => {
    let max = 0;
    for (const n of counts.values()) if (n > max) max = n;
    for (const [auction, n] of counts) {
      if (n === max) emit({ auction, count: n, windowStart: start, windowEnd: start + size });
    }
  };
  for (let n = 0; n < events; n++) {
    const event = nexmarkEvent(n, config);
    const ts = eventTimestamp(event);
    if (ts > maxTimestamp) maxTimestamp = ts;
    if (event.kind === 'bid') {
      const auction = event.bid.auction;
      for (let start = ts - (ts % slide); start > ts - size; start -= slide) {
        let counts = open.get(start);
        if (counts === undefined) {
          counts = new Map();
          open.set(start, counts);
        }
        counts.set(auction, (counts.get(auction) ?? 0) + 1);
      }
    }
    if ((n & 1023) === 1023) {
      const watermark = maxTimestamp - disorderMs - 1;
      for (const [start, counts] of open) {
        if (start + size - 1 <= watermark) {
          close(start, counts);
          open.delete(start);
        }
      }
    }
  }
  for (const [start, counts] of open) close(start, counts);
}
