/**
 * Creates the example's topics if needed and writes clicks to `clicks`:
 *
 *   KAFKA_BROKERS=127.0.0.1:9092 node examples/kafka-click-counts/produce.ts [events] [pages]
 */
import { Kafka, logLevel, Partitioners } from 'kafkajs';
import { click } from '../click-counts/job.ts';

export async function produceClicks(
  brokers: string,
  events: number,
  pages: number,
  topics = { input: 'clicks', output: 'click-counts' },
): Promise<void> {
  const kafka = new Kafka({
    brokers: brokers.split(','),
    clientId: 'click-producer',
    logLevel: logLevel.NOTHING,
  });
  const admin = kafka.admin();
  await admin.connect();
  const existing = new Set(await admin.listTopics());
  const missing = [
    { topic: topics.input, numPartitions: 4 },
    { topic: topics.output, numPartitions: 2 },
  ].filter((t) => !existing.has(t.topic));
  if (missing.length > 0) await admin.createTopics({ topics: missing, waitForLeaders: true });
  await admin.disconnect();
  const producer = kafka.producer({ createPartitioner: Partitioners.DefaultPartitioner });
  await producer.connect();
  for (let from = 0; from < events; from += 10_000) {
    const messages = [];
    for (let i = from; i < Math.min(events, from + 10_000); i++) {
      const c = click(i, pages);
      messages.push({ key: c.page, value: JSON.stringify(c) });
    }
    await producer.send({ topic: topics.input, messages });
  }
  await producer.disconnect();
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const events = Number(process.argv[2] ?? 1_000_000);
  const pages = Number(process.argv[3] ?? 20);
  const brokers = process.env.KAFKA_BROKERS ?? '127.0.0.1:9092';
  await produceClicks(brokers, events, pages);
  process.stdout.write(`wrote ${events} clicks on ${pages} pages to 'clicks' on ${brokers}\n`);
}
