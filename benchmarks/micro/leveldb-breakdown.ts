/**
 * Run by hand: where a LevelDB prefetch's time goes in the keyed-state group's "tenth" case
 * (20,000 keys with one value state each, ~460 of a batch's keys missing from the cache). Per
 * batch of 460 keys drawn uniformly (seeded): `readKeys` (the manifests and entries, as a prefetch
 * reads them), a `getMany` of the entries alone, an eviction's batch of 460 puts, and a read with
 * a write going on at once (the backend's write-behind); in the calling thread (`LocalLevelStore`)
 * and through the LevelDB host thread, as a job has it. The fastest round of each is kept.
 *
 *   node benchmarks/micro/leveldb-breakdown.ts [rounds]
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { assignToKeyGroup } from '../../packages/core/src/state/key-groups.ts';
import {
  diskCodec,
  encodeEntryKey,
  encodeKeyPrefix,
  encodeStateName,
} from '../../packages/core/src/state/leveldb/key-codec.ts';
import type { LevelStore } from '../../packages/core/src/state/leveldb/level-store/level-store.ts';
import { LevelStoreClient } from '../../packages/core/src/state/leveldb/level-store/level-store-client.ts';
import { LevelStoreHost } from '../../packages/core/src/state/leveldb/level-store/level-store-host.ts';
import { LocalLevelStore } from '../../packages/core/src/state/leveldb/level-store/local-level-store.ts';

const KEYS = 20_000,
  N = 460,
  BATCHES = 100,
  ROUNDS = Number(process.argv[2] ?? 4);
const prefixes = Array.from({ length: KEYS }, (_, i) =>
  encodeKeyPrefix(assignToKeyGroup(`user-${i}`, 128), `user-${i}`),
);
const countName = encodeStateName('count');
const entryKeys = prefixes.map((p) => encodeEntryKey(p, countName, ''));
let x = 42;
const rnd = () => {
  x ^= x << 13;
  x ^= x >>> 17;
  x ^= x << 5;
  return (x >>> 0) % KEYS;
};
const batches = Array.from({ length: BATCHES }, () => Array.from({ length: N }, rnd));
async function fill(store: LevelStore) {
  const manifest = Buffer.from(diskCodec.pack([['count', ['']]]));
  for (let from = 0; from < KEYS; from += 5000) {
    const ops = [];
    for (let i = from; i < Math.min(KEYS, from + 5000); i++) {
      ops.push({ type: 'put' as const, key: prefixes[i]!, value: manifest });
      ops.push({ type: 'put' as const, key: entryKeys[i]!, value: Buffer.from(diskCodec.pack(i)) });
    }
    await store.batch(ops);
  }
}
async function measure(name: string, store: LevelStore) {
  await fill(store);
  let bestRead = Infinity,
    bestWrite = Infinity,
    bestBoth = Infinity,
    bestGet1 = Infinity;
  for (let r = 0; r < ROUNDS; r++) {
    let t = performance.now();
    for (const b of batches)
      await store.readKeys(
        b.map((i) => prefixes[i]!),
        ['count'],
      );
    bestRead = Math.min(bestRead, (performance.now() - t) / BATCHES);
    t = performance.now();
    for (const b of batches) await store.getMany(b.map((i) => entryKeys[i]!));
    bestGet1 = Math.min(bestGet1, (performance.now() - t) / BATCHES);
    t = performance.now();
    for (const b of batches)
      await store.batch(
        b.map((i) => ({
          type: 'put' as const,
          key: entryKeys[i]!,
          value: Buffer.from(diskCodec.pack(r * 7 + i)),
        })),
      );
    bestWrite = Math.min(bestWrite, (performance.now() - t) / BATCHES);
    t = performance.now();
    for (const b of batches) {
      const w = store.batch(
        b.map((i) => ({ type: 'put' as const, key: entryKeys[i]!, value: Buffer.from(diskCodec.pack(r)) })),
      );
      await store.readKeys(
        b.map((i) => prefixes[(i + 1) % KEYS]!),
        ['count'],
      );
      await w;
    }
    bestBoth = Math.min(bestBoth, (performance.now() - t) / BATCHES);
  }
  console.log(
    `${name}: readKeys ${(bestRead * 1000).toFixed(0)} us, getMany(entries only) ${(bestGet1 * 1000).toFixed(0)} us, batch(460 puts) ${(bestWrite * 1000).toFixed(0)} us, both overlapped ${(bestBoth * 1000).toFixed(0)} us per batch`,
  );
}
const root = await mkdtemp(join(tmpdir(), 'ldb-breakdown-'));
const local = new LocalLevelStore(join(root, 'local'));
await local.open();
await measure('in-thread', local);
await local.close();
const host = LevelStoreHost.start();
const connection = host.connect();
const client = new LevelStoreClient(connection.port);
const store = client.store(join(root, 'hosted'));
await store.open();
await measure('host thread', store);
await store.close();
client.close();
await host.release([connection.id]);
await host.shutdown();
await rm(root, { recursive: true, force: true });
