/**
 * A throughput check of the LevelDB keyed state backend, run by hand (not a test, not timed in CI):
 *
 *   node benchmarks/micro/leveldb-throughput-check.ts [ops] [keys] [batch]
 *
 * The runtime's loop, per batch of records: `prefetch(batch keys)`, then `setCurrentKey` +
 * `value()` + `update()` per record, then `evict()`. Keys are uniform over `keys` distinct
 * strings (seeded, so runs compare). Runs the default cache (every key fits), a cache of a tenth
 * of the keys (most keys evicted and re-read from disk), and the heap backend for reference.
 */

import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { KeyedStateBackend } from '../../packages/core/src/state/backend/keyed-state-backend.ts';
import { valueState } from '../../packages/core/src/state/descriptors.ts';
import { HeapKeyedStateBackend } from '../../packages/core/src/state/heap/heap-keyed-state-backend.ts';
import { assignToKeyGroup, type Key, KeyGroupRange } from '../../packages/core/src/state/key-groups.ts';
import { LevelDbKeyedStateBackend } from '../../packages/core/src/state/leveldb/leveldb-keyed-state-backend.ts';

const OPS = Number(process.argv[2] ?? 1_000_000);
const KEYS = Number(process.argv[3] ?? 100_000);
const BATCH = Number(process.argv[4] ?? 1000);
const MAX_P = 128;

/** xorshift32: a seeded workload, identical on every run. */
function rng(seed: number): () => number {
  let x = seed | 0 || 1;
  return () => {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    return (x >>> 0) / 4294967296;
  };
}

const random = rng(42);
const keyNames = Array.from({ length: KEYS }, (_, i) => `user-${i}`);
const keyGroups = keyNames.map((key) => assignToKeyGroup(key, MAX_P));
// The batches, built up front: the records and their key groups are the runtime's input.
const batches: Array<Array<readonly [Key, number]>> = [];
for (let done = 0; done < OPS; done += BATCH) {
  const batch: Array<readonly [Key, number]> = [];
  for (let i = 0; i < Math.min(BATCH, OPS - done); i++) {
    const k = Math.floor(random() * KEYS);
    batch.push([keyNames[k]!, keyGroups[k]!]);
  }
  batches.push(batch);
}

async function runLoop(backend: KeyedStateBackend): Promise<{ opsPerSecond: number; loads: number }> {
  const count = backend.getState(valueState<number>('count', { defaultValue: 0 }));
  let loads = 0;
  const start = performance.now();
  for (const batch of batches) {
    const load = backend.prefetch?.(batch);
    if (load !== undefined) {
      loads++;
      await load;
    }
    for (const [key, kg] of batch) {
      backend.setCurrentKey(key, kg);
      count.update(count.value()! + 1);
    }
    const write = backend.evict?.();
    if (write !== undefined) await write;
  }
  const seconds = (performance.now() - start) / 1000;
  return { opsPerSecond: OPS / seconds, loads };
}

async function total(backend: KeyedStateBackend): Promise<number> {
  let sum = 0;
  for (const kg of backend.keyGroupRange) {
    for (const [, , , value] of await backend.snapshotKeyGroup(kg)) sum += value as number;
  }
  return sum;
}

const root = await mkdtemp(join(tmpdir(), 'sluice-leveldb-throughput-'));
const format = (n: number): string => Math.round(n).toLocaleString('en-US');
try {
  console.log(
    `${format(OPS)} ops (prefetch + setCurrentKey + value + update) over ${format(KEYS)} keys, batches of ${BATCH}`,
  );
  for (const cacheMaxKeys of [undefined, Math.max(1, Math.floor(KEYS / 10))]) {
    const backend = new LevelDbKeyedStateBackend({
      maxParallelism: MAX_P,
      keyGroupRange: new KeyGroupRange(0, MAX_P - 1),
      directory: join(root, `cache-${cacheMaxKeys ?? 'default'}`),
      ...(cacheMaxKeys === undefined ? {} : { cacheMaxKeys }),
    });
    await backend.open();
    const cold = await runLoop(backend);
    const warm = await runLoop(backend);
    const sum = await total(backend);
    if (sum !== 2 * OPS) throw new Error(`lost updates: counted ${sum}, expected ${2 * OPS}`);
    console.log(
      `leveldb cacheMaxKeys=${format(backend.cacheMaxKeys)}: first pass ${format(cold.opsPerSecond)} ops/s ` +
        `(${cold.loads} batches loaded keys), second pass ${format(warm.opsPerSecond)} ops/s ` +
        `(${warm.loads} batches loaded keys); total checked`,
    );
    await backend.destroy();
  }
  const heap = new HeapKeyedStateBackend({
    maxParallelism: MAX_P,
    keyGroupRange: new KeyGroupRange(0, MAX_P - 1),
  });
  const heapRun = await runLoop(heap);
  console.log(`heap (reference): ${format(heapRun.opsPerSecond)} ops/s`);
} finally {
  await rm(root, { recursive: true, force: true });
}
