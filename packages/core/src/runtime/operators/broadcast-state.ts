import type { BroadcastState, ReadOnlyBroadcastState } from '../../contracts/co-functions.ts';
import { SluiceError } from '../../errors.ts';
import type { AnyMapStateDescriptor } from '../../plan/co-operator-spec.ts';
import type { Key } from '../../state/key-groups.ts';

/** Stable codes of {@link BroadcastStateError}. */
export type BroadcastStateErrorCode =
  /** `getBroadcastState` was given a descriptor not passed to `broadcast(...)`. */
  | 'SLUICE_BROADCAST_STATE_UNDECLARED'
  /** The non-broadcast side tried to write broadcast state (reached past the read-only type). */
  | 'SLUICE_BROADCAST_STATE_READ_ONLY';

/** Broadcast state used in a way that would make the subtasks' copies differ, or not declared. */
export class BroadcastStateError extends SluiceError {
  declare readonly code: BroadcastStateErrorCode;

  constructor(code: BroadcastStateErrorCode, message: string) {
    super(code, message);
  }
}

/** The tag of a broadcast state item in an operator's list state (`OperatorStateSnapshot.operatorState`). */
const ITEM_TAG = 'broadcast-state';

/** One descriptor's map as a checkpoint stores it: plain data, entries in insertion order. */
type StoredItem = [tag: typeof ITEM_TAG, name: string, entries: Array<[Key, unknown]>];

/**
 * The broadcast state of one subtask (Flink's `OperatorStateBackend` broadcast state): one map per
 * declared descriptor. Every subtask checkpoints its whole copy; a restore, at any parallelism,
 * gives every new subtask the copy of the lowest old subtask (the copies are equal, as every
 * subtask applied the same broadcast records).
 */
export class BroadcastStateStore {
  readonly #maps = new Map<string, Map<Key, unknown>>();
  readonly #writable = new Map<string, BroadcastState<Key, unknown>>();
  readonly #readOnly = new Map<string, ReadOnlyBroadcastState<Key, unknown>>();
  readonly #operatorId: () => string;

  /** `operatorId` names the operator in errors (known once the operator is set up). */
  constructor(descriptors: readonly AnyMapStateDescriptor[], operatorId: () => string) {
    this.#operatorId = operatorId;
    for (const descriptor of descriptors) {
      const map = new Map<Key, unknown>();
      this.#maps.set(descriptor.name, map);
      this.#writable.set(descriptor.name, writableView(map));
      this.#readOnly.set(descriptor.name, readOnlyView(map, descriptor.name, operatorId));
    }
  }

  /** The broadcast side's view. */
  writable(descriptor: AnyMapStateDescriptor): BroadcastState<Key, unknown> {
    return this.#writable.get(this.#declared(descriptor))!;
  }

  /** The other side's view: the same map, no writes. */
  readOnly(descriptor: AnyMapStateDescriptor): ReadOnlyBroadcastState<Key, unknown> {
    return this.#readOnly.get(this.#declared(descriptor))!;
  }

  #declared(descriptor: AnyMapStateDescriptor): string {
    const name = (descriptor as { name?: unknown } | null)?.name;
    if (typeof name !== 'string' || !this.#maps.has(name)) {
      const declared = [...this.#maps.keys()].map((n) => `'${n}'`).join(', ');
      throw new BroadcastStateError(
        'SLUICE_BROADCAST_STATE_UNDECLARED',
        `operator '${this.#operatorId()}': getBroadcastState(${typeof name === 'string' ? `'${name}'` : String(descriptor)}) names no broadcast state of this stream; declared: ${declared}. Pass the descriptor to broadcast(...)`,
      );
    }
    return name;
  }

  /** Every map as plain data, one list item per descriptor (copies: later writes do not change it). */
  snapshot(): StoredItem[] {
    const items: StoredItem[] = [];
    for (const [name, map] of this.#maps) items.push([ITEM_TAG, name, [...map]]);
    return items;
  }

  /**
   * Takes the first stored copy of each declared map from every old subtask's list state (in old
   * subtask order). Items of other names are left: a descriptor the job no longer declares.
   */
  restore(operatorStateOfAll: readonly unknown[]): void {
    const done = new Set<string>();
    for (const item of operatorStateOfAll) {
      if (!Array.isArray(item) || item[0] !== ITEM_TAG) continue;
      const [, name, entries] = item as StoredItem;
      const map = this.#maps.get(name);
      if (map === undefined || done.has(name)) continue;
      done.add(name);
      for (const [key, value] of entries) map.set(key, value);
    }
  }
}

function writableView(map: Map<Key, unknown>): BroadcastState<Key, unknown> {
  return {
    get: (key) => map.get(key),
    has: (key) => map.has(key),
    entries: () => map.entries(),
    keys: () => map.keys(),
    values: () => map.values(),
    isEmpty: () => map.size === 0,
    put: (key, value) => {
      map.set(key, value);
    },
    remove: (key) => {
      map.delete(key);
    },
    clear: () => map.clear(),
  };
}

function readOnlyView(
  map: Map<Key, unknown>,
  name: string,
  operatorId: () => string,
): ReadOnlyBroadcastState<Key, unknown> {
  // Plain JavaScript (or a cast) can call a writer the type hides: refuse with the reason.
  const refuse = (): never => {
    throw new BroadcastStateError(
      'SLUICE_BROADCAST_STATE_READ_ONLY',
      `operator '${operatorId()}': broadcast state '${name}' is read-only in processElement; only processBroadcastElement may change it, so that every subtask's copy stays the same`,
    );
  };
  const view = {
    get: (key: Key) => map.get(key),
    has: (key: Key) => map.has(key),
    entries: () => map.entries(),
    keys: () => map.keys(),
    values: () => map.values(),
    isEmpty: () => map.size === 0,
    put: refuse,
    remove: refuse,
    clear: refuse,
  };
  return view;
}
