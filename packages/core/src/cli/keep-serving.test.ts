/**
 * `--keep-serving-after-end` as the Kubernetes operator uses it: a real `sluice jobmanager` with a
 * `sluice taskmanager`, stopped with a savepoint through the REST API. After the stop the process
 * stays up and its API says how the job ended and where the savepoint went; actions are refused;
 * /readyz is not ready while /healthz is; a task manager started again dials the closed control
 * port quietly instead of crash-looping; SIGTERM ends the process with the job's exit code.
 * Nothing waits on a clock: every wait polls for a state, bounded by the test's timeout.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from './run-cli.test-helper.ts';

const BIN = fileURLToPath(new URL('./bin.ts', import.meta.url));
const UNBOUNDED = fileURLToPath(new URL('./test-jobs/unbounded.ts', import.meta.url));
const FAILING = fileURLToPath(new URL('./test-jobs/failing-map.ts', import.meta.url));
const TOKEN = 'a-rest-token-for-the-keep-serving-test';
const ENV = {
  SLUICE_CLUSTER_SECRET: 'a-test-secret-of-enough-bytes',
  SLUICE_WEB_TOKEN: TOKEN,
  SLUICE_LOG_LEVEL: '',
};
const TEST_TIMEOUT_MS = 180_000;
const auth = { authorization: `Bearer ${TOKEN}` };

let work: string;
const children: ChildProcess[] = [];
beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'sluice-keep-serving-'));
});
afterEach(() => {
  for (const child of children.splice(0)) if (child.exitCode === null) child.kill('SIGKILL');
});
afterAll(async () => {
  await rm(work, { recursive: true, force: true });
});

/** A free port (for --health-port, which is not logged). */
async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

/** Polls `probe` until it gives a value; the test's timeout bounds it. */
async function until<T>(probe: () => Promise<T | undefined>): Promise<T> {
  for (;;) {
    const value = await probe().catch(() => undefined);
    if (value !== undefined) return value;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

function spawnSluice(args: readonly string[]): {
  child: ChildProcess;
  stderr: () => string;
  exited: Promise<number | null>;
} {
  const child = spawn(process.execPath, [BIN, ...args], {
    env: { ...process.env, ...ENV },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  children.push(child);
  let stderr = '';
  child.stderr?.setEncoding('utf8').on('data', (chunk: string) => {
    stderr += chunk;
  });
  const exited = new Promise<number | null>((resolve) => child.on('close', (code) => resolve(code)));
  return { child, stderr: () => stderr, exited };
}

const getJson = async (url: string): Promise<Record<string, unknown>> =>
  (await (await fetch(url, { headers: auth })).json()) as Record<string, unknown>;

describe('sluice jobmanager --keep-serving-after-end', () => {
  it(
    'stopped with a savepoint: the REST API reports it until SIGTERM, which exits 0',
    async () => {
      const healthPort = await freePort();
      const jobManager = spawnSluice([
        'jobmanager',
        UNBOUNDED,
        '-p',
        '2',
        '--port',
        '0',
        '--web',
        '0',
        '--health-port',
        String(healthPort),
        '--checkpoint-dir',
        join(work, 'checkpoints'),
        '--checkpoint-interval',
        '100',
        '--savepoint-dir',
        join(work, 'savepoints'),
        '--keep-serving-after-end',
      ]);
      const { control, url } = await until(async () => {
        const text = jobManager.stderr();
        if (jobManager.child.exitCode !== null) throw new Error(`the job manager exited:\n${text}`);
        const controlPort = /listening for task managers at 127\.0\.0\.1:(\d+)/.exec(text)?.[1];
        const web = /REST API at (http:\/\/127\.0\.0\.1:\d+)/.exec(text)?.[1];
        return controlPort === undefined || web === undefined
          ? undefined
          : { control: controlPort, url: web };
      });
      const taskManager = spawnSluice([
        'taskmanager',
        '--jobmanager',
        `127.0.0.1:${control}`,
        '--slots',
        '2',
      ]);
      await until(async () => {
        const job = await getJson(`${url}/api/job`);
        const checkpoints = await getJson(`${url}/api/checkpoints`);
        return job.status === 'running' && (checkpoints.counts as { completed: number }).completed > 0
          ? true
          : undefined;
      });
      const health = `http://127.0.0.1:${healthPort}`;
      expect((await fetch(`${health}/readyz`)).status).toBe(200);

      const stop = await fetch(`${url}/api/stop`, { method: 'POST', headers: auth });
      expect(stop.status).toBe(202);
      const { id } = (await stop.json()) as { id: number };
      const written = await until(async () => {
        const request = await getJson(`${url}/api/savepoints/${id}`);
        if (request.status === 'failed') throw new Error(String(request.error));
        return request.status === 'completed' ? request : undefined;
      });
      const folder = written.folder as string;
      expect(existsSync(join(folder, '_metadata'))).toBe(true);
      const ended = await until(async () => {
        const job = await getJson(`${url}/api/job`);
        return job.status === 'stopped' ? job : undefined;
      });
      expect(ended.finalSavepoint).toBe(folder);
      // The stop's savepoint is the job's last checkpoint: none completed after it.
      const checkpoints = await getJson(`${url}/api/checkpoints`);
      expect(checkpoints.latest).toMatchObject({ kind: 'savepoint', status: 'completed' });
      // The task manager was told the job ended, and exited.
      expect(await taskManager.exited).toBe(0);
      // One started again (a restarted pod) finds the control port closed: it dials on, every
      // --reconnect-interval, saying so once — no crash loop — until it is stopped.
      const again = spawnSluice([
        'taskmanager',
        '--jobmanager',
        `127.0.0.1:${control}`,
        '--reconnect-interval',
        '50',
      ]);
      await until(async () => (/unreachable/.test(again.stderr()) ? true : undefined));

      // Still serving: the request's final state, refusals of every action, probes.
      expect(await getJson(`${url}/api/savepoints/${id}`)).toMatchObject({ status: 'completed', folder });
      for (const action of ['stop', 'savepoints', 'cancel']) {
        const refused = await fetch(`${url}/api/${action}`, { method: 'POST', headers: auth });
        expect(refused.status).toBe(409);
        expect(await refused.json()).toMatchObject({
          code: 'SLUICE_JOB_ENDED',
          error: expect.stringMatching(/job 'unbounded' has ended \(stopped, with savepoint .*\)/),
        });
      }
      expect((await fetch(`${health}/readyz`)).status).toBe(503);
      expect((await fetch(`${health}/healthz`)).status).toBe(200);
      expect(jobManager.child.exitCode).toBeNull();
      expect(jobManager.stderr()).toMatch(/has ended \(stopped\); its REST API at .* serves the final state/);
      expect(again.child.exitCode).toBeNull();
      expect(again.stderr().match(/unreachable/g)).toHaveLength(1);
      again.child.kill('SIGTERM');
      expect(await again.exited).toBe(143);

      jobManager.child.kill('SIGTERM');
      expect(await jobManager.exited).toBe(0);
      expect(jobManager.stderr()).toMatch(/SIGTERM: closing the REST API and exiting/);
    },
    TEST_TIMEOUT_MS,
  );
});

describe('sluice run --keep-serving-after-end', () => {
  it(
    'a stop whose savepoint fails leaves the job running; cancelled, it is reported until SIGTERM',
    async () => {
      // The savepoint directory is a file: the savepoint cannot be copied into it.
      const notADirectory = join(work, 'not-a-directory');
      await writeFile(notADirectory, '');
      const run = spawnSluice([
        'run',
        UNBOUNDED,
        '--web',
        '0',
        '--checkpoint-dir',
        join(work, 'run-checkpoints'),
        '--checkpoint-interval',
        '100',
        '--savepoint-dir',
        notADirectory,
        '--keep-serving-after-end',
      ]);
      const url = await until(async () => {
        if (run.child.exitCode !== null) throw new Error(`sluice run exited:\n${run.stderr()}`);
        return /REST API at (http:\/\/127\.0\.0\.1:\d+)/.exec(run.stderr())?.[1];
      });
      await until(async () => ((await getJson(`${url}/api/job`)).status === 'running' ? true : undefined));
      const stop = await fetch(`${url}/api/stop`, { method: 'POST', headers: auth });
      const { id } = (await stop.json()) as { id: number };
      const failed = await until(async () => {
        const request = await getJson(`${url}/api/savepoints/${id}`);
        return request.status === 'failed' ? request : undefined;
      });
      expect(failed.folder).toBeNull();
      // The job runs on, checkpointing as before.
      const before = ((await getJson(`${url}/api/checkpoints`)).counts as { completed: number }).completed;
      await until(async () => {
        const job = await getJson(`${url}/api/job`);
        const counts = (await getJson(`${url}/api/checkpoints`)).counts as { completed: number };
        return job.status === 'running' && counts.completed > before ? true : undefined;
      });

      expect((await fetch(`${url}/api/cancel`, { method: 'POST', headers: auth })).status).toBe(202);
      const cancelled = await until(async () => {
        const job = await getJson(`${url}/api/job`);
        return job.status === 'cancelled' ? job : undefined;
      });
      expect(cancelled.finalSavepoint).toBeNull();
      await until(async () => (/has ended \(cancelled\)/.test(run.stderr()) ? true : undefined));
      run.child.kill('SIGINT');
      expect(await run.exited).toBe(0);
    },
    TEST_TIMEOUT_MS,
  );

  it(
    'a failed job stays reported as failed until SIGTERM, which exits 1 (SLUICE_KEEP_SERVING_AFTER_END=true)',
    async () => {
      let signalled = false;
      let url: string | undefined;
      let reported: { job: Record<string, unknown>; exceptions: Record<string, unknown> } | undefined;
      const outcome = await runCli(['run', FAILING, '--web', '0'], {
        env: { ...ENV, SLUICE_KEEP_SERVING_AFTER_END: 'true' },
        onStderr: (text, pid) => {
          url ??= /REST API at (http:\/\/127\.0\.0\.1:\d+)/.exec(text)?.[1];
          if (signalled || url === undefined || !/has ended \(failed\)/.test(text)) return;
          signalled = true;
          const base = url;
          void (async () => {
            reported = {
              job: await getJson(`${base}/api/job`),
              exceptions: await getJson(`${base}/api/exceptions`),
            };
          })().finally(() => process.kill(pid, 'SIGTERM'));
        },
      });
      expect(signalled).toBe(true);
      expect(reported?.job.status).toBe('failed');
      expect(reported?.exceptions.exceptions).toEqual([expect.objectContaining({ restarted: false })]);
      expect(outcome.signal).toBeNull();
      expect(outcome.code).toBe(1);
      expect(outcome.stderr).toMatch(/not a price/);
    },
    TEST_TIMEOUT_MS,
  );

  it(
    'needs --web, and a boolean in the environment',
    async () => {
      const noWeb = await runCli(['run', UNBOUNDED, '--keep-serving-after-end']);
      expect(noWeb.code).toBe(2);
      expect(noWeb.stderr).toMatch(/--keep-serving-after-end needs --web/);
      const badEnv = await runCli(['run', UNBOUNDED, '--web', '0'], {
        env: { SLUICE_KEEP_SERVING_AFTER_END: 'yes' },
      });
      expect(badEnv.code).toBe(2);
      expect(badEnv.stderr).toMatch(
        /SLUICE_KEEP_SERVING_AFTER_END must be 'true', 'false' or empty, got 'yes'/,
      );
    },
    TEST_TIMEOUT_MS,
  );
});
