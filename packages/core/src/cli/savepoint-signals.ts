import { join } from 'node:path';
import type { Logger } from '../contracts/logger.ts';
import type { JobHandle } from '../execution/run-job.ts';
import { ExitCode, signalExitCode } from './exit-codes.ts';

/** How long a stop waits for the job to end once cancelled, beyond which the process exits anyway. */
const STOP_EXIT_GRACE_MS = 15_000;

/**
 * A stop asked for by SIGINT or SIGTERM: `done` settles once the job has stopped, with whether a
 * savepoint was written first.
 */
export interface SignalledStop {
  readonly signal: NodeJS.Signals;
  readonly done: Promise<{ readonly savepointTaken: boolean }>;
}

export interface SavepointSignals {
  /** Set once SIGINT or SIGTERM arrived. */
  stop: SignalledStop | undefined;
  /** Stops listening (the job has ended: there is nothing left to take a savepoint of). */
  dispose(): void;
}

function errorText(error: unknown): string {
  const code = (error as { code?: unknown } | null)?.code;
  return `${(error as Error)?.message ?? String(error)}${typeof code === 'string' ? ` [${code}]` : ''}`;
}

/** `promise`, or a rejection naming `what` once `timeoutMs` has passed without it settling. */
function within<T>(promise: Promise<T>, timeoutMs: number, what: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} did not complete within ${timeoutMs} ms`)), timeoutMs);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/**
 * Savepoints from outside the process: SIGUSR2 takes one and keeps running (`sluice savepoint
 * <pid>` sends it); SIGINT and SIGTERM (Ctrl-C, Kubernetes stopping a pod) stop with one.
 *
 * A stop is bounded in time whatever happens to the savepoint: it waits at most
 * `savepointTimeoutMs` for it, and stops the job either way — a savepoint that cannot be written
 * (an unwritable folder) or never completes (a hung worker) must not keep a job running that was
 * told to stop, which is what Kubernetes' grace period assumes. The exit code says which: 130/143
 * after a savepoint, 1 without one. Should the job not end within a grace period after being
 * cancelled, the process exits with that code all the same. The stop handler removes itself
 * first, so a second Ctrl-C ends the process at once, as Node does by default.
 */
export function watchSavepointSignals(
  handle: JobHandle,
  directory: string,
  savepointTimeoutMs: number,
  logger: Logger,
  /** The process an operator signals: this one, or the `sluice run` that passes signals on to it. */
  signalledPid = process.pid,
): SavepointSignals {
  const folder = (): string => join(directory, `savepoint-${new Date().toISOString().replace(/[:.]/g, '-')}`);
  const savepointNow = (): void => {
    handle.savepoint(folder()).then(
      (path) => logger.info({ event: 'savepoint', path }, `savepoint written to ${path}`),
      (error: unknown) => {
        logger.error({ event: 'savepoint-failed', err: error }, `savepoint failed: ${errorText(error)}`);
        process.exitCode = ExitCode.failed;
      },
    );
  };
  process.on('SIGUSR2', savepointNow);
  const watcher: SavepointSignals = {
    stop: undefined,
    dispose: () => {
      process.off('SIGUSR2', savepointNow);
      process.off('SIGINT', stop);
      process.off('SIGTERM', stop);
    },
  };
  const stop = (signal: NodeJS.Signals): void => {
    process.off('SIGINT', stop);
    process.off('SIGTERM', stop);
    logger.info(
      { event: 'stopping', signal },
      `${signal}: stopping with a savepoint (waiting at most ${savepointTimeoutMs} ms for it)`,
    );
    const done = within(handle.savepoint(folder()), savepointTimeoutMs, 'the savepoint')
      .then(
        (path) => {
          logger.info({ event: 'savepoint', path }, `savepoint written to ${path}; stopping the job`);
          return true;
        },
        (error: unknown) => {
          logger.error(
            { event: 'savepoint-failed', err: error, signal },
            `could not take the savepoint: ${errorText(error)}; stopping the job WITHOUT a savepoint (it resumes from its latest checkpoint)`,
          );
          process.exitCode = ExitCode.failed;
          return false;
        },
      )
      .then(async (savepointTaken) => {
        const exitAnyway = setTimeout(() => {
          logger.error(
            { event: 'stop-timeout' },
            `the job did not stop within ${STOP_EXIT_GRACE_MS} ms of being cancelled; exiting`,
          );
          process.exit(savepointTaken ? signalExitCode(signal) : ExitCode.failed);
        }, STOP_EXIT_GRACE_MS);
        exitAnyway.unref();
        await handle.cancel();
        clearTimeout(exitAnyway);
        logger.info(
          { event: 'stopped', signal, savepointTaken },
          savepointTaken
            ? `stopped by ${signal} with a savepoint`
            : `stopped by ${signal} without a savepoint`,
        );
        return { savepointTaken };
      });
    watcher.stop = { signal, done };
  };
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
  logger.info(
    { event: 'signals', pid: signalledPid },
    `running as process ${signalledPid}; 'sluice savepoint ${signalledPid}' takes a savepoint, SIGINT/SIGTERM stop with one`,
  );
  return watcher;
}
