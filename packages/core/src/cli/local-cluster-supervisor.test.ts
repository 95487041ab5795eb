import { Command } from 'commander';
import { describe, expect, it } from 'vitest';
import { jobManagerArgv } from './local-cluster-supervisor.ts';

/** The shape of `sluice run`'s options that matters here: flags with and without a value. */
function runCommand(): Command {
  return new Command('run')
    .argument('<job>')
    .option('-p, --parallelism <n>')
    .option('--args <json>')
    .option('--no-progress')
    .option('--task-managers <n>')
    .option('--slots-per-task-manager <n>');
}

describe('jobManagerArgv', () => {
  it("turns `run` into `jobmanager` without the local cluster's own flags, keeping every other flag and value", () => {
    expect(
      jobManagerArgv(
        [
          'run',
          'job.ts',
          '-p',
          '2',
          '--task-managers',
          '2',
          '--args',
          '{"a":"--task-managers"}',
          '--no-progress',
        ],
        runCommand(),
      ),
    ).toEqual(['jobmanager', 'job.ts', '-p', '2', '--args', '{"a":"--task-managers"}', '--no-progress']);
  });

  it('keeps global options before the command, and drops the `=` forms', () => {
    expect(
      jobManagerArgv(
        ['--debug', 'run', '--task-managers=3', 'job.ts', '--slots-per-task-manager', '2', '--args={}'],
        runCommand(),
      ),
    ).toEqual(['--debug', 'jobmanager', 'job.ts', '--args={}']);
  });

  it('passes everything after `--` on as it is', () => {
    expect(
      jobManagerArgv(['run', '--task-managers', '2', '--', 'job.ts', '--task-managers'], runCommand()),
    ).toEqual(['jobmanager', '--', 'job.ts', '--task-managers']);
  });

  it('refuses a command line that is not `run`', () => {
    expect(() => jobManagerArgv(['plan', 'job.ts'], runCommand())).toThrow(/expected the run command/);
  });
});
