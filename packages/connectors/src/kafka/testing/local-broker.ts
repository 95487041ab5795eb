import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, rmSync } from 'node:fs';
import { mkdir, mkdtemp, readdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { homedir, hostname, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { pathToFileURL } from 'node:url';
import { ConfigError, SluiceError } from '@sluice/core';
import { Kafka, logLevel } from 'kafkajs';

/**
 * A single-node Apache Kafka broker (KRaft, broker and controller in one JVM) on 127.0.0.1, for
 * tests and demos. Needs Java 11+ on the PATH, and Maven the first time, to fetch the jars.
 */
export interface LocalKafka {
  /** The bootstrap address for clients: `127.0.0.1:PORT`. */
  readonly brokers: string;
  /**
   * Settles when the broker process exits, for whatever reason (after `stop()`, or on its own,
   * which is a crash: then `output` holds its last lines).
   */
  readonly exited: Promise<LocalKafkaExit>;
  /** Stops the broker (SIGTERM, SIGKILL after 20 s) and removes its temporary log directory. Idempotent. */
  stop(): Promise<void>;
}

export interface LocalKafkaExit {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly output: string;
}

export interface LocalKafkaOptions {
  /** The client (PLAINTEXT) port; a free one by default. */
  readonly port?: number;
  /**
   * Where the broker keeps its config, data and `broker.log`. By default a fresh temporary
   * directory, removed by `stop()`. A directory given here is kept, and reused as it is when
   * started again: its data survives (it is formatted only when it holds no storage yet).
   */
  readonly logDir?: string;
  /** Gets every line Maven and the broker print (the broker prints WARN and above). Quiet by default. */
  readonly log?: (line: string) => void;
  /** How long the broker may take to answer, from launching the JVM (default 90 s). Jars are fetched before. */
  readonly startTimeoutMs?: number;
}

/**
 * Fetching the jars, or starting the broker, failed; the message holds the failing tool's last
 * lines of output (Maven's, the storage formatter's or the broker's).
 */
export class LocalKafkaError extends SluiceError {
  /** The exit code of the process that failed, when it exited. */
  readonly exitCode: number | null;
  /** The log directory of the broker, or the jar cache for download errors. */
  readonly directory: string;

  constructor(message: string, directory: string, exitCode: number | null, options?: { cause?: unknown }) {
    super('SLUICE_LOCAL_KAFKA', message, options);
    this.directory = directory;
    this.exitCode = exitCode;
  }
}

export const KAFKA_VERSION = '3.9.1';
const SCALA_VERSION = '2.13';
const SLF4J_RELOAD4J_VERSION = '1.7.36';

const START_TIMEOUT_MS_DEFAULT = 90_000;
const STOP_GRACE_MS = 20_000;
/** Maven resolves ~60 jars; a slow mirror may take minutes, but not this long. */
const MAVEN_TIMEOUT_MS = 15 * 60_000;
const STORAGE_FORMAT_TIMEOUT_MS = 60_000;
/** Lines of output kept for error messages. */
const TAIL_LINES = 40;
/**
 * A download lock older than this is stale even if its pid is alive: the pid may have been reused,
 * and no download takes this long (MAVEN_TIMEOUT_MS kills Maven before).
 */
const LOCK_STALE_MS = MAVEN_TIMEOUT_MS + 60_000;
/** A lock directory without its owner file is a process that died between mkdir and writeFile. */
const LOCK_OWNERLESS_STALE_MS = 30_000;
const LOCK_POLL_MS = 500;

/**
 * Starts a broker and resolves once it answers a `describeCluster` request. When it exits first,
 * or does not answer within `startTimeoutMs`, it is killed and the promise rejects with a
 * `LocalKafkaError` holding the exit code and its last lines of output.
 *
 * The broker is killed (SIGKILL) when this Node process exits without stopping it, and a small
 * shell watchdog stops it when this process dies of a signal, which runs no 'exit' handler.
 *
 * @example
 * const kafka = await startLocalKafka();
 * try {
 *   const client = new Kafka({ brokers: [kafka.brokers] });
 *   // ...
 * } finally {
 *   await kafka.stop();
 * }
 */
export async function startLocalKafka(options: LocalKafkaOptions = {}): Promise<LocalKafka> {
  const log = options.log ?? (() => {});
  const { port: fixedPort, startTimeoutMs = START_TIMEOUT_MS_DEFAULT } = options;
  if (fixedPort !== undefined && !(Number.isInteger(fixedPort) && fixedPort > 0 && fixedPort < 65536)) {
    throw new ConfigError(
      `startLocalKafka: option "port" must be an integer in 1..65535, got ${String(fixedPort)}`,
    );
  }
  if (!(typeof startTimeoutMs === 'number' && startTimeoutMs > 0)) {
    throw new ConfigError(
      `startLocalKafka: option "startTimeoutMs" must be a positive number, got ${String(startTimeoutMs)}`,
    );
  }
  const libs = await fetchKafkaJars(log);

  const ownsLogDir = options.logDir === undefined;
  const logDir =
    options.logDir === undefined ? await mkdtemp(join(tmpdir(), 'sluice-kafka-')) : resolve(options.logDir);
  const watchdog = startWatchdog(ownsLogDir ? logDir : '');
  // Also on 'exit': runs after the entries of the processes (added later), which it outlives.
  const cleanup = {
    kill: () => {
      watchdog.dispose();
      if (ownsLogDir) rmSync(logDir, { recursive: true, force: true, maxRetries: 3 });
    },
  };
  running.add(cleanup);
  killAllOnExit();
  const removeLogDir = async () => {
    watchdog.dispose();
    running.delete(cleanup);
    if (ownsLogDir) await rm(logDir, { recursive: true, force: true, maxRetries: 3 });
  };

  try {
    await mkdir(join(logDir, 'data'), { recursive: true });
    const port = fixedPort ?? (await freePort());
    const controllerPort = await freePort([port]);
    const config = join(logDir, 'server.properties');
    const log4j = join(logDir, 'log4j.properties');
    await writeFile(config, serverProperties(logDir, port, controllerPort));
    await writeFile(log4j, log4jProperties(join(logDir, 'broker.log')));
    const jvmBase = ['-cp', join(libs, '*'), `-Dlog4j.configuration=${pathToFileURL(log4j).href}`];

    // A reused directory keeps its data and cluster id: it is not formatted again (Kafka's own
    // `--ignore-formatted` still insists that the cluster id given matches the stored one).
    if (!existsSync(join(logDir, 'data', 'meta.properties'))) {
      await runTool(
        'java',
        [...jvmBase, 'kafka.tools.StorageTool', 'format', '-t', randomClusterId(), '-c', config],
        {
          cwd: logDir,
          timeoutMs: STORAGE_FORMAT_TIMEOUT_MS,
          log,
          what: 'formatting the Kafka storage',
          onSpawn: (pid) => watchdog.watch(pid),
        },
      );
    }

    // The serial collector: a test broker's heap is small, and G1's threads would compete with
    // the tests for the cores of a small CI machine.
    const broker = launchBroker(
      [...jvmBase, '-Xmx512m', '-XX:+UseSerialGC', 'kafka.Kafka', config],
      logDir,
      log,
    );
    if (broker.pid !== undefined) watchdog.watch(broker.pid);
    // The watchdog must not outlive a broker that exited on its own: it would signal its pid,
    // which may be reused by then.
    void broker.exited.then(() => watchdog.dispose());
    const brokers = `127.0.0.1:${port}`;
    try {
      await waitUntilReady(
        brokers,
        broker,
        startTimeoutMs,
        logDir,
        ownsLogDir ? `temporary log dir ${logDir}, removed` : `log dir ${logDir}`,
      );
    } catch (error) {
      await broker.kill();
      throw error;
    }
    // A program that forgets `stop()` still exits; its 'exit' handler kills the broker.
    broker.unref();
    let stopping: Promise<void> | undefined;
    const stop = () => {
      stopping ??= broker.stop().then(removeLogDir);
      return stopping;
    };
    return { brokers, exited: broker.exited, stop };
  } catch (error) {
    await removeLogDir();
    throw error;
  }
}

// --- The jars: fetched once by Maven into a cache shared by all processes -----------------------

/** `SLUICE_KAFKA_CACHE`, or `~/.cache/sluice-kafka/<version>`. */
export function kafkaCacheDir(): string {
  const override = process.env.SLUICE_KAFKA_CACHE;
  return override !== undefined && override.length > 0
    ? resolve(override)
    : join(homedir(), '.cache', 'sluice-kafka', KAFKA_VERSION);
}

interface CacheMarker {
  readonly kafka: string;
  readonly jars: readonly string[];
}

/**
 * Returns the directory holding the broker's jars, fetching them first when the cache has none.
 *
 * The marker file is written last, after Maven succeeded and its output directory was renamed into
 * place, so a download that was interrupted never counts as cached. Maven writes into a directory
 * of its own per process, so even two downloads racing past a broken lock cannot mix their files.
 */
async function fetchKafkaJars(log: (line: string) => void): Promise<string> {
  const cache = kafkaCacheDir();
  const libs = join(cache, 'libs');
  if (await isCached(cache)) return libs;

  await mkdir(cache, { recursive: true });
  const unlock = await lockCache(cache, log);
  try {
    // Another process may have finished the download while this one waited for the lock.
    if (await isCached(cache)) return libs;
    // Leftovers of downloads whose process died (one killed by a signal leaves Maven running on
    // into its own directory, so only dead pids' directories are removed).
    for (const name of await readdir(cache)) {
      const pid = /^libs\.partial-(\d+)$/.exec(name)?.[1];
      if (pid !== undefined && (Number(pid) === process.pid || !isAlive(Number(pid)))) {
        await rm(join(cache, name), { recursive: true, force: true });
      }
    }
    const partial = join(cache, `libs.partial-${process.pid}`);
    await writeFile(join(cache, 'pom.xml'), POM);
    log(`Fetching Kafka ${KAFKA_VERSION} jars with Maven into ${libs} (once; takes about a minute)`);
    await runTool(
      'mvn',
      [
        '-q',
        '-B',
        '-f',
        join(cache, 'pom.xml'),
        'dependency:copy-dependencies',
        `-DoutputDirectory=${partial}`,
      ],
      { cwd: cache, timeoutMs: MAVEN_TIMEOUT_MS, log, what: `fetching the Kafka jars into ${cache}` },
    );
    const jars = (await readdir(partial)).filter((name) => name.endsWith('.jar')).sort();
    const required = [`kafka_${SCALA_VERSION}-${KAFKA_VERSION}.jar`, `kafka-clients-${KAFKA_VERSION}.jar`];
    const missing = required.filter((jar) => !jars.includes(jar));
    if (missing.length > 0) {
      throw new LocalKafkaError(
        `Maven finished but ${partial} lacks ${missing.join(', ')} (it holds ${jars.length} jars)`,
        cache,
        0,
      );
    }
    // A 'libs' without a marker is the leftover of an older, interrupted attempt.
    await rm(libs, { recursive: true, force: true });
    await rename(partial, libs);
    const marker: CacheMarker = { kafka: KAFKA_VERSION, jars };
    await writeFile(join(cache, `complete.json.tmp-${process.pid}`), JSON.stringify(marker, null, 2));
    await rename(join(cache, `complete.json.tmp-${process.pid}`), join(cache, 'complete.json'));
    return libs;
  } finally {
    await unlock();
  }
}

/**
 * The classpath of the Kafka distribution's command-line tools (`kafka-producer-perf-test.sh`
 * runs `org.apache.kafka.tools.ProducerPerformance` on it, `kafka-consumer-perf-test.sh`
 * `org.apache.kafka.tools.ConsumerPerformance`): the broker's jars and `kafka-tools`, which the
 * broker does not need and Maven fetches once into `<cache>/tools`. For benchmarks that measure
 * the JVM client beside Sluice on the same broker.
 */
export async function kafkaToolsClasspath(options: { log?: (line: string) => void } = {}): Promise<string> {
  const log = options.log ?? (() => {});
  const libs = await fetchKafkaJars(log);
  const cache = kafkaCacheDir();
  const tools = join(cache, 'tools');
  const jar = join(tools, `kafka-tools-${KAFKA_VERSION}.jar`);
  if (!existsSync(jar)) {
    // Into a directory of this process, renamed into place whole: a racing or killed download
    // never leaves a partial jar where the check above would take it for a finished one.
    const partial = join(cache, `tools.partial-${process.pid}`);
    await rm(partial, { recursive: true, force: true });
    log(`Fetching kafka-tools ${KAFKA_VERSION} with Maven into ${tools}`);
    await runTool(
      'mvn',
      [
        '-q',
        '-B',
        'dependency:copy',
        `-Dartifact=org.apache.kafka:kafka-tools:${KAFKA_VERSION}`,
        `-DoutputDirectory=${partial}`,
      ],
      { cwd: cache, timeoutMs: MAVEN_TIMEOUT_MS, log, what: `fetching kafka-tools into ${cache}` },
    );
    if (!existsSync(jar)) {
      await rm(tools, { recursive: true, force: true });
      await rename(partial, tools);
    }
    await rm(partial, { recursive: true, force: true });
  }
  return `${join(tools, '*')}:${join(libs, '*')}`;
}

/** The marker exists and every jar it lists is still there (a cache cleaner may have removed some). */
async function isCached(cache: string): Promise<boolean> {
  let marker: CacheMarker;
  try {
    marker = JSON.parse(await readFile(join(cache, 'complete.json'), 'utf8')) as CacheMarker;
  } catch {
    return false;
  }
  if (marker.kafka !== KAFKA_VERSION || !Array.isArray(marker.jars) || marker.jars.length === 0) return false;
  return marker.jars.every((jar) => existsSync(join(cache, 'libs', jar)));
}

const POM = `<?xml version="1.0" encoding="UTF-8"?>
<!-- Written by @sluice/connectors' local Kafka broker, only to fetch the broker's jars. -->
<project xmlns="http://maven.apache.org/POM/4.0.0"
         xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"
         xsi:schemaLocation="http://maven.apache.org/POM/4.0.0 http://maven.apache.org/xsd/maven-4.0.0.xsd">
  <modelVersion>4.0.0</modelVersion>
  <groupId>dev.sluice</groupId>
  <artifactId>sluice-local-kafka</artifactId>
  <version>${KAFKA_VERSION}</version>
  <packaging>pom</packaging>
  <dependencies>
    <dependency>
      <groupId>org.apache.kafka</groupId>
      <artifactId>kafka_${SCALA_VERSION}</artifactId>
      <version>${KAFKA_VERSION}</version>
    </dependency>
    <!-- The broker logs through slf4j and log4j 1 configuration; reload4j is the maintained log4j 1. -->
    <dependency>
      <groupId>org.slf4j</groupId>
      <artifactId>slf4j-reload4j</artifactId>
      <version>${SLF4J_RELOAD4J_VERSION}</version>
    </dependency>
  </dependencies>
</project>
`;

interface LockOwner {
  readonly pid: number;
  readonly host: string;
  readonly since: number;
}

/**
 * Takes the cache's download lock: a directory, because mkdir is atomic and fails when it exists.
 * A lock whose owner process is gone (same host), or that is older than any download can be, is
 * stale and broken. Resolves to the function that releases it.
 */
async function lockCache(cache: string, log: (line: string) => void): Promise<() => Promise<void>> {
  const lock = join(cache, 'download.lock');
  const ownerFile = join(lock, 'owner.json');
  let reported = false;
  for (;;) {
    try {
      await mkdir(lock);
      const owner: LockOwner = { pid: process.pid, host: hostname(), since: Date.now() };
      await writeFile(ownerFile, JSON.stringify(owner));
      return () => rm(lock, { recursive: true, force: true });
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') {
        throw new LocalKafkaError(`cannot create the lock ${lock}: ${String(error)}`, cache, null, {
          cause: error,
        });
      }
    }
    const owner = await readLockOwner(ownerFile);
    if (await isStale(lock, owner)) {
      log(`Breaking the stale download lock ${lock} (${owner ? `pid ${owner.pid}` : 'no owner'})`);
      // Renamed away first, so that of two processes breaking it at once only one removes it.
      const away = `${lock}.stale-${process.pid}-${randomBytes(4).toString('hex')}`;
      await rename(lock, away).then(
        () => rm(away, { recursive: true, force: true }),
        () => {},
      );
      continue;
    }
    if (!reported) {
      log(`Waiting for pid ${owner?.pid ?? '?'} to finish downloading the Kafka jars (lock ${lock})`);
      reported = true;
    }
    await sleep(LOCK_POLL_MS);
  }
}

async function readLockOwner(ownerFile: string): Promise<LockOwner | undefined> {
  try {
    return JSON.parse(await readFile(ownerFile, 'utf8')) as LockOwner;
  } catch {
    return undefined;
  }
}

async function isStale(lock: string, owner: LockOwner | undefined): Promise<boolean> {
  if (owner === undefined) {
    const created = await stat(lock).then(
      (stats) => stats.mtimeMs,
      () => undefined,
    );
    // Gone already (released meanwhile): not stale, the next mkdir will tell.
    return created !== undefined && Date.now() - created > LOCK_OWNERLESS_STALE_MS;
  }
  if (Date.now() - owner.since > LOCK_STALE_MS) return true;
  if (owner.host !== hostname()) return false; // a shared home directory: cannot see its processes
  return !isAlive(owner.pid);
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    // EPERM: it exists, but belongs to another user.
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

// --- Configuration ----------------------------------------------------------------------------

function serverProperties(logDir: string, port: number, controllerPort: number): string {
  const settings: Record<string, string | number> = {
    'process.roles': 'broker,controller',
    'node.id': 1,
    'controller.quorum.voters': `1@127.0.0.1:${controllerPort}`,
    listeners: `PLAINTEXT://127.0.0.1:${port},CONTROLLER://127.0.0.1:${controllerPort}`,
    'advertised.listeners': `PLAINTEXT://127.0.0.1:${port}`,
    'controller.listener.names': 'CONTROLLER',
    'inter.broker.listener.name': 'PLAINTEXT',
    'listener.security.protocol.map': 'PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT',
    'log.dirs': join(logDir, 'data'),
    // One broker: every internal topic must make do with one replica.
    'offsets.topic.replication.factor': 1,
    'transaction.state.log.replication.factor': 1,
    'transaction.state.log.min.isr': 1,
    'default.replication.factor': 1,
    'min.insync.replicas': 1,
    // The internal topics are created on first use (first consumer group, first transaction);
    // one partition instead of 50 makes that, and the coordinator loading it, near instant.
    'offsets.topic.num.partitions': 1,
    'transaction.state.log.num.partitions': 1,
    'num.partitions': 1,
    // Tests create their topics explicitly, so a typo fails instead of silently creating one.
    'auto.create.topics.enable': 'false',
    // The first consumer of a group gets its partitions at once instead of after 3 s.
    'group.initial.rebalance.delay.ms': 0,
    // kafkajs asks for 60 s transactions by default; the broker's cap (15 min) must allow it.
    'transaction.max.timeout.ms': 900_000,
    // Fewer threads than the defaults (3 and 8): a test broker serves a handful of clients.
    'num.network.threads': 2,
    'num.io.threads': 4,
  };
  return `${Object.entries(settings)
    .map(([key, value]) => `${key}=${escapeProperty(String(value))}`)
    .join('\n')}\n`;
}

/** WARN and above to `broker.log` in the log directory, and to stdout, which feeds `log` and errors. */
function log4jProperties(logFile: string): string {
  return `${[
    'log4j.rootLogger=WARN, file, stdout',
    'log4j.appender.stdout=org.apache.log4j.ConsoleAppender',
    'log4j.appender.stdout.layout=org.apache.log4j.PatternLayout',
    'log4j.appender.stdout.layout.ConversionPattern=[%d] %p %m (%c)%n',
    'log4j.appender.file=org.apache.log4j.FileAppender',
    `log4j.appender.file.File=${escapeProperty(logFile)}`,
    'log4j.appender.file.layout=org.apache.log4j.PatternLayout',
    'log4j.appender.file.layout.ConversionPattern=[%d] %p %m (%c)%n',
  ].join('\n')}\n`;
}

/** Java properties files treat backslashes as escapes (Windows paths). */
function escapeProperty(value: string): string {
  return value.replace(/\\/g, '\\\\');
}

/**
 * A random Kafka cluster id: 16 bytes, base64url without padding, like `StorageTool random-uuid`
 * prints, without starting a JVM for it. Like Kafka's `Uuid.randomUuid`, never one starting with
 * '-', which command lines would take for an option.
 */
function randomClusterId(): string {
  for (;;) {
    const id = randomBytes(16).toString('base64url');
    if (!id.startsWith('-')) return id;
  }
}

/**
 * A port that is free on 127.0.0.1 right now (the kernel's choice for port 0). Another process may
 * take it before the broker binds it; the broker then fails with "Address already in use".
 */
async function freePort(avoid: readonly number[] = []): Promise<number> {
  for (;;) {
    const port = await new Promise<number>((resolvePort, reject) => {
      const server = createServer();
      server.unref();
      server.once('error', reject);
      server.listen(0, '127.0.0.1', () => {
        const address = server.address();
        server.close(() =>
          typeof address === 'object' && address !== null ? resolvePort(address.port) : reject(address),
        );
      });
    });
    if (!avoid.includes(port)) return port;
  }
}

// --- Processes -----------------------------------------------------------------------------------

/** What the 'exit' handler must kill or remove: running brokers and tools, temporary log dirs. */
const running = new Set<{ kill(): void }>();
let exitHandlerInstalled = false;

function killAllOnExit(): void {
  if (exitHandlerInstalled) return;
  exitHandlerInstalled = true;
  // 'exit' handlers must be synchronous: a SIGKILL is all there is time for.
  process.on('exit', () => {
    // Newest first: processes die before the directories they write to are removed.
    for (const entry of [...running].reverse()) entry.kill();
  });
}

// biome-ignore lint/suspicious/noControlCharactersInRegex: matching terminal escapes is the point
const ANSI_ESCAPE = /\x1b\[[0-9;]*[A-Za-z]/g;

/** The last lines of a process's output, and each line passed to `log`. */
class OutputTail {
  readonly #lines: string[] = [];
  readonly #partial = new Map<NodeJS.ReadableStream, string>();
  readonly #log: (line: string) => void;

  constructor(log: (line: string) => void) {
    this.#log = log;
  }

  follow(stream: NodeJS.ReadableStream | null): void {
    if (stream === null) return;
    stream.setEncoding('utf8');
    stream.on('data', (chunk: string) => {
      const lines = ((this.#partial.get(stream) ?? '') + chunk).split('\n');
      this.#partial.set(stream, lines.pop() ?? '');
      for (const line of lines) this.#add(line);
    });
    stream.on('end', () => {
      const rest = this.#partial.get(stream);
      if (rest) this.#add(rest);
      this.#partial.delete(stream);
    });
  }

  text(): string {
    return this.#lines.join('\n');
  }

  #add(line: string): void {
    // Maven prints colour codes even in batch mode, and lines holding nothing else.
    const trimmed = line.replace(ANSI_ESCAPE, '').trimEnd();
    if (trimmed.length === 0) return;
    this.#lines.push(trimmed);
    if (this.#lines.length > TAIL_LINES) this.#lines.shift();
    this.#log(trimmed);
  }
}

/** Runs a command to completion; rejects with its exit code and last lines of output otherwise. */
function runTool(
  command: string,
  args: readonly string[],
  options: {
    cwd: string;
    timeoutMs: number;
    log: (line: string) => void;
    what: string;
    onSpawn?: (pid: number) => void;
  },
): Promise<void> {
  return new Promise((resolveRun, reject) => {
    const tail = new OutputTail(options.log);
    const child = spawn(command, args, { cwd: options.cwd, stdio: ['ignore', 'pipe', 'pipe'] });
    if (child.pid !== undefined) options.onSpawn?.(child.pid);
    tail.follow(child.stdout);
    tail.follow(child.stderr);
    // Maven must not go on downloading after this process exited (it would hold the lock's pid
    // dead while still writing): the 'exit' handler kills it too.
    const entry = { kill: () => child.kill('SIGKILL') };
    running.add(entry);
    killAllOnExit();
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill('SIGKILL');
    }, options.timeoutMs);
    child.once('error', (error) => {
      clearTimeout(timer);
      running.delete(entry);
      const missing = (error as NodeJS.ErrnoException).code === 'ENOENT';
      reject(
        new LocalKafkaError(
          missing
            ? `${options.what}: '${command}' is not on the PATH (${command === 'mvn' ? 'Maven is needed once, to fetch the jars' : 'a Java 11+ runtime is needed'})`
            : `${options.what}: cannot run '${command}': ${error.message}`,
          options.cwd,
          null,
          { cause: error },
        ),
      );
    });
    child.once('close', (code, signal) => {
      clearTimeout(timer);
      running.delete(entry);
      if (code === 0) {
        resolveRun();
        return;
      }
      const how = timedOut
        ? `was killed after ${options.timeoutMs / 1000} s`
        : `exited with ${code === null ? `signal ${signal}` : `code ${code}`}`;
      reject(
        new LocalKafkaError(
          `${options.what}: '${command} ${args.join(' ')}' ${how}; its last lines:\n${tail.text()}`,
          options.cwd,
          code,
        ),
      );
    });
  });
}

interface BrokerProcess {
  readonly pid: number | undefined;
  readonly exited: Promise<LocalKafkaExit>;
  /** How the process exited, or undefined while it runs. */
  exit(): LocalKafkaExit | undefined;
  /** Its last lines of output. */
  output(): string;
  /** SIGTERM, SIGKILL after a grace period. Idempotent. */
  stop(): Promise<void>;
  /** SIGKILL at once (a broker that failed to start has nothing to shut down cleanly). */
  kill(): Promise<void>;
  /**
   * Lets this Node process exit while the broker runs (its 'exit' handler then kills it). Not
   * before the broker is ready, nor while stopping: waiting for the broker's exit must keep the
   * event loop alive, or Node would leave with the start or stop promise unsettled.
   */
  unref(): void;
}

function launchBroker(args: readonly string[], logDir: string, log: (line: string) => void): BrokerProcess {
  const tail = new OutputTail(log);
  const child = spawn('java', args, { cwd: logDir, stdio: ['ignore', 'pipe', 'pipe'] });
  const hold = (on: boolean) => {
    for (const handle of [child, child.stdout, child.stderr] as unknown[]) {
      const refable = handle as { ref?: () => void; unref?: () => void } | null;
      if (on) refable?.ref?.();
      else refable?.unref?.();
    }
  };
  tail.follow(child.stdout);
  tail.follow(child.stderr);

  let exit: LocalKafkaExit | undefined;
  const exited = new Promise<LocalKafkaExit>((resolveExit) => {
    child.once('error', (error) => {
      const missing = (error as NodeJS.ErrnoException).code === 'ENOENT';
      exit = {
        code: null,
        signal: null,
        output: missing ? "'java' is not on the PATH (a Java 11+ runtime is needed)" : String(error),
      };
      resolveExit(exit);
    });
    child.once('close', (code, signal) => {
      exit = { code, signal, output: tail.text() };
      resolveExit(exit);
    });
  });
  const entry = { kill: () => child.kill('SIGKILL') };
  running.add(entry);
  killAllOnExit();
  void exited.then(() => running.delete(entry));

  let stopping: Promise<void> | undefined;
  const terminate = (graceMs: number): Promise<void> => {
    stopping ??= (async () => {
      if (exit !== undefined) return;
      hold(true);
      child.kill(graceMs > 0 ? 'SIGTERM' : 'SIGKILL');
      const timer = graceMs > 0 ? setTimeout(() => child.kill('SIGKILL'), graceMs) : undefined;
      await exited;
      clearTimeout(timer);
    })();
    return stopping;
  };
  return {
    pid: child.pid,
    exited,
    exit: () => exit,
    output: () => tail.text(),
    stop: () => terminate(STOP_GRACE_MS),
    kill: () => terminate(0),
    unref: () => {
      if (stopping === undefined) hold(false);
    },
  };
}

interface Watchdog {
  /** From now on, `pid` is the process to stop should this process die. */
  watch(pid: number): void;
  /** Ends the watchdog without it doing anything. Idempotent. */
  dispose(): void;
}

/**
 * The 'exit' handler does not run when this process dies of a signal (vitest stops its workers
 * with SIGTERM) or of SIGKILL. This shell reads pids from its stdin, a pipe only this process
 * holds open (Node opens pipes close-on-exec, so no other child inherits it), until end of file,
 * which comes when this process is gone, however it died. It then stops the last pid it was given
 * the way `stop()` would, and removes the temporary log directory.
 * `read` is a shell builtin: killing the shell leaves no child behind. It ignores SIGINT: Ctrl-C
 * in a terminal reaches the whole process group, and this process may choose to live on.
 */
const WATCHDOG_SCRIPT = [
  "trap '' INT",
  'pid=',
  'while read -r line; do pid=$line; done',
  'if [ -n "$pid" ]; then',
  '  kill -TERM "$pid" 2>/dev/null',
  '  i=0',
  `  while kill -0 "$pid" 2>/dev/null && [ "$i" -lt ${STOP_GRACE_MS / 200} ]; do sleep 0.2; i=$((i + 1)); done`,
  '  kill -KILL "$pid" 2>/dev/null',
  'fi',
  'if [ -n "$1" ]; then rm -rf "$1"; fi',
].join('\n');

function startWatchdog(removeDir: string): Watchdog {
  if (process.platform === 'win32') return { watch: () => {}, dispose: () => {} };
  const shell = spawn('sh', ['-c', WATCHDOG_SCRIPT, 'sluice-kafka-watchdog', removeDir], {
    stdio: ['pipe', 'ignore', 'ignore'],
  });
  shell.on('error', () => {}); // no sh: only the 'exit' handler protects then
  shell.stdin.on('error', () => {}); // EPIPE when the shell is gone
  shell.unref();
  (shell.stdin as unknown as { unref?: () => void }).unref?.();
  let disposed = false;
  return {
    watch: (pid) => {
      if (!disposed) shell.stdin.write(`${pid}\n`);
    },
    dispose: () => {
      if (disposed) return;
      disposed = true;
      shell.kill('SIGKILL');
      shell.stdin.destroy();
    },
  };
}

// --- Readiness -----------------------------------------------------------------------------------

/**
 * Polls the broker with `describeCluster` until it answers with itself as a member. Connection
 * refused is the normal answer while the JVM starts, so every failure is retried until the deadline.
 */
async function waitUntilReady(
  brokers: string,
  broker: BrokerProcess,
  timeoutMs: number,
  logDir: string,
  where: string,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  const kafka = new Kafka({
    clientId: 'sluice-local-kafka-probe',
    brokers: [brokers],
    logLevel: logLevel.NOTHING,
    connectionTimeout: 1000,
    requestTimeout: 5000,
    retry: { retries: 0 },
  });
  let lastError: unknown;
  while (Date.now() < deadline) {
    const admin = kafka.admin({ retry: { retries: 0 } });
    try {
      const attempt = (async () => {
        await admin.connect();
        return admin.describeCluster();
      })();
      attempt.catch(() => {}); // when it loses the race to the exit, its rejection is expected
      const outcome = await Promise.race([attempt, broker.exited.then(() => undefined)]);
      if (outcome === undefined) break;
      if (outcome.brokers.length > 0) return;
    } catch (error) {
      lastError = error;
    } finally {
      await admin.disconnect().catch(() => {});
    }
    if (broker.exit() !== undefined) break;
    await Promise.race([sleep(250), broker.exited]);
  }

  const exit = broker.exit();
  const output = broker.output() || '(none)';
  if (exit !== undefined) {
    throw new LocalKafkaError(
      `the Kafka broker exited with ${exit.code === null ? `signal ${exit.signal}` : `code ${exit.code}`} before it was ready (${where}); its last lines:\n${output}`,
      logDir,
      exit.code,
    );
  }
  throw new LocalKafkaError(
    `the Kafka broker did not answer on ${brokers} within ${timeoutMs / 1000} s (${where}; last error: ${lastError instanceof Error ? lastError.message : String(lastError)}); its last lines:\n${output}`,
    logDir,
    null,
  );
}
