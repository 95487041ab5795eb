import type { MessagePort } from 'node:worker_threads';
import type { SerializedError } from '../errors.ts';
import type { ExecutionConfig } from './execution-config.ts';

/** What a slot is given when it starts (all structured-cloneable; SharedArrayBuffers are shared). */
export interface SlotAssignment {
  readonly jobUrl: string;
  readonly args: unknown;
  readonly parallelism: number;
  readonly maxParallelism: number | undefined;
  readonly chaining: boolean;
  readonly config: ExecutionConfig;
  readonly fingerprint: string;
  readonly slotIndex: number;
  readonly rings: readonly SharedArrayBuffer[];
  readonly doorbells: readonly SharedArrayBuffer[];
  readonly control: SharedArrayBuffer;
  readonly port: MessagePort;
}

export interface OperatorMetricsReport {
  readonly operatorId: string;
  readonly subtaskIndex: number;
  readonly recordsIn: number;
  readonly lateRecordsDropped: number;
}

/** Messages a slot sends to the coordinator over its port (batched, never per record). */
export type SlotMessage =
  | { readonly type: 'data'; readonly channel: string; readonly payload: unknown }
  | {
      readonly type: 'failed';
      readonly error: SerializedError;
      readonly operatorId: string | undefined;
      readonly operatorName: string | undefined;
      readonly subtaskIndex: number | undefined;
      readonly parallelism: number | undefined;
      readonly record: string | undefined;
    };

export interface SlotResult {
  readonly slotIndex: number;
  readonly status: 'finished' | 'cancelled' | 'failed';
  readonly metrics: readonly OperatorMetricsReport[];
}
