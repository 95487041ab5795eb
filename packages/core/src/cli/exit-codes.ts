import { constants } from 'node:os';
import { CommanderError } from 'commander';
import { SluiceError } from '../errors.ts';

/**
 * The exit status of `sluice`, in one place: scripts and CI branch on it, and `sluice --help` and
 * docs/cli.md list it. The line between 1 and 2 is whether the job started: 2 says "fix the
 * command line or what it names", 1 says "it ran and something went wrong".
 */
export const ExitCode = {
  ok: 0,
  /** The job failed while running (after its restarts), a savepoint asked for by signal failed, or anything unexpected. */
  failed: 1,
  /** Nothing ran: a bad command, flag or value, a job module that does not load, a plan that cannot run. */
  usage: 2,
} as const;

/**
 * Codes of errors that mean the command line (or a file it names) is wrong, when raised before
 * the job starts. The same codes after the start are the job failing: exit 1.
 */
const USAGE_CODES: ReadonlySet<string> = new Set([
  'SLUICE_CONFIG',
  'SLUICE_PLAN',
  'SLUICE_CHECKPOINT_NOT_FOUND',
  'SLUICE_CHECKPOINT_CORRUPT',
  'SLUICE_CHECKPOINT_JOB_MISMATCH',
]);

export function exitCodeFor(error: unknown, jobStarted: boolean): number {
  // Commander has printed its message (or the help) already; exit code 0 is --help and --version.
  if (error instanceof CommanderError) return error.exitCode === 0 ? ExitCode.ok : ExitCode.usage;
  if (!jobStarted && error instanceof SluiceError && USAGE_CODES.has(error.code)) return ExitCode.usage;
  return ExitCode.failed;
}

/** What a shell reports for a process that ended on `signal`: 128 + its number (SIGINT 130, SIGTERM 143). */
export function signalExitCode(signal: NodeJS.Signals): number {
  return 128 + constants.signals[signal];
}

/** The table in `sluice --help`; docs/cli.md says the same at more length. */
export const EXIT_CODES_HELP = `
Exit codes:
  0    success (for run: the bounded job finished, or run --web: it was
       cancelled or stopped through the REST API)
  1    the job failed while running (after its restarts), or a savepoint asked
       for by SIGUSR2/SIGINT/SIGTERM failed, or an unexpected error
  2    nothing ran: unknown command or flag, a bad or out-of-range value, a job
       module that is missing, does not load or has no default job, a plan that
       cannot run, a --restore folder that is missing or unusable, a
       --checkpoint-dir holding another job's checkpoints
  130  run --savepoint-dir: stopped by SIGINT after a savepoint was written
  143  run --savepoint-dir: stopped by SIGTERM after a savepoint was written
       (no savepoint within --savepoint-timeout: the job stops all the same, exit 1)
  Without --savepoint-dir, SIGINT/SIGTERM end the process at once (no savepoint);
  the shell reports 130/143.`;
