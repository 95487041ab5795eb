import {
  AsyncRequestFailedError,
  AsyncTimeoutError,
  backoffDelayMs,
  type ResolvedAsyncOptions,
} from '../../contracts/async-io.ts';
import {
  AbstractStreamOperator,
  type OperatorSetup,
  type OperatorStateSnapshot,
  type RestoredOperatorState,
} from '../operator.ts';

// An entry's life: queued (no room yet) → in flight ⇄ waiting to retry → done → emitted (unlinked).
const QUEUED = 0;
const IN_FLIGHT = 1;
const RETRY_WAIT = 2;
const DONE = 3;
/** Not a record: a watermark waiting behind the records before it. */
const WATERMARK = 4;

/** One record (or watermark) in the operator, from arrival until its results are emitted. */
class AsyncEntry {
  state: number;
  value: unknown;
  /** The record's timestamp (its results keep it), or the watermark. */
  readonly timestamp: number;
  /** Unordered mode: how many watermarks came in before this record. */
  readonly segment: number;
  /** When the whole request, retries included, times out (set when first issued). */
  deadlineMs = Number.POSITIVE_INFINITY;
  attempts = 0;
  retryAtMs = 0;
  /** The result once done; while in the inbox, the attempt's outcome (a result or an error). */
  outcome: unknown = undefined;
  failed = false;
  prev: AsyncEntry | null = null;
  next: AsyncEntry | null = null;

  constructor(state: number, value: unknown, timestamp: number, segment: number) {
    this.state = state;
    this.value = value;
    this.timestamp = timestamp;
    this.segment = segment;
  }
}

/**
 * Async I/O (Flink's `AsyncWaitOperator`): calls the user's function for each record, keeps up
 * to `capacity` requests in flight, and emits their results in input order (ordered) or as they
 * complete, never across a watermark (unordered).
 *
 * Everything the operator holds is one doubly linked list of entries in input order: records
 * queued for room, in flight, waiting to retry, or done but not emitted yet, and the watermarks
 * between them. Ordered mode emits from the head while it is done. Unordered mode emits the done
 * records before the first watermark (the first "segment"), then that watermark once nothing is
 * left before it. Because entries are issued in list order and every request gets the same
 * timeout, deadlines never decrease along the list: the first unfinished entry holds the next
 * timeout.
 *
 * Threads and time: the user's promises settle on the event loop, outside the task's step. A
 * settlement only records its outcome in an inbox and, for the first of a burst, wakes the task
 * (`OperatorSetup.wake`: its doorbell rings and its next step calls `advanceProcessingTime`). All
 * else — retries, timeouts, emitting — happens in `advanceProcessingTime`, inside a step, on the
 * task's clock: simulated in tests, so no test waits for real time. Results leave through the
 * normal output path within that step, so they travel in batches like any other records.
 *
 * Backpressure: at capacity the operator says `isFull`, and the task reads no more input. The
 * rest of the batch (or source poll) being processed when it fills waits in the list, queued.
 *
 * Checkpoints: every record not emitted yet (queued, in flight, done) is stored as list state,
 * `[value, timestamp]`, and re-issued when the job is restored — dealt round-robin over the
 * subtasks, so also at another parallelism. Watermarks are not stored: after a restore the
 * re-issued records come before any watermark.
 */
export class AsyncWaitOperator extends AbstractStreamOperator<unknown, unknown> {
  readonly #fn: (value: unknown) => unknown;
  readonly #options: ResolvedAsyncOptions;
  readonly #flat: boolean;
  #wakeTask!: () => void;
  #head: AsyncEntry | null = null;
  #tail: AsyncEntry | null = null;
  /** The first entry still waiting for room (all after it wait too). */
  #nextQueued: AsyncEntry | null = null;
  /** Records issued and not emitted yet (in flight, waiting to retry, done): at most `capacity`. */
  #issued = 0;
  /** Entries whose attempt settled since the last step, in the order they settled. */
  #inbox: AsyncEntry[] = [];
  #retrying: AsyncEntry[] = [];
  /** Unordered mode: done records of the first segment. */
  #ready: AsyncEntry[] = [];
  #watermarksIn = 0;
  #watermarksOut = 0;
  #wakeRequested = false;
  #closed = false;
  #restored: readonly unknown[] | undefined;
  /** While `finish` waits for the last requests: resolves it at the next settlement. */
  #onSettled: (() => void) | undefined;

  constructor(fn: (value: unknown) => unknown, options: ResolvedAsyncOptions, flat: boolean) {
    super();
    this.#fn = fn;
    this.#options = options;
    this.#flat = flat;
  }

  override setup(setup: OperatorSetup): void {
    super.setup(setup);
    this.#wakeTask = setup.wake;
  }

  restoreState(state: RestoredOperatorState): void {
    this.#restored = state.operatorState;
  }

  override open(): void {
    const restored = this.#restored;
    this.#restored = undefined;
    if (restored === undefined) return;
    for (const item of restored) {
      if (!Array.isArray(item) || item.length !== 2 || (item[1] !== null && typeof item[1] !== 'number')) {
        throw new Error(`bug: an async I/O checkpoint entry is not [value, timestamp]: ${String(item)}`);
      }
      this.processElement(item[0], item[1] ?? Number.NaN);
    }
  }

  processElement(value: unknown, timestamp: number): void {
    const entry = new AsyncEntry(QUEUED, value, timestamp, this.#watermarksIn);
    this.#append(entry);
    if (this.#nextQueued === null && this.#issued < this.#options.capacity) this.#issue(entry);
    else if (this.#nextQueued === null) this.#nextQueued = entry;
  }

  override processWatermark(watermark: number): void {
    if (this.#head === null) {
      this.currentWatermark = watermark;
      this.output.emitWatermark(watermark);
      return;
    }
    this.#append(new AsyncEntry(WATERMARK, undefined, watermark, this.#watermarksIn));
    this.#watermarksIn++;
  }

  override nextProcessingTimeDeadline(): number {
    if (this.#inbox.length > 0) return Number.NEGATIVE_INFINITY;
    let next = this.#firstUnfinished()?.deadlineMs ?? Number.POSITIVE_INFINITY;
    const retrying = this.#retrying;
    for (let i = 0; i < retrying.length; i++) {
      const entry = retrying[i]!;
      if (entry.state === RETRY_WAIT && entry.retryAtMs < next) next = entry.retryAtMs;
    }
    return next;
  }

  /** Settled attempts, timeouts and retries due at `nowMs`; then what can be emitted leaves, and queued records get the room. */
  override advanceProcessingTime(nowMs: number): void {
    this.#wakeRequested = false;
    this.#takeInbox(nowMs);
    this.#timeOut(nowMs);
    this.#retryDue(nowMs);
    if (this.#options.ordered) this.#emitOrdered();
    else this.#emitUnordered();
    while (this.#nextQueued !== null && this.#issued < this.#options.capacity) {
      const entry = this.#nextQueued;
      this.#nextQueued = this.#nextRecord(entry.next);
      this.#issue(entry);
    }
  }

  isFull(): boolean {
    return this.#nextQueued !== null || this.#issued >= this.#options.capacity;
  }

  hasPendingWork(): boolean {
    return this.#head !== null;
  }

  snapshotState(): OperatorStateSnapshot {
    const records: unknown[] = [];
    for (let entry = this.#head; entry !== null; entry = entry.next) {
      if (entry.state === WATERMARK) continue;
      records.push([entry.value, Number.isNaN(entry.timestamp) ? null : entry.timestamp]);
    }
    return { operatorState: records };
  }

  /**
   * The task waits for every request before it finishes; records that reach this operator
   * during finishing (emitted by an operator before it in the chain as it finishes) are waited
   * for here, on the real clock as a task outside its steps has no other.
   */
  override async finish(): Promise<void> {
    for (;;) {
      this.advanceProcessingTime(this.clock());
      if (this.#head === null) return;
      const waitMs = Math.min(Math.max(this.nextProcessingTimeDeadline() - this.clock(), 1), 50);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, waitMs);
        this.#onSettled = () => {
          clearTimeout(timer);
          resolve();
        };
      });
      this.#onSettled = undefined;
    }
  }

  override close(): void {
    this.#closed = true;
    this.#head = null;
    this.#tail = null;
    this.#nextQueued = null;
    this.#inbox = [];
    this.#retrying = [];
    this.#ready = [];
  }

  #issue(entry: AsyncEntry): void {
    entry.state = IN_FLIGHT;
    entry.deadlineMs = this.clock() + this.#options.timeoutMs;
    this.#issued++;
    this.#call(entry);
  }

  /** One attempt. The two callbacks are the only allocation the operator adds to the user's promise. */
  #call(entry: AsyncEntry): void {
    const attempt = ++entry.attempts;
    const result = this.#fn(entry.value);
    if (
      result !== null &&
      typeof result === 'object' &&
      typeof (result as PromiseLike<unknown>).then === 'function'
    ) {
      (result as PromiseLike<unknown>).then(
        (value) => this.#settle(entry, attempt, value, false),
        (error: unknown) => this.#settle(entry, attempt, error, true),
      );
    } else {
      this.#settle(entry, attempt, result, false);
    }
  }

  /** Runs outside the task's step: records the outcome and wakes the task, nothing more. */
  #settle(entry: AsyncEntry, attempt: number, outcome: unknown, failed: boolean): void {
    // A late answer to a request that timed out, or one for a closed operator, is dropped.
    if (this.#closed || entry.state !== IN_FLIGHT || entry.attempts !== attempt) return;
    entry.outcome = outcome;
    entry.failed = failed;
    this.#inbox.push(entry);
    if (!this.#wakeRequested) {
      this.#wakeRequested = true;
      this.#wakeTask();
    }
    this.#onSettled?.();
  }

  #takeInbox(nowMs: number): void {
    const inbox = this.#inbox;
    if (inbox.length === 0) return;
    this.#inbox = [];
    const options = this.#options;
    for (let i = 0; i < inbox.length; i++) {
      const entry = inbox[i]!;
      if (entry.state !== IN_FLIGHT) continue;
      const outcome = entry.outcome;
      const canRetry = entry.attempts < options.maxAttempts;
      if (entry.failed) {
        if (canRetry && (options.retryOnError?.(outcome, entry.value) ?? true))
          this.#scheduleRetry(entry, nowMs);
        else throw new AsyncRequestFailedError(entry.value, entry.attempts, outcome);
      } else if (canRetry && options.retryOnResult?.(outcome, entry.value) === true) {
        this.#scheduleRetry(entry, nowMs);
      } else {
        this.#complete(entry, outcome);
      }
    }
  }

  #scheduleRetry(entry: AsyncEntry, nowMs: number): void {
    entry.state = RETRY_WAIT;
    entry.outcome = undefined;
    entry.retryAtMs = nowMs + backoffDelayMs(this.#options.backoff, entry.attempts);
    this.#retrying.push(entry);
  }

  #timeOut(nowMs: number): void {
    for (let entry = this.#firstUnfinished(); entry !== null && entry.deadlineMs <= nowMs; ) {
      const onTimeout = this.#options.onTimeout;
      if (onTimeout === undefined)
        throw new AsyncTimeoutError(entry.value, this.#options.timeoutMs, entry.attempts);
      this.#complete(entry, onTimeout(entry.value));
      entry = this.#firstUnfinished();
    }
  }

  #retryDue(nowMs: number): void {
    const retrying = this.#retrying;
    if (retrying.length === 0) return;
    let kept = 0;
    for (let i = 0; i < retrying.length; i++) {
      const entry = retrying[i]!;
      if (entry.state !== RETRY_WAIT) continue; // timed out meanwhile
      if (entry.retryAtMs <= nowMs) {
        entry.state = IN_FLIGHT;
        this.#call(entry);
      } else {
        retrying[kept++] = entry;
      }
    }
    retrying.length = kept;
  }

  #complete(entry: AsyncEntry, result: unknown): void {
    entry.state = DONE;
    entry.outcome = result;
    if (!this.#options.ordered && entry.segment === this.#watermarksOut) this.#ready.push(entry);
  }

  #emitOrdered(): void {
    for (
      let entry = this.#head;
      entry !== null && (entry.state === DONE || entry.state === WATERMARK);
      entry = this.#head
    ) {
      this.#unlink(entry);
      if (entry.state === WATERMARK) this.#emitWatermark(entry.timestamp);
      else this.#emitResult(entry);
    }
  }

  #emitUnordered(): void {
    for (;;) {
      const ready = this.#ready;
      for (let i = 0; i < ready.length; i++) {
        const entry = ready[i]!;
        this.#unlink(entry);
        this.#emitResult(entry);
      }
      ready.length = 0;
      const head = this.#head;
      if (head === null || head.state !== WATERMARK) return;
      // The first segment is empty: its watermark leaves, and the next segment's done records are ready.
      this.#unlink(head);
      this.#watermarksOut++;
      this.#emitWatermark(head.timestamp);
      for (let entry = this.#head; entry !== null && entry.state !== WATERMARK; entry = entry.next) {
        if (entry.state === DONE) ready.push(entry);
      }
    }
  }

  #emitResult(entry: AsyncEntry): void {
    this.#issued--;
    const result = entry.outcome;
    const timestamp = entry.timestamp;
    entry.value = undefined;
    entry.outcome = undefined;
    if (!this.#flat) {
      this.output.collect(result, timestamp);
      return;
    }
    if (result === null || result === undefined) return;
    for (const item of result as Iterable<unknown>) this.output.collect(item, timestamp);
  }

  #emitWatermark(watermark: number): void {
    this.currentWatermark = watermark;
    this.output.emitWatermark(watermark);
  }

  /** The first record issued and not done: it holds the earliest timeout. */
  #firstUnfinished(): AsyncEntry | null {
    for (let entry = this.#head; entry !== null; entry = entry.next) {
      const state = entry.state;
      if (state === IN_FLIGHT || state === RETRY_WAIT) return entry;
      if (state === QUEUED) return null;
    }
    return null;
  }

  #nextRecord(entry: AsyncEntry | null): AsyncEntry | null {
    while (entry !== null && entry.state === WATERMARK) entry = entry.next;
    return entry;
  }

  #append(entry: AsyncEntry): void {
    entry.prev = this.#tail;
    if (this.#tail === null) this.#head = entry;
    else this.#tail.next = entry;
    this.#tail = entry;
  }

  #unlink(entry: AsyncEntry): void {
    const { prev, next } = entry;
    if (prev === null) this.#head = next;
    else prev.next = next;
    if (next === null) this.#tail = prev;
    else next.prev = prev;
    entry.prev = null;
    entry.next = null;
  }
}
