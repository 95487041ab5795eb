import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type KafkaForTests, kafkaForTests, readTopic } from '@sluice/connectors/testing';
import { runJob } from '@sluice/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { click, type PageCount } from '../click-counts/job.ts';
import type { KafkaClickCountsArgs } from './job.ts';
import { produceClicks } from './produce.ts';

const job = new URL('./job.ts', import.meta.url);
let kafka: KafkaForTests;

beforeAll(async () => {
  kafka = await kafkaForTests();
}, 180_000);
afterAll(async () => {
  if ('stop' in kafka) await kafka.stop();
});

describe('examples/kafka-click-counts', () => {
  it('counts clicks from Kafka into Kafka exactly once, as the plain loop does', async (context) => {
    if (!('brokers' in kafka)) return context.skip(kafka.skipped);
    const topics = { input: `clicks-${Date.now()}`, output: `click-counts-${Date.now()}` };
    const events = 100_000;
    const pages = 50;
    await produceClicks(kafka.brokers, events, pages, topics);
    const directory = await mkdtemp(join(tmpdir(), 'sluice-kafka-example-'));
    try {
      await runJob<KafkaClickCountsArgs>(job, {
        parallelism: 2,
        args: { brokers: kafka.brokers, ...topics, bounded: true },
        checkpointing: { directory, intervalMs: 500 },
      });
    } finally {
      await rm(directory, { recursive: true, force: true });
    }
    const got = (await readTopic(kafka.brokers, topics.output))
      .map((r) => JSON.parse(r.value) as PageCount)
      .map((c) => `${c.page}|${c.windowStart}|${c.clicks}`)
      .sort();
    const expected = new Map<string, number>();
    for (let i = 0; i < events; i++) {
      const c = click(i, pages);
      const id = `${c.page}|${Math.floor(c.ts / 10_000) * 10_000}`;
      expected.set(id, (expected.get(id) ?? 0) + 1);
    }
    expect(got).toEqual([...expected].map(([id, n]) => `${id}|${n}`).sort());
  }, 180_000);
});
