/**
 * `sluice run JOB --task-managers N`: a local cluster of processes. This process runs no part of
 * the job: it starts the job manager (`sluice jobmanager`, with the run's own options) and the task
 * managers (`sluice taskmanager`) as its children, hands them a secret made for the run, forwards
 * the signals an operator sends (SIGINT, SIGTERM, SIGUSR2 for a savepoint) to the job manager, and
 * ends with the job manager's exit code. A child that is killed is started again, as Kubernetes
 * restarts a pod: a task manager at once (the job restarts from its newest checkpoint once it has
 * registered), the job manager when the run checkpoints (it resumes from the newest checkpoint in
 * `--checkpoint-dir`, and the task managers register with it again by themselves).
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import type { Command, Option } from 'commander';
import type { Logger } from '../contracts/logger.ts';
import { CRASH_LOOP_EXITS, LocalCluster, QUICK_EXIT_MS } from '../execution/cluster/local-cluster.ts';
import { exitWithThisProcessEnv } from '../execution/cluster/parent-watch.ts';
import { siblingModule } from '../threads/module-worker.ts';
import { ExitCode, signalExitCode } from './exit-codes.ts';

/** What a job manager started by a supervisor sends it once its control port listens. */
export interface JobManagerListening {
  readonly type: 'sluice-job-manager-listening';
  readonly host: string;
  readonly port: number;
}

/** The run's own options that only the supervisor takes: the job manager gets the others. */
const SUPERVISOR_OPTIONS: ReadonlySet<string> = new Set(['--task-managers', '--slots-per-task-manager']);

/** Signals an operator sends to `sluice run`, passed on to the job manager. */
const FORWARDED_SIGNALS = ['SIGINT', 'SIGTERM', 'SIGUSR2'] as const;

export interface LocalClusterRun {
  /** `process.argv.slice(2)` of the `run` command. */
  readonly argv: readonly string[];
  /** The parsed `run` command (its options say which flags take a value). */
  readonly command: Command;
  readonly taskManagers: number;
  readonly slotsPerTaskManager: number;
  /** The run checkpoints: a killed job manager resumes, so it is started again. */
  readonly checkpointing: boolean;
  readonly logger: Logger;
  readonly logLevel: string;
}

/**
 * The command line of `sluice jobmanager` for this run: the same global options, job and options,
 * without the local cluster's own, with `run` replaced. Flags that take a value keep it, so a value
 * that looks like a flag (`--args '--task-managers'`) stays a value.
 */
export function jobManagerArgv(argv: readonly string[], command: Command): string[] {
  const takesValue = new Map<string, boolean>();
  for (const option of command.options as readonly Option[]) {
    const valued = option.required || option.optional;
    if (option.long !== undefined) takesValue.set(option.long, valued);
    if (option.short !== undefined) takesValue.set(option.short, valued);
  }
  const out: string[] = [];
  let i = 0;
  // Global options (`--debug`) come before the command; the first operand is the command itself.
  while (i < argv.length && argv[i]!.startsWith('-')) out.push(argv[i++]!);
  if (argv[i] !== 'run') throw new Error(`expected the run command at argument ${i}, got '${argv[i]}'`);
  out.push('jobmanager');
  i++;
  for (; i < argv.length; i++) {
    const token = argv[i]!;
    if (token === '--') {
      out.push(...argv.slice(i));
      break;
    }
    const flag = token.startsWith('--') ? token.split('=', 1)[0]! : token;
    const inlineValue = token.startsWith('--') && token.includes('=');
    const valued = takesValue.get(flag) === true && !inlineValue;
    if (SUPERVISOR_OPTIONS.has(flag)) {
      if (valued) i++;
      continue;
    }
    out.push(token);
    if (valued && i + 1 < argv.length) out.push(argv[++i]!);
  }
  return out;
}

/** Runs the local cluster until the job manager ends; resolves with the exit code for `sluice run`. */
export async function superviseLocalCluster(run: LocalClusterRun): Promise<number> {
  const { logger } = run;
  const bin = fileURLToPath(siblingModule('./bin', import.meta.url));
  const secret = Buffer.from(randomBytes(32).toString('hex'));
  const slots = run.taskManagers * run.slotsPerTaskManager;
  const baseArgv = [
    ...jobManagerArgv(run.argv, run.command),
    '--bind-host',
    '127.0.0.1',
    '--expected-slots',
    String(slots),
  ];
  const env = {
    ...process.env,
    ...exitWithThisProcessEnv(),
    // The job manager reports its port to this process, and names it where it says which process
    // takes signals (this one passes them on).
    SLUICE_SUPERVISOR_PID: String(process.pid),
    SLUICE_CLUSTER_SECRET: secret.toString('utf8'),
  };

  let jobManager: ChildProcess | undefined;
  let address: { host: string; port: number } | undefined;
  let taskManagers: LocalCluster | undefined;
  /** The operator asked the run to end (a signal): the job manager's exit is the run's. */
  let stopping = false;
  let quickExits = 0;

  const forward = (signal: NodeJS.Signals): void => {
    if (signal !== 'SIGUSR2') stopping = true;
    if (jobManager?.exitCode === null && jobManager.signalCode === null) jobManager.kill(signal);
  };
  for (const signal of FORWARDED_SIGNALS) process.on(signal, forward);

  const startJobManager = (): Promise<{ code: number | null; signal: NodeJS.Signals | null }> => {
    // The port of the first job manager, again: the task managers dial it until one answers.
    const argv = [bin, ...baseArgv, '--port', String(address?.port ?? 0)];
    // Its own process group: a terminal's Ctrl-C reaches this process, which passes it on once.
    const child = spawn(process.execPath, argv, {
      env,
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
      detached: true,
    });
    jobManager = child;
    child.on('message', (message: JobManagerListening) => {
      if (message?.type !== 'sluice-job-manager-listening' || taskManagers !== undefined) return;
      address = { host: message.host, port: message.port };
      taskManagers = new LocalCluster({
        taskManagers: run.taskManagers,
        slotsPerTaskManager: run.slotsPerTaskManager,
        jobManager: address,
        secret,
        logger,
        logLevel: run.logLevel,
        onCrashLoop: (error) => {
          logger.error(
            { event: 'task-manager-crash-loop', err: error },
            `${error.message}; stopping the job`,
          );
          forward('SIGTERM');
        },
      });
    });
    return new Promise((resolve) => {
      child.once('error', (error) => {
        logger.error({ event: 'job-manager-spawn-failed', err: error }, error.message);
        resolve({ code: ExitCode.failed, signal: null });
      });
      child.once('exit', (code, signal) => resolve({ code, signal }));
    });
  };

  try {
    for (;;) {
      const startedAt = performance.now();
      const { code, signal } = await startJobManager();
      // An exit code is the job manager's own verdict (the job finished, failed, or was stopped);
      // a signal nobody here sent is a crash: the OOM killer, `kill -9`, a native fault.
      const killed = signal !== null && !stopping;
      if (!killed || !run.checkpointing || address === undefined) {
        if (killed) {
          const why =
            address === undefined
              ? 'before its control port listened'
              : 'and without --checkpoint-dir there is no checkpoint to resume from';
          logger.error(
            { event: 'job-manager-died', signal },
            `the job manager (pid ${jobManager?.pid}) died (${signal}) ${why}; run the command again`,
          );
        }
        // Ended by a signal (SIGTERM without --savepoint-dir): what a shell reports for it, as when
        // the job manager was this process.
        return code ?? signalExitCode(signal!);
      }
      quickExits = performance.now() - startedAt < QUICK_EXIT_MS ? quickExits + 1 : 0;
      if (quickExits >= CRASH_LOOP_EXITS) {
        logger.error(
          { event: 'job-manager-crash-loop', signal },
          `the job manager died ${CRASH_LOOP_EXITS} times in a row within ${QUICK_EXIT_MS} ms of starting (last: ${signal}); not starting it again`,
        );
        return ExitCode.failed;
      }
      logger.warn(
        { event: 'job-manager-died', signal },
        `the job manager (pid ${jobManager?.pid}) died (${signal}); starting another: it resumes from the newest checkpoint`,
      );
    }
  } finally {
    for (const signal of FORWARDED_SIGNALS) process.off(signal, forward);
    // Told by the job manager that the job ended, the task managers have exited or are exiting.
    taskManagers?.ending();
    await taskManagers?.stop();
  }
}
