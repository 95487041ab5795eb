import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { JobTestDriver } from '@sluice/core/testing';
import fc from 'fast-check';
import { afterAll, describe, expect, it } from 'vitest';
import { type LocalAggregationArgs, type Reading, SIZE, SLIDE } from './jobs/local-aggregation.ts';

/**
 * A savepoint taken while windows are open, with local aggregation before the exchange, restores
 * at another parallelism (and with local aggregation on or off) and every window fires once with
 * all its records: the local aggregation holds nothing across a barrier.
 */
const job = new URL('./jobs/local-aggregation.ts', import.meta.url);

const folders: string[] = [];
afterAll(async () => {
  await Promise.all(folders.map((f) => rm(f, { recursive: true, force: true })));
});
async function tempDir(): Promise<string> {
  const folder = await mkdtemp(join(tmpdir(), 'sluice-local-aggregation-'));
  folders.push(folder);
  return folder;
}

interface Timed extends Reading {
  readonly ts: number;
}

/** Every window's one firing, by a plain loop over the records. */
function expectedFirings(records: readonly Timed[], args: LocalAggregationArgs): string[] {
  const slide = args.window === 'tumbling' ? SIZE : SLIDE;
  const windows = new Map<string, { n: number; sum: number }>();
  for (const r of records) {
    for (let start = Math.floor(r.ts / slide) * slide; start > r.ts - SIZE; start -= slide) {
      const id = `${r.key}|${start}`;
      const w = windows.get(id) ?? { n: 0, sum: 0 };
      w.n++;
      w.sum += r.v;
      windows.set(id, w);
    }
  }
  return [...windows].map(([id, w]) => `${id}|${args.fn === 'reduce' ? w.sum : `${w.n}/${w.sum}`}`).sort();
}

/** Records with rising event times (ms), so that no record is late for a watermark sent after earlier ones. */
const recordsArbitrary = fc
  .array(
    fc.record({
      key: fc.constantFrom('a', 'b', 'c', 'd', 'e', 'f'),
      step: fc.integer({ min: 0, max: 15 }),
      v: fc.integer({ min: 1, max: 99 }),
    }),
    { minLength: 1, maxLength: 400, size: 'max' },
  )
  .map((raw) => {
    let ts = 1_000;
    return raw.map(({ key, step, v }): Timed => {
      ts += step;
      return { key, v, ts };
    });
  });

describe('local aggregation across a savepoint', () => {
  it('stop with a savepoint mid-window, resume at another parallelism, on or off: every window fires once, exactly', async () => {
    await fc.assert(
      fc.asyncProperty(
        recordsArbitrary,
        fc.record({
          window: fc.constantFrom('tumbling' as const, 'sliding' as const),
          fn: fc.constantFrom('reduce' as const, 'aggregate' as const),
        }),
        fc.nat(),
        fc.constantFrom([1, 2], [2, 4], [4, 1], [3, 2]),
        fc.constantFrom([true, true], [true, false], [false, true]),
        async (records, args, cutAt, [before, after], [localBefore, localAfter]) => {
          const cut = cutAt % records.length;
          const savepoint = join(await tempDir(), 'savepoint');
          const checkpointing = { directory: await tempDir(), intervalMs: 600_000 };
          const options = { args, inputs: ['readings'], outputs: ['windows-sink'], checkpointing };
          const timestamp = (r: Reading) => (r as Timed).ts;
          const first = await JobTestDriver.start<LocalAggregationArgs>(job, {
            ...options,
            parallelism: before,
            localAggregation: localBefore,
          });
          try {
            const input = first.input<Reading>('readings');
            // In two parts with a watermark between: some windows fire before the savepoint.
            const half = Math.floor(cut / 2);
            input.send(records.slice(0, half), { timestamp });
            if (half > 0) input.watermark(records[half - 1]!.ts - 1);
            input.send(records.slice(half, cut), { timestamp });
            await first.settle();
            await first.stopWithSavepoint(savepoint);
          } finally {
            await first.close();
          }
          const firstFirings = first.output<string>('windows-sink').all();
          await using second = await JobTestDriver.start<LocalAggregationArgs>(job, {
            ...options,
            parallelism: after,
            localAggregation: localAfter,
            restoreFrom: savepoint,
          });
          const input = second.input<Reading>('readings');
          input.send(records.slice(cut), { timestamp });
          input.end();
          await second.finish();
          const all = [...firstFirings, ...second.output<string>('windows-sink').all()];
          expect(all.sort()).toEqual(expectedFirings(records, args));
        },
      ),
      { numRuns: 10, endOnFailure: true },
    );
  }, 300_000);
});
