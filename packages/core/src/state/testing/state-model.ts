/**
 * The model the keyed state backend tests hold every backend to: five states of every kind over
 * keys of every type and three namespaces, random sequences of operations on them (fast-check),
 * and a plain `Map` that says what every read must return. Used by the contract suite
 * (`keyed-state-backend.contract.ts`) and by the backends' own tests. Test code only.
 */

import fc from 'fast-check';
import { expect } from 'vitest';
import type {
  InternalStateOf,
  KeyedStateBackend,
  KeyGroupSnapshotEntry,
} from '../backend/keyed-state-backend.ts';
import {
  type AggregateFunction,
  aggregatingState,
  listState,
  mapState,
  reducingState,
  valueState,
} from '../descriptors.ts';
import { assignToKeyGroup, type Key } from '../key-groups.ts';

// ---------------------------------------------------------------------------------------------
// Fixtures
// ---------------------------------------------------------------------------------------------

export const MAX_P = 16;
export const KEYS: readonly Key[] = ['a', 'b', '1', 1, 2, 2n, true, -0.5, 'a somewhat longer key ✓'];
export const NAMESPACES = ['', 'w1', 'w2'] as const;
export const kgOf = (key: Key): number => assignToKeyGroup(key, MAX_P);

export interface Acc {
  sum: number;
  n: number;
}
export const avg: AggregateFunction<number, Acc, string> = {
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
export const reduce = (a: number, b: number): number => (a * 3 + b) % 1_000_003;

export const D = {
  value: valueState<number>('v', { defaultValue: -1 }),
  list: listState<number>('l'),
  map: mapState<string, number>('m'),
  reducing: reducingState<number>('r', reduce),
  aggregating: aggregatingState('g', avg),
};
export const STATE_NAMES = ['v', 'l', 'm', 'r', 'g'] as const;

/** The state objects of {@link D}: `InternalValueState<number>`, ... */
export type States = { [K in keyof typeof D]: InternalStateOf<(typeof D)[K]> };

export function register(backend: KeyedStateBackend): States {
  return {
    value: backend.getState(D.value),
    list: backend.getState(D.list),
    map: backend.getState(D.map),
    reducing: backend.getState(D.reducing),
    aggregating: backend.getState(D.aggregating),
  };
}

/** Loads `key` if the backend needs it, then makes it current (with `keyGroup` if given). */
export async function use(backend: KeyedStateBackend, key: Key, keyGroup?: number): Promise<void> {
  const p = backend.prefetch?.([[key, keyGroup ?? assignToKeyGroup(key, backend.maxParallelism)]]);
  if (p !== undefined) await p;
  backend.setCurrentKey(key, keyGroup);
}

// ---------------------------------------------------------------------------------------------
// Model: a plain Map from "state|key index|namespace" to the state's value in plain form.
// ---------------------------------------------------------------------------------------------

export type ModelValue = number | number[] | Map<string, number> | Acc;

export class Model {
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

export type StateOp =
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
export type Op = StateOp | { op: 'evict' } | { op: 'evictNoWait' };

const small = fc.integer({ min: 0, max: 99 });
const nsArb = fc.constantFrom(...NAMESPACES);
const userKey = fc.constantFrom('x', 'y', 'z');
const stateOps: Array<fc.Arbitrary<Op> | fc.WeightedArbitrary<Op>> = [
  {
    arbitrary: fc.record({ op: fc.constant('key' as const), key: fc.nat({ max: KEYS.length - 1 }) }),
    weight: 4,
  },
  { arbitrary: fc.record({ op: fc.constant('ns' as const), ns: nsArb }), weight: 2 },
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
];
/** Cache operations, for backends that spill: awaited eviction, and eviction left in flight. */
const evictionOps: Array<fc.WeightedArbitrary<Op>> = [
  { arbitrary: fc.record({ op: fc.constant('evict' as const) }), weight: 3 },
  { arbitrary: fc.record({ op: fc.constant('evictNoWait' as const) }), weight: 2 },
];

/**
 * Sequences of up to 150 operations, starting with a 'key'; with eviction ops for backends that
 * spill. size 'max': fast-check's default ('small') caps arrays near 10 elements, too short for
 * "load, change in place, evict, load again, read" to happen often.
 */
export function opsArb(withEviction: boolean): fc.Arbitrary<Op[]> {
  const opArb = fc.oneof(...stateOps, ...(withEviction ? evictionOps : []));
  return fc
    .tuple(fc.nat({ max: KEYS.length - 1 }), fc.array(opArb, { maxLength: 150, size: 'max' }))
    .map(([first, ops]): Op[] => [{ op: 'key', key: first }, ...ops]);
}

/** Applies one state op to the backend and the model. */
export function apply(op: StateOp, backend: KeyedStateBackend, s: States, m: Model): void {
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

export function expectReadsMatch(s: States, m: Model): void {
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
export function normalize(entries: readonly KeyGroupSnapshotEntry[]): Array<[string, unknown]> {
  return entries
    .map(([name, key, ns, value]): [string, unknown] => [`${name}|${KEYS.indexOf(key)}|${ns}`, value])
    .sort(([a], [b]) => (a < b ? -1 : 1));
}

export function modelSnapshot(m: Model): Array<[string, unknown]> {
  return [...m.entries]
    .map(([id, value]): [string, unknown] => [id, value instanceof Map ? [...value] : value])
    .sort(([a], [b]) => (a < b ? -1 : 1));
}

export async function snapshotAll(backend: KeyedStateBackend): Promise<KeyGroupSnapshotEntry[]> {
  const out: KeyGroupSnapshotEntry[] = [];
  for (const kg of backend.keyGroupRange) out.push(...(await backend.snapshotKeyGroup(kg)));
  return out;
}

/** Runs ops against a backend, prefetching before every op, and checks every read. */
export async function run(ops: readonly Op[], backend: KeyedStateBackend): Promise<Model> {
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

/**
 * Whole-backend agreement: all keys per state and namespace (`keysAsync` where the backend has
 * it, else `keys`), the keys in memory (`keys`), the number of entries where the backend counts
 * them (`countEntries`), and the snapshots.
 */
export async function expectBackendMatches(
  backend: KeyedStateBackend,
  m: Model,
  countEntries?: (backend: KeyedStateBackend) => number,
): Promise<void> {
  for (const name of STATE_NAMES) {
    for (const ns of NAMESPACES) {
      const all =
        backend.keysAsync === undefined ? [...backend.keys(name, ns)] : await backend.keysAsync(name, ns);
      const keys = all.map((k) => KEYS.indexOf(k));
      expect(new Set(keys)).toEqual(m.keys(name, ns));
      expect(keys.length).toBe(m.keys(name, ns).size); // no duplicates
      // keys() sees the keys in memory: all of them, or (spilling backends) the cached subset.
      for (const k of backend.keys(name, ns)) expect(m.keys(name, ns).has(KEYS.indexOf(k))).toBe(true);
    }
  }
  if (countEntries !== undefined) expect(countEntries(backend)).toBe(m.entries.size);
  expect(normalize(await snapshotAll(backend))).toEqual(modelSnapshot(m));
}

/** Reads every model entry back through `backend` (prefetching), on the owner of its key group. */
export async function expectEntriesReadBack(
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
