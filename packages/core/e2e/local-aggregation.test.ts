import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runJob } from '@sluice/core';
import fc from 'fast-check';
import { afterAll, describe, expect, it } from 'vitest';
import { flinkWindowModel, type ModelAssigner, type ModelEvent } from './flink-window-model.ts';
import type { Firing, FiringArgs, FiringFunction } from './jobs/window-firings.ts';

/**
 * Local pre-aggregation before the keyBy exchange (docs/runtime.md): with it on and off, every
 * window fires the same results in the same order per key, late records are dropped and counted
 * the same, against a model of Flink's WindowOperator written independently of the runtime.
 */
const job = new URL('./jobs/window-firings.ts', import.meta.url);
// Each run starts a job: shrinking a failure would take longer than the test's hang guard, so a
// failure reports its first counterexample (endOnFailure).

const folders: string[] = [];
afterAll(async () => {
  await Promise.all(folders.map((f) => rm(f, { recursive: true, force: true })));
});
async function leveldb() {
  const directory = await mkdtemp(join(tmpdir(), 'sluice-local-aggregation-'));
  folders.push(directory);
  return { kind: 'leveldb' as const, directory, cacheMaxKeys: 2 };
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

function render(
  fn: FiringFunction,
  f: { key: string; start: number; end: number; values: readonly number[] },
) {
  const sum = f.values.reduce((a, b) => a + b, 0);
  return {
    key: f.key,
    start: f.start,
    end: f.end,
    value: fn === 'reduce' ? String(sum) : `${f.values.length}/${sum}`,
  };
}

/** Out-of-order traffic, many records late within the allowed lateness and some beyond it. */
const trafficArbitrary = fc
  .array(
    fc.record({
      key: fc.constantFrom('a', 'b', 'c', 'd', 'e'),
      step: fc.integer({ min: 0, max: 20 }),
      lag: fc.oneof(fc.integer({ min: 0, max: 10 }), fc.integer({ min: 0, max: 300 })),
      v: fc.integer({ min: 1, max: 9 }),
    }),
    // At least a few batches of 64: fast-check's default size keeps arrays to a handful of items.
    { minLength: 150, maxLength: 400, size: 'max' },
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
};

describe('local aggregation gives every firing and late count of a model of Flink’s WindowOperator', () => {
  for (const [name, assigner] of Object.entries(assigners)) {
    for (const fn of ['reduce', 'aggregate'] as const) {
      it(`${name} windows with ${fn}: on and off, lateness 0/60/250, batches of 1/7/64, parallelism 1, 2, 4`, async () => {
        await fc.assert(
          fc.asyncProperty(
            trafficArbitrary,
            fc.constantFrom(0, 60, 250),
            fc.constantFrom(1, 7, 64),
            fc.constantFrom(1, 2, 4),
            fc.constantFrom('heap', 'leveldb'),
            async (events, allowedLateness, batch, parallelism, backend) => {
              const bound = 10;
              const args: FiringArgs = {
                events,
                assigner,
                fn,
                allowedLateness,
                bound,
                lateSideOutput: false,
              };
              const model = flinkWindowModel(events, assigner, allowedLateness, bound, batch);
              const expected = byKey(model.firings.map((f) => render(fn, f)));
              for (const localAggregation of [true, false]) {
                const result = await runJob<FiringArgs>(job, {
                  parallelism,
                  args,
                  sourceBatchSize: batch,
                  localAggregation,
                  stateBackend: backend === 'heap' ? 'heap' : await leveldb(),
                });
                expect(
                  byKey(result.collected<Firing>('firings')),
                  `localAggregation ${localAggregation}`,
                ).toEqual(expected);
                expect(result.lateRecordsDropped, `localAggregation ${localAggregation}`).toBe(
                  model.late.length,
                );
              }
            },
          ),
          { numRuns: 6, endOnFailure: true },
        );
      }, 300_000);
    }
  }
});

describe('accumulators changed in place', () => {
  it('are never shared by the windows of a pane: sliding windows match the model, on and off', async () => {
    await fc.assert(
      fc.asyncProperty(trafficArbitrary, fc.constantFrom(1, 2), async (events, parallelism) => {
        const assigner = assigners.sliding!;
        const args: FiringArgs = {
          events,
          assigner,
          fn: 'aggregate',
          allowedLateness: 60,
          bound: 10,
          lateSideOutput: false,
          inPlace: true,
        };
        const model = flinkWindowModel(events, assigner, 60, 10, 64);
        for (const localAggregation of [true, false]) {
          const result = await runJob<FiringArgs>(job, {
            parallelism,
            args,
            sourceBatchSize: 64,
            localAggregation,
          });
          expect(byKey(result.collected<Firing>('firings'))).toEqual(
            byKey(model.firings.map((f) => render('aggregate', f))),
          );
        }
      }),
      { numRuns: 4, endOnFailure: true },
    );
  }, 300_000);
});

describe('late records within the allowed lateness', () => {
  it('fire their window once each, as without local aggregation, also when a batch holds several', async () => {
    // The watermark reaches 499 after the first batch; the next batch's records are late for
    // window 0-100 but within its lateness: each fires it once more.
    const events: ModelEvent[] = [
      { key: 'A', ts: 50, v: 1 },
      { key: 'A', ts: 500, v: 1 },
      { key: 'A', ts: 10, v: 2 },
      { key: 'A', ts: 20, v: 3 },
      { key: 'A', ts: 30, v: 4 },
      { key: 'A', ts: 510, v: 5 },
    ];
    const expected = { A: ['0-100 1', '0-100 3', '0-100 6', '0-100 10', '500-600 6'] };
    const assigner: ModelAssigner = { kind: 'tumbling', size: 100 };
    const model = flinkWindowModel(events, assigner, 1_000, 0, 2);
    expect(byKey(model.firings.map((f) => render('reduce', f)))).toEqual(expected);
    for (const localAggregation of [true, false]) {
      for (const parallelism of [1, 2]) {
        const args: FiringArgs = {
          events,
          assigner,
          fn: 'reduce',
          allowedLateness: 1_000,
          bound: 0,
          lateSideOutput: false,
        };
        const result = await runJob<FiringArgs>(job, {
          parallelism,
          args,
          sourceBatchSize: 2,
          localAggregation,
        });
        expect(byKey(result.collected<Firing>('firings'))).toEqual(expected);
      }
    }
  });
});

describe('local aggregation sends partials, not records', () => {
  // In order, 3 keys, 64 records per batch spanning at most two panes (a tumbling window, or a
  // sliding window's gcd(size, slide) = 200 ms): at most 6 partials a batch.
  const assigners: ModelAssigner[] = [
    { kind: 'tumbling', size: 1_000 },
    { kind: 'sliding', size: 1_000, slide: 200 },
  ];
  for (const assigner of assigners) {
    it(`${assigner.kind}: a window reads one partial per key and pane of each source batch, and fires the same`, async () => {
      const events: ModelEvent[] = Array.from({ length: 6400 }, (_, i) => ({
        key: `k${i % 3}`,
        ts: 1_000 + i,
        v: (i % 7) + 1,
      }));
      const args: FiringArgs = {
        events,
        assigner,
        fn: 'aggregate',
        allowedLateness: 0,
        bound: 0,
        lateSideOutput: false,
      };
      const windowIn = async (localAggregation: boolean) => {
        const result = await runJob<FiringArgs>(job, {
          parallelism: 2,
          args,
          sourceBatchSize: 64,
          localAggregation,
        });
        const recordsIn = result.metrics
          .filter((m) => m.operatorId.startsWith('window'))
          .reduce((n, m) => n + m.recordsIn, 0);
        return { firings: byKey(result.collected<Firing>('firings')), recordsIn };
      };
      const on = await windowIn(true);
      const off = await windowIn(false);
      expect(off.recordsIn).toBe(events.length);
      expect(on.recordsIn).toBeLessThanOrEqual((events.length / 64) * 6);
      expect(on.firings).toEqual(off.firings);
      const model = flinkWindowModel(events, assigner, 0, 0, 64);
      expect(on.firings).toEqual(byKey(model.firings.map((f) => render('aggregate', f))));
    });
  }

  it('never sends more than the records: keys seen once per batch in sliding windows cost one partial each', async () => {
    const events: ModelEvent[] = Array.from({ length: 3000 }, (_, i) => ({
      key: `k${i}`,
      ts: 1_000 + i,
      v: 1,
    }));
    const args: FiringArgs = {
      events,
      assigner: { kind: 'sliding', size: 100, slide: 10 },
      fn: 'reduce',
      allowedLateness: 0,
      bound: 0,
      lateSideOutput: false,
    };
    const result = await runJob<FiringArgs>(job, { parallelism: 2, args, sourceBatchSize: 64 });
    const recordsIn = result.metrics
      .filter((m) => m.operatorId.startsWith('window'))
      .reduce((n, m) => n + m.recordsIn, 0);
    expect(recordsIn).toBe(events.length);
    // Each key's one record is in 10 windows, each firing with it.
    expect(result.collected<Firing>('firings').length).toBe(events.length * 10);
  });
});
