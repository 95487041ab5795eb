/**
 * Keyed value state, read + update per record, on the heap backend and on the LevelDB backend,
 * through the classes the runtime uses and the way the runtime drives them.
 *
 * Method. One op is one batch of {@link KEYED_BATCH_SIZE} records (the runtime's batch size) with
 * keys drawn uniformly (seeded) from a key space: as the runtime's keyed operator does
 * (`packages/core/src/runtime/operators/keyed.ts`, `runtime/task.ts`), `prefetch(batch keys)`
 * and await it if it returns a promise, then per record `setCurrentKey(key, keyGroup)` +
 * `value()` + `update(value + 1)`, then `cleanUpExpired()` (state TTL's per-batch step) and
 * `evict()`, awaited if it returns a promise. Keys and
 * key groups are computed up front, as in `leveldb-throughput-check.ts` beside this file,
 * so the figures are the backend's own cost. Every op is asynchronous (an `async` function,
 * a benchmark.js `defer: true` benchmark) for every contestant, heap included, so they share the
 * harness overhead (one promise per batch).
 *
 * The LevelDB backend runs as in a job: its database is served by the LevelDB host thread
 * (`LevelStoreHost`, reached through a `LevelStoreClient`), with the runtime's default cache
 * (`cacheMaxKeys` 100,000 keys) where every key fits, and with a cache of a tenth of the keys,
 * where most keys of a batch are read from disk and as many written back. Before timing, one
 * pass over the workload puts every key in the database (and, when it fits, in the cache).
 *
 * `ratioToBaseline` is a contestant's ops/s divided by the heap backend's (without TTL). The
 * `heap-ttl` contestant gives its value state a TTL of a day (nothing expires): the cost of TTL.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { KeyedStateBackend } from '../../packages/core/src/state/backend/keyed-state-backend.ts';
import { valueState } from '../../packages/core/src/state/descriptors.ts';
import { HeapKeyedStateBackend } from '../../packages/core/src/state/heap/heap-keyed-state-backend.ts';
import { assignToKeyGroup, type Key, KeyGroupRange } from '../../packages/core/src/state/key-groups.ts';
import { LevelStoreClient } from '../../packages/core/src/state/leveldb/level-store/level-store-client.ts';
import { LevelStoreHost } from '../../packages/core/src/state/leveldb/level-store/level-store-host.ts';
import {
  DEFAULT_CACHE_MAX_KEYS,
  LevelDbKeyedStateBackend,
} from '../../packages/core/src/state/leveldb/leveldb-keyed-state-backend.ts';
import type { InternalValueState } from '../../packages/core/src/state/state.ts';
import { type BenchSpec, type HarnessOptions, runGroup } from './harness.ts';
import type { MicroResult } from './index.ts';
import { BATCH_SIZE } from './ring-channel.ts';

export const KEYED_BATCH_SIZE = BATCH_SIZE;
const MAX_PARALLELISM = 128;
/** Batches in the workload; ops cycle through them (quick mode: fewer, for a shorter warm-up). */
const WORKLOAD_BATCHES = 200;
const QUICK_WORKLOAD_BATCHES = 40;

export type KeyedVariant = 'heap' | 'heap-ttl' | 'leveldb-cached' | 'leveldb-tenth';

interface VariantSpec {
  readonly label: string;
  readonly keys: number;
  readonly cacheMaxKeys?: number;
  /** The value state has a TTL. */
  readonly ttl?: boolean;
}

export const VARIANTS: Readonly<Record<KeyedVariant, VariantSpec>> = {
  heap: { label: 'heap backend', keys: 10_000 },
  // TTL of a day: nothing expires, so this is the cost of the TTL wrapper and its per-batch cleanup.
  'heap-ttl': { label: 'heap backend, value state with TTL (default cleanup)', keys: 10_000, ttl: true },
  'leveldb-cached': {
    label: `LevelDB backend, every key cached (cacheMaxKeys ${DEFAULT_CACHE_MAX_KEYS.toLocaleString('en-US')})`,
    keys: 10_000,
  },
  'leveldb-tenth': {
    label: 'LevelDB backend, cache of a tenth of the keys',
    keys: 20_000,
    cacheMaxKeys: 2_000,
  },
};

type Batch = ReadonlyArray<readonly [Key, number]>;

/** xorshift32: the same workload on every run. */
function workload(keys: number, batches: number, batchSize: number): Batch[] {
  let x = 42;
  const names = Array.from({ length: keys }, (_, i) => `user-${i}`);
  const groups = names.map((name) => assignToKeyGroup(name, MAX_PARALLELISM));
  const result: Batch[] = [];
  for (let b = 0; b < batches; b++) {
    const batch: Array<readonly [Key, number]> = [];
    for (let i = 0; i < batchSize; i++) {
      x ^= x << 13;
      x ^= x >>> 17;
      x ^= x << 5;
      const k = (x >>> 0) % keys;
      batch.push([names[k]!, groups[k]!]);
    }
    result.push(batch);
  }
  return result;
}

/** The runtime's loop around one batch of records (see the module comment). */
async function processBatch(
  backend: KeyedStateBackend,
  count: InternalValueState<number>,
  batch: Batch,
): Promise<void> {
  const fetching = backend.prefetch?.(batch);
  if (fetching !== undefined) await fetching;
  for (let i = 0; i < batch.length; i++) {
    const record = batch[i]!;
    backend.setCurrentKey(record[0], record[1]);
    count.update(count.value()! + 1);
  }
  backend.cleanUpExpired?.();
  const writing = backend.evict?.();
  if (writing !== undefined) await writing;
}

/**
 * One backend with a value state `count` per key and its workload. The LevelDB variants need a
 * {@link LevelDbHost}, which owns the database thread.
 */
export class KeyedStateFixture {
  readonly #backend: KeyedStateBackend;
  readonly #count: InternalValueState<number>;
  readonly #batches: Batch[];
  readonly #release: () => Promise<void>;
  #next = 0;
  /** Updates done so far (every op adds one batch). */
  updates = 0;

  private constructor(
    backend: KeyedStateBackend,
    batches: Batch[],
    release: () => Promise<void>,
    ttl = false,
  ) {
    this.#backend = backend;
    this.#count = backend.getState(
      valueState<number>('count', { defaultValue: 0, ...(ttl ? { ttl: { ttlMs: 86_400_000 } } : {}) }),
    );
    this.#batches = batches;
    this.#release = release;
  }

  static async open(
    variant: KeyedVariant,
    host: LevelDbHost | undefined,
    batchSize = KEYED_BATCH_SIZE,
    batches = WORKLOAD_BATCHES,
  ): Promise<KeyedStateFixture> {
    const spec = VARIANTS[variant];
    const work = workload(spec.keys, batches, batchSize);
    const keyGroupRange = new KeyGroupRange(0, MAX_PARALLELISM - 1);
    if (variant === 'heap' || variant === 'heap-ttl') {
      const backend = new HeapKeyedStateBackend({ maxParallelism: MAX_PARALLELISM, keyGroupRange });
      return new KeyedStateFixture(backend, work, async () => {}, spec.ttl);
    }
    if (host === undefined) throw new Error(`bug: ${variant} needs a LevelDB host`);
    const { backend, release } = await host.backend(variant, spec.cacheMaxKeys);
    return new KeyedStateFixture(backend, work, release);
  }

  /** One op: the next batch of the workload. */
  runOp(): Promise<void> {
    const batch = this.#batches[this.#next]!;
    this.#next = this.#next + 1 === this.#batches.length ? 0 : this.#next + 1;
    this.updates += batch.length;
    return processBatch(this.#backend, this.#count, batch);
  }

  /** One pass over the whole workload (every key gets state). */
  async warmUp(): Promise<void> {
    for (let i = 0; i < this.#batches.length; i++) await this.runOp();
  }

  /** The sum of every key's count, read from a snapshot: equals {@link updates} if none was lost. */
  async total(): Promise<number> {
    let sum = 0;
    for (const keyGroup of this.#backend.keyGroupRange) {
      for (const [, , , value] of await this.#backend.snapshotKeyGroup(keyGroup)) {
        // With TTL, a value's snapshot form is [value, timestampMs].
        sum += (Array.isArray(value) ? value[0] : value) as number;
      }
    }
    return sum;
  }

  async close(): Promise<void> {
    await this.#release();
  }
}

/**
 * The LevelDB host thread and a temporary directory for the benchmark's databases, as a job run
 * has them (`packages/core/src/execution/run-job.ts`); the client side of each connection lives in
 * the main thread here, where a job has it in a slot thread.
 */
export class LevelDbHost {
  readonly #host = LevelStoreHost.start();
  readonly #root: Promise<string> = mkdtemp(join(tmpdir(), 'sluice-micro-keyed-state-'));
  #databases = 0;

  async backend(
    name: string,
    cacheMaxKeys: number | undefined,
  ): Promise<{ backend: LevelDbKeyedStateBackend; release: () => Promise<void> }> {
    const directory = join(await this.#root, `${name}-${this.#databases++}`);
    const connection = this.#host.connect();
    const client = new LevelStoreClient(connection.port);
    const backend = new LevelDbKeyedStateBackend({
      maxParallelism: MAX_PARALLELISM,
      keyGroupRange: new KeyGroupRange(0, MAX_PARALLELISM - 1),
      directory,
      store: client.store(directory),
      ...(cacheMaxKeys === undefined ? {} : { cacheMaxKeys }),
    });
    await backend.open();
    return {
      backend,
      release: async () => {
        await backend.destroy(); // closes the database and removes its directory
        client.close();
        await this.#host.release([connection.id]);
      },
    };
  }

  /** Ends the host thread (closing any database left open) and removes the directory. */
  async close(): Promise<void> {
    await this.#host.shutdown();
    await rm(await this.#root, { recursive: true, force: true });
  }
}

/** Contestants in order, the baseline first. */
const CONTESTANTS = ['heap', 'heap-ttl', 'leveldb-cached', 'leveldb-tenth'] as const;

export async function runKeyedStateBenchmarks(options: HarnessOptions): Promise<MicroResult[]> {
  const host = new LevelDbHost();
  try {
    const baseline = VARIANTS.heap.label;
    const specs = CONTESTANTS.map((variant): BenchSpec => {
      const spec = VARIANTS[variant];
      let fixture: KeyedStateFixture | undefined;
      return {
        name: spec.label,
        unit:
          `batch of ${KEYED_BATCH_SIZE} value-state reads + updates over ` +
          `${spec.keys.toLocaleString('en-US')} keys (prefetch, evict)`,
        recordsPerOp: KEYED_BATCH_SIZE,
        ...(variant === 'heap' ? {} : { baseline }),
        setup: async () => {
          fixture = await KeyedStateFixture.open(
            variant,
            host,
            KEYED_BATCH_SIZE,
            options.quick ? QUICK_WORKLOAD_BATCHES : WORKLOAD_BATCHES,
          );
          await fixture.warmUp();
        },
        teardown: async () => {
          await fixture?.close();
          fixture = undefined;
        },
        deferred: () => fixture!.runOp(),
      };
    });
    return await runGroup('keyed-state', specs, options);
  } finally {
    await host.close();
  }
}
