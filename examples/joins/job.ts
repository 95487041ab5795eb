import { collectSink, defineJob, type ProcessJoinFunction, seconds, tumbling } from '@sluice/core';

export interface Order {
  readonly orderId: string;
  readonly user: string;
  readonly ts: number;
}

export interface Payment {
  readonly orderId: string;
  readonly amount: number;
  readonly ts: number;
}

export interface PaidOrder {
  readonly orderId: string;
  readonly user: string;
  readonly amount: number;
}

/** Order i is placed at 100 ms × i, give or take up to 2 s of disorder. */
export function order(i: number): Order {
  const mix = Math.imul(i ^ (i >>> 13), 0x5bd1e995) >>> 0;
  return { orderId: `o${i}`, user: `u${mix % 50}`, ts: i * 100 - (mix % 2_000) };
}

/** Two orders in three are paid, up to 90 s after they were placed; one in three never is. */
export function payment(i: number): Payment | undefined {
  if (i % 3 === 0) return undefined;
  const o = order(i);
  const mix = Math.imul(i, 0x9e3779b1) >>> 0;
  return { orderId: o.orderId, amount: 1 + (mix % 100), ts: o.ts + (mix % 90_000) };
}

export interface PaidOrdersArgs {
  /** How many orders to generate (default 100,000). */
  readonly orders?: number;
  /** `window` (default): paid in the same minute; `interval`: paid within a minute of the order. */
  readonly join?: 'window' | 'interval';
  /** Send results to a collect sink named 'paid' instead of printing them. */
  readonly collect?: boolean;
}

const paidWithinAMinute: ProcessJoinFunction<Order, Payment, PaidOrder> = {
  processElement(o, p, _ctx, out) {
    out.collect({ orderId: o.orderId, user: o.user, amount: p.amount });
  },
};

/** Orders joined with their payments, by order id, in one of two ways. */
export default defineJob<PaidOrdersArgs | undefined>({ name: 'paid-orders' }, (env, args = {}) => {
  const count = args.orders ?? 100_000;
  const orders = env
    .generate(order, { count })
    .assignTimestamps({ timestamp: (o) => o.ts, maxOutOfOrderness: seconds(2) });
  const payments = env
    .generate((i) => payment(i) ?? null, { count })
    .flatMap((p) => (p === null ? [] : [p]))
    // Payments come up to 90 s after orders that are up to 2 s out of order.
    .assignTimestamps({ timestamp: (p) => p.ts, maxOutOfOrderness: seconds(92) });

  const paid =
    (args.join ?? 'window') === 'window'
      ? orders
          .join(payments)
          .where((o) => o.orderId)
          .equalTo((p) => p.orderId)
          .window(tumbling(seconds(60)))
          .apply((o, p): PaidOrder => ({ orderId: o.orderId, user: o.user, amount: p.amount }))
      : orders
          .keyBy((o) => o.orderId)
          .intervalJoin(payments.keyBy((p) => p.orderId))
          .between(0, seconds(60))
          .process(paidWithinAMinute);
  paid.uid('paid-orders');
  if (args.collect) paid.sinkTo(collectSink('paid'));
  else paid.print({ format: (p) => `${p.orderId} ${p.user} paid ${p.amount}` });
});
