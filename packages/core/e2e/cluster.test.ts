/**
 * Jobs on task-manager processes (docs/cluster.md): a local cluster started by `runJob`, in both
 * shapes the issue names (4 task managers × 1 slot, 2 × 2), against the plain loop's answer; and
 * a task-manager process SIGKILLed mid-run, started again by the local cluster, with the job
 * restarted from its checkpoint and its keyed counts still exact.
 */
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ConfigError, runJob, startJob } from '@sluice/core';
import { JobTestDriver } from '@sluice/core/testing';
import { afterEach, describe, expect, it, vi } from 'vitest';
import type { Logger } from '../src/contracts/logger.ts';
import { runTaskManager } from '../src/execution/cluster/task-manager.ts';
import { TaskManagerDataPlane } from '../src/execution/cluster/task-manager-data-plane.ts';
import type { BasicArgs, Running } from './jobs/basic-pipeline.ts';
import type { CountingArgs, KeyCount } from './jobs/counting.ts';
import type { FailingArgs } from './jobs/failing.ts';

const basic = new URL('./jobs/basic-pipeline.ts', import.meta.url);
const counting = new URL('./jobs/counting.ts', import.meta.url);
const failing = new URL('./jobs/failing.ts', import.meta.url);

const folders: string[] = [];
afterEach(async () => {
  for (const folder of folders.splice(0)) await rm(folder, { recursive: true, force: true });
});
async function tempDir(): Promise<string> {
  const folder = await mkdtemp(join(tmpdir(), 'sluice-cluster-'));
  folders.push(folder);
  return folder;
}

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  const address = server.address();
  await new Promise<void>((resolve) => server.close(() => resolve()));
  if (typeof address !== 'object' || address === null) throw new Error('no port');
  return address.port;
}

const sorted = (xs: readonly number[]): number[] => [...xs].sort((a, b) => a - b);

function plainLoop(input: readonly number[]): { stateless: number[]; totals: Map<number, number> } {
  const stateless: number[] = [];
  const totals = new Map<number, number>();
  for (const x of input) {
    const n = x * 3;
    if (n % 2 === 0) {
      stateless.push(n);
      if (n % 5 === 0) stateless.push(-n);
    }
    totals.set(x % 7, (totals.get(x % 7) ?? 0) + x);
  }
  return { stateless, totals };
}

describe('a local cluster of task-manager processes', () => {
  // undefined: the default, as few slots per task manager as hold the job (2 × 2 here).
  for (const [taskManagers, slotsPerTaskManager] of [
    [4, 1],
    [2, 2],
    [2, undefined],
  ] as const) {
    const slots =
      slotsPerTaskManager === undefined
        ? 'the default slots'
        : `${slotsPerTaskManager} slot${slotsPerTaskManager > 1 ? 's' : ''}`;
    it(`${taskManagers} task managers × ${slots} give the plain loop's answer at parallelism 4`, async () => {
      const input = Array.from({ length: 20_000 }, (_, i) => ((i * 7919 + taskManagers) % 10_007) - 5_000);
      const handle = await startJob<BasicArgs>(basic, {
        parallelism: 4,
        args: { input },
        cluster: { taskManagers, ...(slotsPerTaskManager === undefined ? {} : { slotsPerTaskManager }) },
      });
      expect(handle.cluster?.address.host).toBe('127.0.0.1');
      expect(handle.cluster?.taskManagerPids()).toHaveLength(taskManagers);
      const result = await handle.result;
      const expected = plainLoop(input);
      expect(sorted(result.collected<number>('stateless'))).toEqual(sorted(expected.stateless));
      const rolling = result.collected<Running>('rolling');
      expect(rolling).toHaveLength(input.length);
      for (const [key, total] of expected.totals) {
        const last = rolling.filter((r) => r.key === key).reduce((a, b) => (b.count > a.count ? b : a));
        expect(last.sum).toBe(total);
      }
      // Counters come from the task managers' reports: every source record is counted once.
      expect(result.sourceRecords).toBe(2 * input.length);
      // The task managers exit with the job.
      expect(handle.cluster?.taskManagerPids()).toEqual([]);
    }, 120_000);
  }

  it("task managers of 1 and 2 slots in one job (all-to-all channels between them) give the plain loop's answer; the one-slot task manager relays nothing through its main thread", async () => {
    const secret = randomBytes(32);
    const port = await freePort();
    const quiet: Logger = {
      trace: () => {},
      debug: () => {},
      info: () => {},
      warn: () => {},
      error: () => {},
      fatal: () => {},
      child: () => quiet,
    };
    // In this process, so that the test sees which task manager starts a main-thread data plane.
    const start = vi.spyOn(TaskManagerDataPlane, 'start');
    const stop = new AbortController();
    const taskManagers = [
      { id: 'mixed-tm-1', slots: 1 },
      { id: 'mixed-tm-2', slots: 2 },
    ].map(({ id, slots }) =>
      runTaskManager({
        jobManager: { host: '127.0.0.1', port },
        slots,
        secret,
        id,
        logger: quiet,
        reconnectDelayMs: 50,
        session: true,
        signal: stop.signal,
      }),
    );
    try {
      const input = Array.from({ length: 20_000 }, (_, i) => ((i * 7919 + 3) % 10_007) - 5_000);
      const result = await runJob<BasicArgs>(basic, {
        parallelism: 3,
        args: { input },
        cluster: { listen: { host: '127.0.0.1', port }, secret },
      });
      const expected = plainLoop(input);
      expect(sorted(result.collected<number>('stateless'))).toEqual(sorted(expected.stateless));
      const rolling = result.collected<Running>('rolling');
      expect(rolling).toHaveLength(input.length);
      for (const [key, total] of expected.totals) {
        const last = rolling.filter((r) => r.key === key).reduce((a, b) => (b.count > a.count ? b : a));
        expect(last.sum).toBe(total);
      }
      expect(result.sourceRecords).toBe(2 * input.length);
      // Only the two-slot task manager opened a data port in its main thread; the one-slot one's
      // slot served it (its peer dialled it, or it dialled: either way on the slot's own socket).
      expect(start.mock.calls.map(([options]) => options.id)).toEqual(['mixed-tm-2']);
    } finally {
      stop.abort();
      await Promise.all(taskManagers);
      start.mockRestore();
    }
  }, 120_000);

  it('restarts from the newest checkpoint when a task-manager process is SIGKILLed, 3 times; keyed counts stay exact', async () => {
    const args: CountingArgs = { events: 300_000, keys: 1_000, ratePerSecond: 60_000, counterParallelism: 2 };
    const messages: string[] = [];
    let kills = 0;
    let restartsSeen = 0;
    const handle = await startJob<CountingArgs>(counting, {
      parallelism: 2,
      args,
      cluster: { taskManagers: 2 },
      checkpointing: { directory: await tempDir(), intervalMs: 100 },
      restartStrategy: { kind: 'fixed-delay', attempts: 20, delayMs: 10 },
      log: (message) => {
        messages.push(message);
        if (message.includes('restart')) restartsSeen++;
      },
      onCheckpoint: () => {
        // One kill per attempt, after it completed a checkpoint: mid-stream, not before the first.
        if (kills >= 3 || restartsSeen < kills) return;
        const pid = handle.cluster?.taskManagerPids()[kills % 2];
        if (pid === undefined) return;
        process.kill(pid, 'SIGKILL');
        kills++;
      },
    });
    const result = await handle.result;
    expect(kills).toBe(3);
    expect(result.restarts).toBeGreaterThanOrEqual(3);
    expect(messages.some((m) => /task manager .* was lost/.test(m))).toBe(true);
    const counts = result.collected<KeyCount>('counts');
    const perKey = args.events / args.keys;
    expect(counts).toHaveLength(args.keys);
    for (const c of counts) {
      expect(c.count).toBe(perKey);
      expect(c.lastSeq).toBe(perKey - 1);
    }
    expect(result.collected('alerts')).toEqual([]);
  }, 240_000);

  it('a slot thread that calls process.exit() fails the job with its own death, not with the data connection it took down', async () => {
    // With one slot per task manager the slot thread holds the data connection: its peer sees the
    // reset at the same moment, and may report it first.
    for (let run = 0; run < 2; run++) {
      const error = await runJob<FailingArgs>(failing, {
        parallelism: 2,
        args: { mode: 'exits', poison: 500, count: 100_000 },
        cluster: { taskManagers: 2 },
      }).then(
        () => new Error('the job finished'),
        (failure: Error) => failure,
      );
      expect(error.message).toMatch(
        /the thread of slot [12]\/2 \(subtask [12] of .*\) ended: worker exited with code: 3 \(process\.exit\(\) in user code/,
      );
    }
  }, 120_000);

  it('refuses a cluster with fewer slots than the job needs, naming both', async () => {
    await expect(
      runJob<BasicArgs>(basic, {
        parallelism: 4,
        args: { input: [1] },
        cluster: { taskManagers: 1, slotsPerTaskManager: 3 },
      }),
    ).rejects.toThrow(/1 task manager × 3 slots cannot run job 'basic-pipeline', which needs 4 slots/);
    await expect(
      runJob<BasicArgs>(basic, { parallelism: 2, args: { input: [1] }, cluster: { taskManagers: 0 } }),
    ).rejects.toBeInstanceOf(ConfigError);
  });

  it('task managers that die as they start fail the job after 5 tries instead of restarting them for ever', async () => {
    const before = process.env.NODE_OPTIONS;
    // Every child Node started from now on fails before it runs anything.
    process.env.NODE_OPTIONS = '--require /nonexistent/sluice-crash-loop.cjs';
    try {
      await expect(
        runJob<BasicArgs>(basic, {
          parallelism: 2,
          args: { input: [1, 2, 3] },
          cluster: { taskManagers: 2 },
          log: () => {},
        }),
      ).rejects.toThrow(/local task manager \d exited 5 times in a row within 3000 ms of starting/);
    } finally {
      if (before === undefined) delete process.env.NODE_OPTIONS;
      else process.env.NODE_OPTIONS = before;
    }
  }, 120_000);

  it('the job test driver refuses the cluster option', async () => {
    await expect(
      JobTestDriver.start(basic, {
        parallelism: 2,
        args: { input: [1] },
        cluster: { taskManagers: 2 },
      } as never),
    ).rejects.toThrow(/takes no "cluster" option/);
  });
});
