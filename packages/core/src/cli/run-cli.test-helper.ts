import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';

/** For tests: the `sluice` command from the sources, as a child process of its own. */
const BIN = fileURLToPath(new URL('./bin.ts', import.meta.url));

export interface CliOutcome {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly stdout: string;
  readonly stderr: string;
}

export interface CliOptions {
  readonly cwd?: string;
  /** Added to the environment; SLUICE_DEBUG is removed unless given here. */
  readonly env?: Record<string, string>;
  /** Called with all of stderr so far whenever more arrives (e.g. to signal the process). */
  readonly onStderr?: (stderr: string, pid: number) => void;
  /** Generous by default: a loaded machine may take long to start Node and worker threads. */
  readonly timeoutMs?: number;
}

/** Runs `sluice ...args` with stdout and stderr as pipes; resolves when it has exited. */
export function runCli(args: readonly string[], options: CliOptions = {}): Promise<CliOutcome> {
  const timeoutMs = options.timeoutMs ?? 120_000;
  const env: NodeJS.ProcessEnv = { ...process.env, ...options.env };
  if (options.env?.SLUICE_DEBUG === undefined) delete env.SLUICE_DEBUG;
  const child = spawn(process.execPath, [BIN, ...args], {
    cwd: options.cwd,
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
    stdout += chunk;
  });
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => {
    stderr += chunk;
    options.onStderr?.(stderr, child.pid!);
  });
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`sluice ${args.join(' ')} did not end within ${timeoutMs} ms\n${stderr}`));
    }, timeoutMs);
    child.on('error', reject);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr });
    });
  });
}
