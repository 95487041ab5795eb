import type { Doorbell } from '../channels/doorbell.ts';

// Int32 indexes of the fields (the table below).
const CANCEL_INDEX = 0;
const CHECKPOINT_INDEX = 1;
const FIELD_COUNT = 2;

/**
 * The signals the coordinator and the slots of one attempt share without a message: one small
 * Int32 array on a `SharedArrayBuffer` that every slot reads at each turn of its loop (a message
 * would wait for the slot to give its event loop a turn), and the doorbells that wake a sleeping
 * slot to look. The coordinator allocates it per attempt and sends `buffer` to every slot; each
 * side wraps it with {@link SlotControl.from}. This class is the only reader and writer of the
 * layout:
 *
 * | Int32 index | field                                                           | written by            |
 * |-------------|-----------------------------------------------------------------|-----------------------|
 * | 0           | cancel flag: 0 running, 1 stop every slot (failure, cancel)     | coordinator, any slot |
 * | 1           | the newest checkpoint id requested (0: none yet)                | coordinator           |
 *
 * Both fields only ever go one way (the flag from 0 to 1, the checkpoint id up), so a slot that
 * reads a stale value merely acts at its next turn.
 */
export class SlotControl {
  /** Share this with the slots (it is shared, not copied, when posted to a thread). */
  readonly buffer: SharedArrayBuffer;
  readonly #cells: Int32Array;
  /** Every slot's doorbell: rung after a change, so that sleeping slots see it at once. */
  readonly #doorbells: readonly Doorbell[];

  private constructor(buffer: SharedArrayBuffer, doorbells: readonly Doorbell[]) {
    this.buffer = buffer;
    this.#cells = new Int32Array(buffer, 0, FIELD_COUNT);
    this.#doorbells = doorbells;
  }

  /** A fresh control array for one attempt, nothing cancelled, no checkpoint requested. */
  static allocate(doorbells: readonly Doorbell[]): SlotControl {
    return new SlotControl(new SharedArrayBuffer(FIELD_COUNT * Int32Array.BYTES_PER_ELEMENT), doorbells);
  }

  /** Wraps a control array another thread allocated; `doorbells` are every slot's, by slot index. */
  static from(buffer: SharedArrayBuffer, doorbells: readonly Doorbell[]): SlotControl {
    if (buffer.byteLength < FIELD_COUNT * Int32Array.BYTES_PER_ELEMENT) {
      throw new Error(`bug: a control array of ${buffer.byteLength} bytes is too small`);
    }
    return new SlotControl(buffer, doorbells);
  }

  /** Stops every slot at its next loop turn (a failure anywhere, or a cancel), and wakes them to see it. */
  cancelAll(): void {
    Atomics.store(this.#cells, CANCEL_INDEX, 1);
    this.#ringAll();
  }

  get isCancelled(): boolean {
    return Atomics.load(this.#cells, CANCEL_INDEX) !== 0;
  }

  /** Asks the sources of every slot to start checkpoint `checkpointId` (newer than any asked before). */
  requestCheckpoint(checkpointId: number): void {
    Atomics.store(this.#cells, CHECKPOINT_INDEX, checkpointId);
    this.#ringAll();
  }

  /** The newest checkpoint id requested, 0 before the first. */
  get requestedCheckpoint(): number {
    return Atomics.load(this.#cells, CHECKPOINT_INDEX);
  }

  #ringAll(): void {
    for (const doorbell of this.#doorbells) doorbell.ring();
  }
}
