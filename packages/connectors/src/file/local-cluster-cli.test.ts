import { readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  committedLines,
  exactness,
  latestCheckpoint,
  SluiceProcess,
  until,
} from '../test-support/cluster-processes.ts';
import type { GenerateRebalancedLinesArgs } from './test-jobs/generate-rebalanced-lines.ts';

/**
 * `sluice run --task-managers` as a user runs it: the command starts the job manager and the task
 * managers as child processes, and starts a killed job manager again (as Kubernetes restarts a
 * pod), which resumes from the newest checkpoint. The exactly-once file sink's output must hold
 * every number once, and the command must end with the job manager's exit code, 0.
 */

const JOB = fileURLToPath(new URL('./test-jobs/generate-rebalanced-lines.ts', import.meta.url));
const JOB_MANAGER_KILLS = 3;

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'sluice-local-cluster-cli-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** The children of a process (Linux: /proc), with their command lines. */
function children(pid: number): Array<{ pid: number; argv: string[] }> {
  try {
    const ids = readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean);
    return ids.flatMap((id) => {
      try {
        return [{ pid: Number(id), argv: readFileSync(`/proc/${id}/cmdline`, 'utf8').split('\0') }];
      } catch {
        return []; // exited meanwhile
      }
    });
  } catch {
    return [];
  }
}

const jobManagerOf = (pid: number): number | undefined =>
  children(pid).find((child) => child.argv.includes('jobmanager'))?.pid;

/** Running (not exited; a zombie waiting for a parent to reap it counts as exited). */
function alive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2)[0] !== 'Z';
  } catch {
    return false;
  }
}

/** The plain loop's answer: the committed files hold every number below `count` once. */
async function expectEveryRecordOnce(output: string, count: number): Promise<void> {
  const { lines } = await committedLines(output);
  expect(exactness(lines, count)).toEqual({ duplicated: 0, missing: 0, unexpected: 0, lines: count });
}

/** The command under test; with `checkpoints`, checkpointing every 200 ms into it. */
function runArgs(args: GenerateRebalancedLinesArgs, checkpoints?: string): string[] {
  return [
    'run',
    JOB,
    '-p',
    '2',
    '--task-managers',
    '2',
    ...(checkpoints === undefined ? [] : ['--checkpoint-dir', checkpoints, '--checkpoint-interval', '200']),
    '--args',
    JSON.stringify(args),
    '--log-format',
    'json',
    '--no-progress',
  ];
}

describe('sluice run --task-managers', () => {
  it(`runs the job manager as a child process, started again after each of ${JOB_MANAGER_KILLS} SIGKILLs; every record once`, async () => {
    const output = join(dir, 'out');
    const checkpoints = join(dir, 'checkpoints');
    // Slow enough that the kills end long before the input does: each waits for a checkpoint of
    // the job manager started after the previous kill.
    const args: GenerateRebalancedLinesArgs = { count: 120_000, directory: output, ratePerSecond: 4_000 };
    const run = new SluiceProcess('sluice-run-local-cluster', runArgs(args, checkpoints), {});
    const ended = (): boolean => run.exit !== undefined;
    const killed: number[] = [];
    const seen = new Set<number>();
    /** Every process the command started that the test saw. */
    const started = new Set<number>();
    try {
      for (let kill = 0; kill < JOB_MANAGER_KILLS; kill++) {
        const before = await latestCheckpoint(checkpoints);
        // A checkpoint completed by the job manager running now (the first, or one started again).
        expect(
          await until(async () => (await latestCheckpoint(checkpoints)) > before, ended),
          run.stderr,
        ).toBe(true);
        const jobManager = jobManagerOf(run.pid);
        expect(jobManager, run.stderr).toBeDefined();
        expect(jobManager).not.toBe(run.pid);
        seen.add(jobManager!);
        started.add(jobManager!);
        const taskManagers = children(run.pid).filter((child) => child.argv.includes('taskmanager'));
        expect(taskManagers).toHaveLength(2);
        for (const child of taskManagers) started.add(child.pid);
        process.kill(jobManager!, 'SIGKILL');
        killed.push(jobManager!);
        // Another job manager, started by the command.
        expect(
          await until(() => {
            const next = jobManagerOf(run.pid);
            return next !== undefined && next !== jobManager;
          }, ended),
          run.stderr,
        ).toBe(true);
      }
      const exit = await run.exited;
      expect(exit, run.stderr).toEqual({ code: 0, signal: null });
    } finally {
      if (run.exit === undefined) await run.kill();
    }
    expect(killed).toHaveLength(JOB_MANAGER_KILLS);
    expect(seen.size).toBe(JOB_MANAGER_KILLS);
    const restarts = run.lines.filter((line) => line.event === 'job-manager-died');
    expect(restarts.map((line) => line.signal)).toEqual(killed.map(() => 'SIGKILL'));
    const resumed = run.lines.filter((line) =>
      line.msg.startsWith("resuming job 'generate-rebalanced-lines' from checkpoint"),
    );
    expect(resumed.length).toBeGreaterThanOrEqual(JOB_MANAGER_KILLS);
    expect(run.lines.some((line) => line.event === 'job-finished')).toBe(true);

    await expectEveryRecordOnce(output, args.count);
    // No child left behind: every process the command started is gone once it has exited.
    expect([...started].filter(alive)).toEqual([]);
  }, 300_000);

  it('SIGTERM without --savepoint-dir ends the run as it would end one process: exit 143, no process left', async () => {
    const args: GenerateRebalancedLinesArgs = {
      count: 1_000_000,
      directory: join(dir, 'out-3'),
      ratePerSecond: 1_000,
    };
    const run = new SluiceProcess('sluice-run-sigterm', runArgs(args), {});
    const started = new Set<number>();
    try {
      expect(await run.awaitLine((line) => line.event === 'job-manager-listening'), run.stderr).toBe(true);
      expect(
        await until(
          () => children(run.pid).length === 3,
          () => run.exit !== undefined,
        ),
        run.stderr,
      ).toBe(true);
      for (const child of children(run.pid)) started.add(child.pid);
      run.child.kill('SIGTERM');
      expect(await run.exited, run.stderr).toEqual({ code: 143, signal: null });
    } finally {
      if (run.exit === undefined) await run.kill();
    }
    expect(
      await until(
        () => [...started].every((pid) => !alive(pid)),
        () => false,
      ),
    ).toBe(true);
  }, 300_000);

  it('killed itself, it takes its children with it, and the same command again resumes: every record once', async () => {
    const output = join(dir, 'out-2');
    const checkpoints = join(dir, 'checkpoints-2');
    const args: GenerateRebalancedLinesArgs = { count: 60_000, directory: output, ratePerSecond: 4_000 };
    const first = new SluiceProcess('sluice-run-killed', runArgs(args, checkpoints), {});
    const started = new Set<number>();
    try {
      expect(
        await until(
          async () => (await latestCheckpoint(checkpoints)) > 0,
          () => first.exit !== undefined,
        ),
        first.stderr,
      ).toBe(true);
      for (const child of children(first.pid)) started.add(child.pid);
      expect(started.size, first.stderr).toBe(3); // the job manager and two task managers
    } finally {
      await first.kill();
    }
    // The children notice their parent is gone (they look every 0.5 s); the test's timeout guards.
    expect(
      await until(
        () => [...started].every((pid) => !alive(pid)),
        () => false,
      ),
    ).toBe(true);

    const again = new SluiceProcess('sluice-run-again', runArgs(args, checkpoints), {});
    const exit = await again.exited;
    expect(exit, again.stderr).toEqual({ code: 0, signal: null });
    expect(
      again.lines.some((line) =>
        line.msg.startsWith("resuming job 'generate-rebalanced-lines' from checkpoint"),
      ),
      again.stderr,
    ).toBe(true);
    await expectEveryRecordOnce(output, args.count);
  }, 300_000);
});
