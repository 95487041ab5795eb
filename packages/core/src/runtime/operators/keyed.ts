import type { HeapKeyedStateBackend } from '../../state/heap-keyed-state-backend.ts';
import { assignToKeyGroup, type Key } from '../../state/key-groups.ts';
import type { InternalTimerService } from '../../time/timer-service.ts';
import {
  AbstractStreamOperator,
  type KeyGroupState,
  type OperatorSetup,
  type OperatorStateSnapshot,
  type RestoredOperatorState,
} from '../operator.ts';

/**
 * Base of operators on a keyed stream: the state backend and timer service are scoped to the
 * key of the record or timer being processed. The key selector runs again here (it ran in the
 * upstream partitioner too), as in Flink: keys never travel on the wire.
 */
export abstract class AbstractKeyedOperator<IN, OUT> extends AbstractStreamOperator<IN, OUT> {
  protected backend!: HeapKeyedStateBackend;
  protected timers!: InternalTimerService<Key>;
  protected readonly keySelector: (value: unknown) => Key;
  readonly #onEventTimer = (key: Key, namespace: string, timestamp: number): void => {
    this.backend.setCurrentKey(key);
    this.onEventTime(key, namespace, timestamp);
  };
  readonly #onProcessingTimer = (key: Key, namespace: string, timestamp: number): void => {
    this.backend.setCurrentKey(key);
    this.onProcessingTime(key, namespace, timestamp);
  };

  constructor(keySelector: (value: unknown) => Key) {
    super();
    this.keySelector = keySelector;
  }

  override setup(setup: OperatorSetup): void {
    super.setup(setup);
    if (setup.keyed === undefined)
      throw new Error(`bug: keyed operator '${setup.runtime.operatorId}' set up without keyed context`);
    this.backend = setup.keyed.backend;
    this.timers = setup.keyed.timers;
  }

  /** Sets the current key from a record; keys must be primitives so that they hash the same everywhere. */
  protected setKeyOf(value: unknown): Key {
    // setCurrentKey hashes the key, which rejects one that is not a primitive with the fix.
    const key = this.keySelector(value);
    this.backend.setCurrentKey(key);
    return key;
  }

  protected abstract onEventTime(key: Key, namespace: string, timestamp: number): void;
  protected abstract onProcessingTime(key: Key, namespace: string, timestamp: number): void;

  override processWatermark(watermark: number): void {
    this.currentWatermark = watermark;
    this.timers.advanceWatermark(watermark, this.#onEventTimer);
    this.output.emitWatermark(watermark);
  }

  override advanceProcessingTime(now: number): void {
    this.timers.advanceProcessingTime(now, this.#onProcessingTimer);
  }

  override nextProcessingTimeDeadline(): number {
    return this.timers.nextProcessingTimeTimer() ?? Number.POSITIVE_INFINITY;
  }

  /**
   * Keyed state and timers, one entry per non-empty key group of this subtask's range. The heap
   * backend copies its containers, so processing may go on while the caller encodes them.
   */
  snapshotState(): OperatorStateSnapshot {
    const backend = this.backend;
    const maxParallelism = backend.maxParallelism;
    const timers = this.timers.snapshot();
    const eventTimers = new Map<number, Array<[number, Key, string]>>();
    const processingTimers = new Map<number, Array<[number, Key, string]>>();
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
        bucket.push([timer[0], timer[1], timer[2]]);
      }
    }
    const keyGroups: KeyGroupState[] = [];
    for (const keyGroup of backend.keyGroupRange) {
      const entries = backend.snapshotKeyGroup(keyGroup);
      const event = eventTimers.get(keyGroup) ?? [];
      const processing = processingTimers.get(keyGroup) ?? [];
      if (entries.length === 0 && event.length === 0 && processing.length === 0) continue;
      keyGroups.push({ keyGroup, entries, eventTimers: event, processingTimers: processing });
    }
    return { keyGroups };
  }

  restoreState(state: RestoredOperatorState): void {
    for (const group of state.keyGroups) {
      if (!this.backend.keyGroupRange.contains(group.keyGroup)) {
        throw new Error(`bug: key group ${group.keyGroup} restored into range ${this.backend.keyGroupRange}`);
      }
      this.backend.restoreKeyGroup(group.keyGroup, group.entries);
      for (const [ts, key, ns] of group.eventTimers) this.timers.registerEventTimeTimer(key, ns, ts);
      for (const [ts, key, ns] of group.processingTimers)
        this.timers.registerProcessingTimeTimer(key, ns, ts);
    }
  }

  /**
   * At end of input every processing-time timer that is pending fires once, so that bounded
   * jobs emit every window. Timers those callbacks register are not fired again: a timer that
   * re-arms itself would otherwise never let the job end.
   */
  override finish(): void {
    const pending = this.timers.snapshot().processingTime;
    for (const [timestamp, key, namespace] of pending) {
      if (!this.timers.hasProcessingTimeTimer(key, namespace, timestamp)) continue;
      this.timers.deleteProcessingTimeTimer(key, namespace, timestamp);
      this.#onProcessingTimer(key, namespace, timestamp);
    }
  }
}
