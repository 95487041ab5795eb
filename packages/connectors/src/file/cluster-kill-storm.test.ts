import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { committedLines, exactness, killStorm, ProcessCluster } from '../test-support/cluster-processes.ts';
import type { GenerateRebalancedLinesArgs } from './test-jobs/generate-rebalanced-lines.ts';

/**
 * A kill storm on a cluster of processes, as Kubernetes would run it: a `sluice jobmanager` and
 * two `sluice taskmanager` processes of one slot each, the job at parallelism 2 with a rebalance
 * (records and barriers cross between the task managers over TCP) into the exactly-once file
 * sink. Task managers and the job manager are SIGKILLed at points chosen by what the test sees
 * (see `killStorm`) and started again with the same command. The committed output must hold
 * every number once, and the last job manager must end the job with exit code 0.
 */

const JOB = fileURLToPath(new URL('./test-jobs/generate-rebalanced-lines.ts', import.meta.url));
const TASK_MANAGER_KILLS = 10;
const JOB_MANAGER_KILLS = 3;

let dir: string;
let cluster: ProcessCluster | undefined;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'sluice-cluster-kill-storm-'));
});
afterAll(async () => {
  await cluster?.stop();
  await rm(dir, { recursive: true, force: true });
});

describe('a job on task-manager processes, through SIGKILLs of task managers and of the job manager', () => {
  it(`exactly-once file sink: after ${TASK_MANAGER_KILLS} task-manager and ${JOB_MANAGER_KILLS} job-manager kills, every record once`, async () => {
    const output = join(dir, 'out');
    // Slow enough that the storm ends long before the input does (a kill costs a restart, and
    // each waits for at most a few checkpoints' progress).
    const args: GenerateRebalancedLinesArgs = { count: 150_000, directory: output, ratePerSecond: 6_000 };
    cluster = await ProcessCluster.start({
      job: JOB,
      jobArgs: args,
      parallelism: 2,
      taskManagers: 2,
      checkpointDir: join(dir, 'checkpoints'),
      checkpointIntervalMs: 200,
    });
    const storm = await killStorm(cluster, {
      taskManagerKills: TASK_MANAGER_KILLS,
      jobManagerKills: JOB_MANAGER_KILLS,
      seed: 14,
      committed: async () => (await committedLines(output)).files.length,
    });
    const exit = await cluster.jobManager.exited;
    console.log(
      `cluster kill storm (file sink): ${storm.kills.join('; ')}\n` +
        `  task manager lost after (ms): ${storm.detections.map((d) => d.ms).join(', ')}`,
    );
    expect(exit, cluster.describe()).toEqual({ code: 0, signal: null });
    const taskManagerExits = await cluster.taskManagerExits();
    expect(storm.taskManagerKills, storm.kills.join('\n')).toBeGreaterThanOrEqual(TASK_MANAGER_KILLS);
    expect(storm.jobManagerKills, storm.kills.join('\n')).toBeGreaterThanOrEqual(JOB_MANAGER_KILLS);
    // Told by the job manager that the job finished, every task manager exits 0.
    expect(taskManagerExits).toEqual(cluster.taskManagers.map(() => ({ code: 0, signal: null })));
    // A SIGKILLed task manager is noticed by its connection (the kernel closes its sockets), not
    // by the heartbeat timeout: the job manager hears of it at once, whatever the timers say.
    for (const { reason } of storm.detections) {
      expect(reason).toMatch(/ECONNRESET|ended by the other party|closed by the peer/);
    }
    // Started again after a kill, job managers resumed from the newest checkpoint (each one
    // killed after a checkpoint had completed).
    const resumed = cluster.jobManagers.filter((jm) =>
      jm.lines.some((line) =>
        line.msg.startsWith("resuming job 'generate-rebalanced-lines' from checkpoint"),
      ),
    );
    expect(resumed.length).toBeGreaterThan(0);

    const { lines } = await committedLines(output);
    expect(exactness(lines, args.count)).toEqual({
      duplicated: 0,
      missing: 0,
      unexpected: 0,
      lines: args.count,
    });
    // No in-progress or pending file is left behind.
    expect((await readdir(output)).filter((name) => name.startsWith('.'))).toEqual([]);
  }, 900_000);
});
