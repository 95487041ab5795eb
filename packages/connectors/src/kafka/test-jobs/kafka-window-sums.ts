import { collectSink, defineJob, seconds, sum, tumbling } from '@sluice/core';
import type { KafkaRecord } from '../formats.ts';
import { kafkaSink } from '../kafka-sink.ts';
import { type BadRecordPolicy, type KafkaStartOffsets, kafkaSource } from '../kafka-source.ts';

/** An input record's JSON value. */
export interface Reading {
  readonly key: string;
  readonly amount: number;
  /** Event time, ms. */
  readonly ts: number;
}

export interface WindowSum {
  readonly key: string;
  readonly windowStart: number;
  readonly total: number;
}

export interface KafkaWindowSumsArgs {
  readonly brokers: string;
  readonly input: string;
  /** Kafka topic for the sums; without it they go to the collect sink 'sums'. */
  readonly output?: string;
  readonly guarantee?: 'at-least-once' | 'exactly-once';
  readonly onBadRecord?: BadRecordPolicy;
  readonly startFrom?: KafkaStartOffsets;
  readonly groupId?: string;
  readonly transactionalIdPrefix?: string;
  /** Reads on as records arrive (default: bounded, up to the offsets at start). */
  readonly unbounded?: boolean;
  /** A partition without records for this long stops holding back the watermark. */
  readonly idleTimeoutMs?: number;
  /** Sends sum i of key `k<n>` to partition n % outputPartitions, with a `window-start` header. */
  readonly outputPartitions?: number;
  /** Slows the job down (a 1 ms pause every this many records per subtask), for crash tests. */
  readonly pauseEvery?: number;
}

const pause = new Int32Array(new SharedArrayBuffer(4));

/** Sums of `amount` per key in 1-second event-time windows, from and (optionally) to Kafka. */
export default defineJob<KafkaWindowSumsArgs>({ name: 'kafka-window-sums' }, (env, args) => {
  const sums = env
    .fromSource(
      kafkaSource<KafkaRecord<Reading>>({
        brokers: args.brokers,
        topics: args.input,
        bounded: args.unbounded !== true,
        format: 'json',
        watermarks: {
          timestamp: (record) => record.value.ts,
          maxOutOfOrderness: 2000,
          ...(args.idleTimeoutMs === undefined ? {} : { idleTimeout: args.idleTimeoutMs }),
        },
        ...(args.onBadRecord === undefined ? {} : { onBadRecord: args.onBadRecord }),
        ...(args.startFrom === undefined ? {} : { startFrom: args.startFrom }),
        ...(args.groupId === undefined ? {} : { groupId: args.groupId }),
      }),
    )
    .map((record) => {
      if (args.pauseEvery !== undefined && record.offset % args.pauseEvery === 0)
        Atomics.wait(pause, 0, 0, 1);
      const { key, amount, ts } = record.value;
      if (typeof key !== 'string' || typeof amount !== 'number' || typeof ts !== 'number') {
        throw new Error(`not a reading: ${JSON.stringify(record.value)}`);
      }
      return record.value;
    })
    .keyBy((r) => r.key)
    .window(tumbling(seconds(1)))
    .aggregate(
      sum((r: Reading) => r.amount),
      (key, window, total): WindowSum => ({ key, windowStart: window.start, total }),
    );
  if (args.output === undefined) {
    sums.sinkTo(collectSink('sums'));
    return;
  }
  sums.sinkTo(
    kafkaSink<WindowSum>({
      brokers: args.brokers,
      topic: args.output,
      guarantee: args.guarantee ?? 'exactly-once',
      format: (s) => {
        const outputPartitions = args.outputPartitions;
        if (outputPartitions === undefined) return { key: s.key, value: JSON.stringify(s) };
        return {
          key: s.key,
          value: JSON.stringify(s),
          partition: Number(s.key.slice(1)) % outputPartitions,
          headers: { 'window-start': String(s.windowStart) },
        };
      },
      ...(args.transactionalIdPrefix === undefined
        ? {}
        : { transactionalIdPrefix: args.transactionalIdPrefix }),
    }),
  );
});
