import fc from 'fast-check';
import { describe, expect, expectTypeOf, it } from 'vitest';
import type { KeyGroupSnapshotEntry } from '../backend/keyed-state-backend.ts';
import {
  type AggregateFunction,
  aggregatingState,
  listState,
  mapState,
  reducingState,
  valueState,
} from '../descriptors.ts';
import { StateArgumentError, StateError } from '../errors.ts';
import { assignToKeyGroup, type Key, KeyGroupRange } from '../key-groups.ts';
import type {
  InternalAggregatingState,
  InternalListState,
  InternalMapState,
  InternalReducingState,
  InternalValueState,
} from '../state.ts';
import { HeapKeyedStateBackend } from './heap-keyed-state-backend.ts';
import { StateTable } from './state-table.ts';

// ---------------------------------------------------------------------------------------------
// Fixtures
// ---------------------------------------------------------------------------------------------

const MAX_P = 16;
const KEYS: readonly Key[] = ['a', 'b', '1', 1, 2, 2n, true, -0.5, 'a somewhat longer key ✓'];
const NAMESPACES = ['', 'w1', 'w2'] as const;

interface Acc {
  sum: number;
  n: number;
}
const avg: AggregateFunction<number, Acc, string> = {
  createAccumulator: () => ({ sum: 0, n: 0 }),
  // Mutates the accumulator in place, as users do: the backend must cope.
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

function register(backend: HeapKeyedStateBackend): States {
  return {
    value: backend.getState(D.value),
    list: backend.getState(D.list),
    map: backend.getState(D.map),
    reducing: backend.getState(D.reducing),
    aggregating: backend.getState(D.aggregating),
  };
}

function fullBackend(maxParallelism = MAX_P): HeapKeyedStateBackend {
  return new HeapKeyedStateBackend({
    maxParallelism,
    keyGroupRange: new KeyGroupRange(0, maxParallelism - 1),
  });
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
  /** Keys (as KEYS indices) with an entry for `state` in `ns`. */
  keys(state: string, ns: string): Set<number> {
    const out = new Set<number>();
    for (const id of this.entries.keys()) {
      const [s, k, n] = id.split('|');
      if (s === state && n === ns) out.add(Number(k));
    }
    return out;
  }
}

type Op =
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

const small = fc.integer({ min: 0, max: 99 });
const nsArb = fc.constantFrom(...NAMESPACES);
const userKey = fc.constantFrom('x', 'y', 'z');
const opArb: fc.Arbitrary<Op> = fc.oneof(
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
);

/** Applies one op to the backend and the model. The first op of a sequence is always a 'key'. */
function apply(op: Op, backend: HeapKeyedStateBackend, s: States, m: Model): void {
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
      // The documented semantics: target first, then each distinct source (not the target) in order.
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

/** Every read of every state at the current key and namespace agrees with the model. */
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

/** Whole-backend agreement: keys() per state and namespace, entry counts, snapshots. */
function expectBackendMatches(backend: HeapKeyedStateBackend, m: Model): void {
  for (const name of STATE_NAMES) {
    for (const ns of NAMESPACES) {
      const keys = [...backend.keys(name, ns)].map((k) => KEYS.indexOf(k));
      expect(new Set(keys)).toEqual(m.keys(name, ns));
      expect(keys.length).toBe(m.keys(name, ns).size); // no duplicates
    }
  }
  expect(backend.numStateEntries()).toBe(m.entries.size);
  const snapshot: KeyGroupSnapshotEntry[] = [];
  for (const kg of backend.keyGroupRange) snapshot.push(...backend.snapshotKeyGroup(kg));
  expect(normalize(snapshot)).toEqual(modelSnapshot(m));
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

const opsArb = fc
  .tuple(fc.nat({ max: KEYS.length - 1 }), fc.array(opArb, { maxLength: 150, size: 'max' }))
  .map(([first, ops]): Op[] => [{ op: 'key', key: first }, ...ops]);

function run(ops: readonly Op[], backend = fullBackend()): { backend: HeapKeyedStateBackend; model: Model } {
  const states = register(backend);
  const model = new Model();
  for (const op of ops) {
    // Ops mutate their own arrays (listUpdate); run on copies so shrinking replays cleanly.
    apply(structuredClone(op), backend, states, model);
    expectReadsMatch(states, model);
  }
  return { backend, model };
}

// ---------------------------------------------------------------------------------------------
// Tests
// ---------------------------------------------------------------------------------------------

describe('HeapKeyedStateBackend against a plain Map model', () => {
  it('agrees on every read after every operation, over keys and namespaces', () => {
    fc.assert(
      fc.property(opsArb, (ops) => {
        const { backend, model } = run(ops);
        expectBackendMatches(backend, model);
      }),
      { numRuns: 200 },
    );
  });

  it('round-trips every key group through a snapshot into backends with other ranges', () => {
    fc.assert(
      fc.property(
        opsArb,
        fc.integer({ min: 1, max: MAX_P - 1 }),
        fc.boolean(),
        (ops, split, registerFirst) => {
          const { backend: source, model } = run(ops);
          const targets = [
            new HeapKeyedStateBackend({
              maxParallelism: MAX_P,
              keyGroupRange: new KeyGroupRange(0, split - 1),
            }),
            new HeapKeyedStateBackend({
              maxParallelism: MAX_P,
              keyGroupRange: new KeyGroupRange(split, MAX_P - 1),
            }),
          ];
          // Both orders happen in practice: restore before open() (the operator registers its
          // states afterwards), or into states that already exist.
          const targetStates = registerFirst ? targets.map(register) : [];
          for (const target of targets) {
            for (const kg of target.keyGroupRange) {
              // structuredClone stands in for serialisation: snapshots must be plain data.
              target.restoreKeyGroup(kg, structuredClone(source.snapshotKeyGroup(kg)));
            }
          }
          // Restored but not yet registered state is still in snapshots and keys().
          for (const [i, target] of targets.entries()) {
            const restored = target.keyGroupRange;
            const expected = normalize([...restored].flatMap((kg) => source.snapshotKeyGroup(kg)));
            const actual = normalize([...restored].flatMap((kg) => target.snapshotKeyGroup(kg)));
            expect(actual).toEqual(expected);
            if (!registerFirst) targetStates[i] = register(target);
          }
          // Every entry reads back the same on the backend that owns its key group.
          for (const [id] of model.entries) {
            const [, keyIndex, ns] = id.split('|');
            const key = KEYS[Number(keyIndex)]!;
            const owner = assignToKeyGroup(key, MAX_P) < split ? 0 : 1;
            const target = targets[owner]!;
            const states = targetStates[owner]!;
            target.setCurrentKey(key);
            for (const state of Object.values(states)) state.setNamespace(ns!);
            model.key = Number(keyIndex);
            model.ns = ns!;
            expectReadsMatch(states, model);
          }
          expect(targets[0]!.numStateEntries() + targets[1]!.numStateEntries()).toBe(model.entries.size);
        },
      ),
      { numRuns: 100 },
    );
  });
});

describe('HeapKeyedStateBackend', () => {
  it('returns the same state object for the same name, typed by its descriptor', () => {
    const backend = fullBackend();
    const s = register(backend);
    expect(backend.getState(valueState<number>('v'))).toBe(s.value);
    expect(backend.getState(D.list)).toBe(s.list);
    expectTypeOf(backend.getState(valueState<string>('x'))).toEqualTypeOf<InternalValueState<string>>();
    expectTypeOf(backend.getState(listState<Date>('y'))).toEqualTypeOf<InternalListState<Date>>();
    expectTypeOf(backend.getState(mapState<number, string[]>('z'))).toEqualTypeOf<
      InternalMapState<number, string[]>
    >();
    expectTypeOf(backend.getState(reducingState('r2', (a: bigint, b: bigint) => a + b))).toEqualTypeOf<
      InternalReducingState<bigint>
    >();
    expectTypeOf(s.aggregating.get).returns.toEqualTypeOf<string | undefined>();
  });

  it('throws SLUICE_STATE_KIND_MISMATCH for the same name with another kind', () => {
    const backend = fullBackend();
    backend.getState(valueState<number>('count'));
    const mismatch = () => backend.getState(listState<number>('count'));
    expect(mismatch).toThrow(StateError);
    expect(mismatch).toThrow(expect.objectContaining({ code: 'SLUICE_STATE_KIND_MISMATCH' }));
    expect(mismatch).toThrow(/'count' is already registered as value state/);
  });

  it('asserts that the current key belongs to its key group range', () => {
    const backend = new HeapKeyedStateBackend({
      maxParallelism: 128,
      keyGroupRange: new KeyGroupRange(0, 63),
    });
    let outside: Key = 0;
    while (assignToKeyGroup(outside, 128) < 64) outside = (outside as number) + 1;
    const kg = assignToKeyGroup(outside, 128);
    const err = (() => {
      try {
        backend.setCurrentKey(outside);
      } catch (e) {
        return e;
      }
    })();
    expect(err).toBeInstanceOf(StateError);
    expect(err).toMatchObject({ code: 'SLUICE_KEY_GROUP_OUT_OF_RANGE' });
    expect((err as Error).message).toContain(`key ${outside} is in key group ${kg}`);
    expect((err as Error).message).toContain('[0, 63]');
    for (const badGroup of [64, -1, Number.NaN, 1.5]) {
      expect(() => backend.setCurrentKey('k', badGroup)).toThrow(
        expect.objectContaining({ code: 'SLUICE_KEY_GROUP_OUT_OF_RANGE' }),
      );
    }
    expect(() => backend.snapshotKeyGroup(64)).toThrow(
      expect.objectContaining({ code: 'SLUICE_KEY_GROUP_OUT_OF_RANGE' }),
    );
    expect(() => backend.restoreKeyGroup(100, [])).toThrow(
      expect.objectContaining({ code: 'SLUICE_KEY_GROUP_OUT_OF_RANGE' }),
    );
  });

  it('trusts a given key group and uses it as is', () => {
    const backend = fullBackend(128);
    const v = backend.getState(valueState<string>('v'));
    backend.setCurrentKey('k', 7);
    expect(backend.currentKey).toBe('k');
    expect(backend.currentKeyGroup).toBe(7);
    v.update('in 7');
    expect(backend.snapshotKeyGroup(7)).toEqual([['v', 'k', '', 'in 7']]);
  });

  it('refuses state access before the first setCurrentKey', () => {
    const backend = fullBackend();
    const s = register(backend);
    const code = expect.objectContaining({ code: 'SLUICE_STATE_NO_CURRENT_KEY' });
    expect(() => backend.currentKey).toThrow(code);
    expect(() => backend.currentKeyGroup).toThrow(code);
    expect(() => s.value.value()).toThrow(code);
    expect(() => s.value.update(1)).toThrow(code);
    expect(() => s.list.add(1)).toThrow(code);
    expect(() => s.map.put('x', 1)).toThrow(code);
  });

  it('validates its options, naming the option', () => {
    const range = new KeyGroupRange(0, 127);
    expect(() => new HeapKeyedStateBackend({ maxParallelism: 0, keyGroupRange: range })).toThrow(
      expect.objectContaining({ argument: 'options.maxParallelism' }),
    );
    expect(() => new HeapKeyedStateBackend({ maxParallelism: 64, keyGroupRange: range })).toThrow(
      expect.objectContaining({ argument: 'options.keyGroupRange' }),
    );
    expect(
      () =>
        new HeapKeyedStateBackend({
          maxParallelism: 64,
          keyGroupRange: { start: 0, end: 1 } as KeyGroupRange,
        }),
    ).toThrow(StateArgumentError);
    expect(
      new HeapKeyedStateBackend({ maxParallelism: 128, keyGroupRange: new KeyGroupRange(10, 19) })
        .numKeyGroups,
    ).toBe(10);
  });

  it('validates descriptors', () => {
    expect(() => valueState('')).toThrow(expect.objectContaining({ argument: 'name' }));
    expect(() => listState(3 as unknown as string)).toThrow(StateArgumentError);
    expect(() => reducingState('r', undefined as unknown as (a: number, b: number) => number)).toThrow(
      expect.objectContaining({ argument: 'reduce' }),
    );
    expect(() => aggregatingState('g', { add: () => 0 } as unknown as typeof avg)).toThrow(
      expect.objectContaining({ argument: 'agg' }),
    );
    expect(Object.isFrozen(valueState('x'))).toBe(true);
    expect(() => fullBackend().getState({ kind: 'nope', name: 'x' } as never)).toThrow(
      expect.objectContaining({ argument: 'descriptor' }),
    );
  });

  it('keeps states of different keys and namespaces apart', () => {
    const backend = fullBackend();
    const count = backend.getState(valueState<number>('count', { defaultValue: 0 }));
    for (const key of ['a', 'b', 'a', 'a', 1, '1']) {
      backend.setCurrentKey(key);
      count.update(count.value()! + 1);
    }
    const read = (key: Key) => {
      backend.setCurrentKey(key);
      return count.value();
    };
    expect([read('a'), read('b'), read(1), read('1'), read('zzz')]).toEqual([3, 1, 1, 1, 0]);
    count.setNamespace('w');
    expect(count.namespace).toBe('w');
    expect(read('a')).toBe(0);
    count.update(10);
    expect([...backend.keys('count', 'w')]).toEqual(['a']);
    expect(new Set(backend.keys('count'))).toEqual(new Set(['a', 'b', 1, '1']));
    expect([...backend.keys('unknown')]).toEqual([]);
  });

  it('treats update(undefined) and update([]) as clear, leaving no entry behind', () => {
    const backend = fullBackend();
    const s = register(backend);
    backend.setCurrentKey('a');
    s.value.update(1);
    s.value.update(undefined as unknown as number);
    s.list.update([1]);
    s.list.update([]);
    s.list.addAll([]);
    s.map.put('x', 1);
    s.map.remove('x');
    s.aggregating.setNamespace('w');
    s.aggregating.add(1);
    s.aggregating.clear();
    expect(backend.numStateEntries()).toBe(0);
    expect([...backend.keys('g', 'w')]).toEqual([]);
  });

  it('drops a key from the namespaced table with its last namespace (no empty maps left behind)', () => {
    const table = new StateTable<number>(1);
    table.set(0, 'k', 'w1', 1);
    table.set(0, 'k', 'w2', 2);
    expect(table.delete(0, 'k', 'w1')).toBe(1);
    expect(table.namespaced[0]!.size).toBe(1);
    expect(table.delete(0, 'k', 'w2')).toBe(2);
    expect(table.namespaced[0]!.size).toBe(0);
    expect(table.delete(0, 'k', 'w2')).toBeUndefined();
  });

  describe('mergeNamespaces', () => {
    it('concatenates lists, target first, and removes the sources', () => {
      const backend = fullBackend();
      const list = backend.getState(listState<string>('l'));
      backend.setCurrentKey('k');
      for (const [ns, values] of [
        ['w1', ['a']],
        ['w2', ['b', 'c']],
        ['w3', ['d']],
      ] as const) {
        list.setNamespace(ns);
        list.addAll(values);
      }
      list.setNamespace('w3');
      list.mergeNamespaces('w1', ['w2', 'w3', 'w1', 'empty']);
      expect(list.namespace).toBe('w3');
      expect(list.get()).toEqual([]);
      list.setNamespace('w1');
      expect(list.get()).toEqual(['a', 'b', 'c', 'd']);
      expect(backend.numStateEntries()).toBe(1);
    });

    it('reduces and aggregates into a target that may be empty', () => {
      const backend = fullBackend();
      const r = backend.getState(reducingState<number>('r', (a, b) => a + b));
      const g = backend.getState(aggregatingState('g', avg));
      backend.setCurrentKey('k');
      for (const [ns, v] of [
        ['w1', 1],
        ['w2', 2],
        ['w2', 3],
      ] as const) {
        r.setNamespace(ns);
        g.setNamespace(ns);
        r.add(v);
        g.add(v);
      }
      r.mergeNamespaces('new', ['w1', 'w2']);
      g.mergeNamespaces('new', ['w1', 'w2']);
      r.setNamespace('new');
      g.setNamespace('new');
      expect(r.get()).toBe(6);
      expect(g.get()).toBe('6/3');
      expect(g.getAccumulator()).toEqual({ sum: 6, n: 3 });
      expect(backend.numStateEntries()).toBe(2);
    });

    it('throws SLUICE_STATE_NO_MERGE for an AggregateFunction without merge, even with nothing to merge', () => {
      const backend = fullBackend();
      const { merge: _, ...noMerge } = avg;
      const g = backend.getState(aggregatingState('g', noMerge));
      backend.setCurrentKey('k');
      const merge = () => g.mergeNamespaces('a', ['b']);
      expect(merge).toThrow(StateError);
      expect(merge).toThrow(expect.objectContaining({ code: 'SLUICE_STATE_NO_MERGE' }));
      expect(merge).toThrow(/no merge\(a, b\) method.*session windows/);
    });
  });

  describe('snapshot and restore', () => {
    it('produces plain data: lists as arrays, maps as pairs, copies of the containers', () => {
      const backend = fullBackend();
      const s = register(backend);
      backend.setCurrentKey('k');
      s.list.add(1);
      s.map.put('x', 1);
      const kg = backend.currentKeyGroup;
      const snapshot = backend.snapshotKeyGroup(kg);
      expect(snapshot).toEqual([
        ['l', 'k', '', [1]],
        ['m', 'k', '', [['x', 1]]],
      ]);
      s.list.add(2);
      s.map.put('y', 2);
      expect(snapshot[0]![3]).toEqual([1]);
      expect(snapshot[1]![3]).toEqual([['x', 1]]);
    });

    it('rejects entries whose key is not in the key group, or malformed entries', () => {
      const backend = fullBackend(128);
      const kg = assignToKeyGroup('k', 128);
      const other = (kg + 1) % 128;
      const invalid = expect.objectContaining({ code: 'SLUICE_STATE_RESTORE_INVALID' });
      expect(() => backend.restoreKeyGroup(other, [['v', 'k', '', 1]])).toThrow(invalid);
      expect(() => backend.restoreKeyGroup(kg, [['v', 'k', 1 as unknown as string, 1]])).toThrow(invalid);
      expect(() =>
        backend.restoreKeyGroup(kg, [['v', 'k', ''] as unknown as [string, Key, string, unknown]]),
      ).toThrow(invalid);
      backend.getState(listState('l'));
      expect(() => backend.restoreKeyGroup(kg, [['l', 'k', '', 5]])).toThrow(invalid);
      // A value restored for a state not registered yet is checked when it is registered.
      backend.restoreKeyGroup(kg, [['m', 'k', '', 'not pairs']]);
      expect(() => backend.getState(mapState('m'))).toThrow(invalid);
    });
  });
});
