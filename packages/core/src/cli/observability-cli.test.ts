import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type CliOutcome, runCli } from './run-cli.test-helper.ts';

/**
 * `sluice run --log-level / --log-format / --progress` and `sluice plan --format`, as users meet
 * them: a child process, judged by exit code and output. No test waits on a clock.
 */

const loggingJob = fileURLToPath(new URL('../../e2e/jobs/logging.ts', import.meta.url));
const unboundedJob = fileURLToPath(new URL('./test-jobs/unbounded.ts', import.meta.url));
const planJob = fileURLToPath(new URL('../execution/test-jobs/plan-shapes.ts', import.meta.url));
const TEST_TIMEOUT_MS = 180_000;

let cwd: string;
beforeAll(async () => {
  cwd = await mkdtemp(join(tmpdir(), 'sluice-cli-obs-'));
});
afterAll(async () => {
  await rm(cwd, { recursive: true, force: true });
});

function sluice(
  args: readonly string[],
  options: { env?: Record<string, string>; onStderr?: (stderr: string, pid: number) => void } = {},
): Promise<CliOutcome> {
  // An inherited SLUICE_LOG_LEVEL must not decide a test (empty is unset).
  return runCli(args, { ...options, env: { SLUICE_LOG_LEVEL: '', ...options.env }, cwd, timeoutMs: 120_000 });
}

function jsonLines(stderr: string): Record<string, unknown>[] {
  return stderr
    .trim()
    .split('\n')
    .map((line) => JSON.parse(line) as Record<string, unknown>);
}

describe('sluice run: logs', () => {
  it(
    '--log-format json --log-level debug: every stderr line is JSON, the functions’ debug lines included',
    async () => {
      const { code, stderr } = await sluice([
        'run',
        loggingJob,
        '-p',
        '2',
        '--arg',
        'count=20',
        '--log-format',
        'json',
        '--log-level',
        'debug',
      ]);
      expect(code, stderr).toBe(0);
      const lines = jsonLines(stderr);
      const tenths = lines.filter((l) => l.msg === 'tenth record');
      expect(tenths.map((l) => [l.value, l.subtask, l.level]).sort()).toEqual([
        [0, 0, 20],
        [10, 1, 20],
      ]);
      for (const line of lines) expect(line.job).toBe('logging');
      expect(lines.at(-1)).toMatchObject({
        level: 30,
        event: 'job-finished',
        recordsRead: 20,
        parallelism: 2,
      });
    },
    TEST_TIMEOUT_MS,
  );

  it(
    '--log-level warn: nothing below warn, not even the summary',
    async () => {
      const { code, stderr, stdout } = await sluice([
        'run',
        loggingJob,
        '-p',
        '2',
        '--arg',
        'count=20',
        '--log-level',
        'warn',
      ]);
      expect(code).toBe(0);
      expect(stderr).toBe('');
      expect(stdout).toBe('');
    },
    TEST_TIMEOUT_MS,
  );

  it(
    'text by default, level from SLUICE_LOG_LEVEL: the functions’ lines with their operator and subtask',
    async () => {
      const { code, stderr } = await sluice(['run', loggingJob, '-p', '2', '--arg', 'count=20'], {
        env: { SLUICE_LOG_LEVEL: 'debug' },
      });
      expect(code).toBe(0);
      const lines = stderr.trim().split('\n');
      expect(lines).toContain('sluice: [log-every#0] opened parallelism=2');
      expect(lines).toContain('sluice: [log-every#1] opened parallelism=2');
      expect(lines).toContain('sluice: debug: [log-every#0] tenth record value=0');
      expect(lines).toContain('sluice: debug: [log-every#1] tenth record value=10');
      expect(lines.at(-1)).toMatch(/^sluice: job 'logging' finished in .* 20 records read/);
    },
    TEST_TIMEOUT_MS,
  );

  it(
    'a failing job in JSON: the failure once, with its context, and the lines before it',
    async () => {
      const { code, stderr } = await sluice([
        'run',
        loggingJob,
        '-p',
        '2',
        '--arg',
        'count=20',
        '--arg',
        'failAt=15',
        '--log-format',
        'json',
      ]);
      expect(code).toBe(1);
      const lines = jsonLines(stderr);
      const failed = lines.filter((l) => l.event === 'job-failed');
      expect(failed).toHaveLength(1);
      expect(failed[0]).toMatchObject({ level: 50, job: 'logging', operator: 'log-every', subtask: 1 });
      // The error's message once (pino's default serializer would append the cause's message
      // again), and its cause whole.
      const err = failed[0]!.err as { message: string; cause: { message: string } };
      expect(err.message).toMatch(/failed while processing record 15: refused record 15$/);
      expect(err.cause.message).toBe('refused record 15');
      expect(lines.filter((l) => l.msg === 'about to fail')).toHaveLength(1);
      expect(lines.filter((l) => l.level === 60)).toEqual([]);
    },
    TEST_TIMEOUT_MS,
  );

  it.each([
    [
      ['--log-level', 'loud'],
      `--log-level must be 'trace' or 'debug' or 'info' or 'warn' or 'error' or 'fatal' or 'silent', got "loud"`,
    ],
    [['--log-format', 'xml'], `--log-format must be 'text' or 'json', got "xml"`],
  ])(
    'sluice run %j is refused, naming the flag',
    async (flags, message) => {
      const { code, stderr } = await sluice(['run', loggingJob, ...flags]);
      expect(code).toBe(2);
      expect(stderr).toBe(`sluice: ${message} [SLUICE_CONFIG]\n`);
    },
    TEST_TIMEOUT_MS,
  );

  it(
    'an error before the job starts, in JSON: one fatal line with its code, exit 2',
    async () => {
      const { code, stderr } = await sluice(['run', 'no-such-job.ts', '--log-format', 'json']);
      expect(code).toBe(2);
      const lines = jsonLines(stderr);
      expect(lines).toHaveLength(1);
      expect(lines[0]).toMatchObject({ level: 60, event: 'cli-error', err: { code: 'SLUICE_CONFIG' } });
      expect(lines[0]!.msg).toContain('job module no-such-job.ts not found');
    },
    TEST_TIMEOUT_MS,
  );

  it(
    'a bad SLUICE_LOG_LEVEL is refused before the job starts',
    async () => {
      const { code, stderr } = await sluice(['run', loggingJob], { env: { SLUICE_LOG_LEVEL: 'loud' } });
      expect(code).toBe(2);
      expect(stderr).toContain(
        'SLUICE_LOG_LEVEL must be one of trace, debug, info, warn, error, fatal, silent, got "loud"',
      );
    },
    TEST_TIMEOUT_MS,
  );
});

describe('sluice run --progress', () => {
  it(
    'not a terminal: plain progress lines while the job runs',
    async () => {
      let killed = false;
      const { signal, stderr } = await sluice(
        ['run', unboundedJob, '--progress', '--progress-interval', '100'],
        {
          onStderr: (text, pid) => {
            if (killed || !/records read \(\d+ records\/s\), \d+:\d\d elapsed\n/.test(text)) return;
            killed = true;
            process.kill(pid, 'SIGKILL');
          },
        },
      );
      expect(signal).toBe('SIGKILL');
      expect(stderr).toMatch(/^sluice: [\d,]+ records read \([\d,]+ records\/s\), \d+:\d\d elapsed$/m);
      // Unbounded: no share of input.
      expect(stderr).not.toContain('% of input');
    },
    TEST_TIMEOUT_MS,
  );

  it(
    'off by default when stderr is not a terminal',
    async () => {
      const { code, stderr } = await sluice([
        'run',
        loggingJob,
        '--arg',
        'count=5',
        '--progress-interval',
        '1',
      ]);
      expect(code).toBe(0);
      expect(stderr).not.toContain('elapsed');
    },
    TEST_TIMEOUT_MS,
  );
});

describe('sluice plan --format', () => {
  it.each([
    ['json', (out: string) => expect(JSON.parse(out)).toMatchObject({ job: 'plan-shapes', slots: 2 })],
    ['dot', (out: string) => expect(out).toMatch(/^digraph "plan-shapes" \{\n[\s\S]*\n\}\n$/)],
    ['mermaid', (out: string) => expect(out).toMatch(/^flowchart LR\n/)],
  ] as const)(
    '%s to stdout',
    async (format, check) => {
      const { code, stdout, stderr } = await sluice(['plan', planJob, '-p', '2', '--format', format]);
      expect(code, stderr).toBe(0);
      check(stdout);
    },
    TEST_TIMEOUT_MS,
  );
});
