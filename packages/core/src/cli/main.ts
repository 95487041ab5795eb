#!/usr/bin/env node
import { join } from 'node:path';
import { Command, InvalidArgumentError } from 'commander';
import { ConfigError, SluiceError } from '../errors.ts';
import { explainJob } from '../execution/explain.ts';
import { JobCancelledError, type JobHandle, type JobResult, startJob } from '../execution/run-job.ts';
import { parseJobArgs } from './job-args.ts';

function integer(name: string) {
  return (value: string): number => {
    const n = Number(value);
    if (!Number.isInteger(n) || n < 0) throw new InvalidArgumentError(`${name} must be a whole number`);
    return n;
  };
}

function collect(value: string, previous: string[]): string[] {
  return [...previous, value];
}

const program = new Command()
  .name('sluice')
  .description(
    'Run Sluice stream-processing jobs: TypeScript modules whose default export is defineJob(...).',
  )
  .showHelpAfterError();

program
  .command('run')
  .description('run a job on worker threads in this process')
  .argument('<job>', 'the job module (.ts or .js)')
  .option('-p, --parallelism <n>', 'default parallelism of every operator', integer('--parallelism'), 1)
  .option(
    '--max-parallelism <n>',
    'number of key groups (upper bound of any parallelism)',
    integer('--max-parallelism'),
  )
  .option(
    '-a, --arg <key=value>',
    'an argument for the job (repeatable; numbers, true/false and JSON are parsed)',
    collect,
    [],
  )
  .option('--args <json>', 'all job arguments as one JSON object')
  .option(
    '--buffer-timeout-ms <ms>',
    'send a partly filled batch after this many ms',
    integer('--buffer-timeout-ms'),
  )
  .option('--batch-size <n>', 'records per batch between threads', integer('--batch-size'))
  .option('--no-chaining', 'run every operator as its own task')
  .option(
    '--checkpoint-dir <dir>',
    'take aligned checkpoints into this directory; failures restart from them',
  )
  .option(
    '--checkpoint-interval <ms>',
    'how often a checkpoint starts',
    integer('--checkpoint-interval'),
    10_000,
  )
  .option('--restore <folder>', 'resume from a checkpoint or savepoint folder')
  .option(
    '--state-backend <kind>',
    "where keyed state lives while running: 'heap' (default) or 'leveldb'",
    'heap',
  )
  .option('--state-dir <dir>', 'working directory of the leveldb state backend (default: the temp folder)')
  .option(
    '--allow-non-restored-state',
    'restore even if some state belongs to operators the job no longer has',
  )
  .option(
    '--savepoint-dir <dir>',
    'on SIGINT/SIGTERM, stop with a savepoint in this directory; on SIGUSR2 (sluice savepoint <pid>), take one',
  )
  .action(async (job: string, options) => {
    const args = parseJobArgs(options.args, options.arg);
    if (options.savepointDir !== undefined && options.checkpointDir === undefined) {
      throw new ConfigError('--savepoint-dir needs --checkpoint-dir (it stages the savepoint files)');
    }
    const startedAt = performance.now();
    const handle = await startJob(job, {
      parallelism: options.parallelism,
      maxParallelism: options.maxParallelism,
      args,
      chaining: options.chaining,
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
          : options.stateBackend,
    });
    const signals =
      options.savepointDir === undefined ? undefined : watchSavepointSignals(handle, options.savepointDir);
    let result: JobResult;
    try {
      result = await handle.result;
    } catch (error) {
      if (error instanceof JobCancelledError && signals?.stopped !== undefined) {
        await signals.stopped;
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

/**
 * Savepoints from outside the process: SIGUSR2 takes one and keeps running (`sluice savepoint
 * <pid>` sends it); SIGINT and SIGTERM (Ctrl-C, Kubernetes stopping a pod) stop with one.
 */
function watchSavepointSignals(
  handle: JobHandle,
  directory: string,
): { stopped: Promise<unknown> | undefined } {
  const watcher: { stopped: Promise<unknown> | undefined } = { stopped: undefined };
  const folder = (): string => join(directory, `savepoint-${new Date().toISOString().replace(/[:.]/g, '-')}`);
  const report = (promise: Promise<string>, what: string): Promise<unknown> =>
    promise.then(
      (path) => process.stderr.write(`sluice: ${what} ${path}\n`),
      (error: Error) => {
        process.stderr.write(`sluice: ${what} failed: ${error.message}\n`);
        process.exitCode = 1;
      },
    );
  process.on('SIGUSR2', () => report(handle.savepoint(folder()), 'savepoint written to'));
  const stop = (): void => {
    process.off('SIGINT', stop);
    process.off('SIGTERM', stop);
    watcher.stopped = report(handle.stopWithSavepoint(folder()), 'stopped with a savepoint in');
  };
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
  process.stderr.write(
    `sluice: running as process ${process.pid}; 'sluice savepoint ${process.pid}' takes a savepoint, SIGINT/SIGTERM stop with one\n`,
  );
  return watcher;
}

program
  .command('savepoint')
  .description(
    'ask a running `sluice run --savepoint-dir ...` process to take a savepoint (it logs the folder)',
  )
  .argument('<pid>', 'the process id of sluice run', integer('<pid>'))
  .action((pid: number) => {
    process.kill(pid, 'SIGUSR2');
    process.stderr.write(
      `sluice: asked process ${pid} for a savepoint; it logs the folder when it is written\n`,
    );
  });

program
  .command('plan')
  .description('print the physical plan of a job: tasks, chains, parallelism, partitioning')
  .argument('<job>', 'the job module')
  .option('-p, --parallelism <n>', 'default parallelism', integer('--parallelism'), 1)
  .option('--max-parallelism <n>', 'number of key groups', integer('--max-parallelism'))
  .option('-a, --arg <key=value>', 'an argument for the job (repeatable)', collect, [])
  .option('--args <json>', 'all job arguments as one JSON object')
  .action(async (job: string, options) => {
    const args = parseJobArgs(options.args, options.arg);
    process.stdout.write(
      `${await explainJob(job, { parallelism: options.parallelism, maxParallelism: options.maxParallelism, args })}\n`,
    );
  });

try {
  await program.parseAsync(process.argv);
} catch (error) {
  const err = error as Error;
  const code = error instanceof SluiceError ? ` [${error.code}]` : '';
  process.stderr.write(`sluice: ${err.message}${code}\n`);
  if (process.env.SLUICE_DEBUG && err.stack) process.stderr.write(`${err.stack}\n`);
  process.exitCode = 1;
}
