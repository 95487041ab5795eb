/**
 * For tests that run a job on a cluster of processes, as an operator (or Kubernetes) would: a
 * `sluice jobmanager` and `sluice taskmanager` processes started from the CLI, killed and started
 * again with the same command. The job manager logs JSON lines (pino's format) at debug level, so
 * that a test can wait for what the job manager says it did (`attempt-deployed`,
 * `task-manager-lost`) instead of sleeping.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { appendFileSync } from 'node:fs';
import { readdir, readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { connect, createServer, type Server, type Socket } from 'node:net';
import { dirname, join } from 'node:path';

export const SLUICE_BIN = join(
  dirname(createRequire(import.meta.url).resolve('@sluice/core/package.json')),
  'src/cli/bin.ts',
);

/** A hang guard for the job manager's noticing a killed task manager (it takes milliseconds: the kernel closes the connection). */
const DETECTION_GUARD_MS = 60_000;
/** A hang guard per process, generous: a loaded machine may take long to start Node and its threads. */
const PROCESS_GUARD_MS = 600_000;

export interface Exit {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
}

/** One JSON log line of a process (pino's fields, and Sluice's `event`). */
export interface LogLine {
  readonly time: number;
  readonly level: number;
  readonly event?: string;
  readonly msg: string;
  readonly [field: string]: unknown;
}

/** A `sluice` process started by a test. */
export class SluiceProcess {
  readonly child: ChildProcess;
  readonly name: string;
  #stderr = '';
  readonly #lines: LogLine[] = [];
  readonly exited: Promise<Exit>;
  #exit: Exit | undefined;
  readonly #waiters = new Set<() => void>();

  constructor(name: string, args: readonly string[], env: NodeJS.ProcessEnv) {
    this.name = name;
    this.child = spawn(process.execPath, [SLUICE_BIN, ...args], {
      env: { ...process.env, ...env },
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let partial = '';
    // SLUICE_TEST_LOG_DIR keeps every process's stderr in a file there, for a failure to be read later.
    const logDir = process.env.SLUICE_TEST_LOG_DIR;
    const logFile =
      logDir === undefined
        ? undefined
        : join(logDir, `${name.replace(/[^A-Za-z0-9]+/g, '-')}-${this.child.pid}.log`);
    this.child.stderr!.setEncoding('utf8').on('data', (chunk: string) => {
      this.#stderr += chunk;
      if (logFile !== undefined) appendFileSync(logFile, chunk);
      partial += chunk;
      const lines = partial.split('\n');
      partial = lines.pop()!;
      for (const line of lines) {
        if (!line.startsWith('{')) continue;
        try {
          this.#lines.push(JSON.parse(line) as LogLine);
        } catch {
          // A line that is not JSON (a stack trace from Node itself) stays in stderr only.
        }
      }
      this.#wake();
    });
    this.exited = new Promise<Exit>((resolve) => {
      // A hung process is killed, and its exit (SIGKILL) fails whoever expected another.
      const guard = setTimeout(() => {
        this.#stderr += `\n[test: ${name} did not end within ${PROCESS_GUARD_MS} ms; killed]\n`;
        this.child.kill('SIGKILL');
      }, PROCESS_GUARD_MS);
      guard.unref();
      this.child.on('error', (error) => {
        this.#stderr += `\n[test: ${error.message}]\n`;
      });
      this.child.on('close', (code, signal) => {
        clearTimeout(guard);
        this.#exit = { code, signal };
        resolve(this.#exit);
        this.#wake();
      });
    });
  }

  get pid(): number {
    return this.child.pid!;
  }

  get stderr(): string {
    return this.#stderr;
  }

  get lines(): readonly LogLine[] {
    return this.#lines;
  }

  /** Set once the process has exited. */
  get exit(): Exit | undefined {
    return this.#exit;
  }

  /** SIGKILL, and resolves once the process is gone; true when the kill (not an exit before it) ended it. */
  async kill(): Promise<boolean> {
    if (this.#exit !== undefined) return false;
    this.child.kill('SIGKILL');
    return (await this.exited).signal === 'SIGKILL';
  }

  /** Resolves once a log line matches (true), or false once the process exited first. */
  async awaitLine(match: (line: LogLine) => boolean, from = 0): Promise<boolean> {
    for (let i = from; ; ) {
      for (; i < this.#lines.length; i++) if (match(this.#lines[i]!)) return true;
      if (this.#exit !== undefined) return false;
      await new Promise<void>((resolve) => this.#waiters.add(resolve));
    }
  }

  #wake(): void {
    for (const wake of [...this.#waiters]) wake();
    this.#waiters.clear();
  }
}

/** A secret for one test's cluster, handed to its processes in their environment. */
export function clusterSecret(): string {
  return randomBytes(32).toString('hex');
}

/** A port free now (the job manager is started again on the same one after each kill). */
export async function freePort(host = '127.0.0.1'): Promise<number> {
  const [port] = await freePorts(1, host);
  return port!;
}

/** `count` different ports free now: all are held until the last is found, so none repeats. */
export async function freePorts(count: number, host = '127.0.0.1'): Promise<number[]> {
  const servers: Server[] = [];
  try {
    for (let i = 0; i < count; i++) {
      const server = createServer();
      servers.push(server);
      await new Promise<void>((resolve, reject) => {
        server.once('error', reject);
        server.listen(0, host, () => resolve());
      });
    }
    return servers.map((server) => (server.address() as { port: number }).port);
  } finally {
    await Promise.all(servers.map((server) => new Promise<void>((resolve) => server.close(() => resolve()))));
  }
}

/** A seeded generator (mulberry32): kill points vary between runs only with the seed. */
export function random(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Polls `condition` every 10 ms until it holds (true), or until `stop` holds first (false). */
export async function until(
  condition: () => Promise<boolean> | boolean,
  stop: () => boolean,
): Promise<boolean> {
  while (!stop()) {
    if (await condition()) return true;
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  return false;
}

/** The newest completed checkpoint, as the job manager's `_latest` pointer names it (0: none yet). */
export async function latestCheckpoint(checkpointDir: string): Promise<number> {
  try {
    const pointer = JSON.parse(await readFile(join(checkpointDir, '_latest'), 'utf8')) as {
      checkpointId?: unknown;
    };
    return typeof pointer.checkpointId === 'number' ? pointer.checkpointId : 0;
  } catch {
    // Not written yet (or being replaced: the rename is atomic, a read in between finds the old one).
    return 0;
  }
}

/** The highest `chk-<n>` folder: a checkpoint started, completed or not. */
export async function newestCheckpointFolder(checkpointDir: string): Promise<number> {
  const names = await readdir(checkpointDir).catch(() => [] as string[]);
  let newest = 0;
  for (const name of names) {
    const match = /^chk-(\d+)$/.exec(name);
    if (match !== null) newest = Math.max(newest, Number(match[1]));
  }
  return newest;
}

/** The file sink's visible (committed) files, and their lines. */
export async function committedLines(directory: string): Promise<{ files: string[]; lines: string[] }> {
  const names = await readdir(directory).catch(() => [] as string[]);
  const files = names.filter((name) => !name.startsWith('.')).sort();
  const lines: string[] = [];
  for (const file of files) {
    const text = await readFile(join(directory, file), 'utf8').catch(() => '');
    if (text.length > 0) lines.push(...text.slice(0, -1).split('\n'));
  }
  return { files, lines };
}

/** The plain loop: how `lines` differ from the numbers `0` to `count - 1`, each once. */
export function exactness(
  lines: readonly string[],
  count: number,
): { duplicated: number; missing: number; unexpected: number; lines: number } {
  const seen = new Map<string, number>();
  for (const line of lines) seen.set(line, (seen.get(line) ?? 0) + 1);
  let duplicated = 0;
  for (const n of seen.values()) if (n > 1) duplicated++;
  let missing = 0;
  for (let i = 0; i < count; i++) if (!seen.has(String(i))) missing++;
  let unexpected = 0;
  for (const line of seen.keys()) {
    const n = Number(line);
    if (!(Number.isInteger(n) && n >= 0 && n < count && String(n) === line)) unexpected++;
  }
  return { duplicated, missing, unexpected, lines: lines.length };
}

export interface ProcessClusterOptions {
  /** The job module's path. */
  readonly job: string;
  readonly jobArgs: unknown;
  readonly parallelism: number;
  /** Task managers of one slot each, `tm0`, `tm1`, ... */
  readonly taskManagers: number;
  readonly checkpointDir: string;
  readonly checkpointIntervalMs: number;
  /** More flags for the job manager (`--health-port ...`). */
  readonly jobManagerArgs?: readonly string[];
  /** More flags for task manager `index` (`--data-port ...`). */
  readonly taskManagerArgs?: (index: number) => readonly string[];
  /** The job manager's control port (default: one free now). */
  readonly port?: number;
  /** Where task manager `index` dials the job manager (default: the job manager's port; a proxy's otherwise). */
  readonly jobManagerAddressFor?: (index: number, port: number) => string;
}

/**
 * A job manager and task managers, each a `sluice` process, started again with the same command
 * after a kill (as Kubernetes restarts a pod). Every process ever started is kept, for the logs.
 */
export class ProcessCluster {
  readonly options: ProcessClusterOptions;
  readonly port: number;
  readonly secret = clusterSecret();
  /** Every job manager process started, the current one last. */
  readonly jobManagers: SluiceProcess[] = [];
  /** The current process of each task manager. */
  readonly taskManagers: SluiceProcess[] = [];
  readonly #all: SluiceProcess[] = [];

  private constructor(options: ProcessClusterOptions, port: number) {
    this.options = options;
    this.port = port;
  }

  static async start(options: ProcessClusterOptions): Promise<ProcessCluster> {
    const cluster = new ProcessCluster(options, options.port ?? (await freePort()));
    cluster.startJobManager();
    for (let i = 0; i < options.taskManagers; i++) cluster.startTaskManager(i);
    return cluster;
  }

  get jobManager(): SluiceProcess {
    return this.jobManagers[this.jobManagers.length - 1]!;
  }

  /** Starts the job manager with the same command every time. */
  startJobManager(): SluiceProcess {
    const { options } = this;
    const jobManager = new SluiceProcess(
      `jobmanager #${this.jobManagers.length}`,
      [
        'jobmanager',
        options.job,
        '-p',
        String(options.parallelism),
        '--port',
        String(this.port),
        '--checkpoint-dir',
        options.checkpointDir,
        '--checkpoint-interval',
        String(options.checkpointIntervalMs),
        // Every kill of a task manager is a restart: more than the default 10 in one job manager's life.
        '--restart-attempts',
        '1000',
        '--args',
        JSON.stringify(options.jobArgs),
        '--log-level',
        'debug',
        '--log-format',
        'json',
        ...(options.jobManagerArgs ?? []),
      ],
      { SLUICE_CLUSTER_SECRET: this.secret },
    );
    this.jobManagers.push(jobManager);
    this.#all.push(jobManager);
    return jobManager;
  }

  startTaskManager(index: number): SluiceProcess {
    const address = this.options.jobManagerAddressFor?.(index, this.port) ?? `127.0.0.1:${this.port}`;
    const taskManager = new SluiceProcess(
      `taskmanager tm${index}`,
      [
        'taskmanager',
        '--jobmanager',
        address,
        '--id',
        `tm${index}`,
        '--slots',
        '1',
        '--reconnect-interval',
        '50',
        '--log-level',
        process.env.SLUICE_TEST_LOG_DIR === undefined ? 'info' : 'debug',
        '--log-format',
        'json',
        ...(this.options.taskManagerArgs?.(index) ?? []),
      ],
      { SLUICE_CLUSTER_SECRET: this.secret },
    );
    this.taskManagers[index] = taskManager;
    this.#all.push(taskManager);
    return taskManager;
  }

  /** The task managers' exits, once the job ended ('running' for one still running after the guard). */
  async taskManagerExits(guardMs = 60_000): Promise<Array<Exit | 'running'>> {
    const guard = new Promise<'running'>((resolve) => setTimeout(() => resolve('running'), guardMs).unref());
    return Promise.all(this.taskManagers.map((tm) => Promise.race([tm.exited, guard])));
  }

  /**
   * The job manager or a task manager has exited (the job ended, or a process died that nobody
   * killed): what a test waits for will not come.
   */
  stopped(): boolean {
    return this.jobManager.exit !== undefined || this.taskManagers.some((tm) => tm.exit !== undefined);
  }

  /** Log lines of every job manager so far with this event. */
  events(event: string): LogLine[] {
    return this.jobManagers.flatMap((jm) => jm.lines.filter((line) => line.event === event));
  }

  /** The stderr of every process, for a failure message. */
  describe(): string {
    return this.#all
      .map(
        (p) =>
          `--- ${p.name} (pid ${p.pid}, ${p.exit === undefined ? 'running' : JSON.stringify(p.exit)})\n${p.stderr.slice(-6000)}`,
      )
      .join('\n');
  }

  /** Kills whatever still runs (after a failed test). */
  async stop(): Promise<void> {
    await Promise.all(this.#all.map((p) => p.kill()));
  }
}

export interface KillStormOptions {
  readonly taskManagerKills: number;
  readonly jobManagerKills: number;
  readonly seed: number;
  /** Output committed so far (the file sink's files); kills are also chosen by its growth when given. */
  readonly committed?: () => Promise<number>;
}

export interface KillStormReport {
  /** What triggered each kill, and whom it killed. */
  readonly kills: string[];
  readonly taskManagerKills: number;
  readonly jobManagerKills: number;
  /** Per task-manager kill: ms from the kill to the job manager's `task-manager-lost` line, and its reason. */
  readonly detections: { readonly ms: number; readonly reason: string }[];
}

/**
 * SIGKILLs task managers and the job manager, one at a time, in a seeded order, each at a point
 * chosen by what the test observes — a checkpoint completed (`_latest`), a checkpoint started (a
 * new `chk-<n>` folder), an attempt deployed (a job manager's line: the kill lands while the
 * tasks restore), new output committed — never after a sleep; each killed process is started
 * again with the same command. Returns early when the job manager ends the job before the storm
 * is over (the caller's kill counts then fail).
 */
export async function killStorm(
  cluster: ProcessCluster,
  options: KillStormOptions,
): Promise<KillStormReport> {
  const next = random(options.seed);
  const targets: Array<'jm' | 'tm'> = [
    ...Array<'jm'>(options.jobManagerKills).fill('jm'),
    ...Array<'tm'>(options.taskManagerKills).fill('tm'),
  ];
  // Fisher-Yates with the seeded generator; a job manager kill is never the first (the job must have run).
  for (let i = targets.length - 1; i > 0; i--) {
    const j = Math.floor(next() * (i + 1));
    [targets[i], targets[j]] = [targets[j]!, targets[i]!];
  }
  if (targets[0] === 'jm') {
    const tm = targets.indexOf('tm');
    [targets[0], targets[tm]] = [targets[tm]!, targets[0]!];
  }
  const report = {
    kills: [] as string[],
    taskManagerKills: 0,
    jobManagerKills: 0,
    detections: [] as { ms: number; reason: string }[],
  };
  const { checkpointDir } = cluster.options;
  for (const target of targets) {
    const jobManager = cluster.jobManager;
    const ended = (): boolean => cluster.stopped();
    const latest = await latestCheckpoint(checkpointDir);
    const folder = Math.max(latest, await newestCheckpointFolder(checkpointDir));
    const deployed = cluster.events('attempt-deployed').length;
    const committedBefore = (await options.committed?.()) ?? 0;
    const choice = next();
    let trigger: string;
    let reached: boolean;
    if (choice < 0.3) {
      trigger = 'checkpoint completed';
      reached = await until(async () => (await latestCheckpoint(checkpointDir)) > latest, ended);
    } else if (choice < 0.55) {
      trigger = 'checkpoint started';
      reached = await until(async () => (await newestCheckpointFolder(checkpointDir)) > folder, ended);
    } else if (choice < 0.75 || options.committed === undefined) {
      trigger = 'attempt deployed';
      reached = await until(() => cluster.events('attempt-deployed').length > deployed, ended);
    } else {
      const wanted = 1 + Math.floor(next() * 3);
      trigger = `${wanted} more committed`;
      reached = await until(async () => (await options.committed!()) >= committedBefore + wanted, ended);
    }
    if (!reached) break;
    if (target === 'jm') {
      if (!(await jobManager.kill())) break;
      report.jobManagerKills++;
      report.kills.push(`${trigger}: job manager`);
      cluster.startJobManager();
      continue;
    }
    const index = Math.floor(next() * cluster.taskManagers.length);
    const taskManager = cluster.taskManagers[index]!;
    const pid = taskManager.pid;
    // Only a task manager the job manager knows can be found lost. The trigger can come while the
    // chosen one is still starting, or not yet back at a restarted job manager (a checkpoint
    // folder written late by the attempt that ended): it is killed once it has registered.
    const registered = (line: LogLine): boolean =>
      line.event === 'task-manager-registered' && line.msg.includes(`(pid ${pid})`);
    if (!(await jobManager.awaitLine(registered))) break;
    const from = jobManager.lines.length;
    const killedAtMs = Date.now();
    if (!(await taskManager.kill())) {
      throw new Error(
        `tm${index} had exited before it was killed: ${JSON.stringify(taskManager.exit)}\n${cluster.describe()}`,
      );
    }
    report.taskManagerKills++;
    report.kills.push(`${trigger}: tm${index}`);
    // The job manager must notice the loss before the task manager comes back (a new process of
    // the same id would otherwise replace the old connection before it is found dead).
    const lost = (line: LogLine): boolean =>
      line.event === 'task-manager-lost' && line.msg.includes(`(pid ${pid})`);
    const noticed = await Promise.race([
      jobManager.awaitLine(lost, from),
      new Promise<'hung'>((resolve) => setTimeout(() => resolve('hung'), DETECTION_GUARD_MS).unref()),
    ]);
    if (noticed !== true) {
      throw new Error(
        `the job manager ${noticed === 'hung' ? `did not notice within ${DETECTION_GUARD_MS} ms` : 'ended without noticing'} the loss of tm${index}\n${cluster.describe()}`,
      );
    }
    const line = jobManager.lines.find(lost)!;
    report.detections.push({ ms: line.time - killedAtMs, reason: line.msg });
    cluster.startTaskManager(index);
  }
  return report;
}

/**
 * A TCP proxy between two processes of a cluster (a task manager's data port, or the job
 * manager's control port): it carries every connection made to it, counts what it carried, and
 * cuts every connection it carries at once with a reset, as a failing network would.
 */
export class CuttingProxy {
  readonly #server: Server;
  readonly #sockets = new Set<Socket>();
  /** Bytes carried, both ways, over all connections. */
  bytes = 0;
  /** Connections accepted. */
  connections = 0;
  /** Connections cut by {@link cut}. */
  cutConnections = 0;

  private constructor(server: Server) {
    this.#server = server;
  }

  /** Listens on `listen` and carries each connection to `target`. */
  static async start(
    listen: { readonly host: string; readonly port: number },
    target: { readonly host: string; readonly port: number },
  ): Promise<CuttingProxy> {
    let proxy: CuttingProxy | undefined;
    const server = createServer((client) => proxy!.#carry(client, target));
    proxy = new CuttingProxy(server);
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(listen.port, listen.host, () => resolve());
    });
    return proxy;
  }

  get port(): number {
    return (this.#server.address() as { port: number }).port;
  }

  /** Connections carried now. */
  get open(): number {
    return this.#sockets.size / 2;
  }

  #carry(client: Socket, target: { readonly host: string; readonly port: number }): void {
    this.connections++;
    const upstream = connect(target.port, target.host);
    this.#sockets.add(client);
    this.#sockets.add(upstream);
    client.on('error', () => {});
    upstream.on('error', () => {});
    client.on('data', (chunk: Buffer) => {
      this.bytes += chunk.byteLength;
      upstream.write(chunk);
    });
    upstream.on('data', (chunk: Buffer) => {
      this.bytes += chunk.byteLength;
      client.write(chunk);
    });
    const close = (): void => {
      this.#sockets.delete(client);
      this.#sockets.delete(upstream);
      client.destroy();
      upstream.destroy();
    };
    client.on('close', close);
    upstream.on('close', close);
  }

  /** Resets every connection carried now, both ends. */
  cut(): void {
    this.cutConnections += this.open;
    for (const socket of [...this.#sockets]) socket.resetAndDestroy();
    this.#sockets.clear();
  }

  close(): Promise<void> {
    this.cut();
    return new Promise((resolve) => this.#server.close(() => resolve()));
  }
}
