import {
  type Collector,
  collectSink,
  defineJob,
  type KeyedProcessContext,
  type KeyedProcessFunction,
  type OnTimerContext,
  valueState,
} from '@sluice/core';
import type { NexmarkEvent, NexmarkEventKind } from '../model.ts';
import { nexmarkSource } from '../source.ts';

export interface CountByKindArgs {
  readonly events: number;
  readonly outOfOrderGroupSize?: number;
}

/** Per kind: how many events, and order-independent checksums of their contents. */
export interface KindSummary {
  readonly kind: NexmarkEventKind;
  readonly count: number;
  /** Sum of the ids an event carries (person id; auction id + seller; bid auction + bidder + price). */
  readonly idSum: number;
  readonly minTimestamp: number;
  readonly maxTimestamp: number;
}

/** The figures one event adds to its kind's summary (shared with the test's plain loop). */
export function idsOf(event: NexmarkEvent): number {
  switch (event.kind) {
    case 'person':
      return event.person.id;
    case 'auction':
      return event.auction.id + event.auction.seller;
    case 'bid':
      return event.bid.auction + event.bid.bidder + event.bid.price;
  }
}

class Summarise implements KeyedProcessFunction<NexmarkEventKind, NexmarkEvent, KindSummary> {
  readonly summary = valueState<KindSummary>('summary');

  processElement(event: NexmarkEvent, ctx: KeyedProcessContext<NexmarkEventKind>): void {
    const state = ctx.getState(this.summary);
    const timestamp = ctx.timestamp ?? Number.NaN;
    const s = state.value() ?? {
      kind: event.kind,
      count: 0,
      idSum: 0,
      minTimestamp: Number.POSITIVE_INFINITY,
      maxTimestamp: Number.NEGATIVE_INFINITY,
    };
    state.update({
      kind: s.kind,
      count: s.count + 1,
      idSum: s.idSum + idsOf(event),
      minTimestamp: Math.min(s.minTimestamp, timestamp),
      maxTimestamp: Math.max(s.maxTimestamp, timestamp),
    });
    ctx.timerService.registerEventTimeTimer(Number.MAX_SAFE_INTEGER);
  }

  onTimer(_timestamp: number, ctx: OnTimerContext<NexmarkEventKind>, out: Collector<KindSummary>): void {
    const s = ctx.getState(this.summary).value();
    if (s !== undefined) out.collect(s);
  }
}

/** Nexmark events, keyed by kind, summarised per kind when the input ends. */
export default defineJob<CountByKindArgs>({ name: 'nexmark-count-by-kind' }, (env, args) => {
  env
    .fromSource(
      nexmarkSource({
        events: args.events,
        ...(args.outOfOrderGroupSize === undefined ? {} : { outOfOrderGroupSize: args.outOfOrderGroupSize }),
      }),
      { name: 'nexmark' },
    )
    .uid('nexmark')
    .keyBy((event) => event.kind)
    .process(new Summarise())
    .uid('summarise')
    .sinkTo(collectSink('summaries'));
});
