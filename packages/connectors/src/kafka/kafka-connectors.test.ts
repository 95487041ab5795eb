import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runJob, startJob } from '@sluice/core';
import { Kafka, logLevel, Partitioners } from 'kafkajs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEAD_LETTER_HEADERS } from './kafka-source.ts';
import type { KafkaWindowSumsArgs, Reading, WindowSum } from './test-jobs/kafka-window-sums.ts';
import { type KafkaForTests, kafkaForTests } from './testing/kafka-for-tests.ts';
import { readTopic } from './testing/read-topic.ts';

const job = new URL('./test-jobs/kafka-window-sums.ts', import.meta.url);

let kafka: KafkaForTests;
let client: Kafka;
const dirs: string[] = [];

beforeAll(async () => {
  kafka = await kafkaForTests();
  if ('brokers' in kafka)
    client = new Kafka({ brokers: [kafka.brokers], clientId: 'sluice-test', logLevel: logLevel.NOTHING });
}, 180_000);

afterAll(async () => {
  for (const dir of dirs) await rm(dir, { recursive: true, force: true });
  if ('stop' in kafka) await kafka.stop();
});

function brokers(): string {
  if (!('brokers' in kafka)) throw new Error(`Kafka tests skipped: ${kafka.skipped}`);
  return kafka.brokers;
}

async function tempDir(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'sluice-kafka-test-'));
  dirs.push(dir);
  return dir;
}

let topicCounter = 0;
async function createTopic(partitions: number): Promise<string> {
  const topic = `t${Date.now().toString(36)}-${process.pid}-${topicCounter++}`;
  const admin = client.admin();
  await admin.connect();
  await admin.createTopics({ topics: [{ topic, numPartitions: partitions }], waitForLeaders: true });
  await admin.disconnect();
  return topic;
}

/** Seeded readings over `keys` keys, a few seconds of event time, up to 1.5 s out of order. */
function readings(count: number, keys: number, seed: number): Reading[] {
  let x = seed | 0 || 1;
  const next = () => {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    return (x >>> 0) / 2 ** 32;
  };
  return Array.from({ length: count }, (_, i) => ({
    key: `k${Math.floor(next() * keys)}`,
    amount: 1 + Math.floor(next() * 100),
    ts: 1_700_000_000_000 + i * 2 - Math.floor(next() * 1500),
  }));
}

/** Produces `values` in requests of 5,000; `target(i)` gives record i's key or its partition. */
async function produce(
  topic: string,
  values: ReadonlyArray<string>,
  target: (i: number) => { key: string } | { partition: number },
): Promise<void> {
  const producer = client.producer({ createPartitioner: Partitioners.DefaultPartitioner });
  await producer.connect();
  for (let from = 0; from < values.length; from += 5000) {
    await producer.send({
      topic,
      messages: values.slice(from, from + 5000).map((value, j) => ({ value, ...target(from + j) })),
    });
  }
  await producer.disconnect();
}

/** Every record of `topic` visible to a read_committed consumer. */
/** The plain loop: sums per key and 1-second window. */
function expectedSums(input: readonly Reading[]): Map<string, number> {
  const sums = new Map<string, number>();
  for (const r of input) {
    const id = `${r.key}@${r.ts - (r.ts % 1000)}`;
    sums.set(id, (sums.get(id) ?? 0) + r.amount);
  }
  return sums;
}

function sumsById(results: readonly WindowSum[]): { sums: Map<string, number>; duplicates: number } {
  const sums = new Map<string, number>();
  let duplicates = 0;
  for (const s of results) {
    const id = `${s.key}@${s.windowStart}`;
    if (sums.has(id)) duplicates++;
    sums.set(id, s.total);
  }
  return { sums, duplicates };
}

describe('Kafka connectors against a real broker', () => {
  it('reads 4 partitions at parallelism 2 (bounded): every record once, sums exact', async () => {
    const input = await createTopic(4);
    const data = readings(20_000, 50, 1);
    await produce(
      input,
      data.map((r) => JSON.stringify(r)),
      (i) => ({ key: data[i]!.key }),
    );
    for (const parallelism of [1, 2, 3]) {
      const result = await runJob<KafkaWindowSumsArgs>(job, {
        parallelism,
        args: { brokers: brokers(), input },
      });
      expect(result.sourceRecords).toBe(data.length);
      const { sums, duplicates } = sumsById(result.collected<WindowSum>('sums'));
      expect(duplicates).toBe(0);
      expect(sums).toEqual(expectedSums(data));
    }
  }, 120_000);

  it("starts from the latest offsets, a timestamp, or a group's committed offsets", async () => {
    const input = await createTopic(4);
    const before = readings(4_000, 20, 4);
    const after = readings(4_000, 20, 5).map((r) => ({ ...r, ts: r.ts + 100_000 }));
    await produce(
      input,
      before.map((r) => JSON.stringify(r)),
      (i) => ({ key: before[i]!.key }),
    );
    await new Promise((resolve) => setTimeout(resolve, 50));
    const boundary = Date.now();
    await new Promise((resolve) => setTimeout(resolve, 50));
    const admin = client.admin();
    await admin.connect();
    const groupId = `committed-${input}`;
    for (const { partition, offset } of await admin.fetchTopicOffsets(input)) {
      await admin.setOffsets({ groupId, topic: input, partitions: [{ partition, offset }] });
    }
    await admin.disconnect();
    await produce(
      input,
      after.map((r) => JSON.stringify(r)),
      (i) => ({ key: after[i]!.key }),
    );
    const sums = async (extra: Partial<KafkaWindowSumsArgs>) => {
      const result = await runJob<KafkaWindowSumsArgs>(job, {
        parallelism: 2,
        args: { brokers: brokers(), input, ...extra },
      });
      return sumsById(result.collected<WindowSum>('sums')).sums;
    };
    expect(await sums({ startFrom: 'latest' })).toEqual(new Map());
    expect(await sums({ startFrom: { timestamp: boundary } })).toEqual(expectedSums(after));
    expect(await sums({ startFrom: 'committed', groupId })).toEqual(expectedSums(after));
    expect(await sums({ startFrom: 'earliest' })).toEqual(expectedSums([...before, ...after]));
  }, 120_000);

  it('sends 1% poison pills to the dead-letter topic with their origin, without a restart; the rest is exact', async () => {
    const input = await createTopic(4);
    const dlq = await createTopic(1);
    const data = readings(10_000, 20, 2);
    const values = data.map((r, i) => (i % 100 === 7 ? `{not json ${i}` : JSON.stringify(r)));
    await produce(input, values, (i) => ({ key: `key-${i}` }));
    const messages: string[] = [];
    const result = await runJob<KafkaWindowSumsArgs>(job, {
      parallelism: 2,
      args: { brokers: brokers(), input, onBadRecord: { deadLetterTopic: dlq } },
      log: (m) => messages.push(m),
    });
    expect(result.restarts).toBe(0);
    const good = data.filter((_, i) => i % 100 !== 7);
    const { sums, duplicates } = sumsById(result.collected<WindowSum>('sums'));
    expect(duplicates).toBe(0);
    expect(sums).toEqual(expectedSums(good));
    const letters = await readTopic(brokers(), dlq);
    expect(letters.length).toBe(100);
    const bad = new Set(values.map((v, i) => (i % 100 === 7 ? v : undefined)).filter((v) => v !== undefined));
    for (const letter of letters) {
      expect(bad.has(letter.value)).toBe(true);
      expect(letter.key).toBe(`key-${letter.value.slice('{not json '.length)}`);
      expect(letter.headers[DEAD_LETTER_HEADERS.topic]).toBe(input);
      expect(Number(letter.headers[DEAD_LETTER_HEADERS.partition])).toBeGreaterThanOrEqual(0);
      expect(Number(letter.headers[DEAD_LETTER_HEADERS.offset])).toBeGreaterThanOrEqual(0);
      expect(letter.headers[DEAD_LETTER_HEADERS.error]).toMatch(/JSON/);
    }
    // Skip: same sums, nothing sent; fail: the error names where the record is.
    const skipped = await runJob<KafkaWindowSumsArgs>(job, {
      parallelism: 2,
      args: { brokers: brokers(), input, onBadRecord: 'skip' },
    });
    expect(sumsById(skipped.collected<WindowSum>('sums')).sums).toEqual(expectedSums(good));
    await expect(
      runJob<KafkaWindowSumsArgs>(job, { parallelism: 2, args: { brokers: brokers(), input } }),
    ).rejects.toThrow(new RegExp(`cannot deserialize the record at ${input}/\\d@\\d+: .*JSON`));
  }, 120_000);

  it('an idle partition stops holding back the watermark once idleTimeout passes (unbounded read)', async () => {
    const input = await createTopic(4);
    const data = readings(20_000, 50, 7);
    // Partition 3 never gets a record.
    await produce(
      input,
      data.map((r) => JSON.stringify(r)),
      (i) => ({ partition: i % 3 }),
    );
    const run = async (idleTimeoutMs: number | undefined, until: (sums: Map<string, number>) => boolean) => {
      const seen: WindowSum[] = [];
      const handle = await startJob<KafkaWindowSumsArgs>(job, {
        parallelism: 2,
        args: {
          brokers: brokers(),
          input,
          unbounded: true,
          ...(idleTimeoutMs === undefined ? {} : { idleTimeoutMs }),
        },
        onSinkData: (_channel, payload) => seen.push(...(payload as WindowSum[])),
      });
      const settled = handle.result.catch(() => undefined);
      const deadline = Date.now() + 30_000;
      while (!until(sumsById(seen).sums) && Date.now() < deadline) {
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
      await handle.cancel();
      await settled;
      return sumsById(seen);
    };
    // Every window the watermark must pass: those ending 2 s (the allowed disorder) before the
    // highest timestamp of the partition that got the fewest.
    const highest = [0, 1, 2].map((p) => Math.max(...data.filter((_, i) => i % 3 === p).map((r) => r.ts)));
    const watermark = Math.min(...highest) - 2000;
    const expected = new Map(
      [...expectedSums(data)].filter(([id]) => Number(id.split('@')[1]) + 1000 <= watermark),
    );
    expect(expected.size).toBeGreaterThan(100);
    const withIdleness = await run(300, (sums) => [...expected.keys()].every((id) => sums.has(id)));
    expect(withIdleness.duplicates).toBe(0);
    for (const [id, total] of expected) expect([id, withIdleness.sums.get(id)]).toEqual([id, total]);
    // Without idleness the empty partition holds every window back.
    let started = 0;
    const without = await run(undefined, () => {
      started ||= Date.now();
      return Date.now() - started > 5_000;
    });
    expect(without.sums.size).toBe(0);
  }, 120_000);

  it('at-least-once into Kafka with the partition and headers the serializer chose', async () => {
    const input = await createTopic(4);
    const output = await createTopic(2);
    const data = readings(30_000, 40, 9);
    await produce(
      input,
      data.map((r) => JSON.stringify(r)),
      (i) => ({ key: data[i]!.key }),
    );
    await runJob<KafkaWindowSumsArgs>(job, {
      parallelism: 2,
      args: { brokers: brokers(), input, output, guarantee: 'at-least-once', outputPartitions: 2 },
    });
    const written = await readTopic(brokers(), output);
    const results = written.map((w) => JSON.parse(w.value) as WindowSum);
    for (const [i, w] of written.entries()) {
      const result = results[i]!;
      expect(w.partition).toBe(Number(result.key.slice(1)) % 2);
      expect(w.key).toBe(result.key);
      expect(w.headers['window-start']).toBe(String(result.windowStart));
    }
    const { sums, duplicates } = sumsById(results);
    // No failure, so at-least-once writes each result once here.
    expect(duplicates).toBe(0);
    expect(sums).toEqual(expectedSums(data));
  }, 120_000);

  it('exactly once into Kafka with checkpoints: no duplicate, nothing missing, sums exact', async () => {
    const input = await createTopic(4);
    const output = await createTopic(2);
    const data = readings(100_000, 500, 3);
    await produce(
      input,
      data.map((r) => JSON.stringify(r)),
      (i) => ({ key: data[i]!.key }),
    );
    const result = await runJob<KafkaWindowSumsArgs>(job, {
      parallelism: 2,
      args: { brokers: brokers(), input, output, pauseEvery: 25 },
      checkpointing: { directory: await tempDir(), intervalMs: 500 },
    });
    expect(result.checkpoints.completed.length).toBeGreaterThan(0);
    const written = await readTopic(brokers(), output);
    const { sums, duplicates } = sumsById(written.map((w) => JSON.parse(w.value) as WindowSum));
    expect(duplicates).toBe(0);
    expect(sums).toEqual(expectedSums(data));
  }, 240_000);
  it('exactly once into Kafka through 10 worker-thread kills: no duplicate, nothing missing, sums exact', async () => {
    const input = await createTopic(4);
    const output = await createTopic(2);
    const data = readings(200_000, 500, 3);
    await produce(
      input,
      data.map((r) => JSON.stringify(r)),
      (i) => ({ key: data[i]!.key }),
    );
    const messages: string[] = [];
    let kills = 0;
    let killInFlight = false;
    let killing: Promise<unknown> = Promise.resolve();
    let seed = 11;
    const next = () => {
      seed = (Math.imul(seed, 1103515245) + 12345) & 0x7fffffff;
      return seed / 0x7fffffff;
    };
    const handle = await startJob<KafkaWindowSumsArgs>(job, {
      parallelism: 2,
      args: { brokers: brokers(), input, output, pauseEvery: 10 },
      checkpointing: { directory: await tempDir(), intervalMs: 500 },
      restartStrategy: { kind: 'fixed-delay', attempts: 100, delayMs: 50 },
      log: (m) => messages.push(m),
      onCheckpoint: () => {
        if (killInFlight || kills >= 10) return;
        killInFlight = true;
        killing = new Promise((resolve) => setTimeout(resolve, 500 + next() * 2500))
          .then(() => handle.terminateWorker(Math.floor(next() * 2)))
          .then((killed) => {
            if (killed) kills++;
            killInFlight = false;
          });
      },
    });
    const result = await handle.result;
    await killing;
    expect(kills).toBeGreaterThanOrEqual(10);
    // Checkpoints carried window state and open transactions, not just empty starts.
    expect(Math.max(...result.checkpoints.completed.map((c) => c.bytes))).toBeGreaterThan(10_000);
    expect(result.restarts).toBeGreaterThanOrEqual(10);
    const written = await readTopic(brokers(), output);
    const { sums, duplicates } = sumsById(written.map((w) => JSON.parse(w.value) as WindowSum));
    const expected = expectedSums(data);
    expect(duplicates).toBe(0);
    expect(sums.size).toBe(expected.size);
    expect(sums).toEqual(expected);
  }, 240_000);
});
