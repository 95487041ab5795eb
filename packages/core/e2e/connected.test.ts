import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { JobTestDriver } from '@sluice/core/testing';
import { afterEach, describe, expect, it } from 'vitest';
import type { Fired, KeyTotals, Left, Passed, Right } from './jobs/connected.ts';

/*
 * connect() end to end: every kind of two-input operator of ./jobs/connected.ts, on worker
 * threads at parallelism 1, 2 and 4, checked against plain loops over the same input; watermarks
 * of two inputs; keyed and broadcast state through a savepoint restored at another parallelism,
 * on both state backends. Inputs are fed by the JobTestDriver, so nothing depends on timing.
 */

const job = new URL('./jobs/connected.ts', import.meta.url);
const folders: string[] = [];
afterEach(async () => {
  for (const folder of folders.splice(0)) await rm(folder, { recursive: true, force: true });
});
async function tempDir(): Promise<string> {
  const folder = await mkdtemp(join(tmpdir(), 'sluice-connected-'));
  folders.push(folder);
  return folder;
}

/** A deterministic pseudo-random sequence, so a failing run can be replayed. */
function random(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (Math.imul(state ^ (state >>> 15), 0x2c1b3c6d) + 0x9e3779b9) >>> 0;
    return state / 2 ** 32;
  };
}

interface Input {
  readonly left: Left[];
  readonly right: Right[];
  /** Thresholds (broadcast): one per key at most, sent before any left record. */
  readonly thresholds: Right[];
}

function input(seed: number, size: number): Input {
  const next = random(seed);
  const key = () => `k${Math.floor(next() * 13)}`;
  const left = Array.from({ length: size }, () => ({ k: key(), v: Math.floor(next() * 100) }));
  const right = Array.from({ length: Math.floor(size / 2) }, () => ({
    k: key(),
    w: Math.floor(next() * 100),
  }));
  const thresholds = Array.from({ length: 13 }, (_, i) => ({
    k: `k${i}`,
    w: Math.floor(next() * 100),
  })).filter(() => next() < 0.7);
  return { left, right, thresholds };
}

const sorted = <T>(rows: readonly T[]): T[] =>
  rows
    .map((r) => JSON.stringify(r))
    .sort()
    .map((s) => JSON.parse(s) as T);

/** The plain loop's totals: the left values summed and the right records counted, per key. */
function expectedTotals(left: readonly Left[], right: readonly Right[]): KeyTotals[] {
  const byKey = new Map<string, { sumLeft: number; countRight: number }>();
  for (const l of left) {
    const t = byKey.get(l.k) ?? { sumLeft: 0, countRight: 0 };
    byKey.set(l.k, { ...t, sumLeft: t.sumLeft + l.v });
  }
  for (const r of right) {
    const t = byKey.get(r.k) ?? { sumLeft: 0, countRight: 0 };
    byKey.set(r.k, { ...t, countRight: t.countRight + 1 });
  }
  return sorted([...byKey].map(([k, t]) => ({ k, ...t, fired: 'event-time' as const })));
}

function expectedPassed(left: readonly Left[], thresholds: readonly Right[]): Passed[] {
  const min = new Map(thresholds.map((t) => [t.k, t.w]));
  return sorted(
    left
      .filter((l) => min.has(l.k) && l.v >= min.get(l.k)!)
      .map((l) => ({ k: l.k, v: l.v, min: min.get(l.k)! })),
  );
}

const leftTime = (_l: Left, i: number) => 1_000 + i;
const rightTime = (_r: Right, i: number) => 2_000 + i;

describe('connect(): two-input operators end to end', () => {
  for (const parallelism of [1, 2, 4]) {
    it(`co-map, co-flat-map, co-process with side output, keyed co-process and broadcast state equal plain loops, heap and LevelDB state (parallelism ${parallelism})`, async () => {
      for (const [seed, backend] of [
        [1, 'heap'],
        [2, 'leveldb'],
        [3, 'heap'],
      ] as const) {
        const data = input(seed * 31 + parallelism, 600);
        const driver = await JobTestDriver.start(job, {
          parallelism,
          stateBackend: backend === 'heap' ? 'heap' : { kind: 'leveldb', directory: await tempDir() },
          inputs: ['left', 'right', 'limits', 'quiet'],
          outputs: [
            'co-map-out',
            'co-flat-map-out',
            'co-process-out',
            'odd-right-out',
            'totals-out',
            'thresholds-out',
          ],
        });
        try {
          // Broadcast state first, from one source subtask (so that its order is the send order).
          driver.input<Right>('limits').send(data.thresholds, { subtask: 0, timestamp: () => 0 });
          await driver.settle();
          driver.input<Left>('left').send(data.left, { timestamp: leftTime });
          driver.input<Right>('right').send(data.right, { timestamp: rightTime });
          await driver.settle();
          // Processing-time timers: one second after each key's first record, with everything so far counted.
          await driver.advanceTime(1_000);
          const early = driver.output<KeyTotals>('totals-out').take();
          await driver.finish();

          const allRight = data.right;
          expect(sorted(driver.output<string>('co-map-out').all())).toEqual(
            sorted([...data.left.map((l) => `L:${l.k}:${l.v}`), ...allRight.map((r) => `R:${r.k}:${r.w}`)]),
          );
          expect(sorted(driver.output<number>('co-flat-map-out').all())).toEqual(
            sorted([...data.left.flatMap((l) => [l.v, l.v]), ...allRight.map((r) => -r.w)]),
          );
          expect(sorted(driver.output<string>('co-process-out').all())).toEqual(
            sorted([
              ...data.left.map((l, i) => `${l.k}@${leftTime(l, i)}`),
              ...allRight.filter((r) => r.w % 2 === 0).map((r) => `${r.k}#${r.w}`),
            ]),
          );
          expect(sorted(driver.output<Right>('odd-right-out').all())).toEqual(
            sorted(allRight.filter((r) => r.w % 2 === 1)),
          );
          const expected = expectedTotals(data.left, allRight);
          expect(sorted(early)).toEqual(expected.map((t) => ({ ...t, fired: 'processing-time' })));
          expect(sorted(driver.output<KeyTotals>('totals-out').take())).toEqual(expected);
          expect(sorted(driver.output<Passed>('thresholds-out').all())).toEqual(
            expectedPassed(data.left, data.thresholds),
          );
        } finally {
          await driver.close();
        }
      }
    }, 120_000);
  }

  for (const parallelism of [1, 2, 4]) {
    it(`a two-input operator's watermark is the minimum of both inputs; an ended input stops holding it back (parallelism ${parallelism})`, async () => {
      await using driver = await JobTestDriver.start(job, {
        parallelism,
        inputs: ['left', 'right', 'limits', 'quiet'],
        outputs: ['watermarks-out'],
      });
      const left = driver.input<Left>('left');
      const right = driver.input<Right>('right');
      const fired = driver.output<Fired>('watermarks-out');
      left.send([{ k: 'a', v: 1 }], { timestamp: () => 10 });
      right.send([{ k: 'b', w: 1 }], { timestamp: () => 20 });
      left.send([{ k: 'c', v: 1 }], { timestamp: () => 70 });
      await driver.settle();
      left.watermark(100);
      await driver.settle();
      expect(fired.take()).toEqual([]); // the right input has no watermark yet
      right.watermark(50);
      await driver.settle();
      expect(sorted(fired.take())).toEqual([
        { k: 'a', timer: 10, watermark: 50 },
        { k: 'b', timer: 20, watermark: 50 },
      ]);
      right.end();
      await driver.settle();
      expect(fired.take()).toEqual([{ k: 'c', timer: 70, watermark: 100 }]);
    });
  }

  for (const parallelism of [1, 2, 4]) {
    it(`an input that turns idle stops holding back a two-input operator's watermark (parallelism ${parallelism})`, async () => {
      await using driver = await JobTestDriver.start(job, {
        parallelism,
        inputs: ['left', 'right', 'limits', 'quiet'],
        outputs: ['idle-watermarks-out'],
      });
      const fired = driver.output<Fired>('idle-watermarks-out');
      driver.input<Left>('left').send([{ k: 'a', v: 1 }], { timestamp: () => 10 });
      driver.input<Left>('left').watermark(100);
      await driver.settle();
      await driver.advanceTime(999);
      expect(fired.take()).toEqual([]); // the quiet input is not idle yet: no watermark from it
      await driver.advanceTime(1); // a second without records: idle
      expect(fired.take()).toEqual([{ k: 'a', timer: 10, watermark: 100 }]);
    });
  }

  for (const backend of ['heap', 'leveldb'] as const) {
    it(`keyed state shared by both inputs, timers and broadcast state restore from a savepoint at another parallelism (${backend} state)`, async () => {
      for (const [from, to] of [
        [2, 4],
        [4, 1],
      ] as const) {
        const data = input(from * 7 + to, 800);
        const half = { left: data.left.length / 2, right: data.right.length / 2 };
        const stateBackend = async () =>
          backend === 'heap' ? ('heap' as const) : { kind: 'leveldb' as const, directory: await tempDir() };
        const checkpointing = { directory: await tempDir(), intervalMs: 3_600_000 };
        const outputs = ['totals-out', 'thresholds-out'];
        const first = await JobTestDriver.start(job, {
          parallelism: from,
          inputs: ['left', 'right', 'limits', 'quiet'],
          outputs,
          checkpointing,
          stateBackend: await stateBackend(),
        });
        let savepoint: string;
        try {
          first.input<Right>('limits').send(data.thresholds, { subtask: 0, timestamp: () => 0 });
          await first.settle();
          first.input<Left>('left').send(data.left.slice(0, half.left), { timestamp: leftTime });
          first.input<Right>('right').send(data.right.slice(0, half.right), { timestamp: rightTime });
          await first.settle();
          savepoint = await first.stopWithSavepoint(join(await tempDir(), 'savepoint'));
        } finally {
          await first.close();
        }

        const second = await JobTestDriver.start(job, {
          parallelism: to,
          inputs: ['left', 'right', 'limits', 'quiet'],
          outputs,
          restoreFrom: savepoint,
          stateBackend: await stateBackend(),
        });
        try {
          const rest = data.left.slice(half.left);
          second.input<Left>('left').send(rest, { timestamp: leftTime });
          second.input<Right>('right').send(data.right.slice(half.right), { timestamp: rightTime });
          await second.finish();
          // Totals count records of both runs: the keyed state and its timers came through the savepoint.
          const totals = second
            .output<KeyTotals>('totals-out')
            .all()
            .filter((t) => t.fired === 'event-time');
          expect(sorted(totals)).toEqual(expectedTotals(data.left, data.right));
          // Thresholds were only sent before the savepoint: every new subtask has the broadcast state.
          expect(sorted(second.output<Passed>('thresholds-out').all())).toEqual(
            expectedPassed(rest, data.thresholds),
          );
        } finally {
          await second.close();
        }
      }
    }, 180_000);
  }
});
