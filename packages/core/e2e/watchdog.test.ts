import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ConfigError, JobExecutionError, type RunJobOptions, runJob, startJob } from '@sluice/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { SpinArgs } from './jobs/spin.ts';
import { expectThreadsBackTo, warmThreadBaseline } from './os-threads.ts';

/**
 * The watchdog, end to end: a map function that never returns (an infinite loop in user code) at
 * parallelism 2. Its thread answers no message; only its stopped heartbeat shows it.
 *
 * The watchdog's clock belongs to the test, so no verdict depends on the machine's load: the
 * clock moves only once both subtasks are inside the loop (the job says so through shared
 * memory), and stops moving the moment the watchdog reports a hang, so that a healthy slot of
 * the next attempt — however long the machine keeps it from running — is never taken for hung.
 */

const spin = new URL('./jobs/spin.ts', import.meta.url);
const TIMEOUT_MS = 1_000;
const TEST_TIMEOUT_MS = 120_000; // a hang guard only
const COUNT = 20_000;

let baseline = 0;
let directory: string;
beforeAll(async () => {
  baseline = await warmThreadBaseline();
  directory = await mkdtemp(join(tmpdir(), 'sluice-watchdog-'));
});
afterAll(async () => {
  await rm(directory, { recursive: true, force: true });
});

/** A clock the test moves, and the loop that moves it while both subtasks spin and no hang was reported. */
function drivenClock(cells: Int32Array) {
  let now = 0;
  let hangs = 0;
  const timer = setInterval(() => {
    if (hangs === 0 && Atomics.load(cells, 1) === 2) now += TIMEOUT_MS;
  }, 20);
  return {
    clock: () => now,
    log: (messages: string[]) => (message: string) => {
      // Synchronous with the watchdog's check: no advance can slip in after the verdict.
      if (/^task '.*made no progress/.test(message)) hangs++;
      messages.push(message);
    },
    stop: () => clearInterval(timer),
    get hangs() {
      return hangs;
    },
  };
}

const plainLoop = Array.from({ length: COUNT }, (_, n) => n * 2);

describe('the watchdog', () => {
  it(
    'restarts a job whose map function loops for ever, at parallelism 2, and its output is exact',
    async () => {
      const cells = new Int32Array(new SharedArrayBuffer(8));
      Atomics.store(cells, 0, 1);
      const driven = drivenClock(cells);
      const messages: string[] = [];
      const options: RunJobOptions<SpinArgs> = {
        parallelism: 2,
        args: { count: COUNT, control: cells.buffer as SharedArrayBuffer },
        checkpointing: { directory: join(directory, 'restarts'), intervalMs: 50 },
        restartStrategy: { kind: 'fixed-delay', attempts: 3, delayMs: 10 },
        taskHeartbeatTimeoutMs: TIMEOUT_MS,
        watchdogClock: driven.clock,
        log: driven.log(messages),
      };
      const handle = await startJob(spin, options);
      // Disarm once both spin: the restarted attempt's map returns.
      const disarm = setInterval(() => {
        if (Atomics.load(cells, 1) === 2) Atomics.store(cells, 0, 0);
      }, 5);
      try {
        const result = await handle.result;
        expect(result.restarts).toBe(1);
        expect(result.collected<number>('doubled').sort((a, b) => a - b)).toEqual(plainLoop);
      } finally {
        clearInterval(disarm);
        driven.stop();
      }
      // Both spun; one or both are reported, depending on when each last beat before spinning.
      expect(driven.hangs).toBeGreaterThanOrEqual(1);
      expect(messages.find((m) => m.startsWith('task '))).toMatch(
        /task '.*' \(operators? [^)]*'spin'[^)]*\) subtask [12]\/2 of job 'spin' made no progress for 1000 ms/,
      );
      expect(messages.some((m) => /job 'spin' failed .*; restart 1 in 10 ms/.test(m))).toBe(true);
      await expectThreadsBackTo(baseline);
    },
    TEST_TIMEOUT_MS,
  );

  it(
    'fails with an error naming the operator and subtask when no restart is left, leaving no thread behind',
    async () => {
      const cells = new Int32Array(new SharedArrayBuffer(8));
      Atomics.store(cells, 0, 1);
      const driven = drivenClock(cells);
      const messages: string[] = [];
      let error: unknown;
      try {
        await runJob<SpinArgs>(spin, {
          parallelism: 2,
          args: { count: COUNT, control: cells.buffer as SharedArrayBuffer },
          taskHeartbeatTimeoutMs: TIMEOUT_MS,
          watchdogClock: driven.clock,
          log: driven.log(messages),
        });
      } catch (caught) {
        error = caught;
      } finally {
        driven.stop();
      }
      expect(error).toBeInstanceOf(JobExecutionError);
      const cause = (error as JobExecutionError).cause as { code?: string; message: string };
      expect(cause.code).toBe('SLUICE_TASK_HUNG');
      expect((error as Error).message).toMatch(
        /job 'spin' failed: task '.*' \(operators? [^)]*'spin'[^)]*\) subtask [12]\/2 of job 'spin' made no progress for 1000 ms \(taskHeartbeatTimeoutMs\)/,
      );
      // The spinning threads were terminated, not left running.
      await expectThreadsBackTo(baseline);
    },
    TEST_TIMEOUT_MS,
  );

  it.each([0, 99, 2 ** 31, 1.5, Number.NaN])(
    'refuses taskHeartbeatTimeoutMs %s, naming the option',
    async (value) => {
      const cells = new Int32Array(new SharedArrayBuffer(8));
      await expect(
        runJob<SpinArgs>(spin, {
          args: { count: 1, control: cells.buffer as SharedArrayBuffer },
          taskHeartbeatTimeoutMs: value,
        }),
      ).rejects.toThrow(ConfigError);
      await expect(
        runJob<SpinArgs>(spin, {
          args: { count: 1, control: cells.buffer as SharedArrayBuffer },
          taskHeartbeatTimeoutMs: value,
        }),
      ).rejects.toThrow(/option "taskHeartbeatTimeoutMs" must be an integer from 100 to 2147483647/);
    },
  );
});
