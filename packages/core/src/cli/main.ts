import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Command, CommanderError } from 'commander';
import { ConfigError } from '../errors.ts';
import { DEFAULT_EXECUTION_CONFIG } from '../execution/execution-config.ts';
import { explainJob } from '../execution/explain.ts';
import { JobCancelledError, type JobResult, startJob } from '../execution/run-job.ts';
import { DEFAULT_MAX_PARALLELISM, MAX_MAX_PARALLELISM } from '../state/key-groups.ts';
import { debugFromEnv, describeError } from './error-report.ts';
import { EXIT_CODES_HELP, exitCodeFor, signalExitCode } from './exit-codes.ts';
import { parseJobArgs } from './job-args.ts';
import { collect, jobModule, oneOf, TIMER_MAX_MS, wholeNumber } from './options.ts';
import { watchSavepointSignals } from './savepoint-signals.ts';
import { packageVersion } from './version.ts';

/** Set once `run` has started the job: from then on any error is the job failing (exit 1), see exitCodeFor. */
let jobStarted = false;

const ENVIRONMENT_HELP = `
Environment:
  SLUICE_DEBUG=1            as --debug (0, false or empty: off)
  SLUICE_WORKER_EXEC_ARGV   extra Node flags for the worker threads that run the
                            job, e.g. "--cpu-prof" (split on blanks)`;

const program = new Command()
  .name('sluice')
  .description(
    'Run Sluice stream-processing jobs: modules (.ts or .js) whose default export is defineJob(...).',
  )
  .version(packageVersion(), '-V, --version', 'print the version of @sluice/core')
  .option(
    '--debug',
    'on an error, print every stack trace down the cause chain, including the stack of your code that threw in a worker thread (also SLUICE_DEBUG=1)',
  )
  .helpOption('-h, --help', "show help; after a command, that command's help")
  .configureHelp({ showGlobalOptions: true })
  .showHelpAfterError('(sluice --help lists the commands)')
  // Errors end here, not in process.exit() inside commander: one place decides the exit code.
  .exitOverride()
  .configureOutput({ outputError: (text, write) => write(text.replace(/^error: /, 'sluice: ')) })
  .addHelpText(
    'after',
    `
Run 'sluice <command> --help' for a command's options and examples.
${EXIT_CODES_HELP}
${ENVIRONMENT_HELP}
`,
  );

program
  .command('run')
  .description(
    'run a job on worker threads in this process, until it finishes (bounded sources) or is stopped',
  )
  .argument('<job>', 'the job module: a path (.ts, .mts, .cts, .js, .mjs, .cjs) or a file: URL')
  .option(
    '-p, --parallelism <n>',
    `parallelism of every operator that does not set its own; the job runs on as many worker threads as its highest parallelism (1 to ${MAX_MAX_PARALLELISM}, at most --max-parallelism)`,
    wholeNumber('--parallelism', 1, MAX_MAX_PARALLELISM),
    1,
  )
  .option(
    '--max-parallelism <n>',
    `number of key groups: the upper bound of any parallelism; a restore needs the value the checkpoint was taken with (1 to ${MAX_MAX_PARALLELISM}, default ${DEFAULT_MAX_PARALLELISM})`,
    wholeNumber('--max-parallelism', 1, MAX_MAX_PARALLELISM),
  )
  .option(
    '-a, --arg <key=value>',
    'one job argument (repeatable); true/false and numbers are parsed, values starting with [ { or " as JSON when they parse, anything else is a string; wins over --args',
    collect,
  )
  .option('--args <json>', 'the job arguments as one JSON object')
  .option(
    '--buffer-timeout-ms <ms>',
    `send a partly filled batch to the next thread after this many ms: the latency bound (0 to 60000, default ${DEFAULT_EXECUTION_CONFIG.bufferTimeoutMs})`,
    wholeNumber('--buffer-timeout-ms', 0, 60_000),
  )
  .option(
    '--batch-size <n>',
    `records per batch between threads (1 to ${1 << 20}, default ${DEFAULT_EXECUTION_CONFIG.batchSize})`,
    wholeNumber('--batch-size', 1, 1 << 20),
  )
  .option(
    '--no-chaining',
    'do not chain operators: each runs as its own task, with a channel between neighbours',
  )
  .option(
    '--no-local-aggregation',
    'do not pre-aggregate window input before the keyBy exchange: records cross the threads one by one (see docs/runtime.md)',
  )
  .option(
    '--checkpoint-dir <dir>',
    'take periodic aligned checkpoints into this directory (the newest 3 are kept); a failure restarts the job from the newest, up to 10 times, 200 ms apart. Without it, a failure ends the run',
  )
  .option(
    '--checkpoint-interval <ms>',
    `ms from one checkpoint's start to the next; needs --checkpoint-dir (1 to ${TIMER_MAX_MS})`,
    wholeNumber('--checkpoint-interval', 1, TIMER_MAX_MS),
    10_000,
  )
  .option(
    '--restore <folder>',
    'start from this checkpoint (a chk-<n> folder) or savepoint folder, at any parallelism',
  )
  .option(
    '--allow-non-restored-state',
    'with --restore: drop state of operators the job no longer has instead of refusing to start',
  )
  .option(
    '--state-backend <kind>',
    "where keyed state lives while the job runs: 'heap' (memory) or 'leveldb' (local disk, for state larger than memory)",
    oneOf('--state-backend', ['heap', 'leveldb'] as const),
    'heap',
  )
  .option(
    '--state-dir <dir>',
    `with --state-backend leveldb: where its working files go: a folder per attempt (a restart makes a new one), removed when the attempt ends (default: ${join(tmpdir(), 'sluice-state')})`,
  )
  .option(
    '--savepoint-dir <dir>',
    'needs --checkpoint-dir. SIGUSR2 (sluice savepoint <pid>) takes a savepoint into a new folder here and the job runs on; SIGINT or SIGTERM takes one, then stops the job (exit code 130 or 143)',
  )
  .showHelpAfterError('(sluice run --help lists the options)')
  .addHelpText(
    'after',
    `
Examples:
  sluice run job.ts
  sluice run job.ts -p 4 --arg limit=1000 --arg verbose=true
  sluice run job.ts --args '{"input": "data.txt", "topics": ["a", "b"]}'
  sluice run job.ts --checkpoint-dir ./checkpoints --checkpoint-interval 5000 \\
    --savepoint-dir ./savepoints
  sluice run job.ts --restore ./savepoints/savepoint-2026-01-01T00-00-00-000Z -p 8
  sluice run job.ts --state-backend leveldb --state-dir /var/tmp/sluice

On success, a summary goes to stderr: records read, seconds, records per second.
`,
  )
  .action(async (job: string, options, command: Command) => {
    const given = (name: string): boolean => command.getOptionValueSource(name) === 'cli';
    if (options.savepointDir !== undefined && options.checkpointDir === undefined) {
      throw new ConfigError('--savepoint-dir needs --checkpoint-dir (it stages the savepoint files)');
    }
    if (given('checkpointInterval') && options.checkpointDir === undefined) {
      throw new ConfigError('--checkpoint-interval needs --checkpoint-dir');
    }
    if (options.stateDir !== undefined && options.stateBackend !== 'leveldb') {
      throw new ConfigError('--state-dir needs --state-backend leveldb');
    }
    if (options.allowNonRestoredState === true && options.restore === undefined) {
      throw new ConfigError('--allow-non-restored-state needs --restore');
    }
    const args = parseJobArgs(options.args, options.arg ?? []);
    const startedAt = performance.now();
    const handle = await startJob(jobModule(job), {
      parallelism: options.parallelism,
      maxParallelism: options.maxParallelism,
      args,
      chaining: options.chaining,
      localAggregation: options.localAggregation,
      bufferTimeoutMs: options.bufferTimeoutMs,
      batchSize: options.batchSize,
      ...(options.checkpointDir === undefined
        ? {}
        : { checkpointing: { directory: options.checkpointDir, intervalMs: options.checkpointInterval } }),
      ...(options.restore === undefined ? {} : { restoreFrom: options.restore }),
      allowNonRestoredState: options.allowNonRestoredState === true,
      stateBackend:
        options.stateBackend === 'leveldb'
          ? { kind: 'leveldb', ...(options.stateDir === undefined ? {} : { directory: options.stateDir }) }
          : 'heap',
    });
    jobStarted = true;
    const signals =
      options.savepointDir === undefined ? undefined : watchSavepointSignals(handle, options.savepointDir);
    let result: JobResult;
    try {
      result = await handle.result;
    } catch (error) {
      const stop = signals?.stop;
      if (error instanceof JobCancelledError && stop !== undefined) {
        await stop.done;
        process.exitCode = signalExitCode(stop.signal);
        return;
      }
      throw error;
    }
    const seconds = (performance.now() - startedAt) / 1000;
    const rate = Math.round(result.sourceRecords / seconds);
    process.stderr.write(
      `job '${result.jobName}' finished in ${seconds.toFixed(2)} s at parallelism ${options.parallelism}: ` +
        `${result.sourceRecords} records read (${rate.toLocaleString('en-US')} records/s)` +
        (result.lateRecordsDropped > 0 ? `; ${result.lateRecordsDropped} late records dropped` : '') +
        '\n',
    );
  });

program
  .command('plan')
  .description(
    'print the physical plan of a job: tasks (chains of operators), parallelism, partitioning; runs nothing',
  )
  .argument('<job>', 'the job module: a path (.ts, .mts, .cts, .js, .mjs, .cjs) or a file: URL')
  .option(
    '-p, --parallelism <n>',
    `parallelism of every operator that does not set its own (1 to ${MAX_MAX_PARALLELISM}, at most --max-parallelism)`,
    wholeNumber('--parallelism', 1, MAX_MAX_PARALLELISM),
    1,
  )
  .option(
    '--max-parallelism <n>',
    `number of key groups: the upper bound of any parallelism (1 to ${MAX_MAX_PARALLELISM}, default ${DEFAULT_MAX_PARALLELISM})`,
    wholeNumber('--max-parallelism', 1, MAX_MAX_PARALLELISM),
  )
  .option(
    '-a, --arg <key=value>',
    'one job argument (repeatable), parsed as for run; wins over --args',
    collect,
  )
  .option('--args <json>', 'the job arguments as one JSON object')
  .option('--no-local-aggregation', 'plan without pre-aggregating window input before the keyBy exchange')
  .showHelpAfterError('(sluice plan --help lists the options)')
  .addHelpText(
    'after',
    `
The plan goes to stdout. It is built as 'sluice run' builds it, with chaining on.

Examples:
  sluice plan job.ts
  sluice plan job.ts -p 4 --arg input=data.txt
`,
  )
  .action(async (job: string, options) => {
    const args = parseJobArgs(options.args, options.arg ?? []);
    const plan = await explainJob(jobModule(job), {
      parallelism: options.parallelism,
      maxParallelism: options.maxParallelism,
      args,
      localAggregation: options.localAggregation,
    });
    process.stdout.write(`${plan}\n`);
  });

program
  .command('savepoint')
  .description(
    'ask a running `sluice run --savepoint-dir ...` process to take a savepoint; that process logs the folder, and its job runs on',
  )
  .argument(
    '<pid>',
    'the process id of sluice run (it prints it when it starts)',
    wholeNumber('pid', 1, 2 ** 31 - 1),
  )
  .showHelpAfterError('(sluice savepoint --help shows the usage)')
  .addHelpText(
    'after',
    `
It sends SIGUSR2 (not on Windows). A process that is not 'sluice run
--savepoint-dir' may end on SIGUSR2: check the pid. Stopping with a savepoint is
SIGINT or SIGTERM to the same process (kill <pid>).

Examples:
  sluice run job.ts --checkpoint-dir ./checkpoints --savepoint-dir ./savepoints &
  sluice savepoint $!
`,
  )
  .action((pid: number) => {
    try {
      process.kill(pid, 'SIGUSR2');
    } catch (error) {
      const code = (error as { code?: unknown }).code;
      if (code === 'ESRCH') throw new ConfigError(`no process with id ${pid}`);
      if (code === 'EPERM') throw new ConfigError(`not allowed to signal process ${pid}`);
      throw error;
    }
    process.stderr.write(
      `sluice: asked process ${pid} for a savepoint; it logs the folder when it is written\n`,
    );
  });

// An explicit command rather than commander's implicit one, so that `sluice help help` and
// `sluice help --help` have a help of their own and every way of asking for help exits 0.
program
  .command('help')
  .description('show the help of a command, or of sluice')
  .argument('[command]', 'run, plan, savepoint or help')
  .addHelpText(
    'after',
    `
Examples:
  sluice help
  sluice help run
`,
  )
  .action((name: string | undefined) => {
    if (name === undefined) {
      program.outputHelp();
      return;
    }
    const command = program.commands.find((c) => c.name() === name);
    if (command === undefined) {
      throw new ConfigError(
        `unknown command '${name}': the commands are ${program.commands.map((c) => c.name()).join(', ')}`,
      );
    }
    command.outputHelp();
  });

try {
  await program.parseAsync(process.argv);
} catch (error) {
  const code = exitCodeFor(error, jobStarted);
  // Commander errors (unknown flag, missing argument) and --help/--version have printed already.
  if (!(error instanceof CommanderError)) {
    process.stderr.write(describeError(error, program.opts().debug === true || debugFromEnv(process.env)));
  }
  process.exitCode = code;
}
