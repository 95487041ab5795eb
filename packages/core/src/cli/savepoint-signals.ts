import { join } from 'node:path';
import type { Logger } from '../contracts/logger.ts';
import type { JobHandle } from '../execution/run-job.ts';
import { ExitCode } from './exit-codes.ts';

/** A stop asked for by SIGINT or SIGTERM: `done` settles once the savepoint is written (or failed). */
export interface SignalledStop {
  readonly signal: NodeJS.Signals;
  readonly done: Promise<void>;
}

export interface SavepointSignals {
  /** Set once SIGINT or SIGTERM arrived. */
  stop: SignalledStop | undefined;
}

function errorText(error: unknown): string {
  const code = (error as { code?: unknown } | null)?.code;
  return `${(error as Error)?.message ?? String(error)}${typeof code === 'string' ? ` [${code}]` : ''}`;
}

/**
 * Savepoints from outside the process: SIGUSR2 takes one and keeps running (`sluice savepoint
 * <pid>` sends it); SIGINT and SIGTERM (Ctrl-C, Kubernetes stopping a pod) stop with one. The
 * stop handler removes itself first, so a second Ctrl-C ends the process at once, as Node does
 * by default — the way out when a savepoint cannot be taken. A failed savepoint makes the exit
 * code 1 (the run did not do what was asked), and after a failed stop the job keeps running,
 * as Flink does.
 */
export function watchSavepointSignals(
  handle: JobHandle,
  directory: string,
  logger: Logger,
): SavepointSignals {
  const watcher: SavepointSignals = { stop: undefined };
  const folder = (): string => join(directory, `savepoint-${new Date().toISOString().replace(/[:.]/g, '-')}`);
  process.on('SIGUSR2', () => {
    handle.savepoint(folder()).then(
      (path) => logger.info({ event: 'savepoint', path }, `savepoint written to ${path}`),
      (error: unknown) => {
        logger.error({ event: 'savepoint-failed', err: error }, `savepoint failed: ${errorText(error)}`);
        process.exitCode = ExitCode.failed;
      },
    );
  });
  const stop = (signal: NodeJS.Signals): void => {
    process.off('SIGINT', stop);
    process.off('SIGTERM', stop);
    logger.info({ event: 'stopping', signal }, `${signal}: stopping with a savepoint`);
    const done = handle.stopWithSavepoint(folder()).then(
      (path) => {
        logger.info({ event: 'stopped-with-savepoint', path }, `stopped with a savepoint in ${path}`);
      },
      (error: unknown) => {
        logger.error(
          { event: 'savepoint-failed', err: error, signal },
          `could not take the savepoint, the job keeps running: ${errorText(error)}; ` +
            `${signal} again stops it without one`,
        );
        process.exitCode = ExitCode.failed;
      },
    );
    watcher.stop = { signal, done };
  };
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
  logger.info(
    { event: 'signals', pid: process.pid },
    `running as process ${process.pid}; 'sluice savepoint ${process.pid}' takes a savepoint, SIGINT/SIGTERM stop with one`,
  );
  return watcher;
}
