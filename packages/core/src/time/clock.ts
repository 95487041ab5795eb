/**
 * Processing time, as the runtime reads it: milliseconds since the epoch. Every reader of the
 * time in the runtime (slot loops, operators, sources, flush timeouts, idleness, the checkpoint
 * coordinator) is handed one, so that a test can replace the system clock with a
 * {@link SharedManualClock} and move time only when it says so.
 */
export type Clock = () => number;

export const systemClock: Clock = Date.now;

/**
 * A clock that moves only when told, shared by every thread of a job: the time is one Float64 in
 * shared memory, written by the test (`set`, `advance`) and read by each slot thread through a
 * clock built over the same buffer (`SharedManualClock.reader`). Times go forward only, as
 * processing time does.
 */
export class SharedManualClock {
  readonly buffer: SharedArrayBuffer;
  readonly #time: Float64Array;

  constructor(startMs = 0, buffer = new SharedArrayBuffer(Float64Array.BYTES_PER_ELEMENT)) {
    this.buffer = buffer;
    this.#time = new Float64Array(buffer);
    if (startMs !== 0) this.set(startMs);
  }

  /** A clock reading the time another thread's SharedManualClock sets. */
  static reader(buffer: SharedArrayBuffer): Clock {
    const time = new Float64Array(buffer);
    return () => time[0]!;
  }

  readonly now: Clock = () => this.#time[0]!;

  set(timeMs: number): void {
    if (!Number.isFinite(timeMs)) throw new RangeError(`a clock's time must be finite, got ${timeMs}`);
    if (timeMs < this.now()) {
      throw new RangeError(`processing time cannot go back: from ${this.now()} to ${timeMs}`);
    }
    // A plain store: Float64 has no Atomics, and readers only need to see it after the doorbells
    // that the driver rings next (Atomics operations order it before them).
    this.#time[0] = timeMs;
  }

  advance(ms: number): void {
    if (!Number.isFinite(ms) || ms < 0) throw new RangeError(`a clock advances by ms >= 0, got ${ms}`);
    this.set(this.now() + ms);
  }
}
