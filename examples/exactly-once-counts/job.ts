import { fileSink } from '@sluice/connectors';
import {
  type Collector,
  ConfigError,
  defineJob,
  type KeyedProcessContext,
  type KeyedProcessFunction,
  valueState,
} from '@sluice/core';

/** Numbers may come as strings: rendered manifests pass every argument as a string. */
export interface ExactlyOnceCountsArgs {
  /** Events that count: event i has key `i % keys` and sequence number `floor(i / keys)`. */
  readonly events: number | string;
  readonly keys: number | string;
  /** The source's pace, so that a test can kill processes while the job runs. */
  readonly ratePerSecond: number | string;
  /** The exactly-once file sink's folder: one line `key seq count` per event. */
  readonly output: string;
}

export interface Counted {
  readonly key: number;
  readonly seq: number;
  /** Events of this key counted so far, this one included: `seq + 1` when nothing was lost or repeated. */
  readonly count: number;
}

/** The line the sink writes for a counted event. */
export const line = (c: Counted): string => `${c.key} ${c.seq} ${c.count}`;

/** What the job's output folder holds once every event went through: the plain loop's answer. */
export function expectedLines(events: number, keys: number): string[] {
  const counts = new Map<number, number>();
  const lines: string[] = [];
  for (let i = 0; i < events; i++) {
    const key = i % keys;
    const count = (counts.get(key) ?? 0) + 1;
    counts.set(key, count);
    lines.push(line({ key, seq: Math.floor(i / keys), count }));
  }
  return lines;
}

function wholeNumber(args: ExactlyOnceCountsArgs, name: 'events' | 'keys' | 'ratePerSecond'): number {
  const value = Number(args[name]);
  if (!Number.isInteger(value) || value < 1)
    throw new ConfigError(
      `job 'exactly-once-counts': argument ${name} must be a whole number above 0, got ${JSON.stringify(args[name])}`,
    );
  return value;
}

const count = valueState<number>('count', { defaultValue: 0 });

/** Counts each key's events in keyed state and emits every event with its running count. */
const runningCount: KeyedProcessFunction<number, { key: number; seq: number }, Counted> = {
  processElement(event, ctx: KeyedProcessContext<number>, out: Collector<Counted>): void {
    const state = ctx.getState(count);
    const next = (state.value() ?? 0) + 1;
    state.update(next);
    out.collect({ key: event.key, seq: event.seq, count: next });
  },
};

/**
 * Running per-key counts into an exactly-once file sink: after any number of failures and
 * restores from checkpoints, the committed files hold each event's line exactly once, with the
 * count a plain loop gives (`expectedLines`). The real-node Kubernetes test runs it in containers.
 *
 * The source does not end after the last event: it keeps ticking (its records are dropped), so
 * the job runs until it is stopped. A job manager in a Deployment must not finish: Kubernetes
 * restarts an exited container, and a finished job starts afresh (docs/checkpoints.md).
 */
export default defineJob<ExactlyOnceCountsArgs>({ name: 'exactly-once-counts' }, (env, args) => {
  const events = wholeNumber(args, 'events');
  const keys = wholeNumber(args, 'keys');
  const ratePerSecond = wholeNumber(args, 'ratePerSecond');
  const output = args.output;
  if (typeof output !== 'string' || output === '')
    throw new ConfigError(
      `job 'exactly-once-counts': argument output must be a folder, got ${JSON.stringify(output)}`,
    );
  env
    .generate((i) => i, { ratePerSecond })
    .setParallelism(1)
    .uid('ticks')
    .filter((i) => i < events)
    .setParallelism(1)
    .map((i) => ({ key: i % keys, seq: Math.floor(i / keys) }))
    .setParallelism(1)
    .keyBy((e) => e.key)
    .process(runningCount)
    .uid('running-count')
    .sinkTo(fileSink(output, { format: line }))
    .uid('lines');
});
