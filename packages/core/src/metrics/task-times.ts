import { TaskField } from './metrics-layout.ts';

/**
 * Where a subtask's time goes, as Flink measures it (busyTimeMsPerSecond, idleTimeMsPerSecond,
 * backPressuredTimeMsPerSecond): busy while one of its steps does work, back-pressured while its
 * output is full, idle while its slot sleeps for want of input. The slot loop reports at every
 * step and every sleep (per batch, never per record); the totals are cumulative milliseconds in
 * the subtask's block of the metrics array, and the coordinator turns them into per-second rates.
 *
 * Subtasks that share a slot share its thread: while it runs one, the others are neither busy
 * nor idle, so the three add up to at most 1000 ms per second, and less for a subtask whose slot
 * is busy elsewhere.
 */
export class TaskTimes {
  readonly #cells: Float64Array;
  readonly #base: number;
  /** When the current back-pressured stretch was last accounted (`NaN`: not back-pressured). */
  #backPressuredSinceMs = Number.NaN;

  constructor(cells: Float64Array, base: number) {
    this.#cells = cells;
    this.#base = base;
  }

  /** Times on cells of their own (tests). */
  static detached(): TaskTimes {
    return new TaskTimes(new Float64Array(3), 0);
  }

  addBusy(ms: number): void {
    this.#cells[this.#base + TaskField.busyMs]! += ms;
  }

  /** The slot slept `ms`: idle time, unless the output is full (that time counts as back-pressure). */
  addSleep(ms: number): void {
    if (Number.isNaN(this.#backPressuredSinceMs)) this.#cells[this.#base + TaskField.idleMs]! += ms;
  }

  /**
   * After a step, at `nowMs` (monotonic): whether the output is full. A long stretch is added as
   * it goes, so that a reader sees it grow before it ends.
   */
  observeBackPressure(backPressured: boolean, nowMs: number): void {
    const since = this.#backPressuredSinceMs;
    if (!Number.isNaN(since)) this.#cells[this.#base + TaskField.backPressuredMs]! += nowMs - since;
    this.#backPressuredSinceMs = backPressured ? nowMs : Number.NaN;
  }

  get busyMs(): number {
    return this.#cells[this.#base + TaskField.busyMs]!;
  }

  get idleMs(): number {
    return this.#cells[this.#base + TaskField.idleMs]!;
  }

  get backPressuredMs(): number {
    return this.#cells[this.#base + TaskField.backPressuredMs]!;
  }
}
