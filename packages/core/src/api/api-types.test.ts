import { describe, expectTypeOf, it } from 'vitest';
import { outputTag } from '../contracts/output-tag.ts';
import { seconds } from '../time/duration.ts';
import type { TimeWindow } from '../time/windows.ts';
import { session, tumbling } from '../time/windows.ts';
import { count, sum } from './aggregates.ts';
import type { DataStream, KeyedStream, SingleOutputStream } from './data-stream.ts';
import { StreamExecutionEnvironment } from './environment.ts';

// Checked by `pnpm typecheck`: types flow through every operator without annotations.
describe('the API is typed end to end', () => {
  it('infers record types through operators, keys and windows', () => {
    const env = new StreamExecutionEnvironment('types', 1, 128);
    const clicks = env.fromCollection([{ page: 'a', user: 1, ts: 0 }]);
    expectTypeOf(clicks).toEqualTypeOf<SingleOutputStream<{ page: string; user: number; ts: number }>>();

    const pages = clicks.map((c) => c.page);
    expectTypeOf(pages).toEqualTypeOf<SingleOutputStream<string>>();
    expectTypeOf(clicks.flatMap((c) => [c.user, c.ts])).toEqualTypeOf<SingleOutputStream<number>>();
    expectTypeOf(clicks.flatMap<boolean>((c, out) => out.collect(c.user > 0))).toEqualTypeOf<
      SingleOutputStream<boolean>
    >();

    const keyed = clicks.assignTimestamps({ timestamp: (c) => c.ts }).keyBy((c) => c.page);
    expectTypeOf(keyed).toEqualTypeOf<KeyedStream<string, { page: string; user: number; ts: number }>>();
    expectTypeOf(keyed.reduce((a, b) => ({ page: a.page, user: a.user + b.user, ts: b.ts }))).toEqualTypeOf<
      SingleOutputStream<{ page: string; user: number; ts: number }>
    >();

    const counted = keyed.window(tumbling(seconds(10))).aggregate(count(), (page, window, n) => {
      expectTypeOf(page).toEqualTypeOf<string>();
      expectTypeOf(window).toEqualTypeOf<TimeWindow>();
      expectTypeOf(n).toEqualTypeOf<number>();
      return { page, n };
    });
    expectTypeOf(counted).toEqualTypeOf<SingleOutputStream<{ page: string; n: number }>>();
    expectTypeOf(keyed.window(session(5)).aggregate(sum((c) => c.user))).toEqualTypeOf<
      SingleOutputStream<number>
    >();

    const errors = outputTag<{ page: string; user: number; ts: number }>('errors');
    expectTypeOf(counted.getSideOutput(errors)).toEqualTypeOf<
      DataStream<{ page: string; user: number; ts: number }>
    >();

    // @ts-expect-error keys must be primitives
    clicks.keyBy((c) => ({ page: c.page }));
    // @ts-expect-error union needs streams of the same type
    pages.union(clicks);
  });
});
