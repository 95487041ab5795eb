#!/usr/bin/env -S node --import tsx
import { Command, InvalidArgumentError } from 'commander';
import { SluiceError } from '../errors.ts';
import { explainJob } from '../execution/explain.ts';
import { runJob } from '../execution/run-job.ts';
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
  .action(async (job: string, options) => {
    const args = parseJobArgs(options.args, options.arg);
    const startedAt = performance.now();
    const result = await runJob(job, {
      parallelism: options.parallelism,
      maxParallelism: options.maxParallelism,
      args,
      chaining: options.chaining,
      bufferTimeoutMs: options.bufferTimeoutMs,
      batchSize: options.batchSize,
    });
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
