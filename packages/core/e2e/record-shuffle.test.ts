import { JobTestDriver } from '@sluice/core/testing';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { difference } from '../src/channels/record-equality.test-helper.ts';
import type { Tagged } from './jobs/record-shuffle.ts';
import { Money } from './jobs/records.ts';

const job = new URL('./jobs/record-shuffle.ts', import.meta.url);

const leaf: fc.Arbitrary<unknown> = fc.oneof(
  fc.integer(),
  fc.double(),
  fc.constantFrom(-0, Number.NaN, Number.NEGATIVE_INFINITY),
  fc.bigInt({ min: -(2n ** 200n), max: 2n ** 200n }),
  fc.string(),
  fc.boolean(),
  fc.constant(null),
  fc.constant(undefined),
  fc.date({ noInvalidDate: false }),
  fc.constantFrom('^a+$', '\\d{2}').map((source) => new RegExp(source, 'gu')),
  fc.int32Array({ maxLength: 3 }),
  fc.float64Array({ maxLength: 3 }),
  fc.bigInt64Array({ maxLength: 2 }),
  fc.uint8Array({ maxLength: 6 }).map((bytes) => Buffer.from(bytes)),
  fc.uint8Array({ maxLength: 6 }).map((bytes) => bytes.slice().buffer),
  fc
    .record({ cents: fc.bigInt(), currency: fc.constantFrom('EUR', 'USD') })
    .map(({ cents, currency }) => new Money(cents, currency)),
  fc.string().map((message) => new RangeError(message)),
);

const { value } = fc.letrec<{ value: unknown }>((tie) => ({
  value: fc.oneof(
    { depthSize: 'small', maxDepth: 4 },
    leaf,
    fc.sparseArray(tie('value'), { maxLength: 5 }),
    fc.dictionary(fc.string({ maxLength: 4 }), tie('value'), { maxKeys: 3 }),
    fc.array(fc.tuple(tie('value'), tie('value')), { maxLength: 3 }).map((entries) => new Map(entries)),
    fc.array(tie('value'), { maxLength: 3 }).map((values) => new Set(values)),
    fc
      .dictionary(fc.string({ maxLength: 4 }), tie('value'), { maxKeys: 2 })
      .map((fields) => Object.assign(Object.create(null) as object, fields)),
  ),
}));

describe('random records of every type cross a keyBy and a rebalance exactly (seeded)', () => {
  for (const seed of [7, 1_234, 99_991]) {
    it(`seed ${seed}: the job's output equals the plain loop's at parallelism 1, 2 and 4`, async () => {
      const tagged: Tagged[] = fc
        .sample(value, { seed, numRuns: 150 })
        .map((v, id) => ({ id, key: id % 5, value: v }));
      for (const parallelism of [1, 2, 4]) {
        await using driver = await JobTestDriver.start(job, {
          parallelism,
          inputs: ['values'],
          outputs: ['keyed', 'rebalanced'],
        });
        driver.input<Tagged>('values').send(tagged);
        await driver.settle();
        for (const route of ['keyed', 'rebalanced']) {
          // The plain loop: every record, with the field the map adds.
          const expected = tagged.map((t) => ({ ...t, route }));
          const arrived = driver
            .output<Tagged>(route)
            .all()
            .sort((a, b) => a.id - b.id);
          expect(arrived.length).toBe(expected.length);
          for (let i = 0; i < expected.length; i++) {
            const where = `seed ${seed} p=${parallelism} ${route} record ${i}`;
            expect(difference(expected[i], arrived[i], where)).toBeUndefined();
          }
        }
      }
    }, 180_000);
  }
});
