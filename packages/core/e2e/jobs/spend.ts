import { collectSink, defineJob, type KeyedProcessFunction, registerType, valueState } from '@sluice/core';

export class Money {
  readonly cents: bigint;
  readonly currency: string;
  constructor(cents: bigint, currency: string) {
    this.cents = cents;
    this.currency = currency;
  }
  plus(other: Money): Money {
    return new Money(this.cents + other.cents, this.currency);
  }
}
registerType(Money, { name: 'shop.Money' }); // at the top level: every thread runs it

interface Order {
  readonly user: string;
  readonly price: Money;
  readonly tags: Set<string>;
}

const spent = valueState<Money>('spent');

const runningTotal: KeyedProcessFunction<string, Order, Order> = {
  processElement(order, ctx, out) {
    const total = ctx.getState(spent);
    const now = total.value()?.plus(order.price) ?? order.price; // a Money, after a restore too
    total.update(now);
    out.collect({ ...order, price: now }); // tags arrive as a Set
  },
};

export default defineJob({ name: 'spend' }, (env) => {
  env
    .fromCollection<Order>([
      { user: 'ann', price: new Money(250n, 'EUR'), tags: new Set(['web']) },
      { user: 'ann', price: new Money(100n, 'EUR'), tags: new Set(['app']) },
    ])
    .keyBy((order) => order.user)
    .process(runningTotal)
    .sinkTo(collectSink('totals'));
});
