import { kafkaSink, kafkaSource } from '@sluice/connectors';
import { defineJob } from '@sluice/core';

export interface KafkaMapArgs {
  readonly brokers: string;
  readonly input: string;
  readonly output: string;
  readonly guarantee: 'at-least-once' | 'exactly-once';
}

/** Kafka → map → Kafka: the transformation the hand-written loop in `kafka.ts` also does. */
export default defineJob<KafkaMapArgs>({ name: 'kafka-map' }, (env, args) => {
  env
    .fromSource(
      kafkaSource<string>({
        brokers: args.brokers,
        topics: args.input,
        bounded: true,
        format: (record) => record.value?.toString('utf8') ?? '',
      }),
    )
    .map(transform)
    .sinkTo(
      kafkaSink<string>({
        brokers: args.brokers,
        topic: args.output,
        guarantee: args.guarantee,
        format: 'string',
      }),
    );
});

/** Parse, enrich, serialize: the per-record work of both contestants. */
export function transform(json: string): string {
  const event = JSON.parse(json) as { user: number; amount: number };
  return JSON.stringify({ ...event, amountCents: Math.round(event.amount * 100), big: event.amount > 50 });
}
