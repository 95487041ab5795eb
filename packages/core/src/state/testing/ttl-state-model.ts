/**
 * The model that state with TTL is held to, on every backend: the five kinds with a TTL, random
 * operations interleaved with moves of a manual clock, and a plain model that keeps every value
 * with its timestamp and says what each read returns and removes (Flink's rules: expired from
 * `timestamp + ttl` on; an expired value read is removed, and returned only with
 * `returnExpiredIfNotCleanedUp`; `onReadAndWrite` renews what a read returns). Used by the
 * contract suite (`keyed-state-backend.contract.ts`). Test code only.
 */

import fc from 'fast-check';
import { expect } from 'vitest';
import type { KeyedStateBackend, KeyGroupSnapshotEntry } from '../backend/keyed-state-backend.ts';
import { aggregatingState, listState, mapState, reducingState, valueState } from '../descriptors.ts';
import type { StateTtlConfig, TtlStateVisibility, TtlUpdateType } from '../ttl/ttl-config.ts';
import { type Acc, avg, KEYS, kgOf, NAMESPACES, reduce } from './state-model.ts';

export const TTL_MS = 10;

/** A processing-time clock the test moves. */
export class TestClock {
  nowMs = 1_000;
  readonly read = (): number => this.nowMs;
}

export interface TtlVariant {
  readonly updateType: TtlUpdateType;
  readonly visibility: TtlStateVisibility;
  /** Background cleanup on; only with `neverReturnExpired`, where it cannot change a read. */
  readonly incremental: boolean;
}

export const TTL_VARIANTS: readonly TtlVariant[] = [
  { updateType: 'onCreateAndWrite', visibility: 'neverReturnExpired', incremental: true },
  { updateType: 'onReadAndWrite', visibility: 'neverReturnExpired', incremental: true },
  { updateType: 'onCreateAndWrite', visibility: 'returnExpiredIfNotCleanedUp', incremental: false },
  { updateType: 'onReadAndWrite', visibility: 'returnExpiredIfNotCleanedUp', incremental: false },
];

export function ttlDescriptors(variant: TtlVariant) {
  const ttl: StateTtlConfig = {
    ttlMs: TTL_MS,
    updateType: variant.updateType,
    visibility: variant.visibility,
    cleanup: { incremental: variant.incremental ? { entriesPerAccess: 2, entriesPerBatch: 3 } : false },
  };
  return {
    value: valueState<number>('tv', { defaultValue: -1, ttl }),
    list: listState<number>('tl', { ttl }),
    map: mapState<string, number>('tm', { ttl }),
    reducing: reducingState<number>('tr', reduce, { ttl }),
    aggregating: aggregatingState('tg', avg, { ttl }),
  };
}

export function registerTtl(backend: KeyedStateBackend, variant: TtlVariant) {
  const d = ttlDescriptors(variant);
  return {
    value: backend.getState(d.value),
    list: backend.getState(d.list),
    map: backend.getState(d.map),
    reducing: backend.getState(d.reducing),
    aggregating: backend.getState(d.aggregating),
  };
}
export type TtlStates = ReturnType<typeof registerTtl>;

interface Stamped<V> {
  v: V;
  t: number;
}
type Entry = Stamped<unknown> | Array<Stamped<number>> | Map<string, Stamped<number>>;

export type TtlOp =
  | { op: 'key'; key: number }
  | { op: 'ns'; ns: string }
  | { op: 'advance'; ms: number }
  | { op: 'valueRead' }
  | { op: 'valueUpdate'; v: number }
  | { op: 'valueClear' }
  | { op: 'listGet' }
  | { op: 'listAdd'; v: number }
  | { op: 'listAddAll'; vs: number[] }
  | { op: 'listUpdate'; vs: number[] }
  | { op: 'mapGet'; k: string }
  | { op: 'mapHas'; k: string }
  | { op: 'mapPut'; k: string; v: number }
  | { op: 'mapRemove'; k: string }
  | { op: 'mapEntries' }
  | { op: 'mapIsEmpty' }
  | { op: 'reduceGet' }
  | { op: 'reduceAdd'; v: number }
  | { op: 'aggGet' }
  | { op: 'aggAdd'; v: number }
  | { op: 'merge'; state: 'list' | 'reducing' | 'aggregating'; target: string; sources: string[] }
  | { op: 'cleanup' }
  | { op: 'evict' };

const small = fc.integer({ min: 0, max: 99 });
const userKey = fc.constantFrom('x', 'y', 'z');
const nsArb = fc.constantFrom(...NAMESPACES);
const ttlOps: Array<fc.Arbitrary<TtlOp>> = [
  fc.record({ op: fc.constant('key' as const), key: fc.nat({ max: KEYS.length - 1 }) }),
  fc.record({ op: fc.constant('ns' as const), ns: nsArb }),
  // Steps around the TTL, so values expire at, just before and just after the boundary.
  fc.record({ op: fc.constant('advance' as const), ms: fc.integer({ min: 0, max: TTL_MS + 2 }) }),
  fc.record({ op: fc.constant('valueRead' as const) }),
  fc.record({ op: fc.constant('valueUpdate' as const), v: small }),
  fc.record({ op: fc.constant('valueClear' as const) }),
  fc.record({ op: fc.constant('listGet' as const) }),
  fc.record({ op: fc.constant('listAdd' as const), v: small }),
  fc.record({ op: fc.constant('listAddAll' as const), vs: fc.array(small, { maxLength: 3 }) }),
  fc.record({ op: fc.constant('listUpdate' as const), vs: fc.array(small, { maxLength: 3 }) }),
  fc.record({ op: fc.constant('mapGet' as const), k: userKey }),
  fc.record({ op: fc.constant('mapHas' as const), k: userKey }),
  fc.record({ op: fc.constant('mapPut' as const), k: userKey, v: small }),
  fc.record({ op: fc.constant('mapRemove' as const), k: userKey }),
  fc.record({ op: fc.constant('mapEntries' as const) }),
  fc.record({ op: fc.constant('mapIsEmpty' as const) }),
  fc.record({ op: fc.constant('reduceGet' as const) }),
  fc.record({ op: fc.constant('reduceAdd' as const), v: small }),
  fc.record({ op: fc.constant('aggGet' as const) }),
  fc.record({ op: fc.constant('aggAdd' as const), v: small }),
  fc.record({
    op: fc.constant('merge' as const),
    state: fc.constantFrom('list' as const, 'reducing' as const, 'aggregating' as const),
    target: nsArb,
    sources: fc.array(nsArb, { maxLength: 3 }),
  }),
  fc.record({ op: fc.constant('cleanup' as const) }),
];

/** Up to 120 operations, starting with a 'key'; with evictions for backends that spill. */
export function ttlOpsArb(withEviction: boolean): fc.Arbitrary<TtlOp[]> {
  const all = withEviction ? [...ttlOps, fc.record({ op: fc.constant('evict' as const) })] : ttlOps;
  return fc
    .tuple(fc.nat({ max: KEYS.length - 1 }), fc.array(fc.oneof(...all), { maxLength: 120, size: 'max' }))
    .map(([first, ops]): TtlOp[] => [{ op: 'key', key: first }, ...ops]);
}

/** The plain model: every entry with its timestamps, expired ones too until a read removes them. */
export class TtlModel {
  readonly entries = new Map<string, Entry>();
  key = 0;
  ns = '';
  readonly #variant: TtlVariant;
  readonly #clock: TestClock;

  constructor(variant: TtlVariant, clock: TestClock) {
    this.#variant = variant;
    this.#clock = clock;
  }

  get #now(): number {
    return this.#clock.nowMs;
  }
  #expired(t: number): boolean {
    return t + TTL_MS <= this.#now;
  }
  get #onRead(): boolean {
    return this.#variant.updateType === 'onReadAndWrite';
  }
  get #returnExpired(): boolean {
    return this.#variant.visibility === 'returnExpiredIfNotCleanedUp';
  }
  #id(state: string, ns = this.ns, key = this.key): string {
    return `${state}|${key}|${ns}`;
  }
  #get<E>(state: string, ns = this.ns): E | undefined {
    return this.entries.get(this.#id(state, ns)) as E | undefined;
  }
  #set(state: string, entry: Entry | undefined, ns = this.ns): void {
    const empty =
      entry === undefined ||
      (Array.isArray(entry) && entry.length === 0) ||
      (entry instanceof Map && entry.size === 0);
    if (empty) this.entries.delete(this.#id(state, ns));
    else this.entries.set(this.#id(state, ns), entry);
  }

  /** A single value's read: what it returns, and its effects. */
  #readSingle<V>(state: string): V | undefined {
    const e = this.#get<Stamped<V>>(state);
    if (e === undefined) return undefined;
    if (this.#expired(e.t)) {
      this.#set(state, undefined);
      return this.#returnExpired ? e.v : undefined;
    }
    if (this.#onRead) e.t = this.#now;
    return e.v;
  }
  #live<V>(state: string, ns = this.ns): Stamped<V> | undefined {
    const e = this.#get<Stamped<V>>(state, ns);
    if (e !== undefined && this.#expired(e.t)) {
      this.#set(state, undefined, ns);
      return undefined;
    }
    return e;
  }

  /** Applies `op` to the model and returns what its read returns (`undefined` for writes). */
  apply(op: TtlOp): unknown {
    const now = this.#now;
    switch (op.op) {
      case 'valueRead':
        return this.#readSingle<number>('tv') ?? -1;
      case 'valueUpdate':
        this.#set('tv', { v: op.v, t: now });
        return undefined;
      case 'valueClear':
        this.#set('tv', undefined);
        return undefined;
      case 'listGet': {
        const list = this.#get<Array<Stamped<number>>>('tl') ?? [];
        const out = list.filter((e) => this.#returnExpired || !this.#expired(e.t)).map((e) => e.v);
        const live = list.filter((e) => !this.#expired(e.t));
        if (this.#onRead) for (const e of live) e.t = now;
        this.#set('tl', live);
        return out;
      }
      case 'listAdd':
        this.#set('tl', [...(this.#get<Array<Stamped<number>>>('tl') ?? []), { v: op.v, t: now }]);
        return undefined;
      case 'listAddAll':
        this.#set('tl', [
          ...(this.#get<Array<Stamped<number>>>('tl') ?? []),
          ...op.vs.map((v) => ({ v, t: now })),
        ]);
        return undefined;
      case 'listUpdate':
        this.#set(
          'tl',
          op.vs.map((v) => ({ v, t: now })),
        );
        return undefined;
      case 'mapGet':
      case 'mapHas': {
        const map = this.#get<Map<string, Stamped<number>>>('tm');
        const e = map?.get(op.k);
        let visible: Stamped<number> | undefined = e;
        if (e !== undefined && this.#expired(e.t)) {
          map!.delete(op.k);
          this.#set('tm', map);
          if (!this.#returnExpired) visible = undefined;
        } else if (e !== undefined && this.#onRead) e.t = now;
        return op.op === 'mapGet' ? visible?.v : visible !== undefined;
      }
      case 'mapPut': {
        const map = this.#get<Map<string, Stamped<number>>>('tm') ?? new Map<string, Stamped<number>>();
        const old = map.get(op.k);
        if (old !== undefined && this.#expired(old.t)) map.delete(op.k); // a new entry, last in order
        map.set(op.k, { v: op.v, t: now });
        this.#set('tm', map);
        return undefined;
      }
      case 'mapRemove': {
        const map = this.#get<Map<string, Stamped<number>>>('tm');
        map?.delete(op.k);
        this.#set('tm', map);
        return undefined;
      }
      case 'mapEntries':
      case 'mapIsEmpty': {
        const map = this.#get<Map<string, Stamped<number>>>('tm') ?? new Map<string, Stamped<number>>();
        const out = [...map]
          .filter(([, e]) => this.#returnExpired || !this.#expired(e.t))
          .map(([k, e]): [string, number] => [k, e.v]);
        for (const [k, e] of map) {
          if (this.#expired(e.t)) map.delete(k);
          else if (op.op === 'mapEntries' && this.#onRead) e.t = now;
        }
        this.#set('tm', map);
        return op.op === 'mapEntries' ? out : out.length === 0;
      }
      case 'reduceGet':
        return this.#readSingle<number>('tr');
      case 'reduceAdd': {
        const cur = this.#live<number>('tr');
        this.#set('tr', { v: cur === undefined ? op.v : reduce(cur.v, op.v), t: now });
        return undefined;
      }
      case 'aggGet': {
        const acc = this.#readSingle<Acc>('tg');
        return acc === undefined ? undefined : avg.getResult(acc);
      }
      case 'aggAdd': {
        const cur = this.#live<Acc>('tg')?.v ?? { sum: 0, n: 0 };
        this.#set('tg', { v: { sum: cur.sum + op.v, n: cur.n + 1 }, t: now });
        return undefined;
      }
      case 'merge': {
        if (op.state === 'list') {
          const merged = (this.#get<Array<Stamped<number>>>('tl', op.target) ?? []).filter(
            (e) => !this.#expired(e.t),
          );
          for (const source of op.sources) {
            if (source === op.target) continue;
            for (const e of this.#get<Array<Stamped<number>>>('tl', source) ?? []) {
              if (!this.#expired(e.t)) merged.push(e);
            }
            this.#set('tl', undefined, source);
          }
          this.#set('tl', merged, op.target);
          return undefined;
        }
        const name = op.state === 'reducing' ? 'tr' : 'tg';
        const combine =
          op.state === 'reducing'
            ? (a: unknown, b: unknown) => reduce(a as number, b as number)
            : (a: unknown, b: unknown) => avg.merge!(a as Acc, b as Acc);
        let merged = this.#live<unknown>(name, op.target)?.v;
        let changed = false;
        for (const source of op.sources) {
          if (source === op.target) continue;
          const e = this.#live<unknown>(name, source);
          this.#set(name, undefined, source);
          if (e === undefined) continue;
          merged = merged === undefined ? e.v : combine(merged, e.v);
          changed = true;
        }
        if (changed) this.#set(name, { v: merged as number, t: now }, op.target);
        return undefined;
      }
      default:
        return undefined;
    }
  }

  /** Drops every expired value, as a snapshot taken now leaves it out. */
  pruneExpired(): void {
    for (const [id, entry] of [...this.entries]) {
      if (Array.isArray(entry)) {
        const live = entry.filter((e) => !this.#expired(e.t));
        if (live.length === 0) this.entries.delete(id);
        else this.entries.set(id, live);
      } else if (entry instanceof Map) {
        for (const [k, e] of entry) if (this.#expired(e.t)) entry.delete(k);
        if (entry.size === 0) this.entries.delete(id);
      } else if (this.#expired(entry.t)) this.entries.delete(id);
    }
  }

  /** The snapshot a backend must produce now: expired values left out, timestamps kept. */
  snapshot(): Array<[string, unknown]> {
    const out: Array<[string, unknown]> = [];
    for (const [id, entry] of this.entries) {
      let encoded: unknown;
      if (Array.isArray(entry)) {
        const live = entry.filter((e) => !this.#expired(e.t)).map((e) => [e.v, e.t]);
        encoded = live.length === 0 ? undefined : live;
      } else if (entry instanceof Map) {
        const live = [...entry].filter(([, e]) => !this.#expired(e.t)).map(([k, e]) => [k, e.v, e.t]);
        encoded = live.length === 0 ? undefined : live;
      } else encoded = this.#expired(entry.t) ? undefined : [structuredClone(entry.v), entry.t];
      if (encoded !== undefined) out.push([id, encoded]);
    }
    return out.sort(([a], [b]) => (a < b ? -1 : 1));
  }
}

/** Applies one op to the backend and returns what its read returns, as {@link TtlModel.apply}. */
export function applyTtl(op: TtlOp, backend: KeyedStateBackend, s: TtlStates, m: TtlModel): unknown {
  switch (op.op) {
    case 'key':
      backend.setCurrentKey(KEYS[op.key]!);
      m.key = op.key;
      return undefined;
    case 'ns':
      for (const state of Object.values(s)) state.setNamespace(op.ns);
      m.ns = op.ns;
      return undefined;
    case 'valueRead':
      return s.value.value();
    case 'valueUpdate':
      return s.value.update(op.v);
    case 'valueClear':
      return s.value.clear();
    case 'listGet':
      return s.list.get();
    case 'listAdd':
      return s.list.add(op.v);
    case 'listAddAll':
      return s.list.addAll(op.vs);
    case 'listUpdate':
      return s.list.update(op.vs);
    case 'mapGet':
      return s.map.get(op.k);
    case 'mapHas':
      return s.map.has(op.k);
    case 'mapPut':
      return s.map.put(op.k, op.v);
    case 'mapRemove':
      return s.map.remove(op.k);
    case 'mapEntries':
      return [...s.map.entries()];
    case 'mapIsEmpty':
      return s.map.isEmpty();
    case 'reduceGet':
      return s.reducing.get();
    case 'reduceAdd':
      s.reducing.add(op.v);
      return undefined;
    case 'aggGet':
      return s.aggregating.get();
    case 'aggAdd':
      s.aggregating.add(op.v);
      return undefined;
    case 'merge':
      s[op.state].mergeNamespaces(op.target, op.sources);
      return undefined;
    case 'cleanup':
      backend.cleanUpExpired?.();
      return undefined;
    default:
      return undefined;
  }
}

/** Runs ops on backend and model with a shared clock, checking every read against the model. */
export async function runTtl(
  ops: readonly TtlOp[],
  backend: KeyedStateBackend,
  variant: TtlVariant,
  clock: TestClock,
): Promise<TtlModel> {
  const states = registerTtl(backend, variant);
  const model = new TtlModel(variant, clock);
  for (const raw of ops) {
    const op = structuredClone(raw);
    if (op.op === 'evict') {
      const w = backend.evict?.();
      if (w !== undefined) await w;
      continue;
    }
    if (op.op === 'advance') {
      clock.nowMs += op.ms;
      continue;
    }
    const key = KEYS[op.op === 'key' ? op.key : model.key]!;
    const p = backend.prefetch?.([[key, kgOf(key)]]);
    if (p !== undefined) await p;
    const got = applyTtl(op, backend, states, model);
    const expected = model.apply(op);
    expect(got, `${op.op} at ${clock.nowMs}`).toEqual(expected);
  }
  return model;
}

/** Snapshot entries as sorted "state|key index|namespace" → snapshot form. */
export function normalizeTtl(entries: readonly KeyGroupSnapshotEntry[]): Array<[string, unknown]> {
  return entries
    .map(([name, key, ns, value]): [string, unknown] => [`${name}|${KEYS.indexOf(key)}|${ns}`, value])
    .sort(([a], [b]) => (a < b ? -1 : 1));
}
