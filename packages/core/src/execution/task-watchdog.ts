import { SluiceError } from '../errors.ts';
import type { SlotControl, SlotHeartbeat } from '../runtime/slot-control.ts';

/** Default of `taskHeartbeatTimeoutMs`: Flink's heartbeat timeout is 50 s; a slot stuck this long is not slow. */
export const DEFAULT_TASK_HEARTBEAT_TIMEOUT_MS = 60_000;
/** The watchdog looks at the heartbeats this often at most (real time), and at least 4 times per timeout. */
const CHECK_EVERY_MAX_MS = 1_000;

/**
 * A slot's thread made no progress for longer than `taskHeartbeatTimeoutMs`: it is stuck in
 * synchronous code (an infinite loop in a user function, a blocking call) and answers nothing.
 * Its thread is terminated and the attempt fails; the restart strategy takes it from there.
 */
export class TaskHungError extends SluiceError {
  readonly slotIndex: number;
  readonly timeoutMs: number;

  constructor(slotIndex: number, timeoutMs: number, task: string | undefined) {
    super(
      'SLUICE_TASK_HUNG',
      `${task === undefined ? `worker thread of slot ${slotIndex}` : task} made no progress for ${timeoutMs} ms (taskHeartbeatTimeoutMs): an infinite loop or a blocking call in user code? Its thread was terminated`,
    );
    this.slotIndex = slotIndex;
    this.timeoutMs = timeoutMs;
  }
}

export interface TaskWatchdogOptions {
  readonly control: SlotControl;
  readonly slots: number;
  readonly timeoutMs: number;
  /** The watchdog's time (ms, monotonic); injected by tests so that no outcome depends on load. */
  readonly clock: () => number;
  /** Slots whose thread has returned: not watched any more. */
  readonly ended: ReadonlySet<number>;
  /** Describes the task a slot was stepping, for the error (e.g. "operator 'spin' subtask 2/2"). */
  readonly describe: (stepping: NonNullable<SlotHeartbeat['stepping']>) => string;
  /**
   * Called for each slot found hung, with its thread id (0 if it never started); all that are
   * found at one look are reported, and the watchdog then stops: the attempt is failing.
   */
  readonly onHung: (error: TaskHungError, threadId: number) => void;
}

/**
 * The coordinator's watchdog over the slots of one attempt (Flink's task heartbeats, within a
 * process). A blocked thread cannot answer a message, so the slots do not report: each beats a
 * counter in the attempt's shared control array (at every loop turn, and from its event loop
 * while it is outside the loop), and the watchdog, on the coordinator's thread, notes when each
 * counter last moved by its clock. A slot whose counter has not moved for `timeoutMs` is hung.
 */
export class TaskWatchdog {
  readonly #options: TaskWatchdogOptions;
  readonly #lastBeats: number[];
  readonly #lastMovedAt: number[];
  #interval: ReturnType<typeof setInterval> | undefined;
  #fired = false;

  constructor(options: TaskWatchdogOptions) {
    this.#options = options;
    const now = options.clock();
    this.#lastBeats = Array.from(
      { length: options.slots },
      (_, slot) => options.control.heartbeat(slot).beats,
    );
    this.#lastMovedAt = Array.from({ length: options.slots }, () => now);
  }

  start(): void {
    const everyMs = Math.max(10, Math.min(CHECK_EVERY_MAX_MS, Math.floor(this.#options.timeoutMs / 4)));
    this.#interval = setInterval(() => this.check(), everyMs);
    // The watchdog must never be what keeps a process alive.
    this.#interval.unref();
  }

  stop(): void {
    clearInterval(this.#interval);
  }

  /** One look at every slot's heartbeat. */
  check(): void {
    if (this.#fired) return;
    const { control, clock, ended, timeoutMs } = this.#options;
    const now = clock();
    for (let slot = 0; slot < this.#options.slots; slot++) {
      if (ended.has(slot)) continue;
      const heartbeat = control.heartbeat(slot);
      // Returned, but the coordinator has not heard yet (the result crosses a message port).
      if (heartbeat.ended) continue;
      if (heartbeat.beats !== this.#lastBeats[slot]) {
        this.#lastBeats[slot] = heartbeat.beats;
        this.#lastMovedAt[slot] = now;
        continue;
      }
      if (now - this.#lastMovedAt[slot]! < timeoutMs) continue;
      this.#fired = true;
      const task = heartbeat.stepping === undefined ? undefined : this.#options.describe(heartbeat.stepping);
      this.#options.onHung(new TaskHungError(slot, timeoutMs, task), heartbeat.threadId);
    }
    if (this.#fired) this.stop();
  }
}
