import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { JobTestDriver } from '@sluice/core/testing';
import fc from 'fast-check';
import { afterAll, describe, expect, it } from 'vitest';
import type { CountWindowArgs, Item } from './jobs/count-windows.ts';

const job = new URL('./jobs/count-windows.ts', import.meta.url);

const folders: string[] = [];
afterAll(async () => {
  await Promise.all(folders.map((f) => rm(f, { recursive: true, force: true })));
});
async function tempDir(): Promise<string> {
  const folder = await mkdtemp(join(tmpdir(), 'sluice-count-windows-'));
  folders.push(folder);
  return folder;
}

/** Every firing of Flink's count windows over `items`, by a plain loop per key. */
function expectedFirings(items: readonly Item[], args: CountWindowArgs): string[] {
  const slide = args.slide ?? args.size;
  const byKey = new Map<string, number[]>();
  const out: string[] = [];
  for (const { key, v } of items) {
    const values = byKey.get(key) ?? [];
    values.push(v);
    byKey.set(key, values);
    if (values.length % slide === 0) {
      const firing = values.length / slide;
      // Tumbling (no slide): only the elements since the last firing; sliding: the last `size`.
      out.push(`${key}#${firing}:${values.slice(Math.max(0, values.length - args.size)).join(',')}`);
    }
  }
  return out.sort();
}

const itemsArbitrary = fc.array(
  fc.record({ key: fc.constantFrom('a', 'b', 'c', 'd', 'e', 'f'), v: fc.integer({ min: 0, max: 999 }) }),
  { minLength: 1, maxLength: 300 },
);

const argsArbitrary = fc.oneof(
  fc.record({ size: fc.integer({ min: 1, max: 6 }) }),
  fc.record({ size: fc.integer({ min: 1, max: 6 }), slide: fc.integer({ min: 1, max: 6 }) }),
);

const backends = ['heap', 'leveldb'] as const;
async function stateBackend(kind: (typeof backends)[number]) {
  return kind === 'heap'
    ? ('heap' as const)
    : { kind: 'leveldb' as const, directory: await tempDir(), cacheMaxKeys: 2 };
}

describe('count windows end to end', () => {
  it('match a plain loop at parallelism 1, 2 and 4, heap and LevelDB state', async () => {
    await fc.assert(
      fc.asyncProperty(
        itemsArbitrary,
        argsArbitrary,
        fc.constantFrom(1, 2, 4),
        fc.constantFrom(...backends),
        async (items, args, parallelism, backend) => {
          await using driver = await JobTestDriver.start<CountWindowArgs>(job, {
            parallelism,
            args,
            inputs: ['items'],
            outputs: ['windows'],
            stateBackend: await stateBackend(backend),
          });
          driver.input<Item>('items').send(items);
          await driver.settle();
          expect(driver.output<string>('windows').all().sort()).toEqual(expectedFirings(items, args));
        },
      ),
      { numRuns: 12 },
    );
  }, 180_000);

  for (const backend of backends) {
    it(`stop with a savepoint mid-window and resume at another parallelism: every firing exactly once (${backend})`, async () => {
      await fc.assert(
        fc.asyncProperty(
          itemsArbitrary,
          argsArbitrary,
          fc.nat(),
          fc.constantFrom([1, 2], [2, 4], [4, 1], [3, 2]),
          async (items, args, cutAt, [before, after]) => {
            const cut = cutAt % items.length;
            const savepoint = join(await tempDir(), 'savepoint');
            const checkpointing = { directory: await tempDir(), intervalMs: 600_000 };
            const first = await JobTestDriver.start<CountWindowArgs>(job, {
              parallelism: before,
              args,
              inputs: ['items'],
              outputs: ['windows'],
              checkpointing,
              stateBackend: await stateBackend(backend),
            });
            try {
              first.input<Item>('items').send(items.slice(0, cut));
              await first.settle();
              await first.stopWithSavepoint(savepoint);
            } finally {
              await first.close();
            }
            const firstFirings = first.output<string>('windows').all();
            await using second = await JobTestDriver.start<CountWindowArgs>(job, {
              parallelism: after,
              args,
              inputs: ['items'],
              outputs: ['windows'],
              checkpointing,
              restoreFrom: savepoint,
              stateBackend: await stateBackend(backend),
            });
            second.input<Item>('items').send(items.slice(cut));
            await second.settle();
            const all = [...firstFirings, ...second.output<string>('windows').all()];
            expect(all.sort()).toEqual(expectedFirings(items, args));
          },
        ),
        { numRuns: 6 },
      );
    }, 240_000);
  }
});
