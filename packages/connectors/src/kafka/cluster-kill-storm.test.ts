import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Kafka, logLevel } from 'kafkajs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { exactness, killStorm, ProcessCluster } from '../test-support/cluster-processes.ts';
import type { GenerateToKafkaArgs } from './test-jobs/generate-to-kafka.ts';
import { type KafkaForTests, kafkaForTests } from './testing/kafka-for-tests.ts';
import { readTopic } from './testing/read-topic.ts';

/**
 * The kill storm of `file/cluster-kill-storm.test.ts` with the exactly-once Kafka sink: a
 * `sluice jobmanager` and two `sluice taskmanager` processes (one slot each, p=2, a rebalance
 * between them), task managers and the job manager SIGKILLed at observed points and started
 * again with the same command. What a `read_committed` consumer reads from the topic afterwards
 * must be every number once.
 */

const JOB = fileURLToPath(new URL('./test-jobs/generate-to-kafka.ts', import.meta.url));
const TASK_MANAGER_KILLS = 10;
const JOB_MANAGER_KILLS = 3;

let kafka: KafkaForTests;
let dir: string;
let cluster: ProcessCluster | undefined;

beforeAll(async () => {
  kafka = await kafkaForTests();
  dir = await mkdtemp(join(tmpdir(), 'sluice-kafka-kill-storm-'));
}, 180_000);

afterAll(async () => {
  await cluster?.stop();
  await rm(dir, { recursive: true, force: true });
  if ('stop' in kafka) await kafka.stop();
});

async function createTopic(brokers: string, partitions: number): Promise<string> {
  const topic = `kill-storm-${Date.now().toString(36)}-${process.pid}`;
  const admin = new Kafka({
    brokers: [brokers],
    clientId: 'sluice-test',
    logLevel: logLevel.NOTHING,
  }).admin();
  await admin.connect();
  await admin.createTopics({ topics: [{ topic, numPartitions: partitions }], waitForLeaders: true });
  await admin.disconnect();
  return topic;
}

describe('a job on task-manager processes into Kafka, through SIGKILLs of task managers and of the job manager', () => {
  it(`exactly-once Kafka sink: after ${TASK_MANAGER_KILLS} task-manager and ${JOB_MANAGER_KILLS} job-manager kills, a read_committed consumer reads every record once`, async (context) => {
    if ('skipped' in kafka) context.skip(`no Kafka: ${kafka.skipped}`);
    const brokers = (kafka as { brokers: string }).brokers;
    const topic = await createTopic(brokers, 2);
    const args: GenerateToKafkaArgs = {
      brokers,
      topic,
      count: 150_000,
      ratePerSecond: 6_000,
      transactionalIdPrefix: topic,
    };
    cluster = await ProcessCluster.start({
      job: JOB,
      jobArgs: args,
      parallelism: 2,
      taskManagers: 2,
      checkpointDir: join(dir, 'checkpoints'),
      checkpointIntervalMs: 200,
    });
    const storm = await killStorm(cluster, {
      taskManagerKills: TASK_MANAGER_KILLS,
      jobManagerKills: JOB_MANAGER_KILLS,
      seed: 12,
    });
    const exit = await cluster.jobManager.exited;
    console.log(
      `cluster kill storm (Kafka sink): ${storm.kills.join('; ')}\n` +
        `  task manager lost after (ms): ${storm.detections.map((d) => d.ms).join(', ')}`,
    );
    expect(exit, cluster.describe()).toEqual({ code: 0, signal: null });
    expect(storm.taskManagerKills, storm.kills.join('\n')).toBeGreaterThanOrEqual(TASK_MANAGER_KILLS);
    expect(storm.jobManagerKills, storm.kills.join('\n')).toBeGreaterThanOrEqual(JOB_MANAGER_KILLS);
    expect(await cluster.taskManagerExits()).toEqual(
      cluster.taskManagers.map(() => ({ code: 0, signal: null })),
    );
    for (const { reason } of storm.detections) {
      expect(reason).toMatch(/ECONNRESET|ended by the other party|closed by the peer/);
    }

    const values = (await readTopic(brokers, topic)).map((record) => record.value);
    expect(exactness(values, args.count)).toEqual({
      duplicated: 0,
      missing: 0,
      unexpected: 0,
      lines: args.count,
    });
  }, 900_000);
});
