/**
 * Kafka → map → Kafka: Sluice at parallelism 2 against a hand-written kafkajs
 * consume-transform-produce loop, on the same broker, in the same run.
 *
 *   pnpm --filter @sluice/benchmarks kafka [records]
 *
 * Uses KAFKA_BROKERS when set, else starts the local broker (`pnpm kafka start`'s). Each
 * contestant reads the same input topic (4 partitions) from the beginning and writes every
 * record, transformed, to a fresh output topic; the time is from start until every output record
 * is acknowledged (Sluice: the whole job run, worker start-up included).
 */
import { startLocalKafka } from '@sluice/connectors/testing';
import { runJob } from '@sluice/core';
import { Kafka, logLevel, Partitioners } from 'kafkajs';
import { type KafkaMapArgs, transform } from './jobs/kafka-map.ts';

const RECORDS = Number(process.argv[2] ?? 300_000);

const local = process.env.KAFKA_BROKERS === undefined ? await startLocalKafka() : undefined;
const brokers = process.env.KAFKA_BROKERS ?? local!.brokers;
const kafka = new Kafka({ brokers: brokers.split(','), clientId: 'bench', logLevel: logLevel.NOTHING });
const admin = kafka.admin();
await admin.connect();
const run = Date.now().toString(36);
let topics = 0;
async function topic(partitions: number): Promise<string> {
  const name = `bench-${run}-${topics++}`;
  await admin.createTopics({ topics: [{ topic: name, numPartitions: partitions }], waitForLeaders: true });
  return name;
}

const input = await topic(4);
{
  const producer = kafka.producer({ createPartitioner: Partitioners.DefaultPartitioner });
  await producer.connect();
  for (let from = 0; from < RECORDS; from += 10_000) {
    const messages = [];
    for (let i = from; i < Math.min(RECORDS, from + 10_000); i++) {
      messages.push({
        key: `u${i % 1000}`,
        value: JSON.stringify({ user: i % 1000, amount: (i % 10_000) / 100, i }),
      });
    }
    await producer.send({ topic: input, messages });
  }
  await producer.disconnect();
}

/** What a user would hand-write: one consumer, eachBatch, transform, one idempotent producer. */
async function handWrittenLoop(): Promise<number> {
  const output = await topic(4);
  const started = performance.now();
  const consumer = kafka.consumer({ groupId: `bench-loop-${run}`, maxWaitTimeInMs: 100 });
  const producer = kafka.producer({
    idempotent: true,
    maxInFlightRequests: 1,
    createPartitioner: Partitioners.DefaultPartitioner,
  });
  await Promise.all([consumer.connect(), producer.connect()]);
  await consumer.subscribe({ topics: [input], fromBeginning: true });
  let written = 0;
  await new Promise<void>((resolve, reject) => {
    consumer.on(consumer.events.CRASH, (event) => reject((event.payload as { error: Error }).error));
    consumer
      .run({
        eachBatch: async ({ batch }) => {
          const messages = batch.messages.map((m) => ({
            key: m.key,
            value: transform(m.value!.toString('utf8')),
          }));
          // One request per 5,000 records: a whole fetched batch can exceed the broker's 1 MiB.
          for (let from = 0; from < messages.length; from += 5000) {
            await producer.send({ topic: output, messages: messages.slice(from, from + 5000), acks: -1 });
          }
          written += messages.length;
          if (written >= RECORDS) resolve();
        },
      })
      .catch(reject);
  });
  const seconds = (performance.now() - started) / 1000;
  await Promise.all([consumer.disconnect(), producer.disconnect()]);
  return seconds;
}

async function sluice(guarantee: KafkaMapArgs['guarantee']): Promise<number> {
  const output = await topic(4);
  const started = performance.now();
  const result = await runJob<KafkaMapArgs>(new URL('./jobs/kafka-map.ts', import.meta.url), {
    parallelism: 2,
    args: { brokers, input, output, guarantee },
    ...(guarantee === 'exactly-once'
      ? { checkpointing: { directory: `/tmp/sluice-bench-kafka-${run}-${topics}`, intervalMs: 1000 } }
      : {}),
  });
  if (result.sourceRecords !== RECORDS)
    throw new Error(`Sluice read ${result.sourceRecords} of ${RECORDS} records`);
  const offsets = await admin.fetchTopicOffsets(output);
  const written = offsets.reduce((n, o) => n + Number(o.high), 0);
  if (written < RECORDS) throw new Error(`Sluice wrote ${written} of ${RECORDS} records`);
  return (performance.now() - started) / 1000;
}

const rate = (s: number) => `${Math.round(RECORDS / s).toLocaleString('en-US')} records/s`;
console.log(
  `Kafka → map → Kafka, ${RECORDS.toLocaleString('en-US')} records of ~60 bytes, 4 partitions, node ${process.version}`,
);
const loop = await handWrittenLoop();
console.log(
  `  hand-written kafkajs loop (1 consumer, 1 producer): ${loop.toFixed(2)} s, ${rate(loop)} (1.00x)`,
);
for (const guarantee of ['at-least-once', 'exactly-once'] as const) {
  const s = await sluice(guarantee);
  console.log(
    `  Sluice p=2, ${guarantee.padEnd(13)}: ${s.toFixed(2)} s, ${rate(s)} (${(loop / s).toFixed(2)}x)`,
  );
}
await admin.disconnect();
await local?.stop();
