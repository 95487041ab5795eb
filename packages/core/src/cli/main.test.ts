import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type CliOutcome, runCli } from './run-cli.test-helper.ts';

/**
 * The CLI as users meet it: a child process of its own, started in an empty temp folder (it must
 * not depend on the current directory), judged by exit code and output. No test waits on a
 * clock: each either runs to the end or waits for a line the CLI prints.
 */

const job = (name: string): string => fileURLToPath(new URL(`./test-jobs/${name}.ts`, import.meta.url));
const VERSION = (
  JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }
).version;

/** Generous: a loaded CI machine may take long to start Node and worker threads; no result depends on it. */
const SPAWN_TIMEOUT_MS = 120_000;
const TEST_TIMEOUT_MS = 180_000;

type Outcome = CliOutcome;

let cwd: string;

beforeAll(async () => {
  cwd = await mkdtemp(join(tmpdir(), 'sluice-cli-test-'));
});

afterAll(async () => {
  await rm(cwd, { recursive: true, force: true });
});

function sluice(
  args: readonly string[],
  options: { env?: Record<string, string>; onStderr?: (stderr: string, pid: number) => void } = {},
): Promise<Outcome> {
  return runCli(args, { ...options, cwd, timeoutMs: SPAWN_TIMEOUT_MS });
}

const NO_STACK = '    at ';
/** A stack frame in the test job's own file: the user's code, thrown in a worker thread. */
const USER_FRAME = /^\s+at .*failing-map\.ts:\d+:\d+/m;

describe('sluice --version', () => {
  it.each([['--version'], ['-V']])(
    '%s prints the version of @sluice/core',
    async (flag) => {
      const { code, stdout } = await sluice([flag]);
      expect(code).toBe(0);
      expect(stdout.trim()).toBe(VERSION);
    },
    TEST_TIMEOUT_MS,
  );
});

describe('sluice --help', () => {
  const RUN_FLAGS = [
    '--parallelism',
    '--max-parallelism',
    '--arg',
    '--args',
    '--buffer-timeout-ms',
    '--batch-size',
    '--no-chaining',
    '--no-local-aggregation',
    '--checkpoint-dir',
    '--checkpoint-interval',
    '--restore',
    '--fresh',
    '--task-heartbeat-timeout',
    '--restart-attempts',
    '--restart-delay',
    '--savepoint-timeout',
    '--allow-non-restored-state',
    '--state-backend',
    '--state-dir',
    '--savepoint-dir',
    '--log-level',
    '--log-format',
    '--progress',
    '--no-progress',
    '--progress-interval',
  ];
  it.each([
    [
      ['--help'],
      [
        'run',
        'plan',
        'savepoint',
        'help',
        '--version',
        '--debug',
        'Exit codes',
        'SLUICE_DEBUG',
        'SLUICE_LOG_LEVEL',
      ],
    ],
    [['help'], ['run', 'plan', 'savepoint', 'Exit codes']],
    [
      ['run', '--help'],
      [...RUN_FLAGS, '--debug', 'Examples'],
    ],
    [['help', 'run'], RUN_FLAGS],
    [
      ['plan', '--help'],
      [
        '--parallelism',
        '--max-parallelism',
        '--arg',
        '--args',
        '--format',
        'mermaid',
        '--no-local-aggregation',
        'Examples',
      ],
    ],
    [
      ['savepoint', '--help'],
      ['<pid>', 'SIGUSR2', 'Examples'],
    ],
    [
      ['help', '--help'],
      ['[command]', 'Examples'],
    ],
  ])(
    'sluice %j exits 0 and mentions its options',
    async (args, mentions) => {
      const { code, stdout } = await sluice(args);
      expect(code).toBe(0);
      for (const text of mentions) expect(stdout).toContain(text);
    },
    TEST_TIMEOUT_MS,
  );
});

describe('usage errors exit 2 with a message and no stack', () => {
  it.each([
    [['run', job('doubles'), '--bogus'], "unknown option '--bogus'"],
    [['frobnicate'], "unknown command 'frobnicate'"],
    [['run'], "missing required argument 'job'"],
    [[], 'Usage: sluice'],
    [['help', 'frobnicate'], "unknown command 'frobnicate'"],
  ])(
    'sluice %j',
    async (args, message) => {
      const { code, stderr } = await sluice(args);
      expect(code).toBe(2);
      expect(stderr).toContain(message);
      expect(stderr).not.toContain(NO_STACK);
    },
    TEST_TIMEOUT_MS,
  );

  it(
    'a job module that does not exist: one line',
    async () => {
      const { code, stderr } = await sluice(['run', 'no-such-job.ts']);
      expect(code).toBe(2);
      expect(stderr.trim().split('\n')).toEqual([
        `sluice: job module no-such-job.ts not found (no file at ${join(cwd, 'no-such-job.ts')}) [SLUICE_CONFIG]`,
      ]);
    },
    TEST_TIMEOUT_MS,
  );

  it.each([
    [['run', job('doubles'), '-p', 'abc'], '--parallelism must be a whole number from 1 to 32768, got "abc"'],
    [
      ['run', job('doubles'), '--parallelism', '0'],
      '--parallelism must be a whole number from 1 to 32768, got "0"',
    ],
    [
      ['plan', job('doubles'), '--max-parallelism', '40000'],
      '--max-parallelism must be a whole number from 1 to 32768, got "40000"',
    ],
    [
      ['run', job('doubles'), '--checkpoint-dir', 'ckp', '--checkpoint-interval', '99999999999999'],
      '--checkpoint-interval must be a whole number from 1 to 2147483647, got "99999999999999"',
    ],
    [
      ['run', job('doubles'), '--buffer-timeout-ms', '1e3'],
      '--buffer-timeout-ms must be a whole number from 0 to 60000, got "1e3"',
    ],
    [
      ['run', job('doubles'), '--batch-size', '-5'],
      '--batch-size must be a whole number from 1 to 1048576, got "-5"',
    ],
    [
      ['run', job('doubles'), '--state-backend', 'rocksdb'],
      `--state-backend must be 'heap' or 'leveldb', got "rocksdb"`,
    ],
    [['savepoint', '0'], 'pid must be a whole number from 1 to 2147483647, got "0"'],
    [['run', job('doubles'), '--args', '[1]'], '--args must be a JSON object'],
    [
      ['run', job('doubles'), '--checkpoint-interval', '5000'],
      '--checkpoint-interval needs --checkpoint-dir',
    ],
    [
      ['run', job('doubles'), '--checkpoint-dir', 'c', '--savepoint-dir', 's', '--savepoint-timeout', '0'],
      '--savepoint-timeout must be a whole number from 1 to 2147483647, got "0"',
    ],
    [
      [
        'run',
        job('doubles'),
        '--checkpoint-dir',
        'c',
        '--savepoint-dir',
        's',
        '--savepoint-timeout',
        '99999999999999',
      ],
      '--savepoint-timeout must be a whole number from 1 to 2147483647, got "99999999999999"',
    ],
    [['run', job('doubles'), '--savepoint-timeout', '5000'], '--savepoint-timeout needs --savepoint-dir'],
    [
      ['run', job('doubles'), '--restart-attempts', '3'],
      '--restart-attempts and --restart-delay need --checkpoint-dir (a restart resumes from a checkpoint)',
    ],
    [
      ['run', job('doubles'), '--checkpoint-dir', 'c', '--restart-delay', '-1'],
      '--restart-delay must be a whole number from 0 to 2147483647, got "-1"',
    ],
    [
      ['run', job('doubles'), '--task-heartbeat-timeout', '99'],
      '--task-heartbeat-timeout must be a whole number from 100 to 2147483647, got "99"',
    ],
    [
      ['run', job('doubles'), '--task-heartbeat-timeout', '2147483648'],
      '--task-heartbeat-timeout must be a whole number from 100 to 2147483647, got "2147483648"',
    ],
    [
      ['run', job('doubles'), '--fresh'],
      '--fresh needs --checkpoint-dir (without one, every run starts fresh)',
    ],
    [
      ['run', job('doubles'), '--allow-non-restored-state'],
      '--allow-non-restored-state needs --restore, or --checkpoint-dir without --fresh (a resumed run)',
    ],
    [
      ['run', job('doubles'), '--checkpoint-dir', 'c', '--fresh', '--restore', 'r'],
      '--fresh and --restore exclude each other: --fresh means no restore',
    ],
    [
      ['run', job('doubles'), '--savepoint-dir', 'sp'],
      '--savepoint-dir needs --checkpoint-dir (it stages the savepoint files)',
    ],
  ])(
    'sluice %j names the flag and the value',
    async (args, message) => {
      const { code, stderr } = await sluice(args);
      expect(code).toBe(2);
      expect(stderr).toBe(`sluice: ${message} [SLUICE_CONFIG]\n`);
    },
    TEST_TIMEOUT_MS,
  );
});

describe('where a run starts', () => {
  it(
    '--restore of a folder that holds no checkpoint: exit 2, saying what it is not',
    async () => {
      const empty = join(cwd, 'not-a-checkpoint');
      mkdirSync(empty, { recursive: true });
      const { code, stderr } = await sluice(['run', job('doubles'), '--restore', empty]);
      expect(code).toBe(2);
      expect(stderr).toBe(
        `sluice: no checkpoint or savepoint at ${empty}: it is neither a checkpoint or savepoint (no _metadata) nor a checkpoint directory (no chk-<n> folders, no _latest) [SLUICE_CHECKPOINT_NOT_FOUND]\n`,
      );
    },
    TEST_TIMEOUT_MS,
  );

  it(
    'SLUICE_RESTORE and SLUICE_FRESH stand in for --restore and --fresh (how the Kubernetes operator says how to start)',
    async () => {
      const empty = join(cwd, 'not-a-checkpoint-either');
      mkdirSync(empty, { recursive: true });
      const restored = await sluice(['run', job('doubles')], { env: { SLUICE_RESTORE: empty } });
      expect(restored.code).toBe(2);
      expect(restored.stderr).toContain(`sluice: no checkpoint or savepoint at ${empty}`);
      // The command line wins: --fresh means the variable is not looked at.
      const dir = join(cwd, 'fresh-by-flag');
      const flag = await sluice(['run', job('doubles'), '--checkpoint-dir', dir, '--fresh'], {
        env: { SLUICE_RESTORE: empty },
      });
      expect(flag.code, flag.stderr).toBe(0);
      const both = await sluice(['run', job('doubles')], {
        env: { SLUICE_RESTORE: empty, SLUICE_FRESH: 'true' },
      });
      expect(both.code).toBe(2);
      expect(both.stderr).toBe(
        'sluice: SLUICE_RESTORE and SLUICE_FRESH=true exclude each other: fresh means no restore [SLUICE_CONFIG]\n',
      );
      const fresh = await sluice(['run', job('doubles')], { env: { SLUICE_FRESH: 'true' } });
      expect(fresh.code).toBe(2);
      expect(fresh.stderr).toBe(
        'sluice: --fresh needs --checkpoint-dir (without one, every run starts fresh) [SLUICE_CONFIG]\n',
      );
      // Empty: none (what the ConfigMap says once the start has settled).
      const none = await sluice(['run', job('doubles')], { env: { SLUICE_RESTORE: '', SLUICE_FRESH: '' } });
      expect(none.code, none.stderr).toBe(0);
    },
    TEST_TIMEOUT_MS,
  );

  it(
    'a checkpoint directory of another job: exit 2, naming both jobs; --fresh starts over',
    async () => {
      const dir = join(cwd, 'other-job-checkpoints');
      mkdirSync(join(dir, 'chk-1'), { recursive: true });
      // The pointer is what a starting job reads first: it names the job that wrote it.
      writeFileSync(
        join(dir, '_latest'),
        '{"version":1,"jobName":"someone-else","checkpointId":1,"finished":true}\n',
      );
      const refused = await sluice(['run', job('doubles'), '--checkpoint-dir', dir]);
      expect(refused.code).toBe(2);
      expect(refused.stderr).toContain(
        `sluice: ${dir} holds a checkpoint of job 'someone-else', not of job 'doubles'`,
      );
      const fresh = await sluice(['run', job('doubles'), '--checkpoint-dir', dir, '--fresh']);
      expect(fresh.code, fresh.stderr).toBe(0);
      expect(fresh.stdout.length).toBeGreaterThan(0);
    },
    TEST_TIMEOUT_MS,
  );
});

describe('a job that fails while running', () => {
  it(
    'exits 1 and names the operator, the record and the cause, without a stack',
    async () => {
      const { code, stderr } = await sluice(['run', job('failing-map')]);
      expect(code).toBe(1);
      expect(stderr).toContain(
        "sluice: operator 'parse-price' (map) subtask 1/1 of job 'failing-map' failed while processing record 'oops': not a price: 'oops' [SLUICE_JOB_FAILED]",
      );
      expect(stderr).toContain('--debug');
      expect(stderr).not.toContain(NO_STACK);
    },
    TEST_TIMEOUT_MS,
  );

  it.each([
    [['run', job('failing-map'), '--debug'], {}],
    [['--debug', 'run', job('failing-map')], {}],
    [['run', job('failing-map')], { SLUICE_DEBUG: '1' }],
  ])(
    'sluice %j %j prints the stack of the user function and its cause',
    async (args, env) => {
      const { code, stderr } = await sluice(args, { env });
      expect(code).toBe(1);
      expect(stderr).toMatch(USER_FRAME);
      // The user's error wrapped another (`cause`): both crossed from the worker thread.
      expect(stderr).toContain("Caused by: Error: not a price: 'oops'");
      expect(stderr).toContain('Caused by: RangeError: "oops" is not a number');
    },
    TEST_TIMEOUT_MS,
  );

  it(
    'SLUICE_DEBUG=0 is off',
    async () => {
      const { code, stderr } = await sluice(['run', job('failing-map')], { env: { SLUICE_DEBUG: '0' } });
      expect(code).toBe(1);
      expect(stderr).not.toContain(NO_STACK);
    },
    TEST_TIMEOUT_MS,
  );
});

describe('from any folder', () => {
  it(
    'runs a job given by a path relative to the current folder',
    async () => {
      const { code, stderr } = await sluice(['run', relative(cwd, job('doubles')), '--arg', 'factor=3']);
      expect(code).toBe(0);
      expect(stderr).toContain("job 'doubles' finished");
      expect(stderr).toContain('3 records read');
    },
    TEST_TIMEOUT_MS,
  );

  it(
    'prints a plan to stdout',
    async () => {
      const { code, stdout } = await sluice(['plan', relative(cwd, job('doubles')), '-p', '2']);
      expect(code).toBe(0);
      expect(stdout).toContain('map');
    },
    TEST_TIMEOUT_MS,
  );

  it(
    'shows the local aggregation before a window, and leaves it out with --no-local-aggregation',
    async () => {
      const on = await sluice(['plan', job('window-counts'), '-p', '2']);
      expect(on.code).toBe(0);
      expect(on.stdout).toContain('-> local-aggregate(window-2)');
      expect(on.stdout).toContain('(hash, partial aggregates)');
      const off = await sluice(['plan', job('window-counts'), '-p', '2', '--no-local-aggregation']);
      expect(off.code).toBe(0);
      expect(off.stdout).not.toContain('local-aggregate');
      expect(off.stdout).toContain('(hash)');
    },
    TEST_TIMEOUT_MS,
  );

  it(
    'runs a window with --no-local-aggregation as with it',
    async () => {
      // print() prefixes each line with its subtask ('1> '), which depends on the key's subtask.
      const lines = (out: string) =>
        out
          .split('\n')
          .filter((l) => l.includes('='))
          .map((l) => l.replace(/^\d+> /, ''))
          .sort();
      const on = await sluice(['run', job('window-counts'), '-p', '2']);
      const off = await sluice(['run', job('window-counts'), '-p', '2', '--no-local-aggregation']);
      expect(on.code).toBe(0);
      expect(off.code).toBe(0);
      expect(lines(on.stdout)).toEqual(['a=2', 'b=1']);
      expect(lines(off.stdout)).toEqual(['a=2', 'b=1']);
    },
    TEST_TIMEOUT_MS,
  );
});

describe('stopped by a signal with --savepoint-dir', () => {
  it.each([
    ['SIGINT', 130],
    ['SIGTERM', 143],
  ] as const)(
    '%s: savepoint, then exit %i',
    async (signal, exitCode) => {
      const dir = join(cwd, signal);
      let sent = false;
      const { code, stderr } = await sluice(
        ['run', job('unbounded'), '--checkpoint-dir', join(dir, 'ckp'), '--savepoint-dir', join(dir, 'sp')],
        {
          // Sent once the job runs and the handlers are installed: the CLI says so.
          onStderr: (text, pid) => {
            if (sent || !text.includes('running as process')) return;
            sent = true;
            process.kill(pid, signal);
          },
        },
      );
      expect(code).toBe(exitCode);
      const folder = /savepoint written to (.+); stopping the job\n/.exec(stderr)?.[1];
      expect(folder, stderr).toBeDefined();
      expect(existsSync(join(folder!, '_metadata'))).toBe(true);
      expect(stderr).toContain(`stopped by ${signal} with a savepoint`);
    },
    TEST_TIMEOUT_MS,
  );

  it(
    'SIGTERM with a savepoint folder that cannot be written: stops all the same, exit 1, says no savepoint was taken',
    async () => {
      const dir = join(cwd, 'unwritable');
      mkdirSync(dir, { recursive: true });
      // A folder below a regular file cannot be created, whoever runs the test (root included).
      writeFileSync(join(dir, 'a-file'), '');
      let sentAt = 0;
      const { code, stderr } = await sluice(
        [
          'run',
          job('unbounded'),
          '--checkpoint-dir',
          join(dir, 'ckp'),
          '--savepoint-dir',
          join(dir, 'a-file', 'sp'),
          '--savepoint-timeout',
          '20000',
        ],
        {
          onStderr: (text, pid) => {
            if (sentAt !== 0 || !text.includes('running as process')) return;
            sentAt = performance.now();
            process.kill(pid, 'SIGTERM');
          },
        },
      );
      expect(code, stderr).toBe(1);
      expect(stderr).toContain('sluice: error: could not take the savepoint: ');
      expect(stderr).toContain('stopping the job WITHOUT a savepoint');
      expect(stderr).toContain('stopped by SIGTERM without a savepoint');
      // Bounded: the savepoint timeout plus the stop's grace, never "keeps running". (A hang
      // guard, generous: the test's outcome is the exit itself.)
      expect(performance.now() - sentAt).toBeLessThan(20_000 + 15_000 + 30_000);
    },
    TEST_TIMEOUT_MS,
  );

  it(
    'SIGTERM while a worker hangs in user code: the savepoint cannot complete, the job stops after --savepoint-timeout, exit 1',
    async () => {
      const dir = join(cwd, 'hung');
      let sent = false;
      const { code, stderr } = await sluice(
        [
          'run',
          job('hangs'),
          '--checkpoint-dir',
          join(dir, 'ckp'),
          '--checkpoint-interval',
          '600000',
          '--savepoint-dir',
          join(dir, 'sp'),
          '--savepoint-timeout',
          '1000',
        ],
        {
          // Once the worker is inside the loop: it answers nothing from then on.
          onStderr: (text, pid) => {
            if (sent || !text.includes('hangs: spinning') || !text.includes('running as process')) return;
            sent = true;
            process.kill(pid, 'SIGTERM');
          },
        },
      );
      expect(code, stderr).toBe(1);
      expect(stderr).toContain('could not take the savepoint: the savepoint did not complete within 1000 ms');
      expect(stderr).toContain('stopped by SIGTERM without a savepoint');
    },
    TEST_TIMEOUT_MS,
  );
});

describe('run --web', () => {
  const TOKEN = 'cli-test-token-0123456789';

  it(
    'serves the REST API and metrics while the job runs; a stop through the API writes a savepoint and exits 0',
    async () => {
      const dir = join(cwd, 'web');
      const seen: { job?: { status: string }; metrics?: string; dashboard?: string; stop?: number } = {};
      let asked = false;
      const { code, stderr } = await sluice(
        [
          'run',
          job('unbounded'),
          '--web',
          '0',
          '--checkpoint-dir',
          join(dir, 'ckp'),
          '--savepoint-dir',
          join(dir, 'sp'),
        ],
        {
          env: { SLUICE_WEB_TOKEN: TOKEN },
          // Asked once the CLI has said where the server listens and that the job runs.
          onStderr: (text) => {
            const url = /metrics and REST API at (http:\/\/\S+)\n/.exec(text)?.[1];
            const dashboard = /dashboard at (http:\/\/\S+)\n/.exec(text)?.[1];
            if (asked || url === undefined || dashboard === undefined || !text.includes('running as process'))
              return;
            asked = true;
            void (async () => {
              seen.job = (await (await fetch(`${url}/api/job`)).json()) as { status: string };
              seen.metrics = await (await fetch(`${url}/metrics`)).text();
              seen.dashboard = await (await fetch(dashboard)).text();
              const stop = await fetch(`${url}/api/stop`, {
                method: 'POST',
                headers: { authorization: `Bearer ${TOKEN}` },
              });
              seen.stop = stop.status;
            })();
          },
        },
      );
      expect(stderr).toContain('stopped through the REST API');
      expect(code).toBe(0);
      expect(seen.job?.status).toBe('running');
      expect(seen.metrics).toContain('sluice_operator_records_in_total{job="unbounded"');
      expect(seen.dashboard).toContain('<script type="module" src="/dashboard/dashboard.js">');
      expect(seen.stop).toBe(202);
      const written = readdirSync(join(dir, 'sp'));
      expect(written).toHaveLength(1);
      expect(existsSync(join(dir, 'sp', written[0]!, '_metadata'))).toBe(true);
    },
    TEST_TIMEOUT_MS,
  );

  it.each([
    [['--web', '0', '--web-host', '0.0.0.0'], '"web.host" is \'0.0.0.0\''],
    [['--web-host', '127.0.0.1'], '--web-host needs --web'],
    [['--web', '70000'], '--web must be a whole number from 0 to 65535, got "70000"'],
  ])(
    'sluice run %j is refused before anything runs',
    async (flags, message) => {
      const { code, stderr } = await sluice(['run', job('doubles'), ...flags]);
      expect(code).toBe(2);
      expect(stderr).toContain(message);
    },
    TEST_TIMEOUT_MS,
  );
});
