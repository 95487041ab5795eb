import { TimerHeap, type TimerKey, type TimerTuple } from './timer-heap.ts';

export type { TimerKey, TimerTuple } from './timer-heap.ts';

/** Called once per firing timer, in timestamp order (ties: registration order). */
export type OnTimer<K extends TimerKey = TimerKey> = (key: K, namespace: string, timestamp: number) => void;

/** Plain-data form of all timers of a service, in firing order. */
export interface TimerServiceSnapshot<K extends TimerKey = TimerKey> {
  eventTime: TimerTuple<K>[];
  processingTime: TimerTuple<K>[];
}

function checkTimestamp(fn: string, name: string, value: number): void {
  // NaN would compare false against everything and sit in the heap forever.
  if (typeof value !== 'number' || Number.isNaN(value)) {
    throw new RangeError(
      `InternalTimerService.${fn}: ${name} must be a number (not NaN), got ${String(value)}`,
    );
  }
}

/**
 * Event-time and processing-time timers of one operator subtask, in the manner of Flink's
 * `InternalTimerServiceImpl`. A timer is a (timestamp, key, namespace) triple: the key is the
 * record key the timer belongs to, the namespace says what it is for (for windows,
 * {@link windowNamespace} of the window). Registering a triple twice keeps one timer.
 *
 * The service does not own a clock. The task calls {@link advanceWatermark} when its combined
 * input watermark moves (see `StatusWatermarkValve`) and {@link advanceProcessingTime} when its
 * processing-time clock fires (`nextProcessingTimeTimer()` tells it when that needs to be),
 * which keeps the service deterministic and trivially testable with a fake clock.
 *
 * Semantics worth knowing:
 * - A timer fires once; it is removed before its callback runs, so the callback may register it
 *   again (it will then fire again in the same call if its time is still due — a callback that
 *   always re-registers a due timer loops forever, as in Flink).
 * - An event-time timer registered for a time <= the current watermark does not fire at once;
 *   it fires on the next `advanceWatermark` call, again as in Flink.
 * - Timestamps may be any number except NaN; `Infinity` timers fire only on the final watermark.
 *
 * @example
 * ```ts
 * const timers = new InternalTimerService<string>();
 * timers.registerEventTimeTimer('page-1', windowNamespace(w), maxTimestamp(w));
 * timers.advanceWatermark(watermark, (key, ns, ts) => fireWindow(key, parseWindowNamespace(ns)));
 * ```
 */
export class InternalTimerService<K extends TimerKey = TimerKey> {
  readonly #eventTime = new TimerHeap<K>();
  readonly #processingTime = new TimerHeap<K>();
  #currentWatermark = Number.NEGATIVE_INFINITY;
  #currentProcessingTime = Number.NEGATIVE_INFINITY;
  // Guards against a callback advancing the same clock re-entrantly, which would interleave two
  // firing loops over one heap. That is our caller's bug, so it is an assertion, not a RangeError.
  #firingEventTime = false;
  #firingProcessingTime = false;

  /** Highest watermark passed to {@link advanceWatermark}; `-Infinity` before the first. */
  get currentWatermark(): number {
    return this.#currentWatermark;
  }

  /** Highest time passed to {@link advanceProcessingTime}; `-Infinity` before the first. */
  get currentProcessingTime(): number {
    return this.#currentProcessingTime;
  }

  get numEventTimeTimers(): number {
    return this.#eventTime.size;
  }

  get numProcessingTimeTimers(): number {
    return this.#processingTime.size;
  }

  registerEventTimeTimer(key: K, namespace: string, timestamp: number): void {
    checkTimestamp('registerEventTimeTimer', 'timestamp', timestamp);
    this.#eventTime.add(timestamp, key, namespace);
  }

  /**
   * {@link registerEventTimeTimer} for a triple the caller knows is not registered: no lookup and
   * no index entry (see {@link TimerHeap.addNew}). The window operator registers each window's
   * timer with the window's first record this way; registering a present triple would fire it twice.
   */
  registerNewEventTimeTimer(key: K, namespace: string, timestamp: number): void {
    checkTimestamp('registerNewEventTimeTimer', 'timestamp', timestamp);
    this.#eventTime.addNew(timestamp, key, namespace);
  }

  deleteEventTimeTimer(key: K, namespace: string, timestamp: number): void {
    this.#eventTime.remove(timestamp, key, namespace);
  }

  registerProcessingTimeTimer(key: K, namespace: string, timestamp: number): void {
    checkTimestamp('registerProcessingTimeTimer', 'timestamp', timestamp);
    this.#processingTime.add(timestamp, key, namespace);
  }

  deleteProcessingTimeTimer(key: K, namespace: string, timestamp: number): void {
    this.#processingTime.remove(timestamp, key, namespace);
  }

  hasEventTimeTimer(key: K, namespace: string, timestamp: number): boolean {
    return this.#eventTime.has(timestamp, key, namespace);
  }

  hasProcessingTimeTimer(key: K, namespace: string, timestamp: number): boolean {
    return this.#processingTime.has(timestamp, key, namespace);
  }

  /** Timestamp of the earliest event-time timer, or undefined if there is none. */
  nextEventTimeTimer(): number | undefined {
    return this.#eventTime.peekTimestamp();
  }

  /**
   * Timestamp of the earliest processing-time timer, or undefined if there is none. The task
   * schedules its wall-clock wake-up for this time.
   */
  nextProcessingTimeTimer(): number | undefined {
    return this.#processingTime.peekTimestamp();
  }

  /**
   * Removes and returns the earliest event-time timer due at `upTo`, or undefined: for callers
   * that must do asynchronous work (fetching the key's state) before firing a timer. Moves
   * `currentWatermark` to `upTo` like {@link advanceWatermark}.
   */
  pollEventTimeTimer(upTo: number): TimerTuple<K> | undefined {
    if (upTo > this.#currentWatermark) this.#currentWatermark = upTo;
    return pollDue(this.#eventTime, upTo);
  }

  /** Like {@link pollEventTimeTimer}, for processing time. */
  pollProcessingTimeTimer(upTo: number): TimerTuple<K> | undefined {
    if (upTo > this.#currentProcessingTime && Number.isFinite(upTo)) this.#currentProcessingTime = upTo;
    return pollDue(this.#processingTime, upTo);
  }

  /**
   * Moves event time to `watermark` and fires, in timestamp order, every event-time timer with
   * timestamp <= `watermark`, including timers that `onTimer` registers for such a time during
   * this call. `currentWatermark` already holds the new value while callbacks run; it never
   * moves backwards (a lower watermark still fires timers <= it, but leaves `currentWatermark`).
   * Returns the number of timers fired.
   */
  advanceWatermark(watermark: number, onTimer: OnTimer<K>): number {
    checkTimestamp('advanceWatermark', 'watermark', watermark);
    if (this.#firingEventTime) {
      throw new Error(
        'InternalTimerService.advanceWatermark called from inside an event-time timer callback',
      );
    }
    if (watermark > this.#currentWatermark) this.#currentWatermark = watermark;
    this.#firingEventTime = true;
    try {
      return fireUpTo(this.#eventTime, watermark, onTimer);
    } finally {
      this.#firingEventTime = false;
    }
  }

  /**
   * Moves processing time to `now` and fires every processing-time timer with timestamp <= `now`,
   * like {@link advanceWatermark}. Returns the number of timers fired.
   */
  advanceProcessingTime(now: number, onTimer: OnTimer<K>): number {
    checkTimestamp('advanceProcessingTime', 'now', now);
    if (this.#firingProcessingTime) {
      throw new Error(
        'InternalTimerService.advanceProcessingTime called from inside a processing-time timer callback',
      );
    }
    if (now > this.#currentProcessingTime) this.#currentProcessingTime = now;
    this.#firingProcessingTime = true;
    try {
      return fireUpTo(this.#processingTime, now, onTimer);
    } finally {
      this.#firingProcessingTime = false;
    }
  }

  /**
   * All timers as plain data, each list in firing order. `filter` keeps only the timers of
   * matching keys, so that the caller can write one snapshot per key group.
   * The watermark is not part of the snapshot: after a restore it is re-established by the inputs.
   */
  snapshot(filter?: (key: K) => boolean): TimerServiceSnapshot<K> {
    return {
      eventTime: this.#eventTime.toSortedArray(filter),
      processingTime: this.#processingTime.toSortedArray(filter),
    };
  }

  /**
   * A service holding the timers of the given snapshots (several when key groups from different
   * subtasks are combined after rescaling). Order within a snapshot is kept; duplicates collapse.
   */
  static restore<K extends TimerKey = TimerKey>(
    ...snapshots: ReadonlyArray<TimerServiceSnapshot<K>>
  ): InternalTimerService<K> {
    const service = new InternalTimerService<K>();
    for (const snapshot of snapshots) {
      for (const [ts, key, ns] of snapshot.eventTime) service.registerEventTimeTimer(key, ns, ts);
      for (const [ts, key, ns] of snapshot.processingTime) service.registerProcessingTimeTimer(key, ns, ts);
    }
    return service;
  }
}

function pollDue<K extends TimerKey>(heap: TimerHeap<K>, upTo: number): TimerTuple<K> | undefined {
  const next = heap.peekTimestamp();
  if (next === undefined || next > upTo) return undefined;
  return heap.poll();
}

function fireUpTo<K extends TimerKey>(heap: TimerHeap<K>, time: number, onTimer: OnTimer<K>): number {
  let fired = 0;
  // Peek-then-drop on every turn (not a precomputed batch) so that timers the callback
  // registers or deletes are seen: a new due timer fires in this call, a deleted one does not.
  for (let next = heap.peekTimestamp(); next !== undefined && next <= time; next = heap.peekTimestamp()) {
    const key = heap.peekKey();
    const namespace = heap.peekNamespace();
    heap.dropNext();
    fired++;
    onTimer(key, namespace, next);
  }
  return fired;
}
