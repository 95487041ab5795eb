import { type KafkaRecord, kafkaSink, kafkaSource } from '@sluice/connectors';
import { count, defineJob, seconds, tumbling } from '@sluice/core';
import type { Click, PageCount } from '../click-counts/job.ts';

export interface KafkaClickCountsArgs {
  /** Bootstrap brokers (default: the KAFKA_BROKERS environment variable, else 127.0.0.1:9092). */
  readonly brokers?: string;
  /** Topic of clicks as JSON (default `clicks`). */
  readonly input?: string;
  /** Topic the counts go to (default `click-counts`). */
  readonly output?: string;
  /** Stop at the end of what the input holds at start, instead of running until stopped. */
  readonly bounded?: boolean;
}

/**
 * Clicks from Kafka, counted per page in 10-second event-time windows, into Kafka exactly once:
 * watermarks per input partition, a transaction per checkpoint on the output. Run it with
 * checkpointing (`--checkpoint-dir`), or the output is committed only at the end of input.
 */
export default defineJob<KafkaClickCountsArgs | undefined>(
  { name: 'kafka-click-counts' },
  (env, args = {}) => {
    const brokers = args.brokers ?? process.env.KAFKA_BROKERS ?? '127.0.0.1:9092';
    env
      .fromSource(
        kafkaSource<KafkaRecord<Click>>({
          brokers,
          topics: args.input ?? 'clicks',
          format: 'json',
          bounded: args.bounded === true,
          onBadRecord: 'skip',
          watermarks: { timestamp: (r) => r.value.ts, maxOutOfOrderness: 1000, idleTimeout: 5000 },
        }),
      )
      .map((record) => record.value)
      .keyBy((c) => c.page)
      .window(tumbling(seconds(10)))
      .aggregate(
        count(),
        (page, window, clicks): PageCount => ({
          page,
          windowStart: window.start,
          windowEnd: window.end,
          clicks,
        }),
      )
      .sinkTo(
        kafkaSink<PageCount>({
          brokers,
          topic: args.output ?? 'click-counts',
          guarantee: 'exactly-once',
          format: (c) => ({ key: c.page, value: JSON.stringify(c) }),
        }),
      );
  },
);
