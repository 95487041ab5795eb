import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, expectTypeOf, it } from 'vitest';
import { runTsWorker } from '../../testing/run-ts-worker.ts';
import type { KeyGroupSnapshotEntry } from '../backend/keyed-state-backend.ts';
import { listState, mapState, valueState } from '../descriptors.ts';
import { StateArgumentError, StateError } from '../errors.ts';
import { HeapKeyedStateBackend } from '../heap/heap-keyed-state-backend.ts';
import { assignToKeyGroup, type Key, KeyGroupRange } from '../key-groups.ts';
import { describeKeyedStateBackendContract } from '../testing/keyed-state-backend.contract.ts';
import {
  expectBackendMatches,
  expectEntriesReadBack,
  KEYS,
  kgOf,
  MAX_P,
  modelSnapshot,
  normalize,
  opsArb,
  register,
  run,
  snapshotAll,
  use,
} from '../testing/state-model.ts';
import type { LevelStore } from './level-store/level-store.ts';
import { LocalLevelStore } from './level-store/local-level-store.ts';
import type { LevelDbWorkerData, LevelDbWorkerResult } from './leveldb-keyed-state-backend.test-worker.ts';
import { LevelDbKeyedStateBackend } from './leveldb-keyed-state-backend.ts';

let root = '';
let dirCount = 0;
beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'sluice-leveldb-test-'));
});
afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

function freshDir(): string {
  return join(root, `db-${dirCount++}`);
}

async function openBackend(
  options: {
    cacheMaxKeys?: number;
    range?: KeyGroupRange;
    directory?: string;
    maxParallelism?: number;
    clock?: () => number;
  } = {},
): Promise<LevelDbKeyedStateBackend> {
  const maxParallelism = options.maxParallelism ?? MAX_P;
  const backend = new LevelDbKeyedStateBackend({
    maxParallelism,
    keyGroupRange: options.range ?? new KeyGroupRange(0, maxParallelism - 1),
    directory: options.directory ?? freshDir(),
    cacheMaxKeys: options.cacheMaxKeys ?? 2,
    ...(options.clock === undefined ? {} : { clock: options.clock }),
  });
  await backend.open();
  return backend;
}

function fullHeap(): HeapKeyedStateBackend {
  return new HeapKeyedStateBackend({ maxParallelism: MAX_P, keyGroupRange: new KeyGroupRange(0, MAX_P - 1) });
}

describeKeyedStateBackendContract<LevelDbKeyedStateBackend>('LevelDbKeyedStateBackend', {
  create: ({ maxParallelism, keyGroupRange, cacheMaxKeys, clock } = {}) =>
    openBackend({
      ...(maxParallelism === undefined ? {} : { maxParallelism }),
      ...(clock === undefined ? {} : { clock }),
      ...(keyGroupRange === undefined ? {} : { range: keyGroupRange }),
      ...(cacheMaxKeys === undefined ? {} : { cacheMaxKeys }),
    }),
  construct: (options) => new LevelDbKeyedStateBackend({ ...options, directory: freshDir() }),
  dispose: (backend) => backend.destroy(),
  spills: true,
  // Constant eviction and re-fetch.
  propertyCacheMaxKeys: 2,
  checkAfterModel: async (backend) => {
    await backend.evict();
    expect(backend.numCachedKeys).toBeLessThanOrEqual(2);
  },
  runs: { model: 100, rescaling: 30 },
});

describe('LevelDbKeyedStateBackend against the heap backend', () => {
  it('agrees with the heap backend op for op, and their snapshots are equal', async () => {
    await fc.assert(
      fc.asyncProperty(opsArb(true), async (ops) => {
        const backend = await openBackend({ cacheMaxKeys: 3 });
        try {
          await run(ops, backend);
          const heap = fullHeap();
          await run(ops, heap);
          expect(normalize(await snapshotAll(backend))).toEqual(normalize(await snapshotAll(heap)));
        } finally {
          await backend.destroy();
        }
      }),
      { numRuns: 30 },
    );
  });
});

describe('snapshot and restore between backends', () => {
  it('LevelDB → heap: every key group restores into the heap backend', async () => {
    await fc.assert(
      fc.asyncProperty(opsArb(true), async (ops) => {
        const source = await openBackend({ cacheMaxKeys: 2 });
        try {
          const model = await run(ops, source);
          const heap = fullHeap();
          for (const kg of heap.keyGroupRange) {
            // structuredClone stands in for serialisation: snapshots must be plain data.
            heap.restoreKeyGroup(kg, structuredClone(await source.snapshotKeyGroup(kg)));
          }
          expect(normalize(await snapshotAll(heap))).toEqual(modelSnapshot(model));
          await expectEntriesReadBack([{ backend: heap, states: register(heap) }], model);
        } finally {
          await source.destroy();
        }
      }),
      { numRuns: 30 },
    );
  });

  it('heap → LevelDB: every key group restores into the LevelDB backend, registered before or after', async () => {
    await fc.assert(
      fc.asyncProperty(opsArb(true), fc.boolean(), async (ops, registerFirst) => {
        const heap = fullHeap();
        const model = await run(ops, heap);
        const target = await openBackend({ cacheMaxKeys: 2 });
        try {
          let states = registerFirst ? register(target) : undefined;
          for (const kg of target.keyGroupRange) {
            await target.restoreKeyGroup(kg, structuredClone(heap.snapshotKeyGroup(kg)));
          }
          // Restored but not registered state is in snapshots too.
          expect(normalize(await snapshotAll(target))).toEqual(modelSnapshot(model));
          states ??= register(target);
          await expectEntriesReadBack([{ backend: target, states }], model);
          await expectBackendMatches(target, model);
        } finally {
          await target.destroy();
        }
      }),
      { numRuns: 30 },
    );
  });

  it('restores straight to disk where a key group is empty, and through the cache where keys have state', async () => {
    const backend = await openBackend({ maxParallelism: 128, cacheMaxKeys: 4 });
    try {
      const v = backend.getState(valueState<number>('v'));
      const l = backend.getState(listState<string>('l'));
      const kg = assignToKeyGroup('a', 128);
      const sameGroup = (n: number): string[] => {
        const keys: string[] = [];
        for (let i = 0; keys.length < n; i++) if (assignToKeyGroup(`k${i}`, 128) === kg) keys.push(`k${i}`);
        return keys;
      };
      // A fresh key group, straight to disk: later entries of a state and namespace win, and an
      // empty list is not stored.
      const [b, c, d] = sameGroup(3) as [string, string, string];
      await backend.restoreKeyGroup(kg, [
        ['v', 'a', '', 1],
        ['l', 'a', 'w', ['x']],
        ['v', 'a', '', 2],
        ['v', b, '', 3],
        ['l', c, '', []],
      ]);
      await use(backend, 'a'); // waits for the restore's writes
      expect(v.value()).toBe(2);
      l.setNamespace('w');
      expect(l.get()).toEqual(['x']);
      l.setNamespace('');
      // State changed since (one key in memory, one written back), then restored into again:
      // through the cache, keeping the entries the restore does not name.
      l.add('y');
      await use(backend, b);
      v.update(30);
      l.add('z');
      for (const key of ['e1', 'e2', 'e3', 'e4', 'e5']) await use(backend, key);
      await backend.evict(); // 'a' and b written back and dropped: on disk only
      expect(new Set(backend.keys('v'))).not.toContain(b);
      expect(backend.numCachedKeys).toBe(4);
      await backend.restoreKeyGroup(kg, [
        ['v', 'a', '', 10],
        ['v', b, '', 40],
        ['v', d, '', 50],
      ]);
      const byId = (entries: readonly KeyGroupSnapshotEntry[]) =>
        new Map(entries.map(([name, key, ns, value]) => [`${name}|${String(key)}|${ns}`, value]));
      const snapshot = byId(await backend.snapshotKeyGroup(kg));
      for (const id of snapshot.keys()) if (/^v\|e\d\|$/.test(id)) snapshot.delete(id);
      expect(snapshot).toEqual(
        byId([
          ['v', 'a', '', 10],
          ['l', 'a', '', ['y']],
          ['l', 'a', 'w', ['x']],
          ['v', b, '', 40],
          ['l', b, '', ['z']],
          ['v', d, '', 50],
        ]),
      );
      // And through the cache, as an operator reads them.
      await use(backend, b);
      expect([v.value(), l.get()]).toEqual([40, ['z']]);
      await use(backend, 'a');
      expect([v.value(), l.get()]).toEqual([10, ['y']]);
    } finally {
      await backend.destroy();
    }
  });

  it('snapshots are point-in-time as of the call, whatever happens before they resolve', async () => {
    const backend = await openBackend({ cacheMaxKeys: 100 });
    try {
      const count = backend.getState(valueState<number>('count'));
      const list = backend.getState(listState<string>('list'));
      await use(backend, 'k');
      count.update(1);
      list.add('a');
      const kg = kgOf('k');
      const pending = backend.snapshotKeyGroup(kg);
      count.update(2); // after the call: not in this snapshot
      list.add('b'); // in place, after the call
      const later = backend.snapshotKeyGroup(kg);
      expect(normalize(await pending)).toEqual(
        normalize([
          ['count', 'k', '', 1],
          ['list', 'k', '', ['a']],
        ]),
      );
      expect(normalize(await later)).toEqual(
        normalize([
          ['count', 'k', '', 2],
          ['list', 'k', '', ['a', 'b']],
        ]),
      );
    } finally {
      await backend.destroy();
    }
  });

  it('rejects a restore before changing anything, and checks values of unregistered states when prefetched', async () => {
    const backend = await openBackend({ maxParallelism: 128 });
    try {
      const kg = assignToKeyGroup('k', 128);
      const invalid = expect.objectContaining({ code: 'SLUICE_STATE_RESTORE_INVALID' });
      backend.getState(listState('l'));
      await expect(
        backend.restoreKeyGroup(kg, [
          ['l', 'k', '', [1]],
          ['l', 'k', 'w', 5],
        ]),
      ).rejects.toThrow(invalid);
      expect(await backend.snapshotKeyGroup(kg)).toEqual([]);
      await expect(backend.snapshotKeyGroup(128)).rejects.toThrow(
        expect.objectContaining({ code: 'SLUICE_KEY_GROUP_OUT_OF_RANGE' }),
      );
      // A value restored for a state not registered yet is checked when it is registered (the
      // contract) or, if it was evicted to disk meanwhile, when it is prefetched.
      await backend.restoreKeyGroup(assignToKeyGroup('k2', 128), [['m2', 'k2', '', 'not pairs']]);
      await backend.restoreKeyGroup(assignToKeyGroup('x', 128), [['v', 'x', '', 1]]);
      await backend.restoreKeyGroup(assignToKeyGroup('y', 128), [['v', 'y', '', 1]]);
      await backend.evict();
      backend.getState(mapState('m2'));
      await expect(backend.prefetch([['k2', assignToKeyGroup('k2', 128)]])).rejects.toThrow(invalid);
    } finally {
      await backend.destroy();
    }
  });
});

/** A store whose restore batches (`putPacked`) wait until `release()`: the restore stays pending. */
function gatedStore(directory: string): { store: LevelStore; release: () => void; held: () => number } {
  const local = new LocalLevelStore(directory);
  let open!: () => void;
  const gate = new Promise<void>((resolve) => (open = resolve));
  let held = 0;
  const store: LevelStore = {
    directory,
    open: () => local.open(),
    getMany: (keys) => local.getMany(keys),
    readKeys: (prefixes, guessed) => local.readKeys(prefixes, guessed),
    batch: (ops) => local.batch(ops),
    putPacked: (keys, values) => {
      held++;
      return gate.then(() => local.putPacked(keys, values));
    },
    snapshot: () => local.snapshot(),
    close: () => local.close(),
  };
  return { store, release: open, held: () => held };
}

describe('eviction writes behind', () => {
  /** A store whose `batch` writes wait until `release()`, then succeed, or fail after `fail(error)`. */
  function heldWrites(directory: string) {
    const local = new LocalLevelStore(directory);
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    let failure: Error | undefined;
    let started = 0;
    const store: LevelStore = {
      directory,
      open: () => local.open(),
      getMany: (keys) => local.getMany(keys),
      readKeys: (prefixes, guessed) => local.readKeys(prefixes, guessed),
      batch: (ops) => {
        started++;
        return gate.then(() => {
          if (failure !== undefined) throw failure;
          return local.batch(ops);
        });
      },
      putPacked: (keys, values) => local.putPacked(keys, values),
      snapshot: () => local.snapshot(),
      close: () => local.close(),
    };
    return {
      store,
      started: () => started,
      release,
      fail: (error: Error) => {
        failure = error;
      },
    };
  }

  const openWith = async (store: LevelStore, directory: string) => {
    const backend = new LevelDbKeyedStateBackend({
      maxParallelism: MAX_P,
      keyGroupRange: new KeyGroupRange(0, MAX_P - 1),
      directory,
      store,
      cacheMaxKeys: 1,
    });
    await backend.open();
    return backend;
  };

  it('lets the task go on while two writes are queued, waits at the third, and revives evicted keys from memory', async () => {
    const directory = freshDir();
    const writes = heldWrites(directory);
    const backend = await openWith(writes.store, directory);
    try {
      const v = backend.getState(valueState<number>('v'));
      const evictions: Array<Promise<void> | undefined> = [];
      for (const key of ['a', 'b', 'c', 'd']) {
        await backend.prefetch([[key, kgOf(key)]]);
        backend.setCurrentKey(key);
        v.update(key.charCodeAt(0));
        evictions.push(backend.evict());
      }
      // 'a' evicted when 'b' came in, and so on: three writes queued, one at a time, none done.
      expect(writes.started()).toBe(1);
      expect(evictions[0]).toBeUndefined();
      expect(evictions[1]).toBeUndefined();
      expect(evictions[2]).toBeUndefined();
      expect(evictions[3]).toBeInstanceOf(Promise);
      // 'a' is not on disk yet: a prefetch takes it from memory, with its value.
      expect(backend.prefetch([['a', kgOf('a')]])).toBeUndefined();
      backend.setCurrentKey('a');
      expect(v.value()).toBe(97);
      writes.release();
      await evictions[3];
      expect(writes.started()).toBe(3);
      await backend.close();
      const reopened = new LevelDbKeyedStateBackend({
        maxParallelism: MAX_P,
        keyGroupRange: new KeyGroupRange(0, MAX_P - 1),
        directory,
      });
      await reopened.open();
      try {
        const v2 = reopened.getState(valueState<number>('v'));
        for (const key of ['a', 'b', 'c', 'd']) {
          await reopened.prefetch([[key, kgOf(key)]]);
          reopened.setCurrentKey(key);
          expect(v2.value()).toBe(key.charCodeAt(0));
        }
      } finally {
        await reopened.destroy();
      }
    } finally {
      writes.release(); // a failed expectation must not leave destroy() waiting on the gate
      await backend.destroy();
    }
  });

  it('a write nobody waited for that fails, fails the next call and close()', async () => {
    const directory = freshDir();
    const writes = heldWrites(directory);
    const backend = await openWith(writes.store, directory);
    const v = backend.getState(valueState<number>('v'));
    for (const key of ['a', 'b']) {
      await backend.prefetch([[key, kgOf(key)]]);
      backend.setCurrentKey(key);
      v.update(1);
      expect(backend.evict()).toBeUndefined();
    }
    writes.fail(new Error('disk full'));
    writes.release();
    // The failure is recorded once the write has settled: close() waits for every write.
    await expect(backend.close()).rejects.toThrow(
      expect.objectContaining({ code: 'SLUICE_STATE_STORAGE_FAILED' }),
    );
    expect(() => backend.prefetch([['c', kgOf('c')]])).toThrow();
    await backend.destroy();
  });
});

describe('restore written to disk in the background', () => {
  const maxParallelism = 16;
  const sorted = (entries: readonly KeyGroupSnapshotEntry[]): Array<[string, unknown]> =>
    entries
      .map(([name, key, ns, value]): [string, unknown] => [`${name}|${String(key)}|${ns}`, value])
      .sort(([x], [y]) => (x < y ? -1 : 1));
  const range = new KeyGroupRange(0, maxParallelism - 1);
  /** `n` keys of each of the key groups `groups`. */
  const keysOf = (groups: readonly number[], n: number): Map<number, string[]> => {
    const out = new Map(groups.map((kg) => [kg, [] as string[]]));
    for (let i = 0; [...out.values()].some((keys) => keys.length < n); i++) {
      const keys = out.get(assignToKeyGroup(`key-${i}`, maxParallelism));
      if (keys !== undefined && keys.length < n) keys.push(`key-${i}`);
    }
    return out;
  };

  it('serves restored keys from memory before they are on disk, and writes back what changed after', async () => {
    const directory = freshDir();
    const gated = gatedStore(directory);
    const backend = new LevelDbKeyedStateBackend({
      maxParallelism,
      keyGroupRange: range,
      directory,
      store: gated.store,
      cacheMaxKeys: 3,
    });
    await backend.open();
    const v = backend.getState(valueState<number>('v'));
    const m = backend.getState(mapState<string, number>('m'));
    // Six key groups: more than the batches in flight, so the last are built only after the first
    // are written, when some of their keys have been taken into the cache already.
    const groups = [1, 3, 5, 7, 9, 11];
    const keys = keysOf(groups, 5);
    const expected = new Map<string, KeyGroupSnapshotEntry[]>();
    for (const [kg, ks] of keys) {
      await backend.restoreKeyGroup(
        kg,
        ks.flatMap((key, i): KeyGroupSnapshotEntry[] => [
          ['v', key, '', i],
          ['m', key, 'w', [['x', i]]],
        ]),
      );
    }
    // The writer starts on the next turn of the event loop and sends four batches, none on disk yet.
    await new Promise((resolve) => setImmediate(resolve));
    expect(gated.held()).toBe(4);
    const last = keys.get(11)!;
    const first = keys.get(1)!;
    // Read before anything is written; change one key of the last group, clear another.
    await use(backend, last[0]!);
    expect(v.value()).toBe(0);
    m.setNamespace('w');
    expect(m.get('x')).toBe(0);
    v.update(100);
    m.put('y', 1);
    m.setNamespace('');
    await use(backend, last[1]!);
    v.clear();
    await use(backend, first[2]!);
    v.update(200);
    const evicted = backend.evict(); // writes queue behind the restore's batches
    const snapshot = backend.snapshotKeyGroup(11);
    gated.release();
    await evicted;
    const changed = (key: string, i: number): KeyGroupSnapshotEntry[] =>
      key === last[0]
        ? [
            ['v', key, '', 100],
            [
              'm',
              key,
              'w',
              [
                ['x', 0],
                ['y', 1],
              ],
            ],
          ]
        : key === last[1]
          ? [['m', key, 'w', [['x', 1]]]]
          : key === first[2]
            ? [
                ['v', key, '', 200],
                ['m', key, 'w', [['x', 2]]],
              ]
            : [
                ['v', key, '', i],
                ['m', key, 'w', [['x', i]]],
              ];
    for (const [kg, ks] of keys) expected.set(String(kg), ks.flatMap(changed));
    expect(sorted(await snapshot)).toEqual(sorted(expected.get('11')!));
    for (const kg of groups) {
      expect(sorted(await backend.snapshotKeyGroup(kg))).toEqual(sorted(expected.get(String(kg))!));
    }
    expect(new Set(await backend.keysAsync('v'))).toEqual(
      new Set([...keys.values()].flat().filter((key) => key !== last[1])),
    );
    await backend.close();
    // What reached disk: reopened, every key reads back as changed (the restore wrote no stale copy).
    const reopened = await openBackend({ directory, maxParallelism, range, cacheMaxKeys: 100 });
    try {
      for (const kg of groups) {
        expect(sorted(await reopened.snapshotKeyGroup(kg))).toEqual(sorted(expected.get(String(kg))!));
      }
    } finally {
      await reopened.destroy();
    }
  });

  it('writes values restored before their state was registered in snapshot form, registered before the write or not', async () => {
    const directory = freshDir();
    const gated = gatedStore(directory);
    const backend = new LevelDbKeyedStateBackend({
      maxParallelism,
      keyGroupRange: range,
      directory,
      store: gated.store,
    });
    await backend.open();
    const keys = keysOf([0, 2, 4, 6, 8, 10], 3);
    const now = Date.now();
    const ttl = { ttlMs: 3_600_000 };
    for (const [kg, ks] of keys) {
      await backend.restoreKeyGroup(
        kg,
        // A value with TTL: [value, timestampMs] in snapshot form, another object in memory.
        ks.map((key, i) => ['v', key, '', [`${key}-${i}`, now]] as const),
      );
    }
    // Registered after the restore, before any batch is built.
    backend.getState(valueState<string>('v', { ttl }));
    gated.release();
    await backend.close();
    const reopened = await openBackend({ directory, maxParallelism, range });
    try {
      const v = reopened.getState(valueState<string>('v', { ttl }));
      for (const ks of keys.values()) {
        for (const [i, key] of ks.entries()) {
          await use(reopened, key);
          expect(v.value()).toBe(`${key}-${i}`);
        }
      }
    } finally {
      await reopened.destroy();
    }
  });

  it('close() writes a pending restore before closing; destroy() waits for the batches in flight', async () => {
    const directory = freshDir();
    const gated = gatedStore(directory);
    const backend = new LevelDbKeyedStateBackend({
      maxParallelism,
      keyGroupRange: range,
      directory,
      store: gated.store,
    });
    await backend.open();
    const keys = keysOf([0, 2, 4, 6, 8, 10], 3);
    for (const [kg, ks] of keys)
      await backend.restoreKeyGroup(
        kg,
        ks.map((key, i) => ['v', key, '', i] as const),
      );
    const closed = backend.close();
    gated.release();
    await closed;
    const reopened = await openBackend({ directory, maxParallelism, range });
    try {
      for (const [kg, ks] of keys) {
        expect(sorted(await reopened.snapshotKeyGroup(kg))).toEqual(
          sorted(ks.map((key, i) => ['v', key, '', i])),
        );
      }
    } finally {
      await reopened.destroy();
    }
    const second = gatedStore(freshDir());
    const destroyed = new LevelDbKeyedStateBackend({
      maxParallelism,
      keyGroupRange: range,
      directory: second.store.directory,
      store: second.store,
    });
    await destroyed.open();
    for (const [kg, ks] of keys)
      await destroyed.restoreKeyGroup(
        kg,
        ks.map((key, i) => ['v', key, '', i] as const),
      );
    const gone = destroyed.destroy();
    second.release();
    await gone;
    await expect(readdir(second.store.directory)).rejects.toThrow(/ENOENT/);
  });
});

describe('LevelDbKeyedStateBackend', () => {
  it('offers prefetch and evict, which return undefined when there is nothing to wait for', async () => {
    const backend = await openBackend();
    try {
      expectTypeOf(backend.prefetch).returns.toEqualTypeOf<Promise<void> | undefined>();
      expectTypeOf(backend.evict).returns.toEqualTypeOf<Promise<void> | undefined>();
      expect(backend.evict()).toBeUndefined();
    } finally {
      await backend.destroy();
    }
  });

  it('throws SLUICE_STATE_NOT_PREFETCHED naming the key, and prefetch returns undefined when cached', async () => {
    const backend = await openBackend({ cacheMaxKeys: 10 });
    try {
      const count = backend.getState(valueState<number>('count', { defaultValue: 0 }));
      expect(() => count.value()).toThrow(expect.objectContaining({ code: 'SLUICE_STATE_NO_CURRENT_KEY' }));
      backend.setCurrentKey('user-7'); // allowed: an operator may not touch state
      const notPrefetched = expect.objectContaining({ code: 'SLUICE_STATE_NOT_PREFETCHED' });
      expect(() => count.value()).toThrow(StateError);
      expect(() => count.value()).toThrow(notPrefetched);
      expect(() => count.update(1)).toThrow(/"user-7" \(key group \d+\)/);
      const first = backend.prefetch([['user-7', kgOf('user-7')]]);
      expect(first).toBeInstanceOf(Promise);
      await first;
      // Prefetched after setCurrentKey: usable without setting the key again.
      count.update(count.value()! + 1);
      expect(count.value()).toBe(1);
      expect(backend.prefetch([['user-7', kgOf('user-7')]])).toBeUndefined();
      expect(backend.prefetch([])).toBeUndefined();
      // A new key is cached (empty) after its prefetch, so the next prefetch is free too.
      await backend.prefetch([['new', kgOf('new')]]);
      expect(
        backend.prefetch([
          ['new', kgOf('new')],
          ['user-7', kgOf('user-7')],
        ]),
      ).toBeUndefined();
      expect(() => backend.prefetch([['zzz', MAX_P]])).toThrow(
        expect.objectContaining({ code: 'SLUICE_KEY_GROUP_OUT_OF_RANGE' }),
      );
    } finally {
      await backend.destroy();
    }
  });

  it('lets overlapping prefetches of a key share one read, never overwriting newer state', async () => {
    const directory = freshDir();
    const first = await openBackend({ directory, cacheMaxKeys: 10 });
    const v = first.getState(valueState<number>('v'));
    await use(first, 'a');
    v.update(1);
    await first.close(); // 'a' is on disk only now
    const backend = await openBackend({ directory, cacheMaxKeys: 10 });
    try {
      const v2 = backend.getState(valueState<number>('v'));
      const p1 = backend.prefetch([['a', kgOf('a')]]);
      const p2 = backend.prefetch([
        ['a', kgOf('a')],
        ['c', kgOf('c')],
      ]);
      expect(p1).toBeInstanceOf(Promise);
      expect(p2).toBeInstanceOf(Promise);
      await p1;
      backend.setCurrentKey('a');
      v2.update(v2.value()! + 10);
      await p2; // must not replace 'a' with what it read from disk
      expect(v2.value()).toBe(11);
      backend.setCurrentKey('c');
      expect(v2.value()).toBeUndefined();
    } finally {
      await backend.destroy();
    }
  });

  it('never evicts the current key, and keeps the cache at cacheMaxKeys', async () => {
    const backend = await openBackend({ cacheMaxKeys: 3 });
    try {
      const v = backend.getState(valueState<number>('v'));
      await use(backend, 'current');
      v.update(42);
      // Rounds of new keys without touching the current key: its CLOCK second chance runs out
      // after the first sweep, so only the rule "never the current key" keeps it.
      for (let round = 0; round < 5; round++) {
        await backend.prefetch([`k${round}a`, `k${round}b`].map((k) => [k, kgOf(k)] as const));
        await backend.evict();
        expect(backend.numCachedKeys).toBe(3);
        expect([...backend.keys('v')]).toEqual(['current']);
      }
      expect(v.value()).toBe(42);
    } finally {
      await backend.destroy();
    }
  });

  it('writes removed entries as deletes, so they do not come back from disk', async () => {
    const backend = await openBackend({ cacheMaxKeys: 1 });
    try {
      const list = backend.getState(listState<number>('l'));
      const map = backend.getState(mapState<string, number>('m'));
      await use(backend, 'k');
      list.setNamespace('w');
      list.add(1);
      map.put('x', 1);
      await use(backend, 'other'); // evicts 'k' (written)
      await backend.evict();
      expect(await backend.keysAsync('l', 'w')).toEqual(['k']);
      await use(backend, 'k');
      expect(list.get()).toEqual([1]);
      list.clear();
      map.remove('x');
      await use(backend, 'other');
      await backend.evict(); // 'k' written again: deletes
      await use(backend, 'k');
      expect(list.get()).toEqual([]);
      expect(map.isEmpty()).toBe(true);
      expect(await backend.keysAsync('l', 'w')).toEqual([]);
      expect(await backend.snapshotKeyGroup(kgOf('k'))).toEqual([]);
    } finally {
      await backend.destroy();
    }
  });

  it('keeps values intact through disk: bigints, nested objects, Dates, undefined in arrays', async () => {
    const backend = await openBackend({ cacheMaxKeys: 1 });
    try {
      const v = backend.getState(valueState<unknown>('v'));
      const m = backend.getState(mapState<Key, unknown>('m'));
      const value = {
        big: 2n ** 70n,
        small: -3n,
        nested: { a: [1, undefined, 'x'], d: new Date(0) },
        float: 0.1,
        wide: 2 ** 40,
      };
      await use(backend, 7n);
      v.update(value);
      m.put(1n, 'bigint user key');
      m.put(1, 'number user key');
      m.put('1', 'string user key');
      await use(backend, 'evicts 7n');
      await backend.evict();
      await use(backend, 7n);
      expect(v.value()).toEqual(value);
      expect([...m.entries()]).toEqual([
        [1n, 'bigint user key'],
        [1, 'number user key'],
        ['1', 'string user key'],
      ]);
    } finally {
      await backend.destroy();
    }
  });

  it('reopening the same directory after close() finds the state (writes reach disk)', async () => {
    const directory = freshDir();
    const first = await openBackend({ directory, cacheMaxKeys: 1000 });
    const count = first.getState(valueState<number>('count', { defaultValue: 0 }));
    const seen = first.getState(mapState<string, number>('seen'));
    for (const key of KEYS) {
      await use(first, key);
      count.update(count.value()! + 1);
      seen.setNamespace('w');
      seen.put('x', KEYS.indexOf(key));
      seen.setNamespace('');
    }
    expect(await readdir(directory)).toContain('CURRENT');
    await first.close();
    await first.close(); // idempotent
    await expect(first.snapshotKeyGroup(0)).rejects.toThrow(
      expect.objectContaining({ code: 'SLUICE_STATE_BACKEND_CLOSED' }),
    );

    const second = await openBackend({ directory, cacheMaxKeys: 2 });
    try {
      // Registered after prefetch this time: values wait in snapshot form until then.
      await use(second, 'a');
      const count2 = second.getState(valueState<number>('count', { defaultValue: 0 }));
      const seen2 = second.getState(mapState<string, number>('seen'));
      for (const key of KEYS) {
        await use(second, key);
        expect(count2.value()).toBe(1);
        seen2.setNamespace('w');
        expect(seen2.get('x')).toBe(KEYS.indexOf(key));
        seen2.setNamespace('');
        await second.evict();
      }
      expect(new Set(await second.keysAsync('count'))).toEqual(new Set(KEYS));
    } finally {
      await second.destroy();
    }
    await expect(readdir(directory)).rejects.toThrow(/ENOENT/);
  });

  it('refuses a second open handle on the same directory (LevelDB lock)', async () => {
    const directory = freshDir();
    const first = await openBackend({ directory });
    try {
      const second = new LevelDbKeyedStateBackend({
        maxParallelism: MAX_P,
        keyGroupRange: new KeyGroupRange(0, MAX_P - 1),
        directory,
      });
      await expect(second.open()).rejects.toThrow(
        expect.objectContaining({
          code: 'SLUICE_STATE_STORAGE_FAILED',
          message: expect.stringContaining(directory),
        }),
      );
    } finally {
      await first.destroy();
    }
  });

  it('needs open() before touching disk', async () => {
    const backend = new LevelDbKeyedStateBackend({
      maxParallelism: MAX_P,
      keyGroupRange: new KeyGroupRange(0, MAX_P - 1),
      directory: freshDir(),
    });
    expect(() => backend.prefetch([['a', kgOf('a')]])).toThrow(
      expect.objectContaining({
        code: 'SLUICE_STATE_BACKEND_CLOSED',
        message: expect.stringContaining('open()'),
      }),
    );
    await backend.destroy();
  });

  it('validates its own options, naming the option', () => {
    const make = (options: Partial<ConstructorParameters<typeof LevelDbKeyedStateBackend>[0]>) => () =>
      new LevelDbKeyedStateBackend({
        maxParallelism: 128,
        keyGroupRange: new KeyGroupRange(0, 127),
        directory: '/tmp/x',
        ...options,
      });
    expect(make({ directory: '' })).toThrow(expect.objectContaining({ argument: 'options.directory' }));
    expect(make({ cacheMaxKeys: 0 })).toThrow(expect.objectContaining({ argument: 'options.cacheMaxKeys' }));
    expect(make({ cacheMaxKeys: 1.5 })).toThrow(StateArgumentError);
    expect(make({})().cacheMaxKeys).toBe(100_000);
  });

  it('runs in a worker thread', async () => {
    const directory = freshDir();
    const keys = ['a', 'b', 'c', 'd'];
    const result = await startWorker({ directory, keys, maxParallelism: MAX_P });
    expect(result).toEqual({ counts: { a: 3, b: 3, c: 3, d: 3 }, snapshotEntries: 4 });
    // The worker closed its handle: this thread can open the directory and read the same state.
    const backend = await openBackend({ directory });
    try {
      const count = backend.getState(valueState<number>('count'));
      await use(backend, 'c');
      expect(count.value()).toBe(3);
    } finally {
      await backend.destroy();
    }
  });
});

const workerEntry = new URL('./leveldb-keyed-state-backend.test-worker.ts', import.meta.url);

function startWorker(data: LevelDbWorkerData): Promise<LevelDbWorkerResult> {
  return runTsWorker<LevelDbWorkerResult>(workerEntry, data);
}

describe('LevelDbKeyedStateBackend with state TTL', () => {
  it('cleans up expired values of cached keys in the background and writes the removals back; keys on disk when read', async () => {
    let now = 0;
    const backend = await openBackend({ cacheMaxKeys: 2, clock: () => now });
    try {
      const session = backend.getState(
        valueState<number>('session', {
          ttl: { ttlMs: 10, cleanup: { inSnapshots: false, incremental: { entriesPerBatch: 100 } } },
        }),
      );
      const keys = ['k0', 'k1', 'k2', 'k3', 'k4'];
      for (const key of keys) {
        await use(backend, key);
        session.update(1);
        const w = backend.evict();
        if (w !== undefined) await w;
      }
      const stored = async () => (await snapshotAll(backend)).length; // inSnapshots off: what is stored
      const cached = backend.numCachedStateEntries('session');
      expect(cached).toBe(2);
      now = 10;
      backend.cleanUpExpired();
      expect(backend.numCachedStateEntries('session')).toBe(0);
      expect(await stored()).toBe(keys.length - cached); // written back as deletes; keys on disk untouched
      // A key read from disk: its expired value is removed by the read.
      const diskKey = (await backend.keysAsync('session'))[0]!;
      await use(backend, diskKey);
      expect(session.value()).toBeUndefined();
      expect(await stored()).toBe(keys.length - cached - 1);
    } finally {
      await backend.destroy();
    }
  });
});
