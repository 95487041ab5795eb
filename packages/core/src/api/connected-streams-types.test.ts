import { describe, expectTypeOf, it } from 'vitest';
import { outputTag } from '../contracts/output-tag.ts';
import { mapState, valueState } from '../state/descriptors.ts';
import type {
  BroadcastConnectedStream,
  BroadcastStream,
  KeyedBroadcastConnectedStream,
} from './broadcast-stream.ts';
import type { ConnectedStreams, KeyedConnectedStreams } from './connected-streams.ts';
import type { SingleOutputStream } from './data-stream.ts';
import { StreamExecutionEnvironment } from './environment.ts';

// Checked by `pnpm typecheck`: object literals get their parameter types from connect().
describe('connect() is typed end to end', () => {
  it('infers both inputs, keys, state and output types', () => {
    const env = new StreamExecutionEnvironment('types', 1, 128);
    const clicks = env.fromCollection([{ user: 'u', page: 'p' }]);
    const amounts = env.fromCollection([{ user: 'u', amount: 1 }]);
    const connected = clicks.connect(amounts);
    expectTypeOf(connected).toEqualTypeOf<
      ConnectedStreams<{ user: string; page: string }, { user: string; amount: number }>
    >();
    expectTypeOf(connected.map({ map1: (c) => c.page, map2: (a) => String(a.amount) })).toEqualTypeOf<
      SingleOutputStream<string>
    >();
    expectTypeOf(
      connected.flatMap<number>({ flatMap1: (c) => [c.page.length], flatMap2: (a) => [a.amount] }),
    ).toEqualTypeOf<SingleOutputStream<number>>();
    const late = outputTag<number>('late');
    connected.process<string>({
      processElement1(c, ctx, out) {
        expectTypeOf(c.page).toEqualTypeOf<string>();
        expectTypeOf(ctx.timestamp).toEqualTypeOf<number | undefined>();
        out.collect(c.page);
      },
      processElement2(a, ctx) {
        ctx.output(late, a.amount);
      },
    });

    const keyed = connected.keyBy(
      (c) => c.user,
      (a) => a.user,
    );
    expectTypeOf(keyed).toEqualTypeOf<
      KeyedConnectedStreams<string, { user: string; page: string }, { user: string; amount: number }>
    >();
    expectTypeOf(clicks.keyBy((c) => c.user).connect(amounts.keyBy((a) => a.user))).toEqualTypeOf(keyed);
    const total = valueState<number>('total', { defaultValue: 0 });
    keyed.process<number>({
      processElement1(_c, ctx) {
        expectTypeOf(ctx.key).toEqualTypeOf<string>();
        expectTypeOf(ctx.getState(total).value()).toEqualTypeOf<number | undefined>();
      },
      processElement2(a, ctx) {
        ctx.timerService.registerEventTimeTimer(a.amount);
      },
      onTimer(_timestamp, ctx, out) {
        out.collect(ctx.getState(total).value()!);
      },
    });

    const rules = mapState<string, { min: number }>('rules');
    const broadcast = amounts.broadcast(rules);
    expectTypeOf(broadcast).toEqualTypeOf<BroadcastStream<{ user: string; amount: number }>>();
    expectTypeOf(clicks.connect(broadcast)).toEqualTypeOf<
      BroadcastConnectedStream<{ user: string; page: string }, { user: string; amount: number }>
    >();
    const byUser = clicks.keyBy((c) => c.user).connect(broadcast);
    expectTypeOf(byUser).toEqualTypeOf<
      KeyedBroadcastConnectedStream<string, { user: string; page: string }, { user: string; amount: number }>
    >();
    const seen = mapState<string, number>('seen');
    byUser.process<string>({
      processElement(c, ctx, out) {
        expectTypeOf(ctx.getBroadcastState(rules).get(c.page)).toEqualTypeOf<{ min: number } | undefined>();
        // @ts-expect-error the keyed side only reads broadcast state
        ctx.getBroadcastState(rules).put('x', { min: 1 });
        out.collect(ctx.key);
      },
      processBroadcastElement(a, ctx) {
        ctx.getBroadcastState(rules).put(a.user, { min: a.amount });
        ctx.applyToKeyedState(seen, (user, state) => {
          expectTypeOf(user).toEqualTypeOf<string>();
          state.remove(a.user);
        });
      },
    });
    clicks.connect(broadcast).process<string>({
      processElement(c, ctx, out) {
        out.collect(`${c.page}${ctx.getBroadcastState(rules).isEmpty()}`);
      },
      processBroadcastElement(a, ctx) {
        ctx.getBroadcastState(rules).remove(a.user);
      },
    });
    expectTypeOf(amounts.broadcast()).toEqualTypeOf<ReturnType<typeof amounts.rebalance>>();
  });
});
