/**
 * A real Sluice job manager with its task managers, as processes on 127.0.0.1, for the
 * operator's tests: kwok's pods run nothing, so the savepoints an upgrade takes are taken by
 * this job manager, through the same REST API a job-manager pod serves (the operator is pointed
 * at its URL). It is started the way the operator's pod starts `sluice jobmanager` — the REST
 * token in SLUICE_WEB_TOKEN, how to restore in SLUICE_RESTORE, as the ConfigMap says, and
 * `--keep-serving-after-end`: once its job has ended (stopped with a savepoint by an upgrade) it
 * serves its final state until SIGTERM, as the pod does until the rollout replaces it.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ManagedProcess } from './processes.ts';
import { waitUntil } from './wait.ts';

const CORE_BIN = fileURLToPath(new URL('../../../core/src/cli/bin.ts', import.meta.url));
export const KEYED_SUM_JOB = fileURLToPath(new URL('./keyed-sum-job.ts', import.meta.url));

export interface LocalJobManagerOptions {
  readonly parallelism: number;
  readonly taskManagers: number;
  readonly checkpointDir: string;
  readonly savepointDir: string;
  /** The REST API's bearer token (what the operator reads from `<name>-rest-token`). */
  readonly token: string;
  readonly checkpointIntervalMs?: number;
  /** SLUICE_RESTORE: the savepoint or checkpoint the job manager starts from. */
  readonly restore?: string;
}

export interface LocalJobManager {
  /** Base URL of its REST API. */
  readonly url: string;
  /** What the job manager has logged so far. */
  log(): string;
  /** False once the job manager's process has exited. */
  running(): boolean;
  /** GET `path` of its REST API, with the token. */
  api<T = Record<string, unknown>>(path: string): Promise<T>;
  /**
   * SIGTERM to the job manager, as the rollout sends to the old pod; resolves with its exit code
   * once it has exited (its task managers are stopped too).
   */
  terminate(): Promise<number | null>;
  /** Stops the job manager and its task managers at once (SIGKILL: no savepoint on the way). */
  kill(): Promise<void>;
}

export async function startLocalJobManager(options: LocalJobManagerOptions): Promise<LocalJobManager> {
  const logDir = mkdtempSync(join(tmpdir(), 'sluice-local-jm-'));
  const secret = 'a-cluster-secret-for-the-operator-tests';
  const node = process.execPath;
  // The environment the pod's container gets (the Secret's and the ConfigMap's keys).
  const env = {
    SLUICE_CLUSTER_SECRET: secret,
    SLUICE_WEB_TOKEN: options.token,
    SLUICE_RESTORE: options.restore ?? '',
    SLUICE_FRESH: '',
  };
  const withEnv = (args: string[]): [string, string[]] => [
    'env',
    [...Object.entries(env).map(([k, v]) => `${k}=${v}`), node, CORE_BIN, ...args],
  ];
  const jobManager = new ManagedProcess(
    'jobmanager',
    ...withEnv([
      'jobmanager',
      KEYED_SUM_JOB,
      '-p',
      String(options.parallelism),
      '--port',
      '0',
      '--web',
      '0',
      '--checkpoint-dir',
      options.checkpointDir,
      '--checkpoint-interval',
      String(options.checkpointIntervalMs ?? 500),
      '--savepoint-dir',
      options.savepointDir,
      '--keep-serving-after-end',
    ]),
    logDir,
  );
  const taskManagers: ManagedProcess[] = [];
  const stopAll = async () => {
    await Promise.all([jobManager, ...taskManagers].map((p) => p.stop()));
  };
  try {
    const log = () => readFileSync(jobManager.logFile, 'utf8');
    const { port, url } = await waitUntil('the local job manager listening', async () => {
      jobManager.assertRunning();
      const text = log();
      const control = /listening for task managers at 127\.0\.0\.1:(\d+)/.exec(text)?.[1];
      const web = /REST API at (http:\/\/127\.0\.0\.1:\d+)/.exec(text)?.[1];
      return control !== undefined && web !== undefined ? { port: Number(control), url: web } : undefined;
    });
    const slots = Math.ceil(options.parallelism / options.taskManagers);
    for (let i = 0; i < options.taskManagers; i++) {
      taskManagers.push(
        new ManagedProcess(
          `taskmanager-${i}`,
          ...withEnv([
            'taskmanager',
            '--jobmanager',
            `127.0.0.1:${port}`,
            '--slots',
            String(slots),
            '--reconnect-interval',
            '100',
          ]),
          logDir,
        ),
      );
    }
    await waitUntil('the local job running with a completed checkpoint', async () => {
      jobManager.assertRunning();
      const headers = { authorization: `Bearer ${options.token}` };
      const job = (await (await fetch(`${url}/api/job`, { headers })).json()) as { status: string };
      const checkpoints = (await (await fetch(`${url}/api/checkpoints`, { headers })).json()) as {
        counts: { completed: number };
      };
      return job.status === 'running' && checkpoints.counts.completed > 0;
    });
    return {
      url,
      log,
      running: () => jobManager.running,
      api: async <T>(path: string) =>
        (await (
          await fetch(`${url}${path}`, { headers: { authorization: `Bearer ${options.token}` } })
        ).json()) as T,
      terminate: async () => {
        await stopAll();
        return jobManager.exitCode;
      },
      kill: async () => {
        for (const process of [jobManager, ...taskManagers]) process.killNow();
        await stopAll();
        rmSync(logDir, { recursive: true, force: true });
      },
    };
  } catch (error) {
    process.stderr.write(`local job manager log:\n${jobManager.logTail(40)}\n`);
    await stopAll();
    throw error;
  }
}
