/**
 * The cluster commands as a user runs them: `sluice run --task-managers`, and `sluice jobmanager`
 * with `sluice taskmanager` processes started separately. The demo job's printed output on
 * processes must be the lines it prints on threads; bad flags and a missing secret fail fast,
 * naming what is wrong.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { makeTestCertificates } from '../channels/tcp/testing/test-certificates.ts';
import { runCli } from './run-cli.test-helper.ts';

const BIN = fileURLToPath(new URL('./bin.ts', import.meta.url));
const DEMO = fileURLToPath(new URL('../../../../examples/click-counts/job.ts', import.meta.url));
const SECRET = { SLUICE_CLUSTER_SECRET: 'a-test-secret-of-enough-bytes' };

const children: ChildProcess[] = [];
afterEach(() => {
  for (const child of children.splice(0)) if (child.exitCode === null) child.kill('SIGKILL');
});

const sortedLines = (text: string): string[] =>
  text
    .split('\n')
    .filter((line) => line.length > 0)
    .sort();

function taskManager(
  port: number,
  extra: readonly string[] = [],
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const child = spawn(process.execPath, [BIN, 'taskmanager', '--jobmanager', `127.0.0.1:${port}`, ...extra], {
    env: { ...process.env, ...SECRET },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  children.push(child);
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
    stdout += chunk;
  });
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => {
    stderr += chunk;
  });
  return new Promise((resolve) => child.on('close', (code) => resolve({ code, stdout, stderr })));
}

describe('sluice on processes', () => {
  it('run --task-managers prints what the job prints on threads', async () => {
    const threads = await runCli(['run', DEMO, '-p', '2']);
    expect(threads.code).toBe(0);
    const processes = await runCli(['run', DEMO, '-p', '2', '--task-managers', '2']);
    expect(processes.stderr).toContain('finished');
    expect(processes.code).toBe(0);
    expect(sortedLines(processes.stdout)).toEqual(sortedLines(threads.stdout));
    // Without --slots-per-task-manager, as few slots per process as hold -p: 2 × 2 for -p 3.
    const shared = await runCli(['run', DEMO, '-p', '3', '--task-managers', '2']);
    expect(shared.stderr).toContain('finished');
    expect(shared.code).toBe(0);
    expect(sortedLines(shared.stdout)).toEqual(sortedLines((await runCli(['run', DEMO, '-p', '3'])).stdout));
    expect(sortedLines(threads.stdout).length).toBeGreaterThan(0);
  }, 240_000);

  for (const tls of [false, true]) {
    it(`jobmanager and two taskmanager processes${tls ? ' over mutual TLS (control and data)' : ''}: the job runs, and every process exits 0`, async () => {
      const threads = await runCli(['run', DEMO, '-p', '2']);
      const certificates = tls ? makeTestCertificates() : undefined;
      try {
        const file = (name: string): string => certificates!.file(name);
        // Every process has the certificate for 127.0.0.1 (server and client use), signed by the CA.
        const jobManagerTls = tls
          ? ['--tls-cert', file('server.crt'), '--tls-key', file('server.key'), '--tls-ca', file('ca.crt')]
          : [];
        const taskManagerTls = tls
          ? ['--tls-ca', file('ca.crt'), '--tls-cert', file('server.crt'), '--tls-key', file('server.key')]
          : [];
        const managers: Array<ReturnType<typeof taskManager>> = [];
        const jobManager = await runCli(['jobmanager', DEMO, '-p', '2', '--port', '0', ...jobManagerTls], {
          env: SECRET,
          onStderr: (stderr) => {
            const port = /listening for task managers at 127\.0\.0\.1:(\d+)/.exec(stderr)?.[1];
            if (port !== undefined && managers.length === 0) {
              managers.push(
                taskManager(Number(port), taskManagerTls),
                taskManager(Number(port), taskManagerTls),
              );
            }
          },
          timeoutMs: 200_000,
        });
        expect(jobManager.stderr).toContain("job 'click-counts' finished");
        expect(jobManager.code).toBe(0);
        const ended = await Promise.all(managers);
        expect(ended.map((m) => m.code)).toEqual([0, 0]);
        // The print sink writes where its subtask runs: the task managers' stdout, together the job's lines.
        expect(sortedLines(ended.map((m) => m.stdout).join(''))).toEqual(sortedLines(threads.stdout));
      } finally {
        certificates?.remove();
      }
    }, 240_000);
  }

  it('a job manager and a task manager whose starter died before they looked end at once, not run for ever', async () => {
    // A starter killed while its child is still loading (`sluice run --task-managers` SIGKILLed
    // as it starts them): the child is re-parented before it first looks at its parent. A pid
    // that has exited stands for that starter.
    const gone = spawn(process.execPath, ['-e', ''], { stdio: 'ignore' });
    const gonePid = gone.pid!;
    await new Promise((resolve) => gone.once('close', resolve));
    const env = { ...SECRET, SLUICE_EXIT_WITH_PARENT: '1', SLUICE_PARENT_PID: String(gonePid) };
    // Nothing listens at the task manager's job manager: it would dial for ever; the job manager
    // would wait for ever for task managers.
    const [taskManagerRun, jobManagerRun] = await Promise.all([
      runCli(['taskmanager', '--jobmanager', '127.0.0.1:1'], { env }),
      runCli(['jobmanager', DEMO, '-p', '2', '--port', '0'], { env }),
    ]);
    expect(taskManagerRun.stderr).toContain(
      `the process that started this task manager (pid ${gonePid}) is gone`,
    );
    expect(taskManagerRun.code).toBe(0);
    expect(jobManagerRun.stderr).toContain(
      `the command that started this job manager (pid ${gonePid}) is gone`,
    );
    expect(jobManagerRun.signal).toBe('SIGKILL');
  }, 120_000);

  it('refuses to start without a cluster secret, or with a job manager address that is not HOST:PORT', async () => {
    const env = { SLUICE_CLUSTER_SECRET: '' };
    const noSecret = await runCli(['taskmanager', '--jobmanager', '127.0.0.1:6123'], { env });
    expect(noSecret.code).toBe(2);
    expect(noSecret.stderr).toMatch(/no cluster secret: set the environment variable SLUICE_CLUSTER_SECRET/);
    const noSecretJm = await runCli(['jobmanager', DEMO, '--port', '0'], { env });
    expect(noSecretJm.code).toBe(2);
    expect(noSecretJm.stderr).toMatch(/no cluster secret/);
    const badAddress = await runCli(['taskmanager', '--jobmanager', 'localhost'], { env: SECRET });
    expect(badAddress.code).toBe(2);
    expect(badAddress.stderr).toMatch(/--jobmanager must be HOST:PORT, got 'localhost'/);
    // The local cluster's job manager knows the slots its task managers will offer: too few for
    // the job fail at once, before any task manager starts, instead of waiting for more.
    const tooSmall = await runCli([
      'run',
      DEMO,
      '-p',
      '4',
      '--task-managers',
      '1',
      '--slots-per-task-manager',
      '3',
    ]);
    expect(tooSmall.code).toBe(2);
    expect(tooSmall.stderr).toMatch(
      /needs 4 slots \(its highest parallelism\), and its task managers offer 3/,
    );
    const orphanSlots = await runCli(['run', DEMO, '--slots-per-task-manager', '2']);
    expect(orphanSlots.code).toBe(2);
    expect(orphanSlots.stderr).toMatch(/--slots-per-task-manager needs --task-managers/);
  }, 120_000);
});
