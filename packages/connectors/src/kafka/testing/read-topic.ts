import { Kafka, logLevel } from 'kafkajs';
import { installReadCommittedFilter } from '../kafkajs-read-committed.ts';

/** A record as a `read_committed` consumer sees it, key, value and headers as text. */
export interface ReadRecord {
  readonly key: string | null;
  readonly value: string;
  readonly headers: Record<string, string>;
  readonly partition: number;
}

/**
 * For tests and examples: every record of `topic` a `read_committed` consumer sees, read from
 * the beginning to the end (all transactions finished). Fails after 60 s.
 */
export async function readTopic(brokers: string, topic: string): Promise<ReadRecord[]> {
  installReadCommittedFilter();
  const client = new Kafka({
    brokers: brokers.split(','),
    clientId: 'sluice-read-topic',
    logLevel: logLevel.NOTHING,
  });
  const admin = client.admin();
  await admin.connect();
  // kafkajs' end offsets are read_committed ones (the last stable offset): right after a job
  // commits, the commit markers may not be written yet, and the end would still sit before the
  // last transaction. Read to the end, then ask again until it no longer moves.
  const endOffsets = async () =>
    new Map((await admin.fetchTopicOffsets(topic)).map((e) => [e.partition, Number(e.high)]));
  let want = await endOffsets();
  const out: ReadRecord[] = [];
  const consumer = client.consumer({ groupId: `reader-${topic}-${Date.now()}`, readUncommitted: false });
  await consumer.connect();
  await consumer.subscribe({ topics: [topic], fromBeginning: true });
  const reached = new Map<number, number>();
  const advance = (partition: number, next: number) =>
    reached.set(partition, Math.max(reached.get(partition) ?? 0, next));
  await consumer.run({
    eachBatch: async ({ batch }) => {
      for (const m of batch.messages) {
        const headers: Record<string, string> = {};
        for (const [k, v] of Object.entries(m.headers ?? {})) headers[k] = String(v);
        out.push({
          key: m.key?.toString() ?? null,
          value: m.value?.toString() ?? '',
          headers,
          partition: batch.partition,
        });
      }
      advance(batch.partition, Number(batch.lastOffset()) + 1);
    },
  });
  consumer.on(consumer.events.END_BATCH_PROCESS, (e) => {
    const { partition, lastOffset } = e.payload as { partition: number; lastOffset: string };
    advance(partition, Number(lastOffset) + 1);
  });
  const deadline = Date.now() + 60_000;
  for (;;) {
    if (Date.now() > deadline) throw new Error(`reading ${topic} timed out`);
    await new Promise((resolve) => setTimeout(resolve, 200));
    if (![...want].every(([p, end]) => (reached.get(p) ?? 0) >= end)) continue;
    const again = await endOffsets();
    if ([...again].every(([p, end]) => want.get(p) === end)) break;
    want = again;
  }
  await consumer.disconnect();
  await admin.disconnect();
  return out;
}
