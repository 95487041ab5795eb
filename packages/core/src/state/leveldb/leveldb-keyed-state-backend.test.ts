import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, expectTypeOf, it } from 'vitest';
import { runTsWorker } from '../../testing/run-ts-worker.ts';
import type { KeyedStateBackend, KeyGroupSnapshotEntry } from '../backend/keyed-state-backend.ts';
import {
  type AggregateFunction,
  aggregatingState,
  listState,
  mapState,
  reducingState,
  valueState,
} from '../descriptors.ts';
import { StateArgumentError, StateError } from '../errors.ts';
import { HeapKeyedStateBackend } from '../heap/heap-keyed-state-backend.ts';
import { assignToKeyGroup, type Key, KeyGroupRange } from '../key-groups.ts';
import type {
  InternalAggregatingState,
  InternalListState,
  InternalMapState,
  InternalReducingState,
  InternalValueState,
} from '../state.ts';
import type { LevelDbWorkerData, LevelDbWorkerResult } from './leveldb-keyed-state-backend.test-worker.ts';
import { LevelDbKeyedStateBackend } from './leveldb-keyed-state-backend.ts';

// ---------------------------------------------------------------------------------------------
// Fixtures (the heap backend's, so that both backends are held to the same model)
// ---------------------------------------------------------------------------------------------

const MAX_P = 16;
const KEYS: readonly Key[] = ['a', 'b', '1', 1, 2, 2n, true, -0.5, 'a somewhat longer key ✓'];
const NAMESPACES = ['', 'w1', 'w2'] as const;
const kgOf = (key: Key): number => assignToKeyGroup(key, MAX_P);

interface Acc {
  sum: number;
  n: number;
}
const avg: AggregateFunction<number, Acc, string> = {
  createAccumulator: () => ({ sum: 0, n: 0 }),
  // Mutates the accumulator in place, as users do: the backend must still write it back.
  add: (v, acc) => {
    acc.sum += v;
    acc.n += 1;
    return acc;
  },
  getResult: (acc) => `${acc.sum}/${acc.n}`,
  merge: (a, b) => ({ sum: a.sum + b.sum, n: a.n + b.n }),
};
/** Not commutative, so a merge or reduce in the wrong order shows. */
const reduce = (a: number, b: number): number => (a * 3 + b) % 1_000_003;

const D = {
  value: valueState<number>('v', { defaultValue: -1 }),
  list: listState<number>('l'),
  map: mapState<string, number>('m'),
  reducing: reducingState<number>('r', reduce),
  aggregating: aggregatingState('g', avg),
};
const STATE_NAMES = ['v', 'l', 'm', 'r', 'g'] as const;

interface States {
  value: InternalValueState<number>;
  list: InternalListState<number>;
  map: InternalMapState<string, number>;
  reducing: InternalReducingState<number>;
  aggregating: InternalAggregatingState<number, Acc, string>;
}

function register(backend: KeyedStateBackend): States {
  return {
    value: backend.getState(D.value),
    list: backend.getState(D.list),
    map: backend.getState(D.map),
    reducing: backend.getState(D.reducing),
    aggregating: backend.getState(D.aggregating),
  };
}

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
  options: { cacheMaxKeys?: number; range?: KeyGroupRange; directory?: string; maxParallelism?: number } = {},
): Promise<LevelDbKeyedStateBackend> {
  const maxParallelism = options.maxParallelism ?? MAX_P;
  const backend = new LevelDbKeyedStateBackend({
    maxParallelism,
    keyGroupRange: options.range ?? new KeyGroupRange(0, maxParallelism - 1),
    directory: options.directory ?? freshDir(),
    cacheMaxKeys: options.cacheMaxKeys ?? 2,
  });
  await backend.open();
  return backend;
}

function fullHeap(): HeapKeyedStateBackend {
  return new HeapKeyedStateBackend({ maxParallelism: MAX_P, keyGroupRange: new KeyGroupRange(0, MAX_P - 1) });
}

/** Loads `key` if the backend needs it, then makes it current. */
async function use(backend: KeyedStateBackend, key: Key): Promise<void> {
  const p = backend.prefetch?.([[key, kgOf(key)]]);
  if (p !== undefined) await p;
  backend.setCurrentKey(key);
}

// ---------------------------------------------------------------------------------------------
// Model: a plain Map from "state|key index|namespace" to the state's value in plain form.
// ---------------------------------------------------------------------------------------------

type ModelValue = number | number[] | Map<string, number> | Acc;

class Model {
  readonly entries = new Map<string, ModelValue>();
  key = 0;
  ns = '';

  id(state: string, key = this.key, ns = this.ns): string {
    return `${state}|${key}|${ns}`;
  }
  get<V extends ModelValue>(state: string, ns = this.ns): V | undefined {
    return this.entries.get(this.id(state, this.key, ns)) as V | undefined;
  }
  set(state: string, value: ModelValue | undefined, ns = this.ns): void {
    const id = this.id(state, this.key, ns);
    const empty =
      value === undefined ||
      (Array.isArray(value) && value.length === 0) ||
      (value instanceof Map && value.size === 0);
    if (empty) this.entries.delete(id);
    else this.entries.set(id, value);
  }
  keys(state: string, ns: string): Set<number> {
    const out = new Set<number>();
    for (const id of this.entries.keys()) {
      const [s, k, n] = id.split('|');
      if (s === state && n === ns) out.add(Number(k));
    }
    return out;
  }
}

type StateOp =
  | { op: 'key'; key: number }
  | { op: 'ns'; ns: string }
  | { op: 'valueUpdate'; v: number }
  | { op: 'valueClear' }
  | { op: 'listAdd'; v: number }
  | { op: 'listAddAll'; vs: number[] }
  | { op: 'listUpdate'; vs: number[] }
  | { op: 'listClear' }
  | { op: 'listMutateReturned' }
  | { op: 'mapPut'; k: string; v: number }
  | { op: 'mapRemove'; k: string }
  | { op: 'mapClear' }
  | { op: 'reduceAdd'; v: number }
  | { op: 'reduceClear' }
  | { op: 'aggAdd'; v: number }
  | { op: 'aggClear' }
  | { op: 'merge'; state: 'list' | 'reducing' | 'aggregating'; target: string; sources: string[] };
/** Cache operations: awaited eviction, and eviction whose write is left in flight. */
type Op = StateOp | { op: 'evict' } | { op: 'evictNoWait' };

const small = fc.integer({ min: 0, max: 99 });
const nsArb = fc.constantFrom(...NAMESPACES);
const userKey = fc.constantFrom('x', 'y', 'z');
const opArb: fc.Arbitrary<Op> = fc.oneof(
  {
    arbitrary: fc.record({ op: fc.constant('key' as const), key: fc.nat({ max: KEYS.length - 1 }) }),
    weight: 4,
  },
  { arbitrary: fc.record({ op: fc.constant('ns' as const), ns: nsArb }), weight: 2 },
  { arbitrary: fc.record({ op: fc.constant('evict' as const) }), weight: 3 },
  { arbitrary: fc.record({ op: fc.constant('evictNoWait' as const) }), weight: 2 },
  fc.record({ op: fc.constant('valueUpdate' as const), v: small }),
  fc.record({ op: fc.constant('valueClear' as const) }),
  fc.record({ op: fc.constant('listAdd' as const), v: small }),
  fc.record({ op: fc.constant('listAddAll' as const), vs: fc.array(small, { maxLength: 3 }) }),
  fc.record({ op: fc.constant('listUpdate' as const), vs: fc.array(small, { maxLength: 3 }) }),
  fc.record({ op: fc.constant('listClear' as const) }),
  fc.record({ op: fc.constant('listMutateReturned' as const) }),
  fc.record({ op: fc.constant('mapPut' as const), k: userKey, v: small }),
  fc.record({ op: fc.constant('mapRemove' as const), k: userKey }),
  fc.record({ op: fc.constant('mapClear' as const) }),
  fc.record({ op: fc.constant('reduceAdd' as const), v: small }),
  fc.record({ op: fc.constant('reduceClear' as const) }),
  fc.record({ op: fc.constant('aggAdd' as const), v: small }),
  fc.record({ op: fc.constant('aggClear' as const) }),
  fc.record({
    op: fc.constant('merge' as const),
    state: fc.constantFrom('list' as const, 'reducing' as const, 'aggregating' as const),
    target: nsArb,
    sources: fc.array(nsArb, { maxLength: 3 }),
  }),
);

// size 'max': fast-check's default ('small') caps arrays near 10 elements, too short for
// "load, change in place, evict, load again, read" to happen often.
const opsArb = fc
  .tuple(fc.nat({ max: KEYS.length - 1 }), fc.array(opArb, { maxLength: 150, size: 'max' }))
  .map(([first, ops]): Op[] => [{ op: 'key', key: first }, ...ops]);

/** Applies one state op to the backend and the model (the heap test's `apply`). */
function apply(op: StateOp, backend: KeyedStateBackend, s: States, m: Model): void {
  switch (op.op) {
    case 'key':
      backend.setCurrentKey(KEYS[op.key]!);
      m.key = op.key;
      return;
    case 'ns':
      for (const state of Object.values(s)) state.setNamespace(op.ns);
      m.ns = op.ns;
      return;
    case 'valueUpdate':
      s.value.update(op.v);
      m.set('v', op.v);
      return;
    case 'valueClear':
      s.value.clear();
      m.set('v', undefined);
      return;
    case 'listAdd':
      s.list.add(op.v);
      m.set('l', [...(m.get<number[]>('l') ?? []), op.v]);
      return;
    case 'listAddAll':
      s.list.addAll(op.vs);
      m.set('l', [...(m.get<number[]>('l') ?? []), ...op.vs]);
      op.vs.push(12345); // the state must have copied the argument
      return;
    case 'listUpdate':
      s.list.update(op.vs);
      op.vs.push(12345); // the state must have copied the argument
      m.set('l', op.vs.slice(0, -1));
      return;
    case 'listClear':
      s.list.clear();
      m.set('l', undefined);
      return;
    case 'listMutateReturned':
      s.list.get().push(999); // the state must have returned a copy
      return;
    case 'mapPut': {
      s.map.put(op.k, op.v);
      const map = new Map(m.get<Map<string, number>>('m'));
      m.set('m', map.set(op.k, op.v));
      return;
    }
    case 'mapRemove': {
      s.map.remove(op.k);
      const map = new Map(m.get<Map<string, number>>('m'));
      map.delete(op.k);
      m.set('m', map);
      return;
    }
    case 'mapClear':
      s.map.clear();
      m.set('m', undefined);
      return;
    case 'reduceAdd': {
      s.reducing.add(op.v);
      const cur = m.get<number>('r');
      m.set('r', cur === undefined ? op.v : reduce(cur, op.v));
      return;
    }
    case 'reduceClear':
      s.reducing.clear();
      m.set('r', undefined);
      return;
    case 'aggAdd': {
      s.aggregating.add(op.v);
      const cur = m.get<Acc>('g') ?? { sum: 0, n: 0 };
      m.set('g', { sum: cur.sum + op.v, n: cur.n + 1 });
      return;
    }
    case 'aggClear':
      s.aggregating.clear();
      m.set('g', undefined);
      return;
    case 'merge': {
      const name = op.state === 'list' ? 'l' : op.state === 'reducing' ? 'r' : 'g';
      s[op.state].mergeNamespaces(op.target, op.sources);
      let merged = m.get<ModelValue>(name, op.target);
      for (const source of op.sources) {
        if (source === op.target) continue;
        const v = m.get<ModelValue>(name, source);
        m.set(name, undefined, source);
        if (v === undefined) continue;
        if (merged === undefined) merged = v;
        else if (op.state === 'list') merged = [...(merged as number[]), ...(v as number[])];
        else if (op.state === 'reducing') merged = reduce(merged as number, v as number);
        else merged = avg.merge!(merged as Acc, v as Acc);
      }
      m.set(name, merged, op.target);
      return;
    }
  }
}

function expectReadsMatch(s: States, m: Model): void {
  expect(s.value.value()).toBe(m.get<number>('v') ?? -1);
  expect(s.list.get()).toEqual(m.get<number[]>('l') ?? []);
  const map = m.get<Map<string, number>>('m') ?? new Map<string, number>();
  expect(new Map(s.map.entries())).toEqual(map);
  expect([...s.map.keys()]).toEqual([...map.keys()]);
  expect([...s.map.values()]).toEqual([...map.values()]);
  expect(s.map.isEmpty()).toBe(map.size === 0);
  for (const k of ['x', 'y', 'z']) {
    expect(s.map.get(k)).toBe(map.get(k));
    expect(s.map.has(k)).toBe(map.has(k));
  }
  expect(s.reducing.get()).toBe(m.get<number>('r'));
  const acc = m.get<Acc>('g');
  expect(s.aggregating.get()).toBe(acc === undefined ? undefined : avg.getResult(acc));
}

/** Snapshot entries as sorted "state|key index|namespace" → plain value. */
function normalize(entries: readonly KeyGroupSnapshotEntry[]): Array<[string, unknown]> {
  return entries
    .map(([name, key, ns, value]): [string, unknown] => [`${name}|${KEYS.indexOf(key)}|${ns}`, value])
    .sort(([a], [b]) => (a < b ? -1 : 1));
}

function modelSnapshot(m: Model): Array<[string, unknown]> {
  return [...m.entries]
    .map(([id, value]): [string, unknown] => [id, value instanceof Map ? [...value] : value])
    .sort(([a], [b]) => (a < b ? -1 : 1));
}

async function snapshotAll(backend: KeyedStateBackend): Promise<KeyGroupSnapshotEntry[]> {
  const out: KeyGroupSnapshotEntry[] = [];
  for (const kg of backend.keyGroupRange) out.push(...(await backend.snapshotKeyGroup(kg)));
  return out;
}

/** Runs ops against a backend, prefetching before every op, and checks every read. */
async function run(ops: readonly Op[], backend: KeyedStateBackend): Promise<Model> {
  const states = register(backend);
  const model = new Model();
  const inFlight: Array<Promise<void>> = [];
  for (const raw of ops) {
    // Ops mutate their own arrays (listUpdate); run on copies so shrinking replays cleanly.
    const op = structuredClone(raw);
    if (op.op === 'evict') {
      const w = backend.evict?.();
      if (w !== undefined) await w;
      continue;
    }
    if (op.op === 'evictNoWait') {
      const w = backend.evict?.();
      if (w !== undefined) inFlight.push(w);
      continue;
    }
    const key = KEYS[op.op === 'key' ? op.key : model.key]!;
    const p = backend.prefetch?.([[key, kgOf(key)]]);
    if (p !== undefined) await p;
    apply(op, backend, states, model);
    expectReadsMatch(states, model);
  }
  await Promise.all(inFlight);
  return model;
}

/** Whole-backend agreement: all keys per state and namespace (cached or not), snapshots. */
async function expectBackendMatches(backend: LevelDbKeyedStateBackend, m: Model): Promise<void> {
  for (const name of STATE_NAMES) {
    for (const ns of NAMESPACES) {
      const keys = (await backend.keysAsync(name, ns)).map((k) => KEYS.indexOf(k));
      expect(new Set(keys)).toEqual(m.keys(name, ns));
      expect(keys.length).toBe(m.keys(name, ns).size);
      // keys() sees the cached subset.
      for (const k of backend.keys(name, ns)) expect(m.keys(name, ns).has(KEYS.indexOf(k))).toBe(true);
    }
  }
  expect(normalize(await snapshotAll(backend))).toEqual(modelSnapshot(m));
}

/** Reads every model entry back through `backend` (prefetching), on the owner of its key group. */
async function expectEntriesReadBack(
  owners: Array<{ backend: KeyedStateBackend; states: States }>,
  model: Model,
): Promise<void> {
  for (const [id] of model.entries) {
    const [, keyIndex, ns] = id.split('|');
    const key = KEYS[Number(keyIndex)]!;
    const owner = owners.find((o) => o.backend.keyGroupRange.contains(kgOf(key)))!;
    await use(owner.backend, key);
    for (const state of Object.values(owner.states)) state.setNamespace(ns!);
    model.key = Number(keyIndex);
    model.ns = ns!;
    expectReadsMatch(owner.states, model);
    const w = owner.backend.evict?.();
    if (w !== undefined) await w;
  }
}

// ---------------------------------------------------------------------------------------------
// Tests
// ---------------------------------------------------------------------------------------------

describe('LevelDbKeyedStateBackend against a plain Map model', () => {
  it('agrees on every read after every operation, with cacheMaxKeys 2 (constant eviction and re-fetch)', async () => {
    await fc.assert(
      fc.asyncProperty(opsArb, async (ops) => {
        const backend = await openBackend({ cacheMaxKeys: 2 });
        try {
          const model = await run(ops, backend);
          await expectBackendMatches(backend, model);
          // Every entry reads back after eviction and re-fetch (model.key/ns are moved by this).
          await expectEntriesReadBack([{ backend, states: register(backend) }], model);
          await backend.evict();
          expect(backend.numCachedKeys).toBeLessThanOrEqual(2);
        } finally {
          await backend.destroy();
        }
      }),
      { numRuns: 100 },
    );
  });

  it('agrees with the heap backend op for op, and their snapshots are equal', async () => {
    await fc.assert(
      fc.asyncProperty(opsArb, async (ops) => {
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
      fc.asyncProperty(opsArb, async (ops) => {
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
      fc.asyncProperty(opsArb, fc.boolean(), async (ops, registerFirst) => {
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

  it('LevelDB → LevelDB with other key group ranges (rescaling)', async () => {
    await fc.assert(
      fc.asyncProperty(
        opsArb,
        fc.integer({ min: 1, max: MAX_P - 1 }),
        fc.boolean(),
        async (ops, split, registerFirst) => {
          const source = await openBackend({ cacheMaxKeys: 2 });
          const targets = [
            await openBackend({ cacheMaxKeys: 2, range: new KeyGroupRange(0, split - 1) }),
            await openBackend({ cacheMaxKeys: 2, range: new KeyGroupRange(split, MAX_P - 1) }),
          ];
          try {
            const model = await run(ops, source);
            const targetStates = registerFirst ? targets.map(register) : [];
            for (const target of targets) {
              for (const kg of target.keyGroupRange) {
                await target.restoreKeyGroup(kg, structuredClone(await source.snapshotKeyGroup(kg)));
              }
            }
            for (const [i, target] of targets.entries()) {
              const expected: KeyGroupSnapshotEntry[] = [];
              for (const kg of target.keyGroupRange) expected.push(...(await source.snapshotKeyGroup(kg)));
              expect(normalize(await snapshotAll(target))).toEqual(normalize(expected));
              if (!registerFirst) targetStates[i] = register(target);
            }
            await expectEntriesReadBack(
              targets.map((backend, i) => ({ backend, states: targetStates[i]! })),
              model,
            );
          } finally {
            await source.destroy();
            for (const target of targets) await target.destroy();
          }
        },
      ),
      { numRuns: 30 },
    );
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

  it('rejects entries whose key is not in the key group, or malformed entries, before changing anything', async () => {
    const backend = await openBackend({ maxParallelism: 128 });
    try {
      const kg = assignToKeyGroup('k', 128);
      const other = (kg + 1) % 128;
      const invalid = expect.objectContaining({ code: 'SLUICE_STATE_RESTORE_INVALID' });
      await expect(backend.restoreKeyGroup(other, [['v', 'k', '', 1]])).rejects.toThrow(invalid);
      await expect(backend.restoreKeyGroup(kg, [['v', 'k', 1 as unknown as string, 1]])).rejects.toThrow(
        invalid,
      );
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
      // A value restored for a state not registered yet is checked when it is registered...
      await backend.restoreKeyGroup(kg, [['m', 'k', '', 'not pairs']]);
      expect(() => backend.getState(mapState('m'))).toThrow(invalid);
      // ...or, if it was evicted to disk meanwhile, when it is prefetched.
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

describe('LevelDbKeyedStateBackend', () => {
  it('satisfies the KeyedStateBackend interface, as the heap backend does', async () => {
    const backend = await openBackend();
    try {
      const backends: KeyedStateBackend[] = [backend, fullHeap()];
      expect(backends).toHaveLength(2);
      expectTypeOf(backend.getState(valueState<string>('x'))).toEqualTypeOf<InternalValueState<string>>();
      expectTypeOf(backend.getState(mapState<number, string[]>('z'))).toEqualTypeOf<
        InternalMapState<number, string[]>
      >();
      expectTypeOf(backend.prefetch).returns.toEqualTypeOf<Promise<void> | undefined>();
      expect(backend.getState(valueState<string>('x'))).toBe(backend.getState(valueState<string>('x')));
      expect(() => backend.getState(listState('x'))).toThrow(
        expect.objectContaining({ code: 'SLUICE_STATE_KIND_MISMATCH' }),
      );
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

  it('validates its options, naming the option', () => {
    const range = new KeyGroupRange(0, 127);
    const make = (options: Partial<ConstructorParameters<typeof LevelDbKeyedStateBackend>[0]>) => () =>
      new LevelDbKeyedStateBackend({
        maxParallelism: 128,
        keyGroupRange: range,
        directory: '/tmp/x',
        ...options,
      });
    expect(make({ maxParallelism: 0 })).toThrow(
      expect.objectContaining({ argument: 'options.maxParallelism' }),
    );
    expect(make({ maxParallelism: 64 })).toThrow(
      expect.objectContaining({ argument: 'options.keyGroupRange' }),
    );
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
