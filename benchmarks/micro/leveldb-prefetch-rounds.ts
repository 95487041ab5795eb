/**
 * Run by hand: the read step of a LevelDB prefetch alone, the way it was (two `getMany` calls
 * to the LevelDB host thread, manifests then entries) against the way it is (one `readKeys`
 * call: the host reads both), on the same database through the same host thread, interleaved
 * round by round; the fastest round of each is kept (the figure least moved by other processes
 * on a shared machine).
 *
 *   node benchmarks/micro/leveldb-prefetch-rounds.ts [rounds] [batchesPerRound]
 *
 * The database is the keyed-state group's "tenth" case: 20,000 keys with one value state each
 * (`count`), every key written once; a batch reads the manifests and entries of 460 keys drawn
 * uniformly (seeded) — about as many as a batch of 512 records misses with a tenth cached.
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
import { parseManifest } from '../../packages/core/src/state/leveldb/stored-keys.ts';

const ROUNDS = Number(process.argv[2] ?? 10);
const BATCHES = Number(process.argv[3] ?? 50);
const KEYS = 20_000;
const MISSES_PER_BATCH = 460;
const MAX_P = 128;

const names = Array.from({ length: KEYS }, (_, i) => `user-${i}`);
const prefixes = names.map((name) => encodeKeyPrefix(assignToKeyGroup(name, MAX_P), name));
const countName = encodeStateName('count');

/** Before: the manifests, then the entries they list (the slot thread builds their keys in between). */
async function twoCalls(store: LevelStore, batch: Buffer[]): Promise<number> {
  const manifests = await store.getMany(batch);
  const entryKeys: Buffer[] = [];
  for (let i = 0; i < batch.length; i++) {
    const bytes = manifests[i];
    if (bytes === undefined) continue;
    for (const [name, namespaces] of parseManifest(bytes, () => names[i]!)) {
      for (const ns of namespaces) entryKeys.push(encodeEntryKey(batch[i]!, encodeStateName(name), ns));
    }
  }
  const values = await store.getMany(entryKeys);
  return values.length;
}

/** Now: one call; the host reads the entries of `count` with the manifests. */
async function oneCall(store: LevelStore, batch: Buffer[]): Promise<number> {
  const { entries } = await store.readKeys(batch, ['count']);
  return entries.length;
}

const root = await mkdtemp(join(tmpdir(), 'sluice-prefetch-rounds-'));
const host = LevelStoreHost.start();
const connection = host.connect();
const client = new LevelStoreClient(connection.port);
const store = client.store(join(root, 'db'));
try {
  await store.open();
  const manifest = Buffer.from(diskCodec.pack([['count', ['']]]));
  for (let from = 0; from < KEYS; from += 5000) {
    const ops = [];
    for (let i = from; i < Math.min(KEYS, from + 5000); i++) {
      ops.push({ type: 'put' as const, key: prefixes[i]!, value: manifest });
      ops.push({
        type: 'put' as const,
        key: encodeEntryKey(prefixes[i]!, countName, ''),
        value: Buffer.from(diskCodec.pack(i)),
      });
    }
    await store.batch(ops);
  }
  let x = 42;
  const batches = Array.from({ length: BATCHES }, () =>
    Array.from({ length: MISSES_PER_BATCH }, () => {
      x ^= x << 13;
      x ^= x >>> 17;
      x ^= x << 5;
      return prefixes[(x >>> 0) % KEYS]!;
    }),
  );
  const contestants = { 'two getMany calls (before)': twoCalls, 'one readKeys call (now)': oneCall };
  const best = new Map<string, number>();
  for (let round = 0; round < ROUNDS; round++) {
    // Alternate which goes first: the second of a pair ran faster on a loaded machine.
    const order = Object.entries(contestants);
    if (round % 2 === 1) order.reverse();
    for (const [name, read] of order) {
      const started = performance.now();
      for (const batch of batches) {
        if ((await read(store, batch)) !== MISSES_PER_BATCH) throw new Error(`${name}: entries missing`);
      }
      const msPerBatch = (performance.now() - started) / BATCHES;
      best.set(name, Math.min(best.get(name) ?? Number.POSITIVE_INFINITY, msPerBatch));
    }
  }
  const before = best.get('two getMany calls (before)')!;
  for (const [name, ms] of best) {
    console.log(
      `${name.padEnd(28)} ${ms.toFixed(3)} ms per batch of ${MISSES_PER_BATCH} keys (${(before / ms).toFixed(2)}x)`,
    );
  }
} finally {
  await store.close();
  client.close();
  await host.release([connection.id]);
  await host.shutdown();
  await rm(root, { recursive: true, force: true });
}
