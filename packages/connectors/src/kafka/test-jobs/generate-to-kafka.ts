import { defineJob } from '@sluice/core';
import { kafkaSink } from '../kafka-sink.ts';

export interface GenerateToKafkaArgs {
  readonly brokers: string;
  readonly topic: string;
  /** Records `0` to `count - 1`, each its number as text. */
  readonly count: number;
  /** Slows the generator down (its own `ratePerSecond`), so that a test can checkpoint and crash it. */
  readonly ratePerSecond?: number;
  readonly transactionalIdPrefix: string;
}

/**
 * The numbers below `count`, rebalanced (every generator subtask sends to every sink subtask, so
 * on a cluster they cross between task managers) into Kafka with the exactly-once sink.
 */
export default defineJob<GenerateToKafkaArgs>({ name: 'generate-to-kafka' }, (env, args) => {
  env
    .generate((i) => String(i), {
      count: args.count,
      ...(args.ratePerSecond === undefined ? {} : { ratePerSecond: args.ratePerSecond }),
    })
    .uid('numbers')
    .rebalance()
    .sinkTo(
      kafkaSink<string>({
        brokers: args.brokers,
        topic: args.topic,
        format: 'string',
        guarantee: 'exactly-once',
        transactionalIdPrefix: args.transactionalIdPrefix,
      }),
    )
    .uid('kafka');
});
