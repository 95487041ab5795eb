import { type SinkWriter, type SinkWriterContext, silentLogger } from '@sluice/core';
import { Kafka, logLevel } from 'kafkajs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { kafkaSink } from './kafka-sink.ts';
import { type KafkaForTests, kafkaForTests } from './testing/kafka-for-tests.ts';
import { readTopic } from './testing/read-topic.ts';

/**
 * The exactly-once sink's recovery, driven step by step against a real broker: a writer is
 * "crashed" (its client closed without a commit, which leaves the broker exactly as a killed
 * thread does) at the worst moments, and a writer restored from the checkpoint must finish the
 * job: commit what the completed checkpoint prepared, abort what came after it.
 */

let kafka: KafkaForTests;

beforeAll(async () => {
  kafka = await kafkaForTests();
}, 180_000);

afterAll(async () => {
  if ('stop' in kafka) await kafka.stop();
});

function brokers(): string {
  if (!('brokers' in kafka)) throw new Error(`Kafka tests skipped: ${kafka.skipped}`);
  return kafka.brokers;
}

let counter = 0;
async function createTopic(partitions: number): Promise<string> {
  const topic = `recovery-${Date.now().toString(36)}-${process.pid}-${counter++}`;
  const admin = new Kafka({
    brokers: [brokers()],
    clientId: 'sluice-test',
    logLevel: logLevel.NOTHING,
  }).admin();
  await admin.connect();
  await admin.createTopics({ topics: [{ topic, numPartitions: partitions }], waitForLeaders: true });
  await admin.disconnect();
  return topic;
}

interface Subtask {
  readonly writer: SinkWriter<string>;
  /** What the writer handed to `commitAtEnd` (only a finished job commits it). */
  readonly atEnd: unknown[];
}

/** A writer of `kafkaSink`, with the context a slot would give it. */
async function openWriter(
  topic: string,
  prefix: string,
  subtaskIndex: number,
  parallelism: number,
  restored?: readonly unknown[][],
): Promise<Subtask> {
  const atEnd: unknown[] = [];
  const context: SinkWriterContext = {
    jobName: 'recovery-test',
    operatorId: 'sink',
    subtaskIndex,
    parallelism,
    logger: silentLogger,
    sendToCoordinator: () => {},
    sendOnSuccess: () => {},
    commitAtEnd: (committables) => atEnd.push(...committables),
    checkpointing: true,
    restoredState: restored?.[subtaskIndex],
    restoredStateOfAllSubtasks: restored?.flat(),
  };
  const writer = kafkaSink<string>({
    brokers: brokers(),
    topic,
    format: 'string',
    guarantee: 'exactly-once',
    transactionalIdPrefix: prefix,
  }).createWriter(context);
  await writer.open?.();
  return { writer, atEnd };
}

async function write(subtask: Subtask, values: readonly string[]): Promise<void> {
  for (const value of values) subtask.writer.write(value, undefined);
  await subtask.writer.flush?.();
}

const range = (name: string, n: number) => Array.from({ length: n }, (_, i) => `${name}-${i}`);

async function committedValues(topic: string): Promise<string[]> {
  return (await readTopic(brokers(), topic)).map((r) => r.value).sort();
}

describe('exactly-once Kafka sink recovery against a real broker', () => {
  it('a crash after the checkpoint completed but before the commit: the restored writer commits it, and aborts what followed', async () => {
    const topic = await createTopic(2);
    const prefix = `crash-before-commit-${counter}`;
    const first = await openWriter(topic, prefix, 0, 1);
    await write(first, range('a', 500));
    const checkpoint1 = await first.writer.snapshotState!(1);
    // Checkpoint 1 completes, but the crash comes before notifyCheckpointComplete commits it;
    // meanwhile records after the barrier went into the next transaction.
    await write(first, range('after', 300));
    await first.writer.close?.();

    const second = await openWriter(topic, prefix, 0, 1, [checkpoint1 as unknown[]]);
    await write(second, range('b', 200));
    await second.writer.snapshotState!(2);
    await second.writer.notifyCheckpointComplete!(2);
    await second.writer.close?.();
    expect(second.atEnd).toEqual([]);

    expect(await committedValues(topic)).toEqual([...range('a', 500), ...range('b', 200)].sort());
  }, 120_000);

  it('a crash before the checkpoint completed: its transaction is aborted on restore from the one before', async () => {
    const topic = await createTopic(1);
    const prefix = `crash-before-complete-${counter}`;
    const first = await openWriter(topic, prefix, 0, 1);
    await write(first, range('a', 100));
    const checkpoint1 = await first.writer.snapshotState!(1);
    await first.writer.notifyCheckpointComplete!(1);
    await write(first, range('lost', 100));
    await first.writer.snapshotState!(2); // prepared, but checkpoint 2 never completes
    await write(first, range('lost-too', 100));
    await first.writer.close?.();

    const second = await openWriter(topic, prefix, 0, 1, [checkpoint1 as unknown[]]);
    // The restored job replays what came after checkpoint 1.
    await write(second, range('replayed', 100));
    await second.writer.snapshotState!(3);
    await second.writer.notifyCheckpointComplete!(3);
    await second.writer.close?.();

    expect(await committedValues(topic)).toEqual([...range('a', 100), ...range('replayed', 100)].sort());
  }, 120_000);

  it('restored at a lower parallelism, one writer commits what both old subtasks prepared', async () => {
    const topic = await createTopic(2);
    const prefix = `rescale-${counter}`;
    const old = [await openWriter(topic, prefix, 0, 2), await openWriter(topic, prefix, 1, 2)];
    await write(old[0]!, range('s0', 250));
    await write(old[1]!, range('s1', 250));
    const states = [
      (await old[0]!.writer.snapshotState!(1)) as unknown[],
      (await old[1]!.writer.snapshotState!(1)) as unknown[],
    ];
    await write(old[0]!, range('s0-after', 50));
    await write(old[1]!, range('s1-after', 50));
    for (const subtask of old) await subtask.writer.close?.();

    const restored = await openWriter(topic, prefix, 0, 1, states);
    await restored.writer.close?.();

    expect(await committedValues(topic)).toEqual([...range('s0', 250), ...range('s1', 250)].sort());
  }, 120_000);
});
