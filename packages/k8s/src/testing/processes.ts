/**
 * The testbed's child processes. Each runs in its own process group (so stopping it reaches
 * anything it started) and, where util-linux's `setpriv` is installed, with a parent-death
 * signal, so a test runner killed outright does not leave etcd or an API server behind. Output
 * goes to a log file per component, whose tail is quoted when the component dies early.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { closeSync, existsSync, openSync, readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { TestbedError } from './testbed-error.ts';

const SETPRIV = '/usr/bin/setpriv';
/** How long a component gets to exit after SIGTERM before it is killed. */
const STOP_GRACE_MS = 10_000;

export class ManagedProcess {
  readonly name: string;
  readonly logFile: string;
  readonly #child: ChildProcess;
  readonly #exited: Promise<void>;
  #exitCode: number | null = null;
  #exitSignal: NodeJS.Signals | null = null;
  #running = true;

  constructor(name: string, command: string, args: readonly string[], logDir: string) {
    this.name = name;
    this.logFile = join(logDir, `${name}.log`);
    const fd = openSync(this.logFile, 'a');
    const [file, argv] = existsSync(SETPRIV)
      ? [SETPRIV, ['--pdeathsig', 'KILL', '--', command, ...args]]
      : [command, [...args]];
    this.#child = spawn(file, argv, { detached: true, stdio: ['ignore', fd, fd] });
    closeSync(fd);
    this.#exited = new Promise((resolve) => {
      this.#child.once('exit', (code, signal) => {
        this.#running = false;
        this.#exitCode = code;
        this.#exitSignal = signal;
        resolve();
      });
      this.#child.once('error', () => {
        this.#running = false;
        resolve();
      });
    });
    liveProcesses.add(this);
  }

  get pid(): number | undefined {
    return this.#child.pid;
  }

  get running(): boolean {
    return this.#running;
  }

  /** The exit code, once it has exited (null before, or when a signal ended it). */
  get exitCode(): number | null {
    return this.#exitCode;
  }

  /** Throws, quoting the log's tail, when the process has already exited. */
  assertRunning(): void {
    if (this.#running) return;
    throw new TestbedError(
      `${this.name} exited (code ${this.#exitCode}, signal ${this.#exitSignal}); last lines of ${this.logFile}:\n${this.logTail()}`,
    );
  }

  logTail(lines = 30): string {
    try {
      return readFileSync(this.logFile, 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
    } catch {
      return '(no log)';
    }
  }

  /** SIGTERM to the process group, SIGKILL after a grace period; resolves once it has exited. */
  async stop(): Promise<void> {
    if (this.#running) {
      this.#signalGroup('SIGTERM');
      let timer: NodeJS.Timeout | undefined;
      const killed = new Promise<void>((resolve) => {
        timer = setTimeout(() => {
          this.#signalGroup('SIGKILL');
          resolve();
        }, STOP_GRACE_MS);
      });
      await Promise.race([this.#exited, killed]);
      clearTimeout(timer);
      await this.#exited;
    }
    // Whatever the component started in its group goes too.
    this.#signalGroup('SIGKILL');
    liveProcesses.delete(this);
  }

  killNow(): void {
    this.#signalGroup('SIGKILL');
  }

  #signalGroup(signal: NodeJS.Signals): void {
    const pid = this.#child.pid;
    if (pid === undefined) return;
    try {
      process.kill(-pid, signal);
    } catch {
      // ESRCH: the group is gone already.
    }
  }
}

/** Every component not yet stopped, killed synchronously if the runner exits without stopping them. */
const liveProcesses = new Set<ManagedProcess>();
process.once('exit', () => {
  for (const child of liveProcesses) child.killNow();
});

/** A port free on 127.0.0.1 at the time of asking (the kernel's pick for port 0). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address !== null ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}
