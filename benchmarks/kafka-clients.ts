/**
 * The Kafka clients alone, on the same broker, in the same run: Sluice's kafkajs client (the
 * `KafkaClient` the connectors use, kafkajs with its fast paths) against `@platformatic/kafka`,
 * producing and consuming the records `kafka.ts` uses (JSON of ~60 bytes, 4 partitions).
 *
 *   node benchmarks/kafka-clients.ts [records]
 *
 * Produce: idempotent, acks=all, requests of ~5,000 records one after the other (the sink's
 * pattern), into a fresh topic. Consume: the 4 partitions from the start, read_committed, until
 * every record is in. Uses KAFKA_BROKERS when set, else starts the local broker.
 */
import { kafkajsClient, type OutgoingKafkaRecord } from '@sluice/connectors';
import { startLocalKafka } from '@sluice/connectors/testing';

// After @sluice/connectors: its client installs kafkajs' fast paths before kafkajs loads.
const { Kafka, logLevel } = await import('kafkajs');
const platformatic = await import('@platformatic/kafka');

const RECORDS = Number(process.argv[2] ?? 300_000);
const CHUNK = 5000;

const local = process.env.KAFKA_BROKERS === undefined ? await startLocalKafka() : undefined;
const brokers = process.env.KAFKA_BROKERS ?? local!.brokers;
const admin = new Kafka({
  brokers: brokers.split(','),
  clientId: 'bench',
  logLevel: logLevel.NOTHING,
}).admin();
await admin.connect();
const run = Date.now().toString(36);
let topics = 0;
async function topic(): Promise<string> {
  const name = `bench-clients-${run}-${topics++}`;
  await admin.createTopics({ topics: [{ topic: name, numPartitions: 4 }], waitForLeaders: true });
  return name;
}
const values = Array.from({ length: RECORDS }, (_, i) =>
  JSON.stringify({ user: i % 1000, amount: (i % 10_000) / 100, i }),
);

async function timed(what: () => Promise<void>): Promise<number> {
  const started = performance.now();
  await what();
  return (performance.now() - started) / 1000;
}

async function produceKafkajs(target: string): Promise<number> {
  const client = kafkajsClient({ brokers: brokers.split(','), clientId: 'bench-kafkajs' });
  const producer = await client.producer();
  const seconds = await timed(async () => {
    for (let from = 0; from < RECORDS; from += CHUNK) {
      const records: OutgoingKafkaRecord[] = [];
      for (let i = from; i < Math.min(RECORDS, from + CHUNK); i++)
        records.push({ topic: target, key: `u${i % 1000}`, value: values[i]! });
      await producer.send(records);
    }
  });
  await client.close();
  return seconds;
}

async function producePlatformatic(target: string): Promise<number> {
  const producer = new platformatic.Producer({
    clientId: 'bench-platformatic',
    bootstrapBrokers: brokers.split(','),
    serializers: platformatic.stringSerializers,
    idempotent: true,
    acks: platformatic.ProduceAcks.ALL,
  });
  const seconds = await timed(async () => {
    for (let from = 0; from < RECORDS; from += CHUNK) {
      const messages = [];
      for (let i = from; i < Math.min(RECORDS, from + CHUNK); i++)
        messages.push({ topic: target, key: `u${i % 1000}`, value: values[i]! });
      await producer.send({ messages });
    }
  });
  await producer.close();
  return seconds;
}

async function consumeKafkajs(source: string): Promise<number> {
  const client = kafkajsClient({ brokers: brokers.split(','), clientId: 'bench-kafkajs' });
  let fetcher: Awaited<ReturnType<typeof client.fetch>> | undefined;
  const seconds = await timed(
    () =>
      new Promise<void>((resolve, reject) => {
        let read = 0;
        client
          .fetch({
            partitions: [0, 1, 2, 3].map((partition) => ({ topic: source, partition, offset: 0 })),
            readCommitted: true,
            onBatch: (batch) => {
              read += batch.records.length;
              if (read >= RECORDS) resolve();
            },
            onError: reject,
          })
          .then((f) => (fetcher = f), reject);
      }),
  );
  await fetcher?.close();
  await client.close();
  return seconds;
}

async function consumePlatformatic(source: string): Promise<number> {
  const consumer = new platformatic.Consumer({
    groupId: `bench-platformatic-${run}-${topics++}`,
    clientId: 'bench-platformatic',
    bootstrapBrokers: brokers.split(','),
    isolationLevel: platformatic.FetchIsolationLevels.READ_COMMITTED,
    maxWaitTime: 100,
  });
  const seconds = await timed(async () => {
    const stream = await consumer.consume({
      topics: [source],
      mode: platformatic.MessagesStreamModes.EARLIEST,
      autocommit: false,
    });
    let read = 0;
    for await (const _message of stream) {
      if (++read >= RECORDS) break;
    }
    await stream.close();
  });
  await consumer.close();
  return seconds;
}

const rate = (s: number) => `${Math.round(RECORDS / s).toLocaleString('en-US')} records/s`;
console.log(
  `Kafka clients, ${RECORDS.toLocaleString('en-US')} records of ~60 bytes, 4 partitions, node ${process.version}`,
);
const input = await topic();
const kafkajsProduce = await produceKafkajs(input);
const platformaticProduce = await producePlatformatic(await topic());
console.log(`  produce, kafkajs (Sluice's client): ${kafkajsProduce.toFixed(2)} s, ${rate(kafkajsProduce)}`);
console.log(
  `  produce, @platformatic/kafka      : ${platformaticProduce.toFixed(2)} s, ${rate(platformaticProduce)} (${(kafkajsProduce / platformaticProduce).toFixed(2)}x)`,
);
const kafkajsConsume = await consumeKafkajs(input);
const platformaticConsume = await consumePlatformatic(input);
console.log(`  consume, kafkajs (Sluice's client): ${kafkajsConsume.toFixed(2)} s, ${rate(kafkajsConsume)}`);
console.log(
  `  consume, @platformatic/kafka      : ${platformaticConsume.toFixed(2)} s, ${rate(platformaticConsume)} (${(kafkajsConsume / platformaticConsume).toFixed(2)}x)`,
);
await admin.disconnect();
await local?.stop();
