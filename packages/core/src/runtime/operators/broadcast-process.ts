import type { BatchKeys } from '../../channels/batch-keys.ts';
import type {
  BroadcastContext,
  BroadcastProcessFunction,
  BroadcastState,
  KeyedBroadcastContext,
  KeyedBroadcastProcessFunction,
  ReadOnlyBroadcastContext,
  ReadOnlyBroadcastState,
} from '../../contracts/co-functions.ts';
import type { AnyMapStateDescriptor } from '../../plan/co-operator-spec.ts';
import type { StateDescriptor } from '../../state/descriptors.ts';
import { assignToKeyGroup, type Key } from '../../state/key-groups.ts';
import type { OperatorStateSnapshot, RestoredOperatorState } from '../operator.ts';
import { BroadcastStateStore } from './broadcast-state.ts';
import { ContextOperator, KeyedContextOperator } from './co-process.ts';
import { KeyedContextImpl } from './keyed-process.ts';
import { type ContextHost, FunctionContext } from './process.ts';

/*
 * Broadcast state operators (Flink's CoBroadcastWithNonKeyedOperator and
 * CoBroadcastWithKeyedOperator). The first input is the non-broadcast stream; the second, read
 * by every subtask in full, is the broadcast stream, whose records alone may change the
 * broadcast state. Broadcast state is operator list state in checkpoints (see BroadcastStateStore).
 */

class ReadOnlyContext extends FunctionContext implements ReadOnlyBroadcastContext {
  readonly #store: BroadcastStateStore;

  constructor(host: ContextHost, store: BroadcastStateStore) {
    super(host);
    this.#store = store;
  }

  getBroadcastState<K extends Key, V>(descriptor: AnyMapStateDescriptor): ReadOnlyBroadcastState<K, V> {
    return this.#store.readOnly(descriptor) as ReadOnlyBroadcastState<K, V>;
  }
}

class WritableContext extends FunctionContext implements BroadcastContext {
  readonly #store: BroadcastStateStore;

  constructor(host: ContextHost, store: BroadcastStateStore) {
    super(host);
    this.#store = store;
  }

  getBroadcastState<K extends Key, V>(descriptor: AnyMapStateDescriptor): BroadcastState<K, V> {
    return this.#store.writable(descriptor) as unknown as BroadcastState<K, V>;
  }
}

/** A non-keyed stream connected to a broadcast stream. */
export class BroadcastProcessOperator extends ContextOperator {
  readonly #fn: BroadcastProcessFunction<unknown, unknown, unknown>;
  readonly #store: BroadcastStateStore;
  readonly #readOnly: ReadOnlyContext;
  readonly #writable: WritableContext;

  constructor(
    fn: BroadcastProcessFunction<unknown, unknown, unknown>,
    descriptors: readonly AnyMapStateDescriptor[],
  ) {
    super();
    this.#fn = fn;
    this.#store = new BroadcastStateStore(descriptors, () => this.runtime.operatorId);
    this.#readOnly = new ReadOnlyContext(this, this.#store);
    this.#writable = new WritableContext(this, this.#store);
  }

  override open(): void {
    this.#fn.open?.({ ...this.runtime });
  }

  processElement(value: unknown, timestamp: number): void {
    this.#readOnly.rawTimestamp = timestamp;
    this.#fn.processElement(value, this.#readOnly, this.#readOnly);
  }

  processElement2(value: unknown, timestamp: number): void {
    this.#writable.rawTimestamp = timestamp;
    this.#fn.processBroadcastElement(value, this.#writable, this.#writable);
  }

  snapshotState(): OperatorStateSnapshot {
    return { operatorState: this.#store.snapshot() };
  }

  restoreState(state: RestoredOperatorState): void {
    this.#store.restore(state.operatorStateOfAll);
  }

  override close(): void {
    this.#fn.close?.();
  }
}

class KeyedReadOnlyContext extends KeyedContextImpl {
  readonly #store: BroadcastStateStore;

  constructor(host: KeyedBroadcastProcessOperator, store: BroadcastStateStore) {
    super(host);
    this.#store = store;
  }

  getBroadcastState<K extends Key, V>(descriptor: AnyMapStateDescriptor): ReadOnlyBroadcastState<K, V> {
    return this.#store.readOnly(descriptor) as ReadOnlyBroadcastState<K, V>;
  }
}

class KeyedWritableContext extends WritableContext {
  readonly #operator: KeyedBroadcastProcessOperator;

  constructor(host: KeyedBroadcastProcessOperator, store: BroadcastStateStore) {
    super(host, store);
    this.#operator = host;
  }

  applyToKeyedState(descriptor: StateDescriptor, fn: (key: Key, state: never) => void): void {
    this.#operator.applyToKeyedState(descriptor, fn);
  }
}

/**
 * A keyed stream connected to a broadcast stream. The keyed side has keyed state and timers; the
 * broadcast side has no current key but reaches every key's state with `applyToKeyedState`. With
 * a backend that keeps state on disk, a broadcast batch first fetches every key of every state the
 * function has used (or that was restored): what `applyToKeyedState` may visit.
 */
export class KeyedBroadcastProcessOperator extends KeyedContextOperator {
  readonly #fn: KeyedBroadcastProcessFunction<Key, unknown, unknown, unknown>;
  readonly #store: BroadcastStateStore;
  readonly #readOnly: KeyedReadOnlyContext;
  readonly #writable: KeyedWritableContext;

  constructor(
    fn: KeyedBroadcastProcessFunction<Key, unknown, unknown, unknown>,
    keySelector: (value: unknown) => Key,
    descriptors: readonly AnyMapStateDescriptor[],
  ) {
    super(keySelector);
    this.#fn = fn;
    this.#store = new BroadcastStateStore(descriptors, () => this.runtime.operatorId);
    this.#readOnly = new KeyedReadOnlyContext(this, this.#store);
    this.#writable = new KeyedWritableContext(this, this.#store);
  }

  override open(): void {
    this.#fn.open?.(this.openContext());
  }

  processKeyedElement(value: unknown, timestamp: number, key: Key, keyGroup: number): void {
    this.backend.setCurrentKey(key, keyGroup);
    this.#readOnly.rawTimestamp = timestamp;
    this.#readOnly.timeDomain = 'event-time';
    this.#fn.processElement(value, this.#readOnly, this.#readOnly);
  }

  processElement2(value: unknown, timestamp: number): void {
    this.#writable.rawTimestamp = timestamp;
    this.#fn.processBroadcastElement(
      value,
      this.#writable as unknown as KeyedBroadcastContext<Key>,
      this.#writable,
    );
  }

  /** @internal Every key of this subtask with state under `descriptor`, each made current in turn. */
  applyToKeyedState(descriptor: StateDescriptor, fn: (key: Key, state: never) => void): void {
    const state = this.state(descriptor) as never;
    const backend = this.backend;
    // A copy: `fn` may clear a key's state, which changes what `keys` iterates.
    const keys = [...backend.keys(descriptor.name)];
    for (const key of keys) {
      backend.setCurrentKey(key);
      fn(key, state);
    }
  }

  override prefetch(
    values: readonly unknown[],
    batchKeys: BatchKeys | null,
    input = 0,
  ): Promise<void> | undefined {
    if (input === 0) return super.prefetch(values, batchKeys);
    const backend = this.backend;
    if (backend.prefetch === undefined || this.usedStateNames.size === 0) return undefined;
    if (backend.keysAsync === undefined) {
      throw new Error('bug: a state backend with prefetch must list its keys (keysAsync)');
    }
    const names = [...this.usedStateNames];
    return Promise.all(names.map((name) => backend.keysAsync!(name))).then((lists) => {
      const keys: Array<[Key, number]> = [];
      for (const list of lists)
        for (const key of list) keys.push([key, assignToKeyGroup(key, backend.maxParallelism)]);
      return backend.prefetch!(keys);
    });
  }

  protected onEventTime(_key: Key, _namespace: string, timestamp: number): void {
    this.#fire(timestamp, 'event-time');
  }

  protected onProcessingTime(_key: Key, _namespace: string, timestamp: number): void {
    this.#fire(timestamp, 'processing-time');
  }

  #fire(timestamp: number, domain: 'event-time' | 'processing-time'): void {
    if (this.#fn.onTimer === undefined) return;
    this.#readOnly.rawTimestamp = timestamp;
    this.#readOnly.timeDomain = domain;
    this.#fn.onTimer(timestamp, this.#readOnly, this.#readOnly);
  }

  /** Keyed state by key group, broadcast state as list state: both in one snapshot. */
  override snapshotState(): OperatorStateSnapshot | Promise<OperatorStateSnapshot> {
    const operatorState = this.#store.snapshot();
    const keyed = super.snapshotState();
    if (keyed instanceof Promise) return keyed.then((k) => ({ ...k, operatorState }));
    return { ...keyed, operatorState };
  }

  override restoreState(state: RestoredOperatorState): void {
    super.restoreState(state);
    // Restored keyed state counts as used: a broadcast batch may visit it before any record does.
    for (const group of state.keyGroups) for (const [name] of group.entries) this.usedStateNames.add(name);
    this.#store.restore(state.operatorStateOfAll);
  }

  override close(): void {
    this.#fn.close?.();
  }
}
