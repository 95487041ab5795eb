import { runJob } from '@sluice/core';
import { describe, expect, it } from 'vitest';
import { order, type PaidOrder, type PaidOrdersArgs, payment } from './job.ts';

const job = new URL('./job.ts', import.meta.url);
const ORDERS = 20_000;

/** The plain loop: an order and its payment pair up in the same minute, or within a minute. */
function expected(join: 'window' | 'interval'): string[] {
  const paid: string[] = [];
  for (let i = 0; i < ORDERS; i++) {
    const o = order(i);
    const p = payment(i);
    if (p === undefined) continue;
    const sameMinute = Math.floor(o.ts / 60_000) === Math.floor(p.ts / 60_000);
    const withinAMinute = p.ts >= o.ts && p.ts <= o.ts + 60_000;
    if (join === 'window' ? sameMinute : withinAMinute) paid.push(`${o.orderId}|${o.user}|${p.amount}`);
  }
  return paid.sort();
}

describe('examples/joins', () => {
  for (const join of ['window', 'interval'] as const) {
    for (const parallelism of [1, 2, 4]) {
      it(`${join} join of orders and payments at parallelism ${parallelism}`, async () => {
        const result = await runJob<PaidOrdersArgs>(job, {
          parallelism,
          args: { orders: ORDERS, join, collect: true },
        });
        const got = result.collected<PaidOrder>('paid').map((p) => `${p.orderId}|${p.user}|${p.amount}`);
        expect(got.sort()).toEqual(expected(join));
        expect(result.lateRecordsDropped).toBe(0);
      });
    }
  }
});
