/**
 * The task managers of a cluster on this machine, for tests and for users who want process
 * isolation: child processes running `sluice taskmanager`. With
 * `runJob(job, { cluster: { taskManagers: N, slotsPerTaskManager: M } })` the calling process is
 * the job manager (so that `collectSink` results and the job's result arrive where they were asked
 * for); with `sluice run JOB --task-managers N` the job manager is a child process too
 * (`cli/local-cluster-supervisor.ts`). A task manager that dies while the job
 * runs is started again, as Kubernetes restarts a pod: the job restarts from its latest checkpoint
 * once the new process has registered.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { Logger } from '../../contracts/logger.ts';
import { siblingModule } from '../../threads/module-worker.ts';
import { exitWithThisProcessEnv } from './parent-watch.ts';

export interface LocalClusterOptions {
  readonly taskManagers: number;
  readonly slotsPerTaskManager: number;
  readonly jobManager: { readonly host: string; readonly port: number };
  /** Text (as a secret file or variable holds it): handed to the children in their environment, never on a command line. */
  readonly secret: Uint8Array;
  readonly logger: Logger;
  /** The children's log level (their slots' lines reach the job manager's logger anyway). */
  readonly logLevel: string;
  /** A task manager keeps dying as it starts: restarting it again would loop for ever. */
  readonly onCrashLoop: (error: Error) => void;
}

/** A child that exits this soon after its start counts towards a crash loop... */
export const QUICK_EXIT_MS = 3_000;
/** ...and this many such exits in a row of one child end the restarts (the job manager's too). */
export const CRASH_LOOP_EXITS = 5;

/** How long a stopping child may take before it is killed. */
const EXIT_GRACE_MS = 10_000;

export class LocalCluster {
  readonly #options: LocalClusterOptions;
  readonly #children: Array<ChildProcess | undefined> = [];
  #stopping = false;
  readonly #exited = new Set<Promise<void>>();
  readonly #quickExits: number[] = [];

  constructor(options: LocalClusterOptions) {
    this.#options = options;
    for (let i = 0; i < options.taskManagers; i++) this.#start(i);
  }

  /** The pids of the task managers running now, by position (for tests that kill them). */
  get pids(): readonly number[] {
    return this.#children.flatMap((child) =>
      child?.pid === undefined || child.exitCode !== null || child.signalCode !== null ? [] : [child.pid],
    );
  }

  #start(index: number): void {
    const { jobManager, slotsPerTaskManager, secret } = this.#options;
    const bin = fileURLToPath(siblingModule('../../cli/bin', import.meta.url));
    const child = spawn(
      process.execPath,
      [
        bin,
        'taskmanager',
        '--jobmanager',
        `${jobManager.host}:${jobManager.port}`,
        '--slots',
        String(slotsPerTaskManager),
        '--id',
        `local-tm-${index}-${Date.now().toString(36)}`,
        '--log-level',
        this.#options.logLevel,
      ],
      {
        env: {
          ...process.env,
          ...exitWithThisProcessEnv(),
          SLUICE_CLUSTER_SECRET: Buffer.from(secret).toString('utf8'),
        },
        stdio: ['ignore', 'inherit', 'inherit'],
        // A process group of its own: a terminal's Ctrl-C reaches the job manager, which stops the
        // job (with a savepoint if asked) and then the task managers, not each process at once.
        detached: true,
      },
    );
    this.#children[index] = child;
    const startedAt = performance.now();
    const exited = new Promise<void>((resolve) => {
      child.once('exit', (code, signal) => {
        this.#exited.delete(exited);
        resolve();
        // A task manager exits 0 only when its job manager told it the job ended: nothing to restart.
        if (this.#stopping || code === 0) return;
        const quick = performance.now() - startedAt < QUICK_EXIT_MS;
        this.#quickExits[index] = quick ? (this.#quickExits[index] ?? 0) + 1 : 0;
        if (this.#quickExits[index]! >= CRASH_LOOP_EXITS) {
          this.#options.onCrashLoop(
            new Error(
              `local task manager ${index} exited ${CRASH_LOOP_EXITS} times in a row within ${QUICK_EXIT_MS} ms of starting (last: ${signal ?? `exit code ${code}`}); its stderr above says why`,
            ),
          );
          return;
        }
        this.#options.logger.warn(
          { event: 'task-manager-exited', index, code, signal },
          `local task manager ${index} (pid ${child.pid}) exited (${signal ?? `code ${code}`}); starting another`,
        );
        this.#start(index);
      });
      child.once('error', (error) => {
        this.#options.logger.error({ event: 'task-manager-spawn-failed', err: error }, error.message);
      });
    });
    this.#exited.add(exited);
  }

  /** From now on a child that exits is not started again: the job is ending (its task managers exit with it). */
  ending(): void {
    this.#stopping = true;
  }

  /** Stops every child: they exit once the job manager told them the job ended; killed after a grace period. */
  async stop(): Promise<void> {
    this.#stopping = true;
    const kill = setTimeout(() => {
      for (const child of this.#children) child?.kill('SIGKILL');
    }, EXIT_GRACE_MS);
    for (const child of this.#children)
      if (child !== undefined && child.exitCode === null) child.kill('SIGTERM');
    await Promise.all([...this.#exited]);
    clearTimeout(kill);
  }
}
