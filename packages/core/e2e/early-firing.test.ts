import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { JobTestDriver } from '@sluice/core/testing';
import fc from 'fast-check';
import { afterAll, expect, it } from 'vitest';

const job = new URL('./jobs/early-firing.ts', import.meta.url);

const folders: string[] = [];
afterAll(async () => {
  await Promise.all(folders.map((f) => rm(f, { recursive: true, force: true })));
});

/** Per window of 1 s: every 3rd element's running count, then the total when the window ends. */
function expected(windows: readonly (readonly string[])[]): string[] {
  const out: string[] = [];
  windows.forEach((keys, i) => {
    const counts = new Map<string, number>();
    for (const key of keys) {
      const n = (counts.get(key) ?? 0) + 1;
      counts.set(key, n);
      if (n % 3 === 0) out.push(`${key} ${i * 1_000} ${n}`);
    }
    for (const [key, n] of counts) out.push(`${key} ${i * 1_000} ${n}`);
  });
  return out.sort();
}

it('a custom processing-time trigger fires early and at the window end under simulated time, at parallelism 1, 2 and 4, heap and LevelDB', async () => {
  await fc.assert(
    fc.asyncProperty(
      fc.array(fc.array(fc.constantFrom('a', 'b', 'c', 'd'), { maxLength: 40 }), {
        minLength: 1,
        maxLength: 3,
      }),
      fc.constantFrom(1, 2, 4),
      fc.constantFrom('heap', 'leveldb'),
      async (windows, parallelism, backend) => {
        const directory = await mkdtemp(join(tmpdir(), 'sluice-early-firing-'));
        folders.push(directory);
        await using driver = await JobTestDriver.start(job, {
          parallelism,
          inputs: ['keys'],
          outputs: ['counts'],
          stateBackend: backend === 'heap' ? 'heap' : { kind: 'leveldb', directory, cacheMaxKeys: 2 },
        });
        const input = driver.input<string>('keys');
        for (const keys of windows) {
          // Half of the window's elements at its start, half in its middle; then past its end.
          input.send(keys.slice(0, keys.length >> 1));
          await driver.advanceTime(500);
          input.send(keys.slice(keys.length >> 1));
          await driver.advanceTime(500);
        }
        expect(driver.output<string>('counts').all().sort()).toEqual(expected(windows));
      },
    ),
    { numRuns: 10 },
  );
}, 180_000);

it('processing-time windows fire on LevelDB state, whose batches register their timers after the task looked for them', async () => {
  // Regression: a batch waiting for its keys' state ran after the task had read its next timer
  // deadline, so the window's timer was never due and the window never fired.
  const pageViews = new URL('../src/testing/test-jobs/page-views.ts', import.meta.url);
  const directory = await mkdtemp(join(tmpdir(), 'sluice-early-firing-'));
  folders.push(directory);
  await using driver = await JobTestDriver.start(pageViews, {
    inputs: ['views'],
    outputs: ['per-minute'],
    stateBackend: { kind: 'leveldb', directory, cacheMaxKeys: 2 },
  });
  driver.input('views').send([{ user: 'ann', page: '/' }]);
  await driver.advanceTime(60_000);
  expect(driver.output('per-minute').all()).toEqual([{ user: 'ann', minute: 0, n: 1 }]);
});

for (const backend of ['heap', 'leveldb'] as const) {
  it(`a custom trigger's state and timers survive stop-with-savepoint mid-window and a resume at another parallelism (${backend})`, async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.constantFrom('a', 'b', 'c', 'd'), { maxLength: 40 }),
        fc.nat(),
        fc.constantFrom([1, 2], [2, 4], [4, 1]),
        async (keys, cutAt, [before, after]) => {
          const cut = keys.length === 0 ? 0 : cutAt % (keys.length + 1);
          const temp = async () => {
            const folder = await mkdtemp(join(tmpdir(), 'sluice-early-firing-'));
            folders.push(folder);
            return folder;
          };
          const stateBackend = async () =>
            backend === 'heap'
              ? ('heap' as const)
              : { kind: 'leveldb' as const, directory: await temp(), cacheMaxKeys: 2 };
          const checkpointing = { directory: await temp(), intervalMs: 600_000 };
          const savepoint = join(await temp(), 'savepoint');
          const first = await JobTestDriver.start(job, {
            parallelism: before,
            inputs: ['keys'],
            outputs: ['counts'],
            checkpointing,
            stateBackend: await stateBackend(),
          });
          try {
            first.input<string>('keys').send(keys.slice(0, cut));
            await first.advanceTime(500);
            await first.stopWithSavepoint(savepoint);
          } finally {
            await first.close();
          }
          const earlier = first.output<string>('counts').all();
          // The clock goes on where it stopped; the window [0, 1000) ends after the restore.
          await using second = await JobTestDriver.start(job, {
            parallelism: after,
            inputs: ['keys'],
            outputs: ['counts'],
            checkpointing,
            restoreFrom: savepoint,
            startTime: 500,
            stateBackend: await stateBackend(),
          });
          second.input<string>('keys').send(keys.slice(cut));
          await second.advanceTime(500);
          const all = [...earlier, ...second.output<string>('counts').all()];
          expect(all.sort()).toEqual(expected([keys]));
        },
      ),
      { numRuns: 5 },
    );
  }, 240_000);
}
