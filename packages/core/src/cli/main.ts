import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Command, CommanderError, type OptionValues } from 'commander';
import { loadClusterSecret } from '../channels/tcp/secret.ts';
import { LOG_LEVELS, type Logger } from '../contracts/logger.ts';
import { ConfigError } from '../errors.ts';
import { startHealthServer } from '../execution/cluster/health-server.ts';
import { watchParent } from '../execution/cluster/parent-watch.ts';
import { runTaskManager } from '../execution/cluster/task-manager.ts';
import { DEFAULT_EXECUTION_CONFIG } from '../execution/execution-config.ts';
import { explainJob, PLAN_FORMATS } from '../execution/explain.ts';
import type { ClusterOptions } from '../execution/job-options.ts';
import { logLevelFromEnv } from '../execution/logging/job-logger.ts';
import { JobCancelledError, type JobResult, startJob } from '../execution/run-job.ts';
import { DEFAULT_MAX_PARALLELISM, MAX_MAX_PARALLELISM } from '../state/key-groups.ts';
import { cliLogger, LOG_FORMATS, type LogFormat } from './cli-logger.ts';
import { debugFromEnv, describeError } from './error-report.ts';
import { EXIT_CODES_HELP, ExitCode, exitCodeFor, signalExitCode } from './exit-codes.ts';
import { parseJobArgs } from './job-args.ts';
import { runK8sCommand } from './k8s-command.ts';
import { type JobManagerListening, superviseLocalCluster } from './local-cluster-supervisor.ts';
import { collect, jobModule, oneOf, TIMER_MAX_MS, wholeNumber } from './options.ts';
import { ProgressReporter } from './progress-reporter.ts';
import { watchSavepointSignals } from './savepoint-signals.ts';
import { packageVersion } from './version.ts';
import { webOptionsFrom } from './web-options.ts';

/** Set once `run` has started the job: from then on any error is the job failing (exit 1), see exitCodeFor. */
let jobStarted = false;
/** `run`'s logger, once made: in JSON format the command's own error goes there too. */
let cliLog: { readonly logger: Logger; readonly format: LogFormat } | undefined;
/** The job failed and the runtime has logged it (in JSON format it is not written twice). */
let failureLogged = false;

const ENVIRONMENT_HELP = `
Environment:
  SLUICE_DEBUG=1            as --debug (0, false or empty: off)
  SLUICE_LOG_LEVEL          run's --log-level when not given (trace, debug, info,
                            warn, error, fatal, silent)
  SLUICE_WORKER_EXEC_ARGV   extra Node flags for the worker threads that run the
                            job, e.g. "--cpu-prof" (split on blanks)
  SLUICE_WEB_TOKEN          with run --web: the bearer token of the REST API's
                            actions (--web-token-file wins)
  SLUICE_KEEP_SERVING_AFTER_END=true
                            run, jobmanager: as --keep-serving-after-end
  SLUICE_RESTORE            run, jobmanager: as --restore when neither --restore
                            nor --fresh is given (empty: none)
  SLUICE_FRESH=true         run, jobmanager: as --fresh, on the same terms (the
                            Kubernetes operator sets these two through a
                            ConfigMap, so that a restarted pod starts as it
                            says now, not as its arguments said)`;

/** `run` and `jobmanager`: start the job, report, and wait for its end. */
async function runAction(job: string, options: OptionValues, command: Command): Promise<void> {
  const given = (name: string): boolean => command.getOptionValueSource(name) === 'cli';
  startFromEnvironment(options, process.env);
  if (options.savepointDir !== undefined && options.checkpointDir === undefined) {
    throw new ConfigError('--savepoint-dir needs --checkpoint-dir (it stages the savepoint files)');
  }
  if (given('checkpointInterval') && options.checkpointDir === undefined) {
    throw new ConfigError('--checkpoint-interval needs --checkpoint-dir');
  }
  if (given('savepointTimeout') && options.savepointDir === undefined) {
    throw new ConfigError('--savepoint-timeout needs --savepoint-dir');
  }
  if ((given('restartAttempts') || given('restartDelay')) && options.checkpointDir === undefined) {
    throw new ConfigError(
      '--restart-attempts and --restart-delay need --checkpoint-dir (a restart resumes from a checkpoint)',
    );
  }
  if (options.stateDir !== undefined && options.stateBackend !== 'leveldb') {
    throw new ConfigError('--state-dir needs --state-backend leveldb');
  }
  if (options.fresh === true && options.checkpointDir === undefined) {
    throw new ConfigError('--fresh needs --checkpoint-dir (without one, every run starts fresh)');
  }
  if (options.fresh === true && options.restore !== undefined) {
    throw new ConfigError('--fresh and --restore exclude each other: --fresh means no restore');
  }
  // A resumed run restores too: the flag means something with either.
  if (
    options.allowNonRestoredState === true &&
    options.restore === undefined &&
    (options.checkpointDir === undefined || options.fresh === true)
  ) {
    throw new ConfigError(
      '--allow-non-restored-state needs --restore, or --checkpoint-dir without --fresh (a resumed run)',
    );
  }
  const args = parseJobArgs(options.args, options.arg ?? []);
  const format: LogFormat = options.logFormat;
  const tty = process.stderr.isTTY === true && format === 'text';
  const showProgress: boolean = options.progress ?? tty;
  let progress: ProgressReporter | undefined;
  const logger = cliLogger({
    format,
    level: options.logLevel ?? logLevelFromEnv(process.env) ?? 'info',
    beforeWrite: () => progress?.interrupt(),
  });
  cliLog = { logger, format };
  const web = webOptionsFrom(options, process.env);
  const cluster = clusterFrom(options, command);
  if (cluster !== undefined && 'taskManagers' in cluster) {
    // The job manager, a child process, plans and runs the job and reports it: from here on an
    // error is its to report, and its exit code is this command's.
    jobStarted = true;
    process.exitCode = await superviseLocalCluster({
      argv: process.argv.slice(2),
      command,
      taskManagers: cluster.taskManagers,
      slotsPerTaskManager: cluster.slotsPerTaskManager ?? 1,
      checkpointing: options.checkpointDir !== undefined,
      logger,
      logLevel: 'warn',
    });
    return;
  }
  if (command.name() === 'jobmanager') exitWithStarter(logger);
  const startedAt = performance.now();
  /** The job has ended (with --keep-serving-after-end the process serves on: not ready). */
  let jobEnded = false;
  const health =
    options.healthPort === undefined
      ? undefined
      : await startHealthServer({
          host: options.bindHost ?? '127.0.0.1',
          port: options.healthPort,
          ready: () => jobStarted && !jobEnded,
        });
  const handle = await startJob(jobModule(job), {
    ...(cluster === undefined ? {} : { cluster }),
    logger,
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
    ...(options.restartAttempts === undefined && options.restartDelay === undefined
      ? {}
      : {
          restartStrategy: {
            kind: 'fixed-delay' as const,
            attempts: options.restartAttempts ?? 10,
            delayMs: options.restartDelay ?? 200,
          },
        }),
    fresh: options.fresh === true,
    ...(options.taskHeartbeatTimeout === undefined
      ? {}
      : { taskHeartbeatTimeoutMs: options.taskHeartbeatTimeout }),
    allowNonRestoredState: options.allowNonRestoredState === true,
    stateBackend:
      options.stateBackend === 'leveldb'
        ? { kind: 'leveldb', ...(options.stateDir === undefined ? {} : { directory: options.stateDir }) }
        : 'heap',
    ...(web === undefined ? {} : { web }),
  });
  jobStarted = true;
  // The CLI's own lines about the job carry its name, as the runtime's do.
  const jobLog = logger.child({ job: handle.jobName });
  if (command.name() === 'jobmanager' && handle.cluster !== undefined) {
    const { host, port } = handle.cluster.address;
    jobLog.info(
      { event: 'job-manager-listening', host, port },
      `job '${handle.jobName}': job manager listening for task managers at ${host}:${port}`,
    );
    // Started by `sluice run --task-managers`: it starts the task managers once it knows the port.
    if (supervisorPid() !== undefined && process.send !== undefined) {
      const listening: JobManagerListening = { type: 'sluice-job-manager-listening', host, port };
      process.send(listening);
    }
  }
  const signals =
    options.savepointDir === undefined
      ? undefined
      : watchSavepointSignals(
          handle,
          options.savepointDir,
          options.savepointTimeout,
          jobLog,
          supervisorPid() ?? process.pid,
        );
  if (showProgress) {
    progress = new ProgressReporter({
      sample: () => handle.progress(),
      tty,
      intervalMs: options.progressInterval ?? (tty ? 1_000 : 10_000),
      now: () => performance.now(),
      write:
        format === 'json'
          ? (line, figures) => jobLog.info({ event: 'progress', ...figures }, line.replace(/^sluice: /, ''))
          : (line) => process.stderr.write(line),
    });
    progress.start();
  }
  const closeServers = async (): Promise<void> => {
    await handle.closeWeb();
    await health?.close();
  };
  /**
   * --keep-serving-after-end: the job has ended, and the process stays up — the REST API reporting
   * its final status and savepoints, /readyz not ready — until SIGTERM or SIGINT; it then exits
   * with the code the job's end gives, as it would have at once without the flag.
   */
  const serveUntilSignal = async (): Promise<void> => {
    jobEnded = true;
    if (web?.keepServingAfterEnd !== true || handle.web === undefined) return;
    // A SIGTERM/SIGINT that came while the job was ending has asked for the end already.
    if (signals?.stop !== undefined) return;
    progress?.stop();
    // Nothing left to take a savepoint of: a signal now only ends the process.
    signals?.dispose();
    const status = handle.status();
    jobLog.info(
      { event: 'serving-after-end', status, url: handle.web.url },
      `job '${handle.jobName}' has ended (${status}); its REST API at ${handle.web.url} serves the final state until SIGTERM or SIGINT`,
    );
    const signal = await new Promise<NodeJS.Signals>((resolve) => {
      const on = (name: NodeJS.Signals): void => {
        process.off('SIGTERM', on);
        process.off('SIGINT', on);
        resolve(name);
      };
      process.on('SIGTERM', on);
      process.on('SIGINT', on);
    });
    jobLog.info({ event: 'exiting', signal }, `${signal}: closing the REST API and exiting`);
    await closeServers();
  };
  let result: JobResult;
  try {
    result = await handle.result;
  } catch (error) {
    progress?.stop();
    const stop = signals?.stop;
    if (error instanceof JobCancelledError && stop !== undefined) {
      // Stopped by SIGINT/SIGTERM: the process was told to end, kept serving or not.
      const { savepointTaken } = await stop.done;
      process.exitCode = savepointTaken ? signalExitCode(stop.signal) : ExitCode.failed;
      await closeServers();
      return;
    }
    try {
      // Without a signal, only the REST API cancels the job (cancel, or stop with a savepoint): asked for, not a failure.
      if (error instanceof JobCancelledError && web !== undefined) {
        logger.info({ event: 'stopped-through-api' }, `job '${handle.jobName}' stopped through the REST API`);
        await serveUntilSignal();
        return;
      }
      // The runtime logged the failure, with its context, as the job ended.
      if (!(error instanceof JobCancelledError)) failureLogged = true;
      await serveUntilSignal();
      throw error;
    } finally {
      await closeServers();
    }
  }
  progress?.stop();
  const seconds = (performance.now() - startedAt) / 1000;
  const rate = Math.round(result.sourceRecords / seconds);
  jobLog.info(
    {
      event: 'job-finished',
      seconds,
      parallelism: options.parallelism,
      recordsRead: result.sourceRecords,
      recordsPerSecond: rate,
      lateRecordsDropped: result.lateRecordsDropped,
    },
    `job '${result.jobName}' finished in ${seconds.toFixed(2)} s at parallelism ${options.parallelism}: ` +
      `${result.sourceRecords} records read (${rate.toLocaleString('en-US')} records/s)` +
      (result.lateRecordsDropped > 0 ? `; ${result.lateRecordsDropped} late records dropped` : ''),
  );
  try {
    await serveUntilSignal();
  } finally {
    await closeServers();
  }
}

/**
 * `--restore` or `--fresh` from SLUICE_RESTORE / SLUICE_FRESH when the command line names
 * neither. A job manager in a pod is started again with the same arguments after every crash;
 * the operator says through its ConfigMap how the next start restores (a savepoint it took for
 * an upgrade, then, once the new run has checkpointed, the newest checkpoint), which it can
 * change without rolling the pod (docs/kubernetes.md).
 */
function startFromEnvironment(options: OptionValues, env: NodeJS.ProcessEnv): void {
  if (options.restore !== undefined || options.fresh === true) return;
  const restore = env.SLUICE_RESTORE?.trim() ?? '';
  const fresh = env.SLUICE_FRESH?.trim() ?? '';
  if (fresh !== '' && fresh !== 'true' && fresh !== 'false') {
    throw new ConfigError(`SLUICE_FRESH must be 'true', 'false' or empty, got '${fresh}'`);
  }
  if (restore !== '' && fresh === 'true') {
    throw new ConfigError('SLUICE_RESTORE and SLUICE_FRESH=true exclude each other: fresh means no restore');
  }
  if (restore !== '') options.restore = restore;
  if (fresh === 'true') options.fresh = true;
}

/**
 * A job manager started by `sluice run --task-managers` ends with that command: killed, the
 * command leaves its children re-parented, and the job manager, like its task managers, goes rather
 * than run a job nobody waits for. Its IPC channel, for the port it reports, must not keep it alive
 * either.
 */
function exitWithStarter(logger: Logger): void {
  process.channel?.unref();
  watchParent((parent) => {
    logger.error(
      { event: 'parent-exited', parent },
      `the command that started this job manager (pid ${parent}) is gone; exiting`,
    );
    process.kill(process.pid, 'SIGKILL');
  });
}

/** The `sluice run --task-managers` that started this job manager (SLUICE_SUPERVISOR_PID), if one did. */
function supervisorPid(): number | undefined {
  const pid = Number(process.env.SLUICE_SUPERVISOR_PID);
  return Number.isInteger(pid) && pid > 0 ? pid : undefined;
}

/** Where `run --task-managers` and `jobmanager` get their task managers from. */
function clusterFrom(options: OptionValues, command: Command): ClusterOptions | undefined {
  if (command.name() === 'jobmanager') {
    return {
      listen: { host: options.bindHost, port: options.port },
      secret: loadClusterSecret(options.secretFile === undefined ? {} : { secretFile: options.secretFile }),
      ...(options.expectedSlots === undefined ? {} : { expectedSlots: options.expectedSlots }),
      ...(options.tlsCert === undefined
        ? {}
        : { tls: { certFile: options.tlsCert, keyFile: options.tlsKey, caFile: options.tlsCa } }),
    };
  }
  if (options.slotsPerTaskManager !== undefined && options.taskManagers === undefined) {
    throw new ConfigError('--slots-per-task-manager needs --task-managers');
  }
  if (options.taskManagers === undefined) return undefined;
  // By default as few slots per process as hold --parallelism: one when there are enough processes.
  const slotsPerTaskManager =
    options.slotsPerTaskManager ?? Math.ceil((options.parallelism as number) / options.taskManagers);
  return { taskManagers: options.taskManagers, slotsPerTaskManager };
}

/** The options of a job run, shared by `run` and `jobmanager`. */
function withJobRunOptions(command: Command): Command {
  return command
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
      'start from a checkpoint (a chk-<n> folder), a savepoint folder, or the newest valid checkpoint of a checkpoint directory, at any parallelism; a chk-<n> that does not verify falls back to the previous valid one',
    )
    .option(
      '--fresh',
      'with --checkpoint-dir: start from scratch instead of resuming from the newest checkpoint of this job in it; the old checkpoints are deleted once this run has completed one',
    )
    .option(
      '--allow-non-restored-state',
      'with --restore (or when resuming from --checkpoint-dir): drop state of operators the job no longer has instead of refusing to start',
    )
    .option(
      '--restart-attempts <n>',
      'with --checkpoint-dir: how many times a failed job is restarted from its newest checkpoint before the run fails (0 to 1000000000, default 10)',
      wholeNumber('--restart-attempts', 0, 1_000_000_000),
    )
    .option(
      '--restart-delay <ms>',
      `with --checkpoint-dir: ms between a failure and the restart (0 to ${TIMER_MAX_MS}, default 200)`,
      wholeNumber('--restart-delay', 0, TIMER_MAX_MS),
    )
    .option(
      '--task-heartbeat-timeout <ms>',
      `a worker thread that shows no heartbeat for this long (stuck in an infinite loop or a blocking call) is terminated and the attempt fails; with --checkpoint-dir the job then restarts (100 to ${TIMER_MAX_MS}, default 60000)`,
      wholeNumber('--task-heartbeat-timeout', 100, TIMER_MAX_MS),
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
      'needs --checkpoint-dir. SIGUSR2 (sluice savepoint <pid>) takes a savepoint into a new folder here and the job runs on; SIGINT or SIGTERM takes one, then stops the job (exit code 130 or 143; 1 when no savepoint could be taken: the job stops all the same)',
    )
    .option(
      '--savepoint-timeout <ms>',
      `with --savepoint-dir: how long SIGINT/SIGTERM wait for the savepoint before stopping the job without one (1 to ${TIMER_MAX_MS}, default 30000)`,
      wholeNumber('--savepoint-timeout', 1, TIMER_MAX_MS),
      30_000,
    )
    .option(
      '--log-level <level>',
      `lowest level of the log lines written to stderr: ${LOG_LEVELS.join(', ')} (default: SLUICE_LOG_LEVEL, else info)`,
      oneOf('--log-level', LOG_LEVELS),
    )
    .option(
      '--log-format <format>',
      "'text' (human lines, sluice: ...) or 'json' (one JSON object per line, pino's format, with job, operator and subtask)",
      oneOf('--log-format', LOG_FORMATS),
      'text',
    )
    .option(
      '--progress',
      'show records read, their rate, the share of input read and the time elapsed while the job runs (default: on when stderr is a terminal and the log format is text)',
    )
    .option('--no-progress', 'do not show progress')
    .option(
      '--progress-interval <ms>',
      'ms between progress refreshes (default: 1000 on a terminal, 10000 otherwise)',
      wholeNumber('--progress-interval', 1, TIMER_MAX_MS),
    )
    .option(
      '--web [port]',
      'serve live metrics (Prometheus, /metrics), the REST API (/api) and the web dashboard (/) on this port while the job runs (default 8081; 0: any free port; the URLs are logged). Savepoints through the API go to --savepoint-dir; actions need a token. See docs/observability.md',
      wholeNumber('--web', 0, 65535),
    )
    .option(
      '--web-host <host>',
      'with --web: the address to listen on (default 127.0.0.1); any other needs a token (SLUICE_WEB_TOKEN or --web-token-file)',
    )
    .option(
      '--web-token-file <file>',
      'with --web: a file holding the bearer token of the API (actions always need it; off loopback every request does). Or set SLUICE_WEB_TOKEN',
    )
    .option(
      '--keep-serving-after-end',
      "with --web: when the job ends (finished, failed, cancelled, stopped with a savepoint), keep the process and its REST API up, reporting the final status (GET /api/job) and where the savepoints went (GET /api/savepoints/:id); actions answer 409, a jobmanager's /readyz 503. SIGTERM or SIGINT then ends it with the exit code the job's end gives. Or set SLUICE_KEEP_SERVING_AFTER_END=true (the Kubernetes operator's job managers run so)",
    );
}

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

withJobRunOptions(
  program
    .command('run')
    .description(
      'run a job on worker threads in this process, until it finishes (bounded sources) or is stopped',
    )
    .argument('<job>', 'the job module: a path (.ts, .mts, .cts, .js, .mjs, .cjs) or a file: URL'),
)
  .option(
    '--task-managers <n>',
    'run the job on a local cluster (docs/cluster.md): a job manager and this many task managers, child processes of this one, started again if killed',
    wholeNumber('--task-managers', 1, 256),
  )
  .option(
    '--slots-per-task-manager <n>',
    'with --task-managers: worker threads (slots) per task-manager process (default: as few as hold --parallelism; 1, a slot per process, when --task-managers is at least --parallelism)',
    wholeNumber('--slots-per-task-manager', 1, 1024),
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
  sluice run job.ts --log-format json --log-level debug 2> job.log
  sluice run job.ts --progress --progress-interval 5000
  SLUICE_WEB_TOKEN=$(cat token) sluice run job.ts --web 8081 \
    --checkpoint-dir ./checkpoints --savepoint-dir ./savepoints

On success, a summary goes to stderr: records read, seconds, records per second.
`,
  )
  .action(runAction);

withJobRunOptions(
  program
    .command('jobmanager')
    .description(
      'run a job on task-manager processes (sluice taskmanager) that register at this control port: deploys its slots, coordinates checkpoints, restarts it from the newest checkpoint when a task manager is lost (docs/cluster.md)',
    )
    .argument(
      '<job>',
      'the job module: a path (.ts, .mts, .cts, .js, .mjs, .cjs), a file: URL, or an installed package (name or name/subpath)',
    ),
)
  .option('--bind-host <host>', "the control port's listen address (default 127.0.0.1; 0.0.0.0 in a pod)")
  .option(
    '--port <port>',
    'the control port (default 6123; 0: any free port, logged)',
    wholeNumber('--port', 0, 65535),
    6123,
  )
  .option(
    '--secret-file <file>',
    'a file holding the cluster secret (at least 16 bytes); default: the environment variable SLUICE_CLUSTER_SECRET',
  )
  .option(
    '--expected-slots <n>',
    'the slots its task managers will offer in all (a fixed cluster): a job that needs more fails at once instead of waiting for more task managers',
    wholeNumber('--expected-slots', 1, 262_144),
  )
  .option(
    '--health-port <port>',
    'serve GET /healthz (200 while the process runs) and /readyz (200 once the job has started, 503 again once it has ended: --keep-serving-after-end) on --bind-host at this port',
    wholeNumber('--health-port', 0, 65535),
  )
  .option('--tls-cert <file>', "TLS on the control port: the job manager's certificate chain (PEM)")
  .option('--tls-key <file>', 'with --tls-cert: its private key (PEM)')
  .option(
    '--tls-ca <file>',
    'with --tls-cert: require task managers to present a certificate signed by this CA (mutual TLS)',
  )
  .showHelpAfterError('(sluice jobmanager --help lists the options)')
  .addHelpText(
    'after',
    `
Examples:
  export SLUICE_CLUSTER_SECRET=$(openssl rand -hex 32)
  sluice jobmanager job.ts -p 4 --checkpoint-dir /shared/checkpoints --port 6123 &
  sluice taskmanager --jobmanager 127.0.0.1:6123 --slots 2 &
  sluice taskmanager --jobmanager 127.0.0.1:6123 --slots 2 &

Started again after a crash, the job manager resumes the job from the newest
checkpoint in --checkpoint-dir; the task managers find it again by themselves.
`,
  )
  .action(runAction);

program
  .command('taskmanager')
  .description(
    'offer task slots (worker threads) to a job manager: runs the slots it deploys, exchanges records with the other task managers over TCP, and reconnects when the job manager is lost; exits when the job ends',
  )
  .requiredOption('--jobmanager <host:port>', "the job manager's control port")
  .option(
    '--slots <n>',
    'task slots (worker threads) of this process (default 1)',
    wholeNumber('--slots', 1, 1024),
    1,
  )
  .option('--id <id>', "this task manager's id (default tm-<hostname>-<pid>)")
  .option('--bind-host <host>', "the data port's listen address (default 127.0.0.1)")
  .option('--advertise-host <host>', 'the address other task managers dial (default: --bind-host)')
  .option(
    '--data-port <port>',
    'the one port this process takes data connections on, for all its slots (default 0: any free port)',
    wholeNumber('--data-port', 0, 65535),
  )
  .option(
    '--secret-file <file>',
    'a file holding the cluster secret; default: the environment variable SLUICE_CLUSTER_SECRET',
  )
  .option(
    '--health-port <port>',
    'serve GET /healthz (200 while the process runs) and /readyz (200 while registered at a job manager)',
    wholeNumber('--health-port', 0, 65535),
  )
  .option(
    '--job <path>',
    'the job module (a path or a package name), when it is not at the path the job manager names',
  )
  .option(
    '--reconnect-interval <ms>',
    'ms between attempts to reach the job manager (default 500)',
    wholeNumber('--reconnect-interval', 1, 60_000),
  )
  .option(
    '--session',
    'serve job after job: when a job ends, wait for the next job manager at the same address instead of exiting',
  )
  .option('--tls-ca <file>', 'TLS to the job manager: the CA to verify its certificate against')
  .option('--tls-cert <file>', 'with --tls-ca: a client certificate (mutual TLS)')
  .option('--tls-key <file>', 'with --tls-cert: its private key')
  .option(
    '--log-level <level>',
    `lowest level of the log lines written to stderr: ${LOG_LEVELS.join(', ')} (default: SLUICE_LOG_LEVEL, else info)`,
    oneOf('--log-level', LOG_LEVELS),
  )
  .option('--log-format <format>', "'text' or 'json'", oneOf('--log-format', LOG_FORMATS), 'text')
  .showHelpAfterError('(sluice taskmanager --help lists the options)')
  .action(async (options: OptionValues) => {
    const match = /^(.+):(\d+)$/.exec(options.jobmanager);
    const port = match === null ? Number.NaN : Number(match[2]);
    if (match === null || !(port >= 1 && port <= 65535)) {
      throw new ConfigError(`--jobmanager must be HOST:PORT, got '${options.jobmanager}'`);
    }
    const secret = loadClusterSecret(
      options.secretFile === undefined ? {} : { secretFile: options.secretFile },
    );
    const logger = cliLogger({
      format: options.logFormat,
      level: options.logLevel ?? logLevelFromEnv(process.env) ?? 'info',
    });
    cliLog = { logger, format: options.logFormat };
    const stop = new AbortController();
    // Started by a local cluster or a test: a task manager whose starter died (killed) is
    // re-parented, and stops rather than dial for ever.
    watchParent((parent) => {
      logger.warn(
        { event: 'parent-exited', parent },
        `the process that started this task manager (pid ${parent}) is gone; stopping`,
      );
      stop.abort();
    });
    let signal: NodeJS.Signals | undefined;
    for (const name of ['SIGTERM', 'SIGINT'] as const) {
      process.once(name, () => {
        signal = name;
        stop.abort();
      });
    }
    let registered = false;
    const health =
      options.healthPort === undefined
        ? undefined
        : await startHealthServer({
            host: options.bindHost ?? '127.0.0.1',
            port: options.healthPort,
            ready: () => registered,
          });
    try {
      const exit = await runTaskManager({
        jobManager: { host: match[1]!, port },
        slots: options.slots,
        secret,
        id: options.id,
        bindHost: options.bindHost,
        advertiseHost: options.advertiseHost,
        dataPort: options.dataPort,
        job: options.job === undefined ? undefined : jobModule(options.job),
        session: options.session === true,
        reconnectDelayMs: options.reconnectInterval,
        ...(options.tlsCa === undefined && options.tlsCert === undefined
          ? {}
          : { tls: { caFile: options.tlsCa, certFile: options.tlsCert, keyFile: options.tlsKey } }),
        logger,
        signal: stop.signal,
        onState: (state) => {
          registered = state.connected;
        },
      });
      if (exit === 'stopped' && signal !== undefined) process.exitCode = signalExitCode(signal);
    } finally {
      await health?.close();
    }
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
  .option(
    '--format <format>',
    'text (for people), json (the plan as data: tasks, chained operators, parallelism, edges with partitioners, uids), dot (Graphviz) or mermaid (a flowchart)',
    oneOf('--format', PLAN_FORMATS),
    'text',
  )
  .option('--no-local-aggregation', 'plan without pre-aggregating window input before the keyBy exchange')
  .showHelpAfterError('(sluice plan --help lists the options)')
  .addHelpText(
    'after',
    `
The plan goes to stdout. It is built as 'sluice run' builds it, with chaining on.

Examples:
  sluice plan job.ts
  sluice plan job.ts -p 4 --arg input=data.txt
  sluice plan job.ts --format json
  sluice plan job.ts --format dot | dot -Tsvg > plan.svg
  sluice plan job.ts --format mermaid > plan.mmd
`,
  )
  .action(async (job: string, options) => {
    const args = parseJobArgs(options.args, options.arg ?? []);
    const plan = await explainJob(jobModule(job), {
      parallelism: options.parallelism,
      maxParallelism: options.maxParallelism,
      args,
      format: options.format,
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
  .command('k8s')
  .description(
    'Kubernetes: render manifests, deploy a job, the SluiceJob operator (the commands of @sluice/k8s; `sluice k8s --help` lists them)',
  )
  .argument('[args...]', 'the sluice-k8s command and its options')
  .allowUnknownOption()
  .helpOption(false)
  .action(async (args: string[]) => {
    process.exitCode = await runK8sCommand(args);
  });

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
  if (cliLog?.format === 'json') {
    if (!failureLogged)
      cliLog.logger.fatal({ event: 'cli-error', err: error }, (error as Error)?.message ?? String(error));
  } else if (!(error instanceof CommanderError)) {
    process.stderr.write(describeError(error, program.opts().debug === true || debugFromEnv(process.env)));
  }
  process.exitCode = code;
}
