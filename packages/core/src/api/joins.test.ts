import { describe, expect, expectTypeOf, it } from 'vitest';
import { collectSink } from '../connectors/collect-sink.ts';
import { ConfigError, PlanError } from '../errors.ts';
import { resolveStreamGraph } from '../plan/stream-graph.ts';
import { tumbling } from '../time/windows.ts';
import type { SingleOutputStream } from './data-stream.ts';
import { StreamExecutionEnvironment } from './environment.ts';

interface Order {
  readonly id: string;
  readonly ts: number;
}
interface Payment {
  readonly orderId: string;
  readonly amount: number;
  readonly ts: number;
}

function streams() {
  const env = new StreamExecutionEnvironment('joins', 2, 128);
  const orders = env.fromCollection<Order>([]).assignTimestamps({ timestamp: (o) => o.ts });
  const payments = env.fromCollection<Payment>([]).assignTimestamps({ timestamp: (p) => p.ts });
  return { env, orders, payments };
}

describe('join API', () => {
  it('infers the types of both sides and the output', () => {
    const { orders, payments } = streams();
    const joined = orders
      .join(payments)
      .where((o) => o.id)
      .equalTo((p) => p.orderId)
      .window(tumbling(10))
      .apply((o, p) => ({ id: o.id, amount: p.amount }));
    expectTypeOf(joined).toEqualTypeOf<SingleOutputStream<{ id: string; amount: number }>>();
    const grouped = orders
      .coGroup(payments)
      .where((o) => o.id)
      .equalTo((p) => p.orderId)
      .window(tumbling(10))
      .apply<number>((os, ps, out) => out.collect(os.length + ps.length));
    expectTypeOf(grouped).toEqualTypeOf<SingleOutputStream<number>>();
    const interval = orders
      .keyBy((o) => o.id)
      .intervalJoin(payments.keyBy((p) => p.orderId))
      .between(0, 10)
      .process<string>({ processElement: (o, p, _ctx, out) => out.collect(`${o.id}${p.amount}`) });
    expectTypeOf(interval).toEqualTypeOf<SingleOutputStream<string>>();
  });

  it('names what is wrong in a window join or co-group', () => {
    const { orders, payments } = streams();
    const other = streams().payments;
    expect(() => orders.join(other)).toThrow(ConfigError);
    expect(() => orders.join(other)).toThrow('join: the other stream must be a DataStream of the same job');
    expect(() => orders.coGroup(null as never)).toThrow('coGroup: the other stream must be a DataStream');
    expect(() => orders.join(payments).where('id' as never)).toThrow(
      'join: where: expected a key selector function, got string',
    );
    expect(() =>
      orders
        .join(payments)
        .where((o) => o.id)
        .equalTo(undefined as never),
    ).toThrow('join: equalTo: expected a key selector function');
    expect(() =>
      orders
        .coGroup(payments)
        .where((o) => o.id)
        .equalTo((p) => p.orderId)
        .window({} as never),
    ).toThrow('coGroup: window expects a window assigner');
    const windowed = orders
      .join(payments)
      .where((o) => o.id)
      .equalTo((p) => p.orderId)
      .window(tumbling(10));
    expect(() => windowed.apply({} as never)).toThrow('join: apply: expected a join function');
    expect(() => windowed.flatApply(1 as never)).toThrow('join: flatApply: expected a flat join function');
  });

  it('names what is wrong in an interval join', () => {
    const { orders, payments } = streams();
    const keyed = orders.keyBy((o) => o.id);
    expect(() => keyed.intervalJoin(payments as never)).toThrow(
      'intervalJoin: the other stream must be a keyed stream (keyBy(...)) of the same job',
    );
    const join = keyed.intervalJoin(payments.keyBy((p) => p.orderId));
    expect(() => join.between(10, 5)).toThrow(
      'intervalJoin: between: the lower bound (10 ms) must not be above the upper bound (5 ms)',
    );
    expect(() => join.between(Number.NaN, 5)).toThrow(
      'intervalJoin: between: the lower bound must be a finite number of ms, got NaN',
    );
    expect(() => join.between(0, Number.POSITIVE_INFINITY)).toThrow(
      'the upper bound must be a finite number',
    );
    expect(() => join.between(0, 5).sideOutputLeftLateData('late' as never)).toThrow(
      "intervalJoin: sideOutputLeftLateData expects an output tag, such as outputTag<T>('late')",
    );
    expect(() => join.between(0, 5).process((() => {}) as never)).toThrow(
      'intervalJoin: process expects an object with a processElement(left, right, ctx, out) method',
    );
  });

  it('refuses, when the job is planned, an event-time join of a side without timestamps', () => {
    const env = new StreamExecutionEnvironment('joins', 2, 128);
    const orders = env.fromCollection<Order>([]).assignTimestamps({ timestamp: (o) => o.ts });
    const untimed = env.fromCollection<Payment>([]);
    orders
      .keyBy((o) => o.id)
      .intervalJoin(untimed.keyBy((p) => p.orderId))
      .between(0, 10)
      .process({ processElement: () => {} })
      .sinkTo(collectSink('out'));
    expect(() => resolveStreamGraph(env)).toThrow(PlanError);
    expect(() => resolveStreamGraph(env)).toThrow(/uses an interval join \(event time\)/);

    const env2 = new StreamExecutionEnvironment('joins', 2, 128);
    const timed = env2.fromCollection<Order>([]).assignTimestamps({ timestamp: (o) => o.ts });
    timed
      .join(env2.fromCollection<Payment>([]))
      .where((o) => o.id)
      .equalTo((p) => p.orderId)
      .window(tumbling(10))
      .apply((o) => o.id)
      .sinkTo(collectSink('out'));
    expect(() => resolveStreamGraph(env2)).toThrow(
      /uses event-time .* windows, but its input .* carries no event timestamps/,
    );
  });
});
