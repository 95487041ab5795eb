/**
 * Kafka → map → Kafka: Sluice at parallelism 2 against a hand-written kafkajs
 * consume-transform-produce loop and the Kafka distribution's own JVM performance tools, on the
 * same broker, in the same run.
 *
 *   pnpm --filter @sluice/benchmarks kafka [records]
 *
 * Uses KAFKA_BROKERS when set, else starts the local broker (`pnpm kafka start`'s). Each
 * contestant reads the same input topic (4 partitions) from the beginning and writes every
 * record, transformed, to a fresh output topic; the time is from start until every output record
 * is acknowledged (Sluice: the whole job run, worker start-up included).
 *
 * The JVM peer: `kafka-producer-perf-test.sh` and `kafka-consumer-perf-test.sh` (the classes they
 * run, `org.apache.kafka.tools.ProducerPerformance` and `ConsumerPerformance`, from the broker's
 * jars plus kafka-tools) produce the input's very payloads into a fresh 4-partition topic
 * (acks=all, the producer's defaults otherwise) and consume the 4-partition input topic. Both
 * figures are given with the JVM's start-up (as Sluice's include its workers') and as the tool
 * reports them; a JVM consume-transform-produce loop cannot beat the slower of the two.
 */
import { spawn } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { kafkaToolsClasspath, startLocalKafka } from '@sluice/connectors/testing';
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
/** The input's values, one a line: the JVM producer's payloads (same records, same sizes). */
const payloads: string[] = [];
{
  const producer = kafka.producer({ createPartitioner: Partitioners.DefaultPartitioner });
  await producer.connect();
  for (let from = 0; from < RECORDS; from += 10_000) {
    const messages = [];
    for (let i = from; i < Math.min(RECORDS, from + 10_000); i++) {
      const value = JSON.stringify({ user: i % 1000, amount: (i % 10_000) / 100, i });
      payloads.push(value);
      messages.push({ key: `u${i % 1000}`, value });
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

/** Runs one of the distribution's tools; resolves with its output and the wall time (JVM start-up included). */
async function runJava(classpath: string, main: string, args: readonly string[]) {
  const started = performance.now();
  const child = spawn('java', ['-cp', classpath, '-Dlog4j.configuration=file:/dev/null', main, ...args], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString('utf8')));
  child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString('utf8')));
  const code = await new Promise<number | null>((resolve, reject) => {
    child.on('error', reject);
    child.on('close', resolve);
  });
  if (code !== 0) throw new Error(`${main} exited with ${code}:\n${output.slice(-2000)}`);
  return { output, seconds: (performance.now() - started) / 1000 };
}

interface JvmFigures {
  /** Wall time of the whole tool run, JVM start-up included. */
  readonly seconds: number;
  /** Records per second as the tool measures it (from its first record, or its first fetch). */
  readonly toolRate: number;
}

async function jvmProducer(classpath: string): Promise<JvmFigures> {
  const output = await topic(4);
  const file = join(tmpdir(), `sluice-bench-kafka-${run}-payloads.txt`);
  await writeFile(file, payloads.join('\n'));
  const result = await runJava(classpath, 'org.apache.kafka.tools.ProducerPerformance', [
    '--topic',
    output,
    '--num-records',
    String(RECORDS),
    '--throughput',
    '-1',
    '--payload-file',
    file,
    '--producer-props',
    `bootstrap.servers=${brokers}`,
    'acks=all',
  ]);
  // "300000 records sent, 151515.2 records/sec (8.99 MB/sec), ..." is the last summary line.
  const match = /(\d+) records sent, ([\d.]+) records\/sec/.exec(
    result.output.split('\n').reverse().join('\n'),
  );
  if (match === null || Number(match[1]) !== RECORDS)
    throw new Error(
      `ProducerPerformance did not report ${RECORDS} records sent:\n${result.output.slice(-2000)}`,
    );
  return { seconds: result.seconds, toolRate: Number(match[2]) };
}

async function jvmConsumer(classpath: string): Promise<JvmFigures> {
  const result = await runJava(classpath, 'org.apache.kafka.tools.ConsumerPerformance', [
    '--bootstrap-server',
    brokers,
    '--topic',
    input,
    '--messages',
    String(RECORDS),
    '--group',
    `bench-jvm-${run}`,
    '--timeout',
    '60000',
  ]);
  // Header "start.time, end.time, data.consumed.in.MB, MB.sec, data.consumed.in.nMsg, nMsg.sec, ..." then one row.
  const lines = result.output.split('\n').map((l) => l.split(',').map((c) => c.trim()));
  const header = lines.findIndex((l) => l.includes('nMsg.sec'));
  const row = lines[header + 1];
  if (header < 0 || row === undefined)
    throw new Error(`ConsumerPerformance printed no figures:\n${result.output.slice(-2000)}`);
  const consumed = Number(row[lines[header]!.indexOf('data.consumed.in.nMsg')]);
  if (consumed < RECORDS) throw new Error(`ConsumerPerformance read ${consumed} of ${RECORDS} records`);
  return { seconds: result.seconds, toolRate: Number(row[lines[header]!.indexOf('nMsg.sec')]) };
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
if (process.env.KAFKA_BENCH_JVM !== '0') {
  const classpath = await kafkaToolsClasspath();
  const tool = (name: string, f: JvmFigures) =>
    console.log(
      `  JVM ${name}: ${f.seconds.toFixed(2)} s, ${rate(f.seconds)} (${(loop / f.seconds).toFixed(2)}x) with JVM start-up; ${Math.round(f.toolRate).toLocaleString('en-US')} records/s as the tool measures`,
    );
  tool('kafka-producer-perf-test (acks=all, same payloads)', await jvmProducer(classpath));
  tool('kafka-consumer-perf-test (the input topic)       ', await jvmConsumer(classpath));
}
await admin.disconnect();
await local?.stop();
