/**
 * Runs one measurement (`contestant.ts`) in a fresh child process and returns its result: every
 * contestant starts from the same empty process (see contestant.ts). Shared by the suite
 * (`bench.ts`) and the benchmarks that also run alone (`cluster.ts`).
 */
import { fork } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { ContestantResult, ContestantSpec } from './contestant.ts';

export function label(spec: ContestantSpec): string {
  if (spec.kind !== 'sluice') return `${spec.query} ${spec.kind}`;
  const where =
    spec.cluster === undefined
      ? ''
      : `, ${spec.cluster.taskManagers} task managers x ${spec.cluster.slotsPerTaskManager} slot`;
  return `${spec.query} sluice p=${spec.parallelism} (${spec.output}${where})`;
}

export function runChild(spec: ContestantSpec, timeoutMs = 20 * 60_000): Promise<ContestantResult> {
  return new Promise((resolve, reject) => {
    const child = fork(
      fileURLToPath(new URL('contestant.ts', import.meta.url)),
      ['--contestant', JSON.stringify(spec)],
      {
        stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
        // Warnings and errors only (a cluster's job manager logs at info where it listens),
        // unless the caller asked for a level.
        env: { SLUICE_LOG_LEVEL: 'warn', ...process.env },
      },
    );
    let settled = false;
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      finish(new Error(`${label(spec)}: no result after ${timeoutMs} ms`));
    }, timeoutMs);
    const finish = (error: Error | undefined, result?: ContestantResult): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      if (error === undefined) resolve(result!);
      else reject(error);
    };
    child.on('message', (message: { ok: boolean; result?: ContestantResult; error?: string }) => {
      if (message.ok) finish(undefined, message.result);
      else finish(new Error(`${label(spec)} failed:\n${message.error}`));
    });
    child.on('error', (error) => finish(error));
    child.on('exit', (code, signal) => {
      finish(new Error(`${label(spec)}: the child process exited (${signal ?? code}) without a result`));
    });
  });
}
