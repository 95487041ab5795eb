/**
 * Nexmark Query 4, average price for a category: the mean winning price of the auctions of each
 * category (nexmark-flink `q4.sql`: the max in-time bid per auction, averaged per category).
 *
 * The reference is an updating SQL aggregate; here it is its event-time changelog, which is the
 * same whatever the arrival order: winning bids come from q9's operator at their auctions'
 * expiry, and a second KeyedProcessFunction, keyed by category, folds them in expiry order (an
 * event-time timer per expiry instant) and emits the category's running average after each
 * instant. The last record per category is the reference's final answer.
 */
import {
  type Collector,
  defineJob,
  type KeyedProcessContext,
  type KeyedProcessFunction,
  mapState,
  type OnTimerContext,
  valueState,
} from '@sluice/core';
import { type NexmarkConfig, nexmarkEvent } from '../generator.ts';
import { type Q9Out, WinningBidsLoop, winningBids } from './q9.ts';
import { nexmarkInput, type QueryArgs, queryOutput } from './query-io.ts';

export interface Q4Out {
  readonly category: number;
  /** Event time (the auctions' expiry) up to which the average is taken. */
  readonly time: number;
  /** Auctions of the category with a winning bid, expired by `time`. */
  readonly auctions: number;
  /** Mean winning price, cents: `sum / auctions`. */
  readonly averagePrice: number;
}

/** [sum of winning prices, auctions]. Sums of integer cents stay exact far beyond any run here. */
type Total = readonly [sum: number, count: number];

class AveragePrice implements KeyedProcessFunction<number, Q9Out, Q4Out> {
  readonly total = valueState<Total>('total');
  /** Winners not yet folded in, by expiry: the [sum, count] of their prices. */
  readonly pending = mapState<number, Total>('pending-by-expiry');

  processElement(won: Q9Out, ctx: KeyedProcessContext<number>, _out: Collector<Q4Out>): void {
    const pending = ctx.getState(this.pending);
    const at = pending.get(won.expires);
    pending.put(won.expires, at === undefined ? [won.price, 1] : [at[0] + won.price, at[1] + 1]);
    ctx.timerService.registerEventTimeTimer(won.expires);
  }

  onTimer(timestamp: number, ctx: OnTimerContext<number>, out: Collector<Q4Out>): void {
    const pending = ctx.getState(this.pending);
    const at = pending.get(timestamp);
    if (at === undefined) return;
    pending.remove(timestamp);
    const totalState = ctx.getState(this.total);
    const before = totalState.value() ?? [0, 0];
    const total: Total = [before[0] + at[0], before[1] + at[1]];
    totalState.update(total);
    out.collect({
      category: ctx.key,
      time: timestamp,
      auctions: total[1],
      averagePrice: total[0] / total[1],
    });
  }
}

export default defineJob<QueryArgs>({ name: 'nexmark-q4' }, (env, args) => {
  const averages = winningBids(nexmarkInput(env, args))
    .keyBy((won) => won.category)
    .process(new AveragePrice())
    .name('average-per-category')
    .uid('average-per-category');
  queryOutput(averages, args);
});

/**
 * The same by hand: the winning-bid loop of q9, whose winners come out in expiry order, and a
 * running sum and count per category, reported after each expiry instant.
 */
export function q4Plain(config: NexmarkConfig, events: number, emit: (out: Q4Out) => void): void {
  const winners = new WinningBidsLoop(config);
  const totals = new Map<number, { sum: number; count: number }>();
  const fold = (won: readonly Q9Out[]): void => {
    // Winners are sorted by expiry; all of one instant arrive in the same batch.
    let i = 0;
    while (i < won.length) {
      const time = (won[i] as Q9Out).expires;
      const touched = new Set<number>();
      for (; i < won.length && (won[i] as Q9Out).expires === time; i++) {
        const w = won[i] as Q9Out;
        const total = totals.get(w.category) ?? { sum: 0, count: 0 };
        total.sum += w.price;
        total.count += 1;
        totals.set(w.category, total);
        touched.add(w.category);
      }
      for (const category of touched) {
        const total = totals.get(category) as { sum: number; count: number };
        emit({ category, time, auctions: total.count, averagePrice: total.sum / total.count });
      }
    }
  };
  for (let n = 0; n < events; n++) {
    winners.add(nexmarkEvent(n, config));
    if ((n & 1023) === 1023) fold(winners.sweep());
  }
  fold(winners.flush());
}
