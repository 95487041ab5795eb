import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { KeyGroupSnapshotEntry } from '../backend/keyed-state-backend.ts';
import { listState, mapState, valueState } from '../descriptors.ts';
import { StateError } from '../errors.ts';
import { assignToKeyGroup, type Key, KeyGroupRange } from '../key-groups.ts';
import { diskCodec, encodeEntryKey, encodeKeyPrefix, encodeStateName } from './key-codec.ts';
import type { LevelStore } from './level-store/level-store.ts';
import { LevelStoreClient } from './level-store/level-store-client.ts';
import { LevelStoreHost } from './level-store/level-store-host.ts';
import { LocalLevelStore } from './level-store/local-level-store.ts';
import { LevelDbKeyedStateBackend } from './leveldb-keyed-state-backend.ts';
import { readStoredKeys } from './stored-keys.ts';

const MAX_P = 16;
const kg = (key: Key): number => assignToKeyGroup(key, MAX_P);

let root = '';
let dirs = 0;
beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'sluice-stored-keys-'));
});
afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});
const freshDir = (): string => join(root, `db-${dirs++}`);

/** A {@link LocalLevelStore} that counts the reads the backend asks of it. */
function countingStore(directory: string): {
  store: LevelStore;
  reads: { readKeys: number; getMany: number };
} {
  const local = new LocalLevelStore(directory);
  const reads = { readKeys: 0, getMany: 0 };
  const store: LevelStore = {
    directory,
    open: () => local.open(),
    getMany: (keys) => {
      reads.getMany++;
      return local.getMany(keys);
    },
    readKeys: (prefixes, guessed) => {
      reads.readKeys++;
      return local.readKeys(prefixes, guessed);
    },
    batch: (ops) => local.batch(ops),
    putPacked: (keys, values) => local.putPacked(keys, values),
    snapshot: () => local.snapshot(),
    close: () => local.close(),
  };
  return { store, reads };
}

async function backendOn(store: LevelStore, cacheMaxKeys: number): Promise<LevelDbKeyedStateBackend> {
  const backend = new LevelDbKeyedStateBackend({
    maxParallelism: MAX_P,
    keyGroupRange: new KeyGroupRange(0, MAX_P - 1),
    directory: store.directory,
    cacheMaxKeys,
    store,
  });
  await backend.open();
  return backend;
}

/** Value, list and map state in the default namespace, and a value state in window namespaces. */
function states(backend: LevelDbKeyedStateBackend) {
  return {
    count: backend.getState(valueState<number>('count')),
    seen: backend.getState(listState<string>('seen')),
    tags: backend.getState(mapState<string, number>('tags')),
    window: backend.getState(valueState<number>('window-sum')),
  };
}

const KEYS: Key[] = Array.from({ length: 60 }, (_, i) => (i % 3 === 0 ? i : `key-${i}`));
const batchOf = (keys: readonly Key[]) => keys.map((key) => [key, kg(key)] as const);

async function prefetch(backend: LevelDbKeyedStateBackend, keys: readonly Key[]): Promise<void> {
  const load = backend.prefetch(batchOf(keys));
  if (load !== undefined) await load;
}

async function evict(backend: LevelDbKeyedStateBackend): Promise<void> {
  const write = backend.evict();
  if (write !== undefined) await write;
}

/** Gives each key a different mix of states: some only windowed, some none at all. */
function write(
  backend: LevelDbKeyedStateBackend,
  s: ReturnType<typeof states>,
  key: Key,
  round: number,
): void {
  backend.setCurrentKey(key, kg(key));
  const i = KEYS.indexOf(key);
  if (i % 4 !== 3) s.count.update((s.count.value() ?? 0) + round + i);
  if (i % 4 === 1) s.seen.add(`r${round}`);
  if (i % 5 === 0) s.tags.put(`t${round % 2}`, round);
  if (i % 3 !== 2) {
    s.window.setNamespace(`w${round % 3}`);
    s.window.update((s.window.value() ?? 0) + 1);
    s.window.setNamespace('');
  }
  if (i % 11 === 10) s.count.clear(); // a removed entry: its manifest must stop listing it
}

/** Every key's state as plain data (through the snapshot, the backend-neutral form). */
async function snapshotAll(backend: LevelDbKeyedStateBackend): Promise<KeyGroupSnapshotEntry[]> {
  const out: KeyGroupSnapshotEntry[] = [];
  for (let g = 0; g < MAX_P; g++) out.push(...(await backend.snapshotKeyGroup(g)));
  return out.sort((a, b) => JSON.stringify(a).localeCompare(JSON.stringify(b)));
}

/** Reads every key's state through the state objects (the keys prefetched). */
function readAll(backend: LevelDbKeyedStateBackend, s: ReturnType<typeof states>, keys: readonly Key[]) {
  return keys.map((key) => {
    backend.setCurrentKey(key, kg(key));
    const windows = ['w0', 'w1', 'w2'].map((w) => {
      s.window.setNamespace(w);
      const v = s.window.value();
      s.window.setNamespace('');
      return v;
    });
    return [key, s.count.value(), s.seen.get(), [...s.tags.entries()], windows];
  });
}

describe('readStoredKeys', () => {
  it('reads manifests and guessed entries in one getMany, and only the unguessed entries in a second', async () => {
    const store = new LocalLevelStore(freshDir());
    await store.open();
    try {
      const a = encodeKeyPrefix(kg('a'), 'a');
      const b = encodeKeyPrefix(kg('b'), 'b');
      const entry = (prefix: Buffer, name: string, ns: string) =>
        encodeEntryKey(prefix, encodeStateName(name), ns);
      const put = (key: Buffer, value: unknown) => ({
        type: 'put' as const,
        key,
        value: Buffer.from(diskCodec.pack(value)),
      });
      await store.batch([
        put(a, [
          ['v', ['']],
          ['w', ['x', 'y']],
        ]),
        put(entry(a, 'v', ''), 1),
        put(entry(a, 'w', 'x'), 2),
        put(entry(a, 'w', 'y'), 3),
        put(b, [['v', ['']]]),
        put(entry(b, 'v', ''), 4),
        // Not listed by b's manifest: not returned.
        put(entry(b, 'w', 'x'), 99),
      ]);
      const calls: number[] = [];
      const getMany = (keys: Buffer[]) => {
        calls.push(keys.length);
        return store.getMany(keys);
      };
      const none = encodeKeyPrefix(kg('none'), 'none');
      const unpack = (values: Array<Buffer | undefined>) =>
        values.map((v) => (v === undefined ? v : diskCodec.unpack(v)));

      const guessed = await readStoredKeys(getMany, [a, none, b], ['v']);
      expect(calls).toEqual([6, 2]); // 3 manifests + 3 guesses, then a's two window entries
      expect(guessed.manifests.map((m) => m !== undefined)).toEqual([true, false, true]);
      expect(unpack(guessed.entries)).toEqual([1, 2, 3, 4]);

      calls.length = 0;
      const onlyValue = await readStoredKeys(getMany, [b], ['v', 'w']);
      expect(calls).toEqual([3]); // nothing unguessed: one read
      expect(unpack(onlyValue.entries)).toEqual([4]);

      calls.length = 0;
      const noGuess = await readStoredKeys(getMany, [a, b], []);
      expect(calls).toEqual([2, 4]);
      expect(unpack(noGuess.entries)).toEqual([1, 2, 3, 4]);
    } finally {
      await store.close();
    }
  });

  it('reports a malformed manifest as corrupt storage, naming the key', async () => {
    const store = new LocalLevelStore(freshDir());
    await store.open();
    try {
      const prefix = encodeKeyPrefix(kg('bad'), 'bad');
      await store.batch([
        { type: 'put', key: prefix, value: Buffer.from(diskCodec.pack({ not: 'a list' })) },
      ]);
      const error = await store.readKeys([prefix], ['v']).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(StateError);
      expect(error).toMatchObject({ code: 'SLUICE_STATE_STORAGE_CORRUPT' });
      expect((error as Error).message).toContain('"bad"');
    } finally {
      await store.close();
    }
  });
});

describe('a prefetch reads from disk once per batch', () => {
  it('one readKeys and no getMany per batch of missing keys, whatever states and namespaces they have', async () => {
    const { store, reads } = countingStore(freshDir());
    const backend = await backendOn(store, 5);
    try {
      const s = states(backend);
      // Round 1 writes every key; later rounds read them back from disk, batch by batch, and
      // change them (reads after writes within the batch), with evictions in between.
      for (let round = 0; round < 4; round++) {
        for (let from = 0; from < KEYS.length; from += 12) {
          const batch = KEYS.slice(from, from + 12);
          const before = { ...reads };
          await prefetch(backend, batch);
          expect(reads.getMany).toBe(before.getMany);
          expect(reads.readKeys - before.readKeys).toBe(1);
          for (const key of batch) write(backend, s, key, round);
          // Within the batch, reads see the writes just made.
          backend.setCurrentKey(batch[0]!, kg(batch[0]!));
          const i = KEYS.indexOf(batch[0]!);
          if (i % 4 !== 3 && i % 11 !== 10) expect(s.count.value()).toBeGreaterThanOrEqual(round + i);
          await evict(backend);
        }
      }
      expect(reads.readKeys).toBeGreaterThan(0);
    } finally {
      await backend.destroy();
    }
  });

  it('reads back under eviction what a backend that never evicts holds, as the guess changes', async () => {
    const evicting = await backendOn(countingStore(freshDir()).store, 3);
    const keeping = await backendOn(countingStore(freshDir()).store, 10_000);
    try {
      const se = states(evicting);
      const sk = states(keeping);
      // Windowed-only keys first (the guess learns that most keys have no default-namespace
      // value), then keys with value state (it learns again).
      const order = [...KEYS.filter((_, i) => i % 4 === 3), ...KEYS.filter((_, i) => i % 4 !== 3)];
      for (let round = 0; round < 5; round++) {
        for (let from = 0; from < order.length; from += 7) {
          const batch = order.slice(from, from + 7);
          await prefetch(evicting, batch);
          await prefetch(keeping, batch);
          for (const key of batch) {
            write(evicting, se, key, round);
            write(keeping, sk, key, round);
          }
          expect(readAll(evicting, se, batch)).toEqual(readAll(keeping, sk, batch));
          await evict(evicting);
          await evict(keeping);
        }
      }
      expect(evicting.numCachedKeys).toBeLessThanOrEqual(3);
      expect(await snapshotAll(evicting)).toEqual(await snapshotAll(keeping));
    } finally {
      await evicting.destroy();
      await keeping.destroy();
    }
  });

  it('restored from a checkpoint into a small cache, keys load in one read per batch and read back equal', async () => {
    const source = await backendOn(countingStore(freshDir()).store, 10_000);
    const { store, reads } = countingStore(freshDir());
    const restored = await backendOn(store, 4);
    try {
      const s = states(source);
      await prefetch(source, KEYS);
      for (let round = 0; round < 3; round++) for (const key of KEYS) write(source, s, key, round);
      for (let g = 0; g < MAX_P; g++) await restored.restoreKeyGroup(g, await source.snapshotKeyGroup(g));
      const r = states(restored);
      // Evicted and restored keys are loaded back one batch at a time.
      for (let from = 0; from < KEYS.length; from += 4) {
        const batch = KEYS.slice(from, from + 4);
        const before = reads.readKeys;
        await prefetch(restored, batch);
        expect(reads.readKeys - before).toBeLessThanOrEqual(1);
        expect(readAll(restored, r, batch)).toEqual(readAll(source, s, batch));
        await evict(restored);
      }
      expect(reads.getMany).toBe(0);
      expect(await snapshotAll(restored)).toEqual(await snapshotAll(source));
    } finally {
      await source.destroy();
      await restored.destroy();
    }
  });

  it('through the LevelDB host thread: manifests and entries cross packed, absent ones as absent', async () => {
    const host = LevelStoreHost.start();
    const connection = host.connect();
    const client = new LevelStoreClient(connection.port);
    const directory = freshDir();
    const backend = await backendOn(client.store(directory), 2);
    const keeping = await backendOn(countingStore(freshDir()).store, 10_000);
    try {
      const se = states(backend);
      const sk = states(keeping);
      for (let round = 0; round < 3; round++) {
        for (let from = 0; from < KEYS.length; from += 6) {
          const batch = KEYS.slice(from, from + 6);
          await prefetch(backend, batch);
          await prefetch(keeping, batch);
          for (const key of batch) {
            write(backend, se, key, round);
            write(keeping, sk, key, round);
          }
          await evict(backend);
          await evict(keeping);
        }
      }
      for (let from = 0; from < KEYS.length; from += 2) {
        const batch = KEYS.slice(from, from + 2);
        await prefetch(backend, batch);
        await prefetch(keeping, batch);
        expect(readAll(backend, se, batch)).toEqual(readAll(keeping, sk, batch));
        await evict(backend);
      }
    } finally {
      await backend.destroy();
      await keeping.destroy();
      client.close();
      await host.release([connection.id]);
      await host.shutdown();
    }
  });
});
