import type { WatermarkOptions } from '../../contracts/functions.ts';
import { AbstractStreamOperator, userTimestamp } from '../operator.ts';

/**
 * Assigns timestamps and generates bounded-out-of-orderness watermarks. A watermark is emitted
 * at the end of each batch of input when it advanced (not per record: a watermark costs a
 * timer-queue pass in every downstream operator). Upstream watermarks are ignored, except the
 * final one at end of input. After `idleTimeout` of processing time without records the stream
 * is marked idle, and active again with the next record.
 */
export class TimestampsAndWatermarksOperator extends AbstractStreamOperator<unknown, unknown> {
  readonly #timestampOf: (value: unknown, previous: number | undefined) => number;
  readonly #delayMs: number;
  readonly #idleTimeoutMs: number;
  #maxTimestamp = Number.NEGATIVE_INFINITY;
  #emitted = Number.NEGATIVE_INFINITY;
  #idle = false;
  #lastRecordAtMs = 0;

  constructor(options: WatermarkOptions<unknown>) {
    super();
    this.#timestampOf = options.timestamp;
    this.#delayMs = options.maxOutOfOrderness ?? 0;
    this.#idleTimeoutMs = options.idleTimeout ?? Number.POSITIVE_INFINITY;
  }

  override open(): void {
    this.#lastRecordAtMs = this.clock();
  }

  processElement(value: unknown, timestamp: number): void {
    const ts = this.#timestampOf(value, userTimestamp(timestamp));
    if (typeof ts !== 'number' || !Number.isFinite(ts)) {
      throw new TypeError(`the timestamp function returned ${String(ts)}; expected a finite number of ms`);
    }
    if (this.#idle) {
      this.#idle = false;
      this.output.emitWatermarkStatus(false);
    }
    if (ts > this.#maxTimestamp) this.#maxTimestamp = ts;
    this.#lastRecordAtMs = -1;
    this.output.collect(value, ts);
  }

  override flush(): void {
    const watermark = this.#maxTimestamp - this.#delayMs - 1;
    if (watermark > this.#emitted) {
      this.#emitted = watermark;
      this.output.emitWatermark(watermark);
    }
  }

  override processWatermark(watermark: number): void {
    if (watermark === Number.POSITIVE_INFINITY) {
      this.#emitted = watermark;
      this.output.emitWatermark(watermark);
    }
  }

  override processWatermarkStatus(): void {}

  override nextProcessingTimeDeadline(): number {
    if (this.#idle || this.#idleTimeoutMs === Number.POSITIVE_INFINITY) return Number.POSITIVE_INFINITY;
    // Records mark activity with -1 instead of reading the clock per record; the deadline is
    // re-armed from the clock the first time it is asked after activity.
    if (this.#lastRecordAtMs < 0) this.#lastRecordAtMs = this.clock();
    return this.#lastRecordAtMs + this.#idleTimeoutMs;
  }

  override advanceProcessingTime(now: number): void {
    if (this.#idle || this.#lastRecordAtMs < 0) return;
    if (now - this.#lastRecordAtMs >= this.#idleTimeoutMs) {
      this.#idle = true;
      this.output.emitWatermarkStatus(true);
    }
  }
}
