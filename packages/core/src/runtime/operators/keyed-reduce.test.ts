import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { DataStream } from '../../api/data-stream.ts';
import { createOperatorHarness } from '../../testing/index.ts';

type Sale = readonly [shop: string, amount: number];

describe('KeyedReduceOperator through the operator harness', () => {
  it('emits the running reduction per key, as a plain loop does, also across a restore', async () => {
    const build = (input: DataStream<Sale>) =>
      input.keyBy(([shop]) => shop).reduce(([shop, a], [, b]): Sale => [shop, a + b]);
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.tuple(fc.constantFrom('north', 'south', 'east'), fc.integer({ min: 0, max: 100 }))),
        fc.nat(),
        async (sales, cutAt) => {
          const totals = new Map<string, number>();
          const expected = sales.map(([shop, amount]): Sale => {
            totals.set(shop, (totals.get(shop) ?? 0) + amount);
            return [shop, totals.get(shop)!];
          });
          const cut = sales.length === 0 ? 0 : cutAt % sales.length;
          const first = await createOperatorHarness(build);
          for (const sale of sales.slice(0, cut)) first.processElement(sale);
          const second = await createOperatorHarness(build, { restore: await first.snapshot() });
          for (const sale of sales.slice(cut)) second.processElement(sale);
          expect([...first.outputValues(), ...second.outputValues()]).toEqual(expected);
        },
      ),
    );
  });
});
