/**
 * Task managers for tests that run many jobs on processes: started once (`sluice taskmanager
 * --session`), they serve each job manager that opens the port in turn, so a test file pays for
 * starting Node processes once instead of once per job. Each `runJob(job, { cluster })` is a job
 * manager on that port.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createServer } from 'node:net';
import { fileURLToPath } from 'node:url';
import { siblingModule } from '../../../threads/module-worker.ts';
import type { JobManagerSpec } from '../../job-options.ts';
import { exitWithThisProcessEnv } from '../parent-watch.ts';

export interface SessionCluster {
  /** The `cluster` option of each job run on these task managers. */
  readonly cluster: JobManagerSpec;
  /** The task managers' pids, by position (a killed one is not restarted). */
  readonly processes: readonly ChildProcess[];
  close(): Promise<void>;
}

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  const address = server.address();
  await new Promise<void>((resolve) => server.close(() => resolve()));
  if (typeof address !== 'object' || address === null) throw new Error('no port');
  return address.port;
}

export async function startSessionCluster(options: {
  readonly taskManagers: number;
  readonly slotsPerTaskManager: number;
}): Promise<SessionCluster> {
  const secret = randomBytes(32).toString('hex');
  const port = await freePort();
  const bin = fileURLToPath(siblingModule('../../../cli/bin', import.meta.url));
  const processes = Array.from({ length: options.taskManagers }, (_, index) =>
    spawn(
      process.execPath,
      [
        bin,
        'taskmanager',
        '--session',
        '--jobmanager',
        `127.0.0.1:${port}`,
        '--slots',
        String(options.slotsPerTaskManager),
        '--id',
        `session-tm-${index}`,
        '--reconnect-interval',
        '50',
        '--log-level',
        process.env.SLUICE_TM_LOG_LEVEL ?? 'error',
      ],
      {
        env: { ...process.env, ...exitWithThisProcessEnv(), SLUICE_CLUSTER_SECRET: secret },
        stdio: ['ignore', 'ignore', 'inherit'],
      },
    ),
  );
  return {
    cluster: { listen: { host: '127.0.0.1', port }, secret: Buffer.from(secret) },
    processes,
    async close() {
      await Promise.all(
        processes.map(
          (child) =>
            new Promise<void>((resolve) => {
              if (child.exitCode !== null || child.signalCode !== null) return resolve();
              child.once('exit', () => resolve());
              child.kill('SIGTERM');
            }),
        ),
      );
    },
  };
}
