/**
 * The LevelDB host: one thread per job run that owns every LevelDB database of the job; slot
 * threads reach their databases through {@link LevelStoreClient}s.
 *
 * Why not open the databases in the slot threads: a slot thread may be terminated from outside
 * (a crash drill, a slot stuck in user code), and classic-level does not survive that. Terminating
 * a thread while it is inside a classic-level call makes that call read an empty handle (its
 * `napi_get_element` fails once the thread is terminating, and the result is used unchecked),
 * and the whole process dies with SIGSEGV; a worker doing batches was killed this way in about
 * 1 of 3 runs of 30 terminations. The host thread runs only Sluice's code, is never terminated
 * while it owns a database, and outlives the slot threads, so a killed slot costs nothing but its
 * connection: the host finishes the calls in flight and closes that slot's databases.
 *
 * One host per job, not per attempt: a restart costs no new thread.
 *
 * The thread that starts a host also loads classic-level's native addon and keeps it (see
 * {@link keepLevelDbLoaded}): LevelDB runs compactions on one background thread per load of its
 * library, and Node unloads an addon when the last thread that loaded it ends. Loaded only in
 * host threads, the addon went with each host, its background thread stayed behind (idle, its
 * code unmapped: one more thread per job run, and a crash if it was still busy), and the next
 * host loaded a fresh copy that started another.
 */

import { createRequire } from 'node:module';
import { MessageChannel, type MessagePort, type Worker } from 'node:worker_threads';
import { siblingModule, startModuleWorker } from '../../../threads/module-worker.ts';
import type { HostControl, HostReply } from './wire.ts';

let levelDbLoaded = false;

/**
 * Loads classic-level in this thread, once, so that its native addon stays loaded as long as this
 * thread lives (the process, for the main thread): then every host thread shares one copy of
 * LevelDB, with one background compaction thread for the whole process.
 */
function keepLevelDbLoaded(): void {
  if (levelDbLoaded) return;
  createRequire(import.meta.url)('classic-level');
  levelDbLoaded = true;
}

/** How long `shutdown()` waits for the host to close its databases before terminating it. */
const SHUTDOWN_TIMEOUT_MS = 30_000;

/** A connection for one client thread: transfer `port` to it, `release` it by `id`. */
export interface LevelStoreConnection {
  readonly id: number;
  readonly port: MessagePort;
}

export class LevelStoreHost {
  readonly #worker: Worker;
  readonly #exited: Promise<number>;
  readonly #releases = new Map<number, () => void>();
  #nextId = 1;
  #shutdown: Promise<void> | undefined;

  private constructor(worker: Worker) {
    this.#worker = worker;
    this.#exited = new Promise((resolve) => worker.once('exit', resolve));
    void this.#exited.then(() => {
      for (const release of this.#releases.values()) release();
      this.#releases.clear();
    });
    // An error in the host closes its ports: clients fail their calls with a clear message.
    worker.on('error', () => {});
    worker.on('message', (reply: HostReply) => {
      this.#releases.get(reply.request)?.();
      this.#releases.delete(reply.request);
    });
  }

  /** Starts the host thread. */
  static start(): LevelStoreHost {
    keepLevelDbLoaded();
    return new LevelStoreHost(
      startModuleWorker(
        siblingModule('./level-store-host-thread', import.meta.url),
        {},
        { name: 'sluice-leveldb-host' },
      ),
    );
  }

  /** A new connection to the host, for one client thread. */
  connect(): LevelStoreConnection {
    const { port1, port2 } = new MessageChannel();
    const id = this.#nextId++;
    const message: HostControl = { type: 'connect', connection: id, port: port1 };
    this.#worker.postMessage(message, [port1]);
    return { id, port: port2 };
  }

  /**
   * Closes the databases of these connections once their calls in flight are done (their client
   * threads may be gone, or still running: their later calls then fail).
   */
  release(connections: readonly number[]): Promise<void> {
    if (this.#shutdown !== undefined) return this.#shutdown;
    const request = this.#nextId++;
    const released = new Promise<void>((resolve) => this.#releases.set(request, resolve));
    const message: HostControl = { type: 'release', request, connections };
    this.#worker.postMessage(message);
    return released;
  }

  /** Closes every database (after the calls in flight) and ends the thread. Idempotent. */
  shutdown(): Promise<void> {
    this.#shutdown ??= (async () => {
      const message: HostControl = { type: 'shutdown' };
      this.#worker.postMessage(message);
      let timer: NodeJS.Timeout | undefined;
      const timedOut = new Promise<'timeout'>((resolve) => {
        timer = setTimeout(() => resolve('timeout'), SHUTDOWN_TIMEOUT_MS);
      });
      const outcome = await Promise.race([this.#exited, timedOut]);
      clearTimeout(timer);
      if (outcome === 'timeout') await this.#worker.terminate();
    })();
    return this.#shutdown;
  }
}
