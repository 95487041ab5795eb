import { randomBytes } from 'node:crypto';
import { type Admin, type ConsumerConfig, Kafka, logLevel, Partitioners } from 'kafkajs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type KafkaForTests, kafkaForTests } from './kafka-for-tests.ts';

// The first run fetches the broker's jars with Maven (about a minute) before starting it.
const START_TIMEOUT_MS = 300_000;
const TEST_TIMEOUT_MS = 120_000;

let env: KafkaForTests;
let kafka: Kafka;
let admin: Admin;

beforeAll(async () => {
  env = await kafkaForTests();
  if ('skipped' in env) return;
  kafka = new Kafka({
    clientId: 'sluice-local-broker-test',
    brokers: [env.brokers],
    logLevel: logLevel.NOTHING,
  });
  admin = kafka.admin();
  await admin.connect();
}, START_TIMEOUT_MS);

afterAll(async () => {
  if (env === undefined || 'skipped' in env) return;
  await admin?.disconnect();
  await env.stop();
}, 60_000);

/** A topic of its own per test and run: an external broker (KAFKA_BROKERS) keeps earlier ones. */
async function createTopic(prefix: string, numPartitions: number): Promise<string> {
  const topic = `${prefix}-${randomBytes(4).toString('hex')}`;
  await admin.createTopics({
    topics: [{ topic, numPartitions, replicationFactor: 1 }],
    waitForLeaders: true,
  });
  return topic;
}

/** Reads `topic` from the beginning with a fresh group until `count` records came, or fails after `timeoutMs`. */
async function consume(
  topic: string,
  count: number,
  config: Partial<ConsumerConfig> = {},
  timeoutMs = 60_000,
): Promise<{ value: string; partition: number }[]> {
  const consumer = kafka.consumer({
    groupId: `sluice-test-${randomBytes(4).toString('hex')}`,
    maxWaitTimeInMs: 250,
    ...config,
  });
  const records: { value: string; partition: number }[] = [];
  try {
    await consumer.connect();
    await consumer.subscribe({ topic, fromBeginning: true });
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(
        () =>
          reject(
            new Error(`consumed ${records.length} of ${count} records from ${topic} in ${timeoutMs} ms`),
          ),
        timeoutMs,
      );
      consumer
        .run({
          eachMessage: async ({ message, partition }) => {
            records.push({ value: message.value?.toString() ?? '', partition });
            if (records.length >= count) {
              clearTimeout(timer);
              resolve();
            }
          },
        })
        .catch(reject);
    });
  } finally {
    await consumer.disconnect();
  }
  return records;
}

describe('local Kafka broker', () => {
  it(
    'creates a 4-partition topic and returns all 100 records produced to it',
    async (context) => {
      if ('skipped' in env) context.skip(`no Kafka: ${env.skipped}`);
      const topic = await createTopic('records', 4);
      const [metadata] = (await admin.fetchTopicMetadata({ topics: [topic] })).topics;
      expect(metadata?.partitions).toHaveLength(4);

      const producer = kafka.producer({ createPartitioner: Partitioners.DefaultPartitioner });
      await producer.connect();
      const expected = Array.from({ length: 100 }, (_, i) => `record-${i}`);
      try {
        await producer.send({ topic, messages: expected.map((value, i) => ({ key: `key-${i}`, value })) });
      } finally {
        await producer.disconnect();
      }

      const records = await consume(topic, 100);
      expect(records.map((record) => record.value).sort()).toEqual([...expected].sort());
      // Keyed records spread over the partitions: the topic really has four in use.
      expect(new Set(records.map((record) => record.partition)).size).toBeGreaterThan(1);
    },
    TEST_TIMEOUT_MS,
  );

  it(
    'commits and aborts transactions; read_committed consumers see only the committed records',
    async (context) => {
      if ('skipped' in env) context.skip(`no Kafka: ${env.skipped}`);
      const topic = await createTopic('transactions', 4);
      const producer = kafka.producer({
        transactionalId: `sluice-test-${randomBytes(4).toString('hex')}`,
        idempotent: true,
        maxInFlightRequests: 1,
        createPartitioner: Partitioners.DefaultPartitioner,
      });
      await producer.connect();
      // Two records per partition in each transaction, so that in every partition the aborted
      // records lie between committed ones: a consumer that got all committed ones read past them.
      const batch = (prefix: string) =>
        Array.from({ length: 8 }, (_, i) => ({ value: `${prefix}-${i}`, partition: i % 4 }));
      const run = async (prefix: string, outcome: 'commit' | 'abort') => {
        const transaction = await producer.transaction();
        await transaction.send({ topic, messages: batch(prefix) });
        await (outcome === 'commit' ? transaction.commit() : transaction.abort());
      };
      try {
        await run('first', 'commit');
        await run('aborted', 'abort');
        await run('second', 'commit');
      } finally {
        await producer.disconnect();
      }

      const committed = [...batch('first'), ...batch('second')].map((record) => record.value).sort();
      const readCommitted = await consume(topic, 16, { readUncommitted: false });
      expect(readCommitted.map((record) => record.value).sort()).toEqual(committed);

      // The control: without read_committed the aborted records are there, so the filtering above is real.
      const readUncommitted = await consume(topic, 24, { readUncommitted: true });
      const values = readUncommitted.map((record) => record.value);
      expect(values.filter((value) => value.startsWith('aborted-'))).toHaveLength(8);
      expect(values.filter((value) => !value.startsWith('aborted-')).sort()).toEqual(committed);
    },
    TEST_TIMEOUT_MS,
  );
});
