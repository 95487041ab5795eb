import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  type CheckpointingOptions,
  ConfigError,
  JobExecutionError,
  PlanError,
  type RunJobOptions,
  runJob,
} from '@sluice/core';
import { beforeAll, describe, expect, it } from 'vitest';
import type { FailingArgs } from './jobs/failing.ts';
import type { InvalidMode } from './jobs/invalid.ts';
import { expectThreadsBackTo, osThreadCount, warmThreadBaseline } from './os-threads.ts';

const failing = new URL('./jobs/failing.ts', import.meta.url);
const invalid = new URL('./jobs/invalid.ts', import.meta.url);

let baseline = 0;
beforeAll(async () => {
  baseline = await warmThreadBaseline();
});

async function failureOf(promise: Promise<unknown>): Promise<Error> {
  try {
    await promise;
  } catch (error) {
    return error as Error;
  }
  throw new Error('expected the job to fail');
}

describe('a failing user function', () => {
  for (const parallelism of [1, 2, 4]) {
    it(`fails the job with the operator, subtask, record and cause, leaving no threads (parallelism ${parallelism})`, async () => {
      const error = await failureOf(
        runJob<FailingArgs>(failing, {
          parallelism,
          args: { mode: 'map-throws', poison: 4321, count: 20_000 },
        }),
      );
      expect(error).toBeInstanceOf(JobExecutionError);
      const jobError = error as JobExecutionError;
      expect(jobError.code).toBe('SLUICE_JOB_FAILED');
      expect(jobError.operatorId).toBe('map-1');
      expect(jobError.subtaskIndex).toBeGreaterThanOrEqual(0);
      expect(jobError.subtaskIndex).toBeLessThan(parallelism);
      expect(jobError.parallelism).toBe(parallelism);
      expect(jobError.record).toBe('4321');
      expect(jobError.message).toMatch(
        new RegExp(
          `operator 'map-1' \\(map\\) subtask \\d/${parallelism} of job 'failing' failed while processing record 4321: boom at 4321`,
        ),
      );
      expect((jobError.cause as Error).message).toBe('boom at 4321');
      expect((jobError.cause as Error).stack).toContain('failing.ts');
      await expectThreadsBackTo(baseline);
    });
  }

  it('names the keyBy when a key selector returns an object', async () => {
    const error = await failureOf(
      runJob<FailingArgs>(failing, {
        parallelism: 2,
        args: { mode: 'key-selector-object', poison: -1, count: 100 },
      }),
    );
    expect(error).toBeInstanceOf(JobExecutionError);
    // The keyBy's operator, not the source whose subtask ran the selector (named as where it ran).
    expect((error as JobExecutionError).operatorId).toBe('reduce-1');
    expect((error as JobExecutionError).userFunction).toBe('key selector');
    expect(error.message).toMatch(
      /key selector of operator 'reduce-1' \(reduce\), run in subtask \d\/2 of 'source-0' .* failed while processing record \d+: a key must be a string, number, bigint or boolean/,
    );
    await expectThreadsBackTo(baseline);
  });

  it('reports a sink whose asynchronous flush rejects', async () => {
    const error = await failureOf(
      runJob<FailingArgs>(failing, {
        parallelism: 2,
        args: { mode: 'sink-flush-rejects', poison: -1, count: 10_000 },
      }),
    );
    expect(error).toBeInstanceOf(JobExecutionError);
    expect((error as JobExecutionError).operatorId).toBe('sink-1');
    expect(error.message).toContain('disk full');
    await expectThreadsBackTo(baseline);
  });

  it('says to call keyBy when keyed state is used on a stream without it', async () => {
    const error = await failureOf(
      runJob<FailingArgs>(failing, {
        parallelism: 2,
        args: { mode: 'state-without-keyby', poison: -1, count: 10 },
      }),
    );
    expect((error as JobExecutionError).operatorId).toBe('process-1');
    expect(error.message).toContain('keyed state need a keyed stream: call keyBy(...) before process(...)');
    await expectThreadsBackTo(baseline);
  });

  it('ends the job even when an operator hangs while closing: its thread is terminated after a grace period', async () => {
    const startedAt = Date.now();
    const error = await failureOf(
      runJob<FailingArgs>(failing, {
        parallelism: 2,
        args: { mode: 'stuck-close', poison: 500, count: 100_000 },
      }),
    );
    expect(error.message).toContain('boom at 500');
    expect(Date.now() - startedAt).toBeLessThan(20_000);
    await expectThreadsBackTo(baseline);
  });

  it('a slot thread whose live heap outgrows slotOldGenerationMaxMb fails the job, naming the option', async () => {
    const error = await failureOf(
      runJob<FailingArgs>(failing, {
        parallelism: 1,
        slotOldGenerationMaxMb: 32,
        // 200 MB of strings kept alive: far beyond the limit, so the thread cannot survive it.
        args: { mode: 'hoards-memory', poison: -1, count: 200_000 },
      }),
    );
    expect(error).toBeInstanceOf(JobExecutionError);
    expect(error.message).toContain('old-generation heap limit of 32 MB (option "slotOldGenerationMaxMb")');
    expect((error.cause as { cause?: { code?: string } }).cause?.code).toBe('ERR_WORKER_OUT_OF_MEMORY');
    await expectThreadsBackTo(baseline);
  });

  it.each([
    [
      'exits',
      /the thread of slot [12]\/2 \(subtask [12] of '[^']+', '[^']+'\) ended: worker exited with code: 3 \(process\.exit\(\) in user code ends the thread it runs in\)/,
    ],
    [
      'throws-later',
      /the thread of slot [12]\/2 \(subtask [12] of '[^']+', '[^']+'\) ended: late boom after 500/,
    ],
  ] as const)(
    'a slot thread that dies outside any record (%s) fails the job, naming the slot and its tasks',
    async (mode, message) => {
      const error = await failureOf(
        runJob<FailingArgs>(failing, { parallelism: 2, args: { mode, poison: 500, count: 100_000 } }),
      );
      expect(error).toBeInstanceOf(JobExecutionError);
      expect(error.message).toMatch(message);
      await expectThreadsBackTo(baseline);
    },
  );

  it('reports a source that cannot open', async () => {
    const error = await failureOf(
      runJob<FailingArgs>(failing, {
        parallelism: 2,
        args: { mode: 'source-open-rejects', poison: -1, count: 0 },
      }),
    );
    expect((error as JobExecutionError).operatorId).toBe('source-1');
    expect(error.message).toContain('connection refused');
    await expectThreadsBackTo(baseline);
  });
});

describe('invalid jobs are rejected before anything runs', () => {
  const cases: Array<[InvalidMode, new (...args: never[]) => Error, RegExp]> = [
    ['window-without-timestamps', PlanError, /window-\d+.*event-time.*no event timestamps.*assignTimestamps/],
    ['parallelism-above-max', PlanError, /parallelism 300 exceeds maxParallelism 128/],
    ['forward-mismatch', PlanError, /forward partitioning.*parallelisms differ \(2 vs 3\)/],
    ['duplicate-uid', PlanError, /operator id 'twice' is used twice/],
    ['no-sink', PlanError, /has no sink/],
    ['bad-set-parallelism', ConfigError, /setParallelism on 'map': expected an integer >= 1, got 0/],
    ['build-throws', ConfigError, /build function threw: cannot build/],
  ];
  for (const [mode, type, message] of cases) {
    it(mode, async () => {
      const error = await failureOf(runJob(invalid, { parallelism: 2, args: { mode } }));
      expect(error).toBeInstanceOf(type);
      expect(error.message).toMatch(message);
      expect(osThreadCount()).toBe(baseline);
    });
  }

  it('rejects bad run options, naming them', async () => {
    await expect(runJob(invalid, { parallelism: 0 })).rejects.toThrow(
      /option "parallelism" must be an integer >= 1/,
    );
    await expect(runJob(invalid, { batchSize: -1 })).rejects.toThrow(/option "batchSize" must be an integer/);
    await expect(runJob(new URL('./jobs/nope.ts', import.meta.url))).rejects.toThrow(
      /cannot load job module .*nope\.ts/,
    );
    await expect(runJob(new URL('./os-threads.ts', import.meta.url))).rejects.toThrow(
      /must export a job as its default export/,
    );
  });

  it('refuses what would be ignored or overflow later: misspelt options, timer overflows, a bad cache size', async () => {
    const misspelt = { paralelism: 4 } as unknown as RunJobOptions;
    await expect(runJob(invalid, misspelt)).rejects.toThrow(/unknown option "paralelism"/);
    const directory = join(tmpdir(), 'sluice-never-written');
    await expect(
      runJob(invalid, { checkpointing: { directory, intervalMs: 100, timeout: 5 } as CheckpointingOptions }),
    ).rejects.toThrow(/unknown option "checkpointing.timeout"/);
    await expect(runJob(invalid, { checkpointing: { directory, intervalMs: 2 ** 31 } })).rejects.toThrow(
      /"checkpointing.intervalMs" must be at most 2147483647 ms/,
    );
    await expect(
      runJob(invalid, { checkpointing: { directory, intervalMs: 100, timeoutMs: 1e15 } }),
    ).rejects.toThrow(/"checkpointing.timeoutMs" must be at most 2147483647 ms/);
    await expect(runJob(invalid, { stateBackend: { kind: 'leveldb', cacheMaxKeys: 0 } })).rejects.toThrow(
      /"stateBackend.cacheMaxKeys" must be an integer from 1 to 16777216/,
    );
    expect(osThreadCount()).toBe(baseline);
  });
});
