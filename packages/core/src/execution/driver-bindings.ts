import { decodeRecords } from '../channels/record-codec.ts';
import { collectSink } from '../connectors/collect-sink.ts';
import type { Sink } from '../contracts/sink.ts';
import { PollStatus, type Source, type SourceOutput, type SourceReader } from '../contracts/source.ts';
import { ConfigError } from '../errors.ts';
import type { StreamNode } from '../plan/stream-node.ts';
import type { PlannedJob } from './planner.ts';

/*
 * The slot's side of the whole-job test driver (`testing/job-test-driver.ts`): sources the test
 * feeds over the slots' ports instead of the job's own, and sinks whose records go back to it.
 * The job module is the user's, unchanged; the driver swaps these by operator id after planning,
 * in the coordinator and in every slot alike, so the graph (and its fingerprint) stays the same.
 */

/** Input for one subtask of a driven source: records (encoded by the record codec), a watermark, or the end. */
export interface DriverInput {
  readonly type: 'driver-input';
  readonly operatorId: string;
  readonly subtaskIndex: number;
  readonly records: Uint8Array | undefined;
  /** One per record, or null when the records have no timestamps. */
  readonly timestamps: readonly number[] | null;
  readonly watermark: number | undefined;
  readonly end: boolean;
}

/** Operator ids of the sources the driver feeds and the sinks whose records it collects. */
export interface DriverBindings {
  readonly sources: readonly string[];
  readonly sinks: readonly string[];
}

/** The channel a driven sink's records arrive on (through `collectSink`). */
export function driverSinkChannel(operatorId: string): string {
  return `collect:${driverSinkName(operatorId)}`;
}

function driverSinkName(operatorId: string): string {
  return `sluice-test-driver/${operatorId}`;
}

/** Replaces the driven sources and sinks of a planned job; returns where input for its readers goes. */
export function bindDriver(planned: PlannedJob, bindings: DriverBindings): DriverInputs {
  const inputs = new DriverInputs();
  const { env, streamGraph } = planned;
  const byId = new Map(streamGraph.nodes.map((n, index) => [n.id, index]));
  const indexOf = (id: string, role: 'source' | 'sink'): number => {
    const index = byId.get(id);
    if (index === undefined || streamGraph.nodes[index]!.role !== role) {
      const known = streamGraph.nodes.filter((n) => n.role === role).map((n) => `'${n.id}'`);
      throw new ConfigError(
        `the test driver cannot find a ${role} with id '${id}' in job '${streamGraph.jobName}' (its ${role}s: ${known.join(', ') || 'none'})`,
      );
    }
    return index;
  };
  for (const id of bindings.sources) {
    const index = indexOf(id, 'source');
    const node = env.nodes[index]!;
    env.nodes[index] = { ...node, source: driverSource(node, id, inputs) } satisfies StreamNode;
  }
  for (const id of bindings.sinks) {
    const index = indexOf(id, 'sink');
    const node = env.nodes[index]!;
    const sink = driverSink(id);
    env.nodes[index] = { ...node, sink, operator: { kind: 'sink', sink } } satisfies StreamNode;
  }
  return inputs;
}

/** The readers of driven sources in one slot, by operator id and subtask. */
export class DriverInputs {
  readonly #readers = new Map<string, DriverSourceReader>();

  register(operatorId: string, subtaskIndex: number, reader: DriverSourceReader): void {
    this.#readers.set(`${operatorId}/${subtaskIndex}`, reader);
  }

  deliver(input: DriverInput): void {
    const reader = this.#readers.get(`${input.operatorId}/${input.subtaskIndex}`);
    if (reader === undefined) {
      throw new Error(
        `bug: input for ${input.operatorId}/${input.subtaskIndex}, which this slot does not run`,
      );
    }
    reader.push(input);
  }
}

/**
 * A collect sink that sends each batch as soon as it is flushed, with checkpoints too (a
 * collect sink otherwise commits at checkpoints, which would make what a test sees depend on
 * when a checkpoint completes). The driver never restarts a job, so nothing is sent twice.
 */
function driverSink(operatorId: string): Sink<unknown> {
  const collect = collectSink<unknown>(driverSinkName(operatorId));
  return {
    name: `test output '${operatorId}'`,
    createWriter: (context) => collect.createWriter({ ...context, checkpointing: false }),
  };
}

function driverSource(node: StreamNode, operatorId: string, inputs: DriverInputs): Source<unknown> {
  const original = node.source!;
  return {
    name: `test input '${operatorId}' (in place of ${original.name})`,
    boundedness: 'unbounded',
    emitsTimestamps: original.emitsTimestamps ?? false,
    createReader(context) {
      const reader = new DriverSourceReader(context.notifyAvailable, context.restoredState);
      inputs.register(operatorId, context.subtaskIndex, reader);
      return reader;
    },
  };
}

/** What a driven reader still holds at a checkpoint: the test's input it has not emitted yet. */
interface DriverSplit {
  readonly values: unknown[];
  readonly timestamps: number[];
  readonly ended: boolean;
}

/** Emits what the test sent, in order; pending until more comes, ended when the test says so. */
export class DriverSourceReader implements SourceReader<unknown> {
  readonly #notify: () => void;
  #values: unknown[] = [];
  /** NaN for a record without a timestamp. */
  #timestamps: number[] = [];
  #next = 0;
  /** Watermarks to emit once the records before them are out, by position in #values. */
  #watermarks: Array<{ readonly at: number; readonly watermark: number }> = [];
  #ended = false;

  constructor(notify: () => void, restored: readonly unknown[] | undefined) {
    this.#notify = notify;
    for (const split of (restored ?? []) as DriverSplit[]) {
      this.#values.push(...split.values);
      this.#timestamps.push(...split.timestamps);
      if (split.ended) this.#ended = true;
    }
  }

  push(input: DriverInput): void {
    if (input.records !== undefined) {
      const values = decodeRecords(input.records);
      for (let i = 0; i < values.length; i++) {
        this.#values.push(values[i]);
        this.#timestamps.push(input.timestamps?.[i] ?? Number.NaN);
      }
    }
    if (input.watermark !== undefined) {
      this.#watermarks.push({ at: this.#values.length, watermark: input.watermark });
    }
    if (input.end) this.#ended = true;
    this.#notify();
  }

  poll(output: SourceOutput<unknown>, maxRecords: number): PollStatus {
    let emitted = 0;
    while (emitted < maxRecords && this.#next < this.#values.length) {
      while (this.#watermarks.length > 0 && this.#watermarks[0]!.at <= this.#next) {
        output.emitWatermark(this.#watermarks.shift()!.watermark);
      }
      const timestamp = this.#timestamps[this.#next]!;
      output.collect(this.#values[this.#next], Number.isNaN(timestamp) ? undefined : timestamp);
      this.#next++;
      emitted++;
    }
    if (this.#next === this.#values.length) {
      for (const { watermark } of this.#watermarks) output.emitWatermark(watermark);
      this.#watermarks = [];
      this.#values = [];
      this.#timestamps = [];
      this.#next = 0;
      return this.#ended ? PollStatus.End : PollStatus.Pending;
    }
    return PollStatus.More;
  }

  snapshotState(): readonly unknown[] {
    const split: DriverSplit = {
      values: this.#values.slice(this.#next),
      timestamps: this.#timestamps.slice(this.#next),
      ended: this.#ended,
    };
    return [split];
  }
}
