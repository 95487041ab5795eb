import type { BatchKeys } from '../../channels/batch-keys.ts';
import type { KeyedStateBackend, KeyGroupSnapshotEntry } from '../../state/backend/keyed-state-backend.ts';
import { assignToKeyGroup, type Key } from '../../state/key-groups.ts';
import {
  fromSnapshotKey,
  needsSnapshotForm,
  type SnapshotKey,
  toSnapshotKey,
} from '../../state/snapshot-keys.ts';
import type { InternalTimerService, TimerTuple } from '../../time/timer-service.ts';
import {
  AbstractStreamOperator,
  type FiringTimer,
  type KeyGroupState,
  newFiringTimer,
  type OperatorSetup,
  type OperatorStateSnapshot,
  type RestoredOperatorState,
} from '../operator.ts';

type BackendEntries = readonly KeyGroupSnapshotEntry[];

/** A key group's entries with their keys in stored form; as they are when no key needs it (the rule). */
function storedEntries(entries: BackendEntries): KeyGroupState['entries'] {
  if (!entries.some((entry) => needsSnapshotForm(entry[1]))) return entries;
  return entries.map(
    ([name, key, namespace, value]) => [name, toSnapshotKey(key), namespace, value] as const,
  );
}

/** The inverse of {@link storedEntries}. */
function restoredEntries(entries: KeyGroupState['entries']): BackendEntries {
  if (!entries.some((entry) => entry[1] instanceof Uint8Array)) return entries as BackendEntries;
  return entries.map(
    ([name, key, namespace, value]): KeyGroupSnapshotEntry => [name, fromSnapshotKey(key), namespace, value],
  );
}

/** Timers fired per prefetch when the backend keeps state on disk. */
const TIMERS_PER_PREFETCH = 1024;

/**
 * Base of operators on a keyed stream: the state backend and timer service are scoped to the
 * key of the record or timer being processed. Unlike Flink, the key selector does not run again
 * here: the upstream partitioner computed each record's key and key group once and they travel
 * with the record (`channels/batch-keys.ts`), so the task calls {@link processKeyedElement}.
 * `processElement` (a record without its key: the operator test harness) selects it first.
 *
 * With a backend that keeps state on disk (LevelDB), state calls stay synchronous: the task asks
 * `prefetch` for each batch's keys before handing it over, and timers are fired in chunks whose
 * keys are fetched first. With the heap backend both are skipped at no cost.
 */
export abstract class AbstractKeyedOperator<IN, OUT> extends AbstractStreamOperator<IN, OUT> {
  protected backend!: KeyedStateBackend;
  protected timers!: InternalTimerService<Key>;
  protected readonly keySelector: (value: unknown) => Key;
  #restored: readonly KeyGroupState[] = [];
  #firing: FiringTimer = newFiringTimer();
  readonly #onEventTimer = (key: Key, namespace: string, timestamp: number): void => {
    this.backend.setCurrentKey(key);
    const firing = this.#firing;
    firing.firing = true;
    firing.eventTime = true;
    firing.timestamp = timestamp;
    firing.key = key;
    this.onEventTime(key, namespace, timestamp);
    firing.firing = false;
  };
  readonly #onProcessingTimer = (key: Key, namespace: string, timestamp: number): void => {
    this.backend.setCurrentKey(key);
    const firing = this.#firing;
    firing.firing = true;
    firing.eventTime = false;
    firing.timestamp = timestamp;
    firing.key = key;
    this.onProcessingTime(key, namespace, timestamp);
    firing.firing = false;
  };

  constructor(keySelector: (value: unknown) => Key) {
    super();
    this.keySelector = keySelector;
  }

  override setup(setup: OperatorSetup): void {
    super.setup(setup);
    if (setup.keyed === undefined) {
      throw new Error(`bug: keyed operator '${setup.runtime.operatorId}' set up without keyed context`);
    }
    this.backend = setup.keyed.backend;
    this.timers = setup.keyed.timers;
    if (setup.firingTimer !== undefined) this.#firing = setup.firingTimer;
  }

  /** A record without its key: selects and hashes it here. */
  processElement(value: IN, timestamp: number): void {
    // assignToKeyGroup hashes the key, which rejects one that is not a primitive with the fix.
    const key = this.keySelector(value);
    this.processKeyedElement(value, timestamp, key, assignToKeyGroup(key, this.backend.maxParallelism));
  }

  /**
   * A record with its key and key group, computed once by the sender. Implementations start with
   * `this.backend.setCurrentKey(key, keyGroup)`, which checks the key group is this subtask's.
   */
  abstract processKeyedElement(value: IN, timestamp: number, key: Key, keyGroup: number): void;

  protected abstract onEventTime(key: Key, namespace: string, timestamp: number): void;
  protected abstract onProcessingTime(key: Key, namespace: string, timestamp: number): void;

  /** Opens the backend and puts restored key groups in place, before `open`. */
  async initializeState(): Promise<void> {
    await this.backend.open?.();
    for (const group of this.#restored) {
      if (!this.backend.keyGroupRange.contains(group.keyGroup)) {
        throw new Error(`bug: key group ${group.keyGroup} restored into range ${this.backend.keyGroupRange}`);
      }
      await this.backend.restoreKeyGroup(group.keyGroup, restoredEntries(group.entries));
      for (const [ts, key, ns] of group.eventTimers) {
        this.timers.registerEventTimeTimer(fromSnapshotKey(key), ns, ts);
      }
      for (const [ts, key, ns] of group.processingTimers) {
        this.timers.registerProcessingTimeTimer(fromSnapshotKey(key), ns, ts);
      }
    }
    this.#restored = [];
  }

  /** The backend's files are working storage (state lives in checkpoints): removed, not kept. */
  async disposeState(): Promise<void> {
    const backend = this.backend;
    await (backend.destroy?.() ?? backend.close?.());
  }

  /**
   * The keys of a batch, fetched before the batch is processed (undefined: all in memory): the
   * keys it arrived with, or, without them, the keys selected from its records.
   */
  prefetch(values: readonly unknown[], batchKeys: BatchKeys | null, _input = 0): Promise<void> | undefined {
    const backend = this.backend;
    if (backend.prefetch === undefined) return undefined;
    const keys: Array<[Key, number]> = [];
    if (batchKeys !== null) {
      const { keys: list, keyGroups } = batchKeys;
      for (let i = 0; i < list.length; i++) keys.push([list[i]!, keyGroups[i]!]);
    } else {
      const maxParallelism = backend.maxParallelism;
      for (let i = 0; i < values.length; i++) {
        const key = this.keySelector(values[i]);
        keys.push([key, assignToKeyGroup(key, maxParallelism)]);
      }
    }
    return backend.prefetch(keys);
  }

  override processWatermark(watermark: number): void | Promise<void> {
    this.currentWatermark = watermark;
    if (this.backend.prefetch === undefined) {
      this.timers.advanceWatermark(watermark, this.#onEventTimer);
      this.output.emitWatermark(watermark);
      return;
    }
    const done = this.#fireFetching('event', watermark);
    if (done === undefined) {
      this.output.emitWatermark(watermark);
      return;
    }
    return done.then(() => this.output.emitWatermark(watermark));
  }

  override advanceProcessingTime(now: number): void | Promise<void> {
    if (this.backend.prefetch === undefined) {
      this.timers.advanceProcessingTime(now, this.#onProcessingTimer);
      return;
    }
    return this.#fireFetching('processing', now);
  }

  /**
   * Fires due timers in timestamp order, a chunk at a time, fetching each chunk's keys first;
   * timers that firing registers for a due time are polled in a later chunk.
   */
  #fireFetching(domain: 'event' | 'processing', upTo: number): Promise<void> | undefined {
    const timers = this.timers;
    const maxParallelism = this.backend.maxParallelism;
    for (;;) {
      const chunk: TimerTuple<Key>[] = [];
      while (chunk.length < TIMERS_PER_PREFETCH) {
        const timer =
          domain === 'event' ? timers.pollEventTimeTimer(upTo) : timers.pollProcessingTimeTimer(upTo);
        if (timer === undefined) break;
        chunk.push(timer);
      }
      if (chunk.length === 0) return undefined;
      const fire = (): void => {
        const onTimer = domain === 'event' ? this.#onEventTimer : this.#onProcessingTimer;
        for (const [timestamp, key, namespace] of chunk) onTimer(key, namespace, timestamp);
      };
      const fetching = this.backend.prefetch!(
        chunk.map(([, key]) => [key, assignToKeyGroup(key, maxParallelism)]),
      );
      if (fetching === undefined) {
        fire();
        continue;
      }
      return fetching.then(() => {
        fire();
        return this.#fireFetching(domain, upTo);
      });
    }
  }

  override nextProcessingTimeDeadline(): number {
    return this.timers.nextProcessingTimeTimer() ?? Number.POSITIVE_INFINITY;
  }

  /**
   * After each batch: a step of background cleanup of state with TTL, then a disk-backed backend
   * writes back (the cleanup's removals too) and evicts beyond its cache budget.
   */
  override flush(): void | Promise<void> {
    const backend = this.backend;
    backend.cleanUpExpired?.();
    return backend.evict?.();
  }

  /**
   * Keyed state and timers, one entry per non-empty key group of this subtask's range. The heap
   * backend copies its containers but not the values in them: the caller encodes the snapshot
   * before the next record is processed (the task does).
   */
  snapshotState(): OperatorStateSnapshot | Promise<OperatorStateSnapshot> {
    const backend = this.backend;
    const maxParallelism = backend.maxParallelism;
    const timers = this.timers.snapshot();
    const eventTimers = new Map<number, Array<[number, SnapshotKey, string]>>();
    const processingTimers = new Map<number, Array<[number, SnapshotKey, string]>>();
    for (const [list, byGroup] of [
      [timers.eventTime, eventTimers],
      [timers.processingTime, processingTimers],
    ] as const) {
      for (const timer of list) {
        const keyGroup = assignToKeyGroup(timer[1], maxParallelism);
        let bucket = byGroup.get(keyGroup);
        if (bucket === undefined) {
          bucket = [];
          byGroup.set(keyGroup, bucket);
        }
        bucket.push([timer[0], toSnapshotKey(timer[1]), timer[2]]);
      }
    }
    const group = (keyGroup: number, entries: BackendEntries): KeyGroupState | undefined => {
      const event = eventTimers.get(keyGroup) ?? [];
      const processing = processingTimers.get(keyGroup) ?? [];
      if (entries.length === 0 && event.length === 0 && processing.length === 0) return undefined;
      return { keyGroup, entries: storedEntries(entries), eventTimers: event, processingTimers: processing };
    };
    const keyGroups = [...backend.keyGroupRange];
    const snapshots = keyGroups.map((kg) => backend.snapshotKeyGroup(kg));
    if (snapshots.every((s) => !(s instanceof Promise))) {
      const result: KeyGroupState[] = [];
      keyGroups.forEach((kg, i) => {
        const state = group(kg, snapshots[i] as BackendEntries);
        if (state !== undefined) result.push(state);
      });
      return { keyGroups: result };
    }
    return Promise.all(snapshots).then((entries) => {
      const result: KeyGroupState[] = [];
      keyGroups.forEach((kg, i) => {
        const state = group(kg, entries[i]!);
        if (state !== undefined) result.push(state);
      });
      return { keyGroups: result };
    });
  }

  restoreState(state: RestoredOperatorState): void {
    this.#restored = state.keyGroups;
  }

  /**
   * At end of input every processing-time timer that is pending fires once, so that bounded
   * jobs emit every window. Timers those callbacks register are not fired again: a timer that
   * re-arms itself would otherwise never let the job end.
   */
  override finish(): void | Promise<void> {
    return this.#firePending(this.timers.snapshot().processingTime, 0);
  }

  #firePending(pending: ReadonlyArray<TimerTuple<Key>>, from: number): void | Promise<void> {
    const maxParallelism = this.backend.maxParallelism;
    for (let start = from; start < pending.length; start += TIMERS_PER_PREFETCH) {
      const chunk = pending.slice(start, start + TIMERS_PER_PREFETCH);
      const fire = (): void => {
        for (const [timestamp, key, namespace] of chunk) {
          if (!this.timers.hasProcessingTimeTimer(key, namespace, timestamp)) continue;
          this.timers.deleteProcessingTimeTimer(key, namespace, timestamp);
          this.#onProcessingTimer(key, namespace, timestamp);
        }
      };
      const fetching = this.backend.prefetch?.(
        chunk.map(([, key]) => [key, assignToKeyGroup(key, maxParallelism)]),
      );
      if (fetching === undefined) {
        fire();
        continue;
      }
      const next = start + TIMERS_PER_PREFETCH;
      return fetching.then(() => {
        fire();
        return this.#firePending(pending, next);
      });
    }
  }
}
