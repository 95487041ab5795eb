import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runJob } from '@sluice/core';
import fc from 'fast-check';
import { afterAll, describe, expect, it } from 'vitest';
import {
  flinkWindowModel,
  type ModelAssigner,
  type ModelEvent,
  type ModelFiring,
} from './flink-window-model.ts';
import type { Firing, FiringArgs, FiringFunction } from './jobs/window-firings.ts';

const job = new URL('./jobs/window-firings.ts', import.meta.url);

const folders: string[] = [];
afterAll(async () => {
  await Promise.all(folders.map((f) => rm(f, { recursive: true, force: true })));
});
async function leveldb() {
  const directory = await mkdtemp(join(tmpdir(), 'sluice-window-firings-'));
  folders.push(directory);
  return { kind: 'leveldb' as const, directory, cacheMaxKeys: 2 };
}

function render(fn: FiringFunction, f: ModelFiring): Firing {
  const sum = f.values.reduce((a, b) => a + b, 0);
  const value =
    fn === 'reduce'
      ? String(sum)
      : fn === 'aggregate'
        ? `${f.values.length}/${sum}`
        : [...f.values].sort((a, b) => a - b).join(',');
  return { key: f.key, start: f.start, end: f.end, value };
}

/** Each key's firings in order (`start-end value`): the order across keys depends on subtasks. */
function byKey(firings: readonly Firing[]): Record<string, string[]> {
  const out: Record<string, string[]> = {};
  for (const f of firings) {
    const own = out[f.key] ?? [];
    own.push(`${f.start}-${f.end} ${f.value}`);
    out[f.key] = own;
  }
  return out;
}

const showEvents = (es: readonly ModelEvent[]) => es.map((e) => `${e.key}@${e.ts}=${e.v}`).sort();

describe('allowed lateness fires each window as Flink does', () => {
  // The example of issue 12: tumbling(1000), allowedLateness(2000), watermark = max ts - 1.
  const events: ModelEvent[] = [
    { key: 'A', ts: 100, v: 1 },
    { key: 'A', ts: 1200, v: 1 },
    { key: 'A', ts: 300, v: 1 },
    { key: 'A', ts: 1300, v: 1 },
    { key: 'B', ts: 5000, v: 1 },
    { key: 'B', ts: 4200, v: 1 },
    { key: 'B', ts: 5100, v: 1 },
  ];
  const expected = {
    reduce: { A: ['0-1000 1', '0-1000 2', '1000-2000 2'], B: ['4000-5000 1', '5000-6000 2'] },
    aggregate: { A: ['0-1000 1/1', '0-1000 2/2', '1000-2000 2/2'], B: ['4000-5000 1/1', '5000-6000 2/2'] },
    process: { A: ['0-1000 1', '0-1000 1,1', '1000-2000 1,1'], B: ['4000-5000 1', '5000-6000 1,1'] },
  };
  for (const fn of ['reduce', 'aggregate', 'process'] as const) {
    it(`the issue's example fires 5 times with ${fn}, at parallelism 1, 2 and 4, by either window operator`, async () => {
      for (const [parallelism, via] of [
        [1, 'default'],
        [2, 'default'],
        [4, 'default'],
        [2, 'trigger'],
        [2, 'evictor'],
      ] as const) {
        const args: FiringArgs = {
          events,
          assigner: { kind: 'tumbling', size: 1000 },
          fn,
          allowedLateness: 2000,
          bound: 0,
          via,
        };
        const result = await runJob<FiringArgs>(job, { parallelism, args, sourceBatchSize: 1 });
        expect(byKey(result.collected<Firing>('firings'))).toEqual(expected[fn]);
        expect(result.collected('late')).toEqual([]);
        // The model agrees with the figures from Flink written above.
        const model = flinkWindowModel(events, args.assigner, 2000, 0);
        expect(byKey(model.firings.map((f) => render(fn, f)))).toEqual(expected[fn]);
      }
    });
  }
});

/**
 * Random traffic with records out of order well beyond the watermark's bound, so that many are
 * late within the allowed lateness and some beyond it.
 */
const trafficArbitrary = fc
  .array(
    fc.record({
      key: fc.constantFrom('a', 'b', 'c', 'd', 'e'),
      step: fc.integer({ min: 0, max: 20 }),
      lag: fc.oneof(fc.integer({ min: 0, max: 10 }), fc.integer({ min: 0, max: 300 })),
      v: fc.integer({ min: 1, max: 9 }),
    }),
    { minLength: 1, maxLength: 300 },
  )
  .map((raw) => {
    let clock = 1_000;
    return raw.map(({ key, step, lag, v }): ModelEvent => {
      clock += step;
      return { key, ts: clock - lag, v };
    });
  });

const assigners: Record<string, ModelAssigner> = {
  tumbling: { kind: 'tumbling', size: 100 },
  sliding: { kind: 'sliding', size: 100, slide: 40 },
  session: { kind: 'session', gap: 30 },
};

describe('every firing, in order, matches a model of Flink’s WindowOperator', () => {
  for (const [name, assigner] of Object.entries(assigners)) {
    for (const fn of ['reduce', 'aggregate', 'process'] as const) {
      it(`${name} windows with ${fn}: random out-of-order traffic, lateness 0/60/250, parallelism 1, 2, 4, heap and LevelDB, default and triggered operator`, async () => {
        await fc.assert(
          fc.asyncProperty(
            trafficArbitrary,
            fc.constantFrom(0, 60, 250),
            fc.constantFrom(1, 2, 4),
            fc.constantFrom('heap', 'leveldb'),
            fc.constantFrom('default', 'trigger', 'evictor'),
            async (events, allowedLateness, parallelism, backend, via) => {
              const bound = 10;
              const args: FiringArgs = { events, assigner, fn, allowedLateness, bound, via };
              const result = await runJob<FiringArgs>(job, {
                parallelism,
                args,
                sourceBatchSize: 1,
                stateBackend: backend === 'heap' ? 'heap' : await leveldb(),
              });
              const model = flinkWindowModel(events, assigner, allowedLateness, bound);
              expect(byKey(result.collected<Firing>('firings'))).toEqual(
                byKey(model.firings.map((f) => render(fn, f))),
              );
              expect(showEvents(result.collected<ModelEvent>('late'))).toEqual(showEvents(model.late));
            },
          ),
          { numRuns: 8 },
        );
      }, 120_000);
    }
  }
});
