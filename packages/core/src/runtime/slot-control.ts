import type { Doorbell } from '../channels/doorbell.ts';

// Int32 indexes of the fields (the table below).
const CANCEL_INDEX = 0;
const CHECKPOINT_INDEX = 1;
const FIELD_COUNT = 2;
// Per slot, after the fields above: its heartbeat, the task it is stepping, its thread id.
const SLOT_FIELD_COUNT = 4;
const BEAT = 0;
const STEPPING_VERTEX = 1;
const STEPPING_SUBTASK = 2;
const THREAD_ID = 3;
/** The vertex cell's value while the slot steps no task (opening, idle, closing). */
const NOT_STEPPING = -1;
/** The vertex cell's value once the slot's run has returned: its thread beats no more, rightly. */
const SLOT_ENDED = -2;

function sizeFor(slots: number): number {
  return (FIELD_COUNT + slots * SLOT_FIELD_COUNT) * Int32Array.BYTES_PER_ELEMENT;
}

/** What the watchdog reads of one slot. */
export interface SlotHeartbeat {
  /** Goes up at every turn of the slot's loop and every few ms of its event loop; wraps around. */
  readonly beats: number;
  /** The task the slot is stepping now (a blocked thread stays at the one it blocked in). */
  readonly stepping: { readonly vertex: number; readonly subtaskIndex: number } | undefined;
  /** The slot's run has returned (finished, failed or cancelled): nothing to watch. */
  readonly ended: boolean;
  /** The slot's `threadId`, 0 before the thread has started. */
  readonly threadId: number;
}

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
 * | 2 + 4s      | slot s's heartbeat: a counter the slot adds 1 to                | slot s                |
 * | 3 + 4s      | the vertex of the task slot s is stepping, -1 none, -2 ended    | slot s                |
 * | 4 + 4s      | the subtask index of that task                                  | slot s                |
 * | 5 + 4s      | slot s's threadId                                               | slot s                |
 *
 * The first two fields only ever go one way (the flag from 0 to 1, the checkpoint id up), so a
 * slot that reads a stale value merely acts at its next turn. The per-slot cells are how the
 * coordinator's watchdog sees a slot whose thread is stuck in user code: such a thread answers
 * no message, but its heartbeat stops moving, and its cells say which task it was stepping.
 */
export class SlotControl {
  /** Share this with the slots (it is shared, not copied, when posted to a thread). */
  readonly buffer: SharedArrayBuffer;
  readonly #cells: Int32Array;
  /** Every slot's doorbell: rung after a change, so that sleeping slots see it at once. */
  readonly #doorbells: readonly Doorbell[];

  private constructor(buffer: SharedArrayBuffer, doorbells: readonly Doorbell[]) {
    this.buffer = buffer;
    this.#cells = new Int32Array(buffer, 0, buffer.byteLength / Int32Array.BYTES_PER_ELEMENT);
    this.#doorbells = doorbells;
  }

  /** A fresh control array for one attempt (a slot per doorbell), nothing cancelled, no checkpoint requested. */
  static allocate(doorbells: readonly Doorbell[]): SlotControl {
    const control = new SlotControl(new SharedArrayBuffer(sizeFor(doorbells.length)), doorbells);
    for (let slot = 0; slot < doorbells.length; slot++)
      control.#cells[control.#at(slot, STEPPING_VERTEX)] = NOT_STEPPING;
    return control;
  }

  /** Wraps a control array another thread allocated; `doorbells` are every slot's, by slot index. */
  static from(buffer: SharedArrayBuffer, doorbells: readonly Doorbell[]): SlotControl {
    if (buffer.byteLength < sizeFor(doorbells.length)) {
      throw new Error(`bug: a control array of ${buffer.byteLength} bytes is too small`);
    }
    return new SlotControl(buffer, doorbells);
  }

  #at(slot: number, field: number): number {
    return FIELD_COUNT + slot * SLOT_FIELD_COUNT + field;
  }

  /** Slot `slot` is alive: its loop turned, or its event loop ran a timer. */
  beat(slot: number): void {
    Atomics.add(this.#cells, this.#at(slot, BEAT), 1);
  }

  /** Slot `slot` is about to step the task of `vertex`/`subtaskIndex` (`vertex` -1: none). */
  stepping(slot: number, vertex: number, subtaskIndex: number): void {
    Atomics.store(this.#cells, this.#at(slot, STEPPING_SUBTASK), subtaskIndex);
    Atomics.store(this.#cells, this.#at(slot, STEPPING_VERTEX), vertex);
  }

  /** Slot `slot` has returned from its run: its heartbeat stops, and that is no hang. */
  ended(slot: number): void {
    Atomics.store(this.#cells, this.#at(slot, STEPPING_VERTEX), SLOT_ENDED);
  }

  /** Slot `slot` runs on the thread `threadId` (so that a hung one can be terminated). */
  startedOn(slot: number, threadId: number): void {
    Atomics.store(this.#cells, this.#at(slot, THREAD_ID), threadId);
  }

  heartbeat(slot: number): SlotHeartbeat {
    const vertex = Atomics.load(this.#cells, this.#at(slot, STEPPING_VERTEX));
    return {
      beats: Atomics.load(this.#cells, this.#at(slot, BEAT)),
      ended: vertex === SLOT_ENDED,
      stepping:
        vertex === NOT_STEPPING || vertex === SLOT_ENDED
          ? undefined
          : { vertex, subtaskIndex: Atomics.load(this.#cells, this.#at(slot, STEPPING_SUBTASK)) },
      threadId: Atomics.load(this.#cells, this.#at(slot, THREAD_ID)),
    };
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
