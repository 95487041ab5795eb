/**
 * Worker side of the worker-thread test in `leveldb-keyed-state-backend.test.ts`: opens a LevelDB
 * backend in a worker thread (classic-level's native addon must load there), counts a few keys,
 * snapshots their key groups, closes, and posts what it saw.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { valueState } from '../descriptors.ts';
import { assignToKeyGroup, KeyGroupRange } from '../key-groups.ts';
import { LevelDbKeyedStateBackend } from './leveldb-keyed-state-backend.ts';

export type LevelDbWorkerData = { directory: string; keys: string[]; maxParallelism: number };
export type LevelDbWorkerResult = { counts: Record<string, number>; snapshotEntries: number };

const { directory, keys, maxParallelism } = workerData as LevelDbWorkerData;
const backend = new LevelDbKeyedStateBackend({
  maxParallelism,
  keyGroupRange: new KeyGroupRange(0, maxParallelism - 1),
  directory,
  cacheMaxKeys: 2,
});
await backend.open();
const count = backend.getState(valueState<number>('count', { defaultValue: 0 }));
for (let round = 0; round < 3; round++) {
  for (const key of keys) {
    const kg = assignToKeyGroup(key, maxParallelism);
    await backend.prefetch([[key, kg]]);
    backend.setCurrentKey(key, kg);
    count.update(count.value()! + 1);
    await backend.evict();
  }
}
const counts: Record<string, number> = {};
for (const key of keys) {
  await backend.prefetch([[key, assignToKeyGroup(key, maxParallelism)]]);
  backend.setCurrentKey(key);
  counts[key] = count.value()!;
}
let snapshotEntries = 0;
for (const kg of backend.keyGroupRange) snapshotEntries += (await backend.snapshotKeyGroup(kg)).length;
await backend.close();
parentPort!.postMessage({ counts, snapshotEntries } satisfies LevelDbWorkerResult);
