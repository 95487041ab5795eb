import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runJob, startJob } from '@sluice/core';
import { JobTestDriver } from '@sluice/core/testing';
import { afterEach, describe, expect, it } from 'vitest';
import type { CountingArgs, KeyCount } from './jobs/counting.ts';
import type { OperatorStateArgs, Progress } from './jobs/operator-state.ts';
import { expectThreadsBackTo, warmThreadBaseline } from './os-threads.ts';

const job = new URL('./jobs/counting.ts', import.meta.url);
const folders: string[] = [];
afterEach(async () => {
  for (const folder of folders.splice(0)) await rm(folder, { recursive: true, force: true });
});
async function tempDir(): Promise<string> {
  const folder = await mkdtemp(join(tmpdir(), 'sluice-checkpoints-'));
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

function expectExactCounts(counts: readonly KeyCount[], args: CountingArgs): void {
  // The plain loop's answer: every key gets events / keys records, with sequence numbers 0..n-1.
  const perKey = args.events / args.keys;
  expect(counts.length).toBe(args.keys);
  expect(new Set(counts.map((c) => c.key)).size).toBe(args.keys);
  for (const c of counts) {
    expect(c.count).toBe(perKey);
    expect(c.lastSeq).toBe(perKey - 1);
  }
}

describe('exactly-once state through failures', () => {
  it('restarts after a user function throws, from the last checkpoint, until the strategy gives up', async () => {
    const crashes = new SharedArrayBuffer(4);
    const args: CountingArgs = {
      events: 200_000,
      keys: 1_000,
      ratePerSecond: 200_000,
      crashAt: 150_000,
      crashCount: 3,
      crashes,
    };
    const messages: string[] = [];
    const result = await runJob<CountingArgs>(job, {
      parallelism: 2,
      args,
      checkpointing: { directory: await tempDir(), intervalMs: 100 },
      restartStrategy: { kind: 'exponential-backoff', attempts: 5, initialDelayMs: 10, maxDelayMs: 100 },
      log: (message) => messages.push(message),
    });
    expect(result.restarts).toBe(3);
    expect(messages.filter((m) => m.includes('injected failure at event 150000')).length).toBe(3);
    expect(result.checkpoints.completed.length).toBeGreaterThan(0);
    expectExactCounts(result.collected<KeyCount>('counts'), args);
    expect(result.collected('alerts')).toEqual([]);

    // One failure more than the strategy allows: the job fails with the cause.
    const again = new SharedArrayBuffer(4);
    await expect(
      runJob<CountingArgs>(job, {
        parallelism: 2,
        args: { ...args, crashes: again, crashCount: 3 },
        checkpointing: { directory: await tempDir(), intervalMs: 100 },
        restartStrategy: { kind: 'fixed-delay', attempts: 2, delayMs: 10 },
        log: () => {},
      }),
    ).rejects.toThrow(/map-\d+.*injected failure at event 150000/);
  }, 60_000);

  // With LevelDB, the databases live in the LevelDB host thread, so killing a slot thread mid-write
  // is safe (classic-level crashes the process when the thread inside a call is terminated).
  for (const backend of ['heap', 'leveldb'] as const) {
    it(`keeps per-key counts exact and sequences gap-free while worker threads are killed 20 times (${backend} state)`, async () => {
      const baseline = await warmThreadBaseline(backend);
      // Rate-limited so that most crashes come mid-stream; the source ends only once 20 attempts
      // have crashed (the gate), so a slow machine makes the run longer, never the test weaker.
      const endGate = new SharedArrayBuffer(4);
      const args: CountingArgs = { events: 1_000_000, keys: 10_000, ratePerSecond: 75_000, endGate };
      const next = random(42);
      const messages: string[] = [];
      let kills = 0;
      let killInFlight = false;
      let killing: Promise<unknown> = Promise.resolve();
      const restartsSoFar = () => messages.filter((m) => m.includes('restart')).length;
      const handle = await startJob<CountingArgs>(job, {
        parallelism: 2,
        args,
        checkpointing: { directory: await tempDir(), intervalMs: 200 },
        restartStrategy: { kind: 'fixed-delay', attempts: 100, delayMs: 20 },
        stateBackend:
          backend === 'heap' ? 'heap' : { kind: 'leveldb', directory: await tempDir(), cacheMaxKeys: 2_000 },
        log: (message) => messages.push(message),
        onCheckpoint: () => {
          // One crash per attempt, until 20 attempts have crashed and restarted; then the source may end.
          if (restartsSoFar() >= 20) Atomics.store(new Int32Array(endGate), 0, 1);
          if (killInFlight || restartsSoFar() >= 20) return;
          killInFlight = true;
          // At a random point after this checkpoint: mid-stream, mid-alignment, mid-snapshot.
          killing = new Promise((resolve) => setTimeout(resolve, next() * 150))
            .then(() => handle.terminateWorker(Math.floor(next() * 2)))
            .then((killed) => {
              if (killed) kills++;
              killInFlight = false;
            });
        },
      });
      const result = await handle.result;
      await killing;
      expect(kills).toBeGreaterThanOrEqual(20);
      expect(result.restarts).toBeGreaterThanOrEqual(20);
      expect(result.collected('alerts')).toEqual([]);
      expectExactCounts(result.collected<KeyCount>('counts'), args);
      expect(messages.filter((m) => m.includes('restart')).length).toBe(result.restarts);
      // classic-level leaves one idle native thread behind for each thread whose databases
      // compacted (reproduced with classic-level alone); all LevelDB work of a job runs in its one
      // host thread, so that is at most one per job. Every worker thread is gone.
      await expectThreadsBackTo(backend === 'heap' ? baseline : baseline + 1);
    }, 240_000);
  }

  it('keeps per-key counts exact through 20 failures at random points with the LevelDB backend', async () => {
    const next = random(7);
    const crashPoints = Array.from({ length: 20 }, () => Math.floor(next() * 900_000) + 50_000).sort(
      (a, b) => a - b,
    );
    const args: CountingArgs = {
      events: 1_000_000,
      keys: 10_000,
      ratePerSecond: 150_000,
      crashes: new SharedArrayBuffer(8),
      crashPoints,
    };
    const messages: string[] = [];
    const result = await runJob<CountingArgs>(job, {
      parallelism: 2,
      args,
      checkpointing: { directory: await tempDir(), intervalMs: 200 },
      restartStrategy: { kind: 'fixed-delay', attempts: 100, delayMs: 20 },
      stateBackend: { kind: 'leveldb', directory: await tempDir(), cacheMaxKeys: 2_000 },
      log: (message) => messages.push(message),
    });
    expect(result.restarts).toBe(20);
    expect(messages.filter((m) => /injected failure \d+ at event/.test(m)).length).toBe(20);
    expect(result.collected('alerts')).toEqual([]);
    expectExactCounts(result.collected<KeyCount>('counts'), args);
  }, 240_000);

  it('restores a checkpoint taken at parallelism 2 at parallelism 4 and at 1, with exact results', async () => {
    for (const restoreParallelism of [4, 1]) {
      const directory = await tempDir();
      // Two seconds of input: time for two checkpoints (each now also writes the _latest pointer,
      // two more fsyncs) on a loaded machine before the source finishes and checkpoints stop.
      const args: CountingArgs = { events: 200_000, keys: 5_000, ratePerSecond: 100_000 };
      // Run at parallelism 2 until two checkpoints are complete, then stop it.
      let completed = 0;
      const first = await startJob<CountingArgs>(job, {
        parallelism: 2,
        args,
        checkpointing: { directory, intervalMs: 100 },
        onCheckpoint: () => {
          completed++;
          if (completed === 2) void first.cancel();
        },
      });
      await first.result.catch(() => undefined);
      expect(completed).toBeGreaterThanOrEqual(2);
      // The directory itself: its newest complete checkpoint (the newest chk-<n> folder may be one
      // the cancellation interrupted, without a _metadata).
      const latest = directory;
      // The restored run reads on from the checkpoint's source position, with its state.
      const result = await runJob<CountingArgs>(job, {
        parallelism: restoreParallelism,
        args,
        restoreFrom: latest,
      });
      expect(result.sourceRecords).toBeLessThan(args.events);
      expect(result.collected('alerts')).toEqual([]);
      expectExactCounts(result.collected<KeyCount>('counts'), args);

      if (restoreParallelism === 1) {
        // State that no operator claims is refused, unless dropping it is allowed.
        const edited = { ...args, counterUid: 'renamed-counter' };
        await expect(runJob<CountingArgs>(job, { args: edited, restoreFrom: latest })).rejects.toThrow(
          /holds state of operator 'count-and-check' that the job no longer has.*allowNonRestoredState/,
        );
        const dropped = await runJob<CountingArgs>(job, {
          args: edited,
          restoreFrom: latest,
          allowNonRestoredState: true,
        });
        // The counter starts empty: it counts exactly what was read after the checkpoint, not all.
        const counted = dropped.collected<KeyCount>('counts').reduce((n, c) => n + c.count, 0);
        expect(counted).toBe(dropped.sourceRecords);
        expect(counted).toBeLessThan(args.events);
        // Key groups cannot be remapped to another maxParallelism.
        await expect(
          runJob<CountingArgs>(job, { args, restoreFrom: latest, maxParallelism: 64 }),
        ).rejects.toThrow(/taken with maxParallelism 128, the job now has 64/);
      }
    }
  }, 120_000);
});

describe('savepoints', () => {
  it('stop-with-savepoint, then resume from it at another parallelism with exact results', async () => {
    const args: CountingArgs = { events: 600_000, keys: 3_000, ratePerSecond: 150_000 };
    const savepoint = join(await tempDir(), 'savepoint-1');
    // Under the simulated clock, the rate-limited source reads exactly its share of one second.
    const driver = await JobTestDriver.start<CountingArgs>(job, {
      parallelism: 2,
      args,
      // Periodic checkpoints far apart: the savepoint is the only one taken.
      checkpointing: { directory: await tempDir(), intervalMs: 60_000 },
    });
    await driver.advanceTime(1_000);
    await expect(driver.stopWithSavepoint(savepoint)).resolves.toBe(savepoint);
    await expect(driver.finish()).rejects.toThrow(/cancelled/);

    const resumed = await runJob<CountingArgs>(job, { parallelism: 3, args, restoreFrom: savepoint });
    // 150,000 records per second, and the first one at time 0, were read before the savepoint.
    expect(resumed.sourceRecords).toBe(args.events - 150_001);
    expect(resumed.collected('alerts')).toEqual([]);
    expectExactCounts(resumed.collected<KeyCount>('counts'), args);
  }, 60_000);

  it('says why a savepoint cannot be taken', async () => {
    const handle = await startJob<CountingArgs>(job, { args: { events: 10, keys: 1 } });
    await expect(handle.savepoint('/tmp/never')).rejects.toThrow(
      /savepoints need the "checkpointing" option/,
    );
    await handle.result;
  });
});

describe('bad checkpoints', () => {
  it('a corrupted newest checkpoint is detected by its checksum; the restart falls back to the previous one', async () => {
    const { readdir, readFile, writeFile } = await import('node:fs/promises');
    const args: CountingArgs = { events: 400_000, keys: 2_000, ratePerSecond: 200_000 };
    const directory = await tempDir();
    const messages: string[] = [];
    let corrupted: number | undefined;
    let sabotage: Promise<unknown> = Promise.resolve();
    const handle = await startJob<CountingArgs>(job, {
      parallelism: 2,
      args,
      checkpointing: { directory, intervalMs: 300, retain: 5 },
      restartStrategy: { kind: 'fixed-delay', attempts: 3, delayMs: 10 },
      log: (message) => messages.push(message),
      onCheckpoint: (checkpoint) => {
        if (corrupted !== undefined || checkpoint.checkpointId < 3) return;
        corrupted = checkpoint.checkpointId;
        // Flip one byte of one state file of the newest checkpoint, then crash a worker.
        sabotage = (async () => {
          const file = (await readdir(checkpoint.folder)).find((f) => f.endsWith('.state'))!;
          const bytes = await readFile(join(checkpoint.folder, file));
          bytes[bytes.length >> 1]! ^= 0xff;
          await writeFile(join(checkpoint.folder, file), bytes);
          await handle.terminateWorker(0);
        })();
      },
    });
    const result = await handle.result;
    await sabotage;
    expect(corrupted).toBeDefined();
    expect(result.restarts).toBeGreaterThanOrEqual(1);
    expect(
      messages.some(
        (m) => m.includes(`checkpoint ${corrupted} is not usable`) && m.includes('checksum mismatch'),
      ),
    ).toBe(true);
    expect(result.collected('alerts')).toEqual([]);
    expectExactCounts(result.collected<KeyCount>('counts'), args);
  }, 60_000);

  it('restoring a corrupted checkpoint by hand fails with the file and the problem', async () => {
    const { readdir, truncate } = await import('node:fs/promises');
    const args: CountingArgs = { events: 200_000, keys: 1_000, ratePerSecond: 200_000 };
    const directory = await tempDir();
    let folder: string | undefined;
    const handle = await startJob<CountingArgs>(job, {
      parallelism: 2,
      args,
      checkpointing: { directory, intervalMs: 100 },
      onCheckpoint: (checkpoint) => {
        if (folder !== undefined) return;
        folder = checkpoint.folder;
        void handle.cancel();
      },
    });
    await handle.result.catch(() => undefined);
    const file = (await readdir(folder!)).find((f) => f.endsWith('.state'))!;
    await truncate(join(folder!, file), 3);
    await expect(runJob<CountingArgs>(job, { args, restoreFrom: folder! })).rejects.toThrow(
      new RegExp(`${file}.*truncated to 3 of \\d+ bytes`),
    );
  }, 60_000);
});

describe('sources that cannot be checkpointed', () => {
  it('fail the job at start, naming the source, without restarts', async () => {
    const messages: string[] = [];
    await expect(
      runJob(new URL('./jobs/streaming.ts', import.meta.url), {
        parallelism: 2,
        args: { ratePerSecond: 100, windows: true },
        checkpointing: { directory: await tempDir(), intervalMs: 100 },
        log: (message) => messages.push(message),
      }),
    ).rejects.toThrow(/source 'source-\d+' \(silent\) cannot be checkpointed/);
    // No restart: the one line is the failure itself, logged as the job ends.
    expect(messages).toHaveLength(1);
    expect(messages[0]).toMatch(/source 'source-\d+' \(silent\) cannot be checkpointed/);
    expect(messages[0]).not.toContain('restart');
  });
});

describe('operator (non-keyed) state', () => {
  it('is checkpointed and restored exactly through worker crashes', async () => {
    const args: OperatorStateArgs = { events: 200_000, ratePerSecond: 100_000 };
    let inFlight = false;
    let kills = 0;
    let killing: Promise<unknown> = Promise.resolve();
    const handle = await startJob<OperatorStateArgs>(new URL('./jobs/operator-state.ts', import.meta.url), {
      parallelism: 2,
      args,
      checkpointing: { directory: await tempDir(), intervalMs: 100 },
      restartStrategy: { kind: 'fixed-delay', attempts: 20, delayMs: 10 },
      log: () => {},
      onCheckpoint: () => {
        if (inFlight || kills >= 4) return;
        inFlight = true;
        killing = handle.terminateWorker(kills % 2).then(() => {
          kills++;
          inFlight = false;
        });
      },
    });
    const result = await handle.result;
    await killing;
    expect(result.restarts).toBeGreaterThanOrEqual(1);
    // Exactly once: each counter emitted 1, 2, ..., n once, and the counters' totals add up.
    const byCounter = new Map<number, number[]>();
    for (const p of result.collected<Progress>('progress')) {
      const counts = byCounter.get(p.counter) ?? [];
      counts.push(p.count);
      byCounter.set(p.counter, counts);
    }
    expect([...byCounter.keys()].sort()).toEqual([0, 1]);
    let total = 0;
    for (const counts of byCounter.values()) {
      counts.sort((a, b) => a - b);
      expect(counts).toEqual(counts.map((_, i) => i + 1));
      total += counts.length;
    }
    expect(total).toBe(args.events);
  }, 60_000);
});
