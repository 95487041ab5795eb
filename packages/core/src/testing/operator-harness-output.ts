import { checkRecord } from '../channels/record-codec.ts';
import { type Output, userTimestamp } from '../runtime/operator.ts';

/** A record an operator emitted, with its event timestamp (`undefined`: the record has none). */
export interface HarnessRecord<T> {
  readonly value: T;
  readonly timestamp: number | undefined;
}

/** Everything an operator emitted, in the order it emitted it. */
export type HarnessEvent<OUT> =
  | { readonly kind: 'record'; readonly value: OUT; readonly timestamp: number | undefined }
  | {
      readonly kind: 'side-output';
      /** The id of the side output's `OutputTag`. */
      readonly tag: string;
      readonly value: unknown;
      readonly timestamp: number | undefined;
    }
  | { readonly kind: 'watermark'; readonly watermark: number }
  | { readonly kind: 'watermark-status'; readonly idle: boolean };

/**
 * The harness's end of an operator's output: keeps what the operator emits, in order. Every
 * record, main or side, gets the record contract check a record writer applies before a record
 * leaves for another task, so that a test fails on a record that could not cross threads even
 * where the job would chain it to the next operator.
 */
export class CapturedOutput implements Output {
  readonly events: HarnessEvent<unknown>[] = [];

  collect(value: unknown, timestamp: number): void {
    checkRecord(value);
    this.events.push({ kind: 'record', value, timestamp: userTimestamp(timestamp) });
  }

  collectSide(tag: string, value: unknown, timestamp: number): void {
    checkRecord(value);
    this.events.push({ kind: 'side-output', tag, value, timestamp: userTimestamp(timestamp) });
  }

  emitWatermark(watermark: number): void {
    this.events.push({ kind: 'watermark', watermark });
  }

  emitWatermarkStatus(idle: boolean): void {
    this.events.push({ kind: 'watermark-status', idle });
  }
}
