/**
 * A wake-up primitive for idle threads: one shared Int32 counter. Whoever makes progress another
 * thread may be waiting for (a frame written to its input ring, room freed in its output ring)
 * calls {@link Doorbell.ring}; the idle thread sleeps in {@link Doorbell.wait} without blocking its
 * event loop.
 *
 * A thread owns one doorbell and hands its `SharedArrayBuffer` to every peer, so a single wait
 * covers all of its input and output rings. To avoid a lost wake-up, read `sequence` BEFORE
 * checking the rings and pass that value to `wait`:
 *
 * @example
 * ```ts
 * const bell = new Doorbell(mySab);
 * for (;;) {
 *   const seen = bell.sequence;
 *   if (pollRings()) continue; // did some work
 *   await bell.wait(seen, 100); // returns at once if someone rang since `seen`
 * }
 * ```
 *
 * Ring once per batch, not per frame: `Atomics.notify` is far costlier than a ring write.
 */

/** Longest wait accepted: the largest delay `setTimeout` honours (about 24.8 days). */
export const DOORBELL_MAX_TIMEOUT_MS = 2 ** 31 - 1;

const SEQUENCE_INDEX = 0;

type WaitAsyncResult =
  | { async: false; value: 'not-equal' | 'timed-out' }
  | { async: true; value: Promise<'ok' | 'timed-out'> };
type WaitAsync = (
  typedArray: Int32Array,
  index: number,
  value: number,
  timeoutMs?: number,
) => WaitAsyncResult;

// `lib: ES2022` does not declare Atomics.waitAsync (ES2024); Node >= 16 has it.
const waitAsync = (Atomics as unknown as { waitAsync?: WaitAsync }).waitAsync;

const RESOLVED: Promise<void> = Promise.resolve();

/** Allocates the shared memory of a doorbell: one Int32 counter, starting at 0. */
export function allocateDoorbell(): SharedArrayBuffer {
  return new SharedArrayBuffer(Int32Array.BYTES_PER_ELEMENT);
}

export class Doorbell {
  readonly #cell: Int32Array;

  constructor(sab: SharedArrayBuffer) {
    if (Object.prototype.toString.call(sab) !== '[object SharedArrayBuffer]' || sab.byteLength < 4) {
      throw new TypeError('Doorbell: sab must be a SharedArrayBuffer from allocateDoorbell()');
    }
    if (typeof waitAsync !== 'function') {
      throw new Error('Doorbell: Atomics.waitAsync is not available; Sluice needs Node.js >= 22.19');
    }
    this.#cell = new Int32Array(sab, 0, 1);
  }

  /** Bumps the sequence and wakes every thread waiting on this doorbell. */
  ring(): void {
    Atomics.add(this.#cell, SEQUENCE_INDEX, 1);
    Atomics.notify(this.#cell, SEQUENCE_INDEX);
  }

  /** The current sequence (an Int32 that wraps); compare only for equality. */
  get sequence(): number {
    return Atomics.load(this.#cell, SEQUENCE_INDEX);
  }

  /**
   * Resolves once the sequence differs from `seenSequence` (at once if it already does) or after
   * `timeoutMs`, whichever comes first. Never rejects and never blocks the event loop; the caller
   * re-checks its rings either way.
   */
  wait(seenSequence: number, timeoutMs: number): Promise<void> {
    if (!(timeoutMs >= 0 && timeoutMs <= DOORBELL_MAX_TIMEOUT_MS)) {
      throw new RangeError(
        `timeoutMs must be a number from 0 to ${DOORBELL_MAX_TIMEOUT_MS}, got ${String(timeoutMs)}`,
      );
    }
    const result = (waitAsync as WaitAsync)(this.#cell, SEQUENCE_INDEX, seenSequence | 0, timeoutMs);
    if (!result.async) return RESOLVED;
    // A pending Atomics.waitAsync does not keep Node's event loop alive (seen on Node 20): a worker
    // whose only pending work is this wait would exit, and its timeout would never fire. A ref'd
    // timer of the same length keeps the thread alive and resolves the wait if it fires first.
    return new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, timeoutMs);
      result.value.then(() => {
        clearTimeout(timer);
        resolve();
      });
    });
  }
}
