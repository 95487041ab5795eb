/**
 * {@link KafkaClient} on kafkajs 2.2.4 (its last release). Two things kafkajs does not offer are
 * built here, and kept in this file:
 *
 * - **Manual assignment.** kafkajs has no `assign()`: a consumer always joins a group and takes
 *   what the group's assigner gives it. Each fetcher therefore joins a group of its own (a unique
 *   id, one member) whose assigner hands that member exactly the partitions it was asked for, and
 *   then seeks each one to its offset; there is never a second member, so never a rebalance that
 *   moves a partition. The group is deleted when the fetcher closes.
 * - **Finishing another producer's transaction** (Flink's `resumeTransaction`). After a crash, a
 *   transaction that a completed checkpoint covers must be committed by a new producer instance.
 *   Kafka allows it with EndTxn under the old producer id and epoch, but kafkajs neither reports
 *   them nor sends EndTxn on request. The producer id and epoch are captured by wrapping the
 *   broker's `initProducerId`, and EndTxn is sent through a kafkajs cluster (internal API of the
 *   pinned version; the transaction tests against a real broker check it still holds).
 *
 * A third, a fix: kafkajs' `read_committed` filter can deliver aborted records and hide committed
 * ones; `kafkajs-read-committed.ts` replaces it.
 */

import { randomUUID } from 'node:crypto';
import { createRequire } from 'node:module';
import type * as Kafkajs from 'kafkajs';
import type { Admin, Consumer, IHeaders, Kafka, KafkaConfig, Message, Producer } from 'kafkajs';
import type {
  FetchOptions,
  KafkaClient,
  KafkaProducer,
  OutgoingKafkaRecord,
  PartitionFetcher,
  PartitionInfo,
  PartitionOffset,
  RawKafkaRecord,
  TransactionalProducer,
  TransactionHandle,
} from './client.ts';
import { installKafkajsFastPaths } from './kafkajs-fast-paths.ts';
import { installReadCommittedFilter } from './kafkajs-read-committed.ts';

const require = createRequire(import.meta.url);
// kafkajs is required here, not imported: a static import of a CommonJS module can be run before
// any of this module graph's code (when the graph is loaded by require(esm)), too early for the
// fast paths, which must be in place before kafkajs loads.
installKafkajsFastPaths();
const { AssignerProtocol, Kafka: KafkaClass, logLevel, Partitioners } = require('kafkajs') as typeof Kafkajs;

interface InternalBroker {
  initProducerId(args: { transactionalId?: string; transactionTimeout?: number }): Promise<{
    producerId: number;
    producerEpoch: number;
  }>;
  endTxn(args: {
    transactionalId: string;
    producerId: number;
    producerEpoch: number;
    transactionResult: boolean;
  }): Promise<unknown>;
}
interface InternalCluster {
  connect(): Promise<void>;
  disconnect(): Promise<void>;
  findGroupCoordinator(args: { groupId: string; coordinatorType: number }): Promise<InternalBroker>;
}

const TRANSACTION_COORDINATOR = 1; // kafkajs/src/protocol/coordinatorTypes.js

/** The producer id and epoch of the latest InitProducerId per transactional id, in this thread. */
const initializedTransactions = new Map<string, { producerId: number; producerEpoch: number }>();
let brokerWrapped = false;
function captureProducerIds(): void {
  if (brokerWrapped) return;
  brokerWrapped = true;
  const Broker = require('kafkajs/src/broker/index.js') as { prototype: InternalBroker };
  const initProducerId = Broker.prototype.initProducerId;
  Broker.prototype.initProducerId = async function (this: InternalBroker, args) {
    const result = await initProducerId.call(this, args);
    if (args.transactionalId !== undefined) {
      initializedTransactions.set(args.transactionalId, {
        producerId: result.producerId,
        producerEpoch: result.producerEpoch,
      });
    }
    return result;
  };
}

export interface KafkajsClientOptions {
  readonly brokers: readonly string[];
  readonly clientId: string;
  /** Passed to kafkajs as is (ssl, sasl, timeouts, retry); `brokers` and `clientId` win. */
  readonly config?: Omit<KafkaConfig, 'brokers' | 'clientId'>;
}

export function kafkajsClient(options: KafkajsClientOptions): KafkaClient {
  return new KafkajsClient(options);
}

class KafkajsClient implements KafkaClient {
  readonly #kafka: Kafka;
  readonly #clientId: string;
  #admin: Promise<Admin> | undefined;
  readonly #closeables = new Set<{ close(): Promise<void> }>();

  constructor(options: KafkajsClientOptions) {
    captureProducerIds();
    installReadCommittedFilter();
    this.#clientId = options.clientId;
    this.#kafka = new KafkaClass({
      logLevel: logLevel.NOTHING,
      ...options.config,
      brokers: [...options.brokers],
      clientId: options.clientId,
    });
  }

  #adminClient(): Promise<Admin> {
    this.#admin ??= (async () => {
      const admin = this.#kafka.admin();
      await admin.connect();
      return admin;
    })();
    return this.#admin;
  }

  async listTopics(): Promise<string[]> {
    return (await this.#adminClient()).listTopics();
  }

  async partitions(topic: string): Promise<PartitionInfo[]> {
    const offsets = await (await this.#adminClient()).fetchTopicOffsets(topic);
    return offsets
      .map((o) => ({ partition: o.partition, earliest: Number(o.low), latest: Number(o.high) }))
      .sort((a, b) => a.partition - b.partition);
  }

  async offsetsForTimestamp(
    topic: string,
    timestamp: number,
  ): Promise<Array<{ partition: number; offset: number }>> {
    const offsets = await (await this.#adminClient()).fetchTopicOffsetsByTimestamp(topic, timestamp);
    return offsets.map((o) => ({ partition: o.partition, offset: Number(o.offset) }));
  }

  async committedOffsets(
    groupId: string,
    topic: string,
  ): Promise<Array<{ partition: number; offset: number | undefined }>> {
    const [result] = await (await this.#adminClient()).fetchOffsets({ groupId, topics: [topic] });
    return (result?.partitions ?? []).map((p) => ({
      partition: p.partition,
      offset: Number(p.offset) >= 0 ? Number(p.offset) : undefined,
    }));
  }

  async commitOffsets(groupId: string, offsets: readonly PartitionOffset[]): Promise<void> {
    const admin = await this.#adminClient();
    for (const [topic, partitions] of groupByTopic(offsets)) {
      await admin.setOffsets({
        groupId,
        topic,
        partitions: partitions.map((p) => ({ partition: p.partition, offset: String(p.offset) })),
      });
    }
  }

  async fetch(options: FetchOptions): Promise<PartitionFetcher> {
    const fetcher = await startFetcher(this.#kafka, this.#clientId, options, () => this.#adminClient());
    this.#closeables.add(fetcher);
    return fetcher;
  }

  async producer(): Promise<KafkaProducer> {
    const producer = this.#kafka.producer({
      idempotent: true,
      maxInFlightRequests: 1,
      createPartitioner: Partitioners.DefaultPartitioner,
    });
    await producer.connect();
    const wrapped: KafkaProducer = {
      send: (records) => sendAll(producer, records),
      close: async () => {
        this.#closeables.delete(wrapped);
        await producer.disconnect();
      },
    };
    this.#closeables.add(wrapped);
    return wrapped;
  }

  async transactionalProducer(
    transactionalId: string,
    transactionTimeoutMs: number,
  ): Promise<TransactionalProducer> {
    const producer = this.#kafka.producer({
      transactionalId,
      transactionTimeout: transactionTimeoutMs,
      idempotent: true,
      maxInFlightRequests: 1,
      createPartitioner: Partitioners.DefaultPartitioner,
    });
    await producer.connect();
    const transaction = await producer.transaction();
    const ids = initializedTransactions.get(transactionalId);
    if (ids === undefined) {
      await producer.disconnect();
      throw new Error(
        `kafkajs did not initialize transactional id ${transactionalId} through InitProducerId`,
      );
    }
    const handle: TransactionHandle = { transactionalId, ...ids };
    const wrapped: TransactionalProducer = {
      transaction: handle,
      send: (records) => sendAll(transaction, records),
      commit: () => transaction.commit(),
      abort: () => transaction.abort(),
      close: async () => {
        this.#closeables.delete(wrapped);
        await producer.disconnect();
      },
    };
    this.#closeables.add(wrapped);
    return wrapped;
  }

  async commitTransaction(transaction: TransactionHandle): Promise<void> {
    await this.#withCluster(async (cluster) => {
      await retryWhileBusy(async () =>
        (
          await cluster.findGroupCoordinator({
            groupId: transaction.transactionalId,
            coordinatorType: TRANSACTION_COORDINATOR,
          })
        ).endTxn({
          transactionalId: transaction.transactionalId,
          producerId: transaction.producerId,
          producerEpoch: transaction.producerEpoch,
          transactionResult: true,
        }),
      );
    });
  }

  async abortTransaction(transactionalId: string): Promise<{ used: boolean }> {
    return this.#withCluster(async (cluster) => {
      // InitProducerId bumps the epoch: an open transaction is aborted, older producers fenced.
      const result = await retryWhileBusy(async () =>
        (
          await cluster.findGroupCoordinator({
            groupId: transactionalId,
            coordinatorType: TRANSACTION_COORDINATOR,
          })
        ).initProducerId({ transactionalId, transactionTimeout: 60_000 }),
      );
      return { used: result.producerEpoch > 0 };
    });
  }

  async #withCluster<T>(use: (cluster: InternalCluster) => Promise<T>): Promise<T> {
    const symbol = Object.getOwnPropertySymbols(this.#kafka).find(
      (s) => s.description === 'private:Kafka:createCluster',
    );
    if (symbol === undefined) throw new Error('this kafkajs version has no private:Kafka:createCluster');
    const createCluster = (this.#kafka as unknown as Record<symbol, (options: object) => InternalCluster>)[
      symbol
    ]!;
    const cluster = createCluster({});
    await cluster.connect();
    try {
      return await use(cluster);
    } finally {
      await cluster.disconnect();
    }
  }

  async close(): Promise<void> {
    for (const closeable of [...this.#closeables]) await closeable.close().catch(() => {});
    this.#closeables.clear();
    const admin = this.#admin;
    this.#admin = undefined;
    if (admin !== undefined) await (await admin).disconnect();
  }
}

/** kafkajs' names for the errors a transaction coordinator answers while busy, loading or moving. */
const COORDINATOR_BUSY = new Set([
  'CONCURRENT_TRANSACTIONS',
  'GROUP_LOAD_IN_PROGRESS',
  'GROUP_COORDINATOR_NOT_AVAILABLE',
  'NOT_COORDINATOR_FOR_GROUP',
]);

/** Retries a coordinator call while a previous transaction under the id is still being completed. */
async function retryWhileBusy<T>(call: () => Promise<T>): Promise<T> {
  for (let attempt = 0; ; attempt++) {
    try {
      return await call();
    } catch (error) {
      const type = (error as { type?: string }).type;
      const busy = type !== undefined && COORDINATOR_BUSY.has(type);
      if (!busy || attempt >= 100) throw error;
      await new Promise((resolve) => setTimeout(resolve, Math.min(20 * 2 ** attempt, 500)));
    }
  }
}

function groupByTopic<T extends { topic: string }>(items: readonly T[]): Map<string, T[]> {
  const byTopic = new Map<string, T[]>();
  for (const item of items) {
    const list = byTopic.get(item.topic);
    if (list === undefined) byTopic.set(item.topic, [item]);
    else list.push(item);
  }
  return byTopic;
}

/** Bytes per produce request: the broker refuses a record batch above message.max.bytes (1 MiB by default). */
const MAX_REQUEST_BYTES = 512 * 1024;

function sizeOf(value: Buffer | string | null | undefined): number {
  return value === null || value === undefined
    ? 0
    : typeof value === 'string'
      ? value.length * 3
      : value.length;
}

/** Sends in requests of at most {@link MAX_REQUEST_BYTES}, one after the other (order kept). */
async function sendAll(
  target: Pick<Producer, 'sendBatch'>,
  records: readonly OutgoingKafkaRecord[],
): Promise<void> {
  let from = 0;
  let bytes = 0;
  for (let i = 0; i < records.length; i++) {
    const r = records[i]!;
    const size = sizeOf(r.value) + sizeOf(r.key) + 64;
    if (bytes + size > MAX_REQUEST_BYTES && i > from) {
      await sendRequest(target, records.slice(from, i));
      from = i;
      bytes = 0;
    }
    bytes += size;
  }
  if (from < records.length) await sendRequest(target, from === 0 ? records : records.slice(from));
}

async function sendRequest(
  target: Pick<Producer, 'sendBatch'>,
  records: readonly OutgoingKafkaRecord[],
): Promise<void> {
  const topicMessages = [...groupByTopic(records)].map(([topic, list]) => ({
    topic,
    messages: list.map((r): Message => {
      const message: { -readonly [K in keyof Message]: Message[K] } = { value: r.value };
      if (r.key !== undefined) message.key = r.key;
      if (r.partition !== undefined) message.partition = r.partition;
      if (r.headers !== undefined) message.headers = r.headers as IHeaders;
      if (r.timestamp !== undefined) message.timestamp = String(r.timestamp);
      return message;
    }),
  }));
  await target.sendBatch({ topicMessages, acks: -1 });
}

/** Shared by every record without headers (most): one object less per record read. */
const NO_HEADERS: Readonly<Record<string, Buffer>> = Object.freeze({});

function headersOf(headers: IHeaders | undefined): Readonly<Record<string, Buffer>> {
  if (headers === undefined) return NO_HEADERS;
  let any = false;
  for (const _ in headers) {
    any = true;
    break;
  }
  if (!any) return NO_HEADERS;
  const out: Record<string, Buffer> = {};
  for (const [name, value] of Object.entries(headers)) {
    const first = Array.isArray(value) ? value[0] : value;
    if (first === undefined) continue;
    out[name] = typeof first === 'string' ? Buffer.from(first) : first;
  }
  return out;
}

async function startFetcher(
  kafka: Kafka,
  clientId: string,
  options: FetchOptions,
  admin: () => Promise<Admin>,
): Promise<PartitionFetcher> {
  const groupId = `sluice-fetch-${clientId}-${randomUUID()}`;
  const wanted = groupByTopic(options.partitions);
  // Where each partition goes on: re-applied if the group ever re-joins (kafkajs would otherwise
  // start from the group's committed offsets, of which this group has none).
  const next = new Map<string, number>();
  for (const p of options.partitions) next.set(`${p.topic}:${p.partition}`, p.offset);
  const assigner = () => ({
    name: 'SluiceFixedAssigner',
    version: 1,
    async assign({ members }: { members: Array<{ memberId: string }>; topics: string[] }) {
      const assignment: Record<string, number[]> = {};
      for (const [topic, list] of wanted) assignment[topic] = list.map((p) => p.partition);
      return members.map(({ memberId }, i) => ({
        memberId,
        memberAssignment: AssignerProtocol.MemberAssignment.encode({
          version: 1,
          assignment: i === 0 ? assignment : {},
          userData: Buffer.alloc(0),
        }),
      }));
    },
    protocol({ topics }: { topics: string[] }) {
      return {
        name: 'SluiceFixedAssigner',
        metadata: AssignerProtocol.MemberMetadata.encode({ version: 1, topics, userData: Buffer.alloc(0) }),
      };
    },
  });
  const consumer: Consumer = kafka.consumer({
    groupId,
    partitionAssigners: [assigner],
    readUncommitted: !options.readCommitted,
    maxWaitTimeInMs: 100,
    allowAutoTopicCreation: false,
  });
  let failed = false;
  consumer.on(consumer.events.CRASH, (event) => {
    const { error, restart } = event.payload as { error: Error; restart: boolean };
    if (restart || failed) return;
    failed = true;
    options.onError(error);
  });
  const toTopics = (partitions: ReadonlyArray<{ topic: string; partition: number }>) =>
    [...groupByTopic(partitions)].map(([topic, list]) => ({
      topic,
      partitions: list.map((p) => p.partition),
    }));
  const seekAll = () => {
    for (const [key, offset] of next) {
      const colon = key.lastIndexOf(':');
      consumer.seek({
        topic: key.slice(0, colon),
        partition: Number(key.slice(colon + 1)),
        offset: String(offset),
      });
    }
  };
  consumer.on(consumer.events.FETCH, () => options.onFetch?.());
  // A batch of only transaction markers or aborted records never reaches eachBatch, but the
  // position must move past it (or a bounded read of a transactional topic never ends).
  consumer.on(consumer.events.END_BATCH_PROCESS, (event) => {
    const { topic, partition, batchSize, lastOffset } = event.payload as {
      topic: string;
      partition: number;
      batchSize: number;
      lastOffset: string;
    };
    if (batchSize !== 0) return;
    const nextOffset = Number(lastOffset) + 1;
    next.set(`${topic}:${partition}`, nextOffset);
    options.onBatch({ topic, partition, records: [], nextOffset });
  });
  // Seeks and pauses need the group joined (kafkajs throws before): they are applied on every
  // join, the first one included, and kept until then.
  const paused = new Map<string, { topic: string; partition: number }>();
  let joined = false;
  consumer.on(consumer.events.GROUP_JOIN, () => {
    joined = true;
    seekAll();
    if (paused.size > 0) consumer.pause(toTopics([...paused.values()]));
  });
  await consumer.connect();
  await consumer.subscribe({ topics: [...wanted.keys()], fromBeginning: true });
  await consumer.run({
    autoCommit: false,
    // Resolved batches are where kafkajs fetches on from (after a pause, too); they are in the
    // reader's queue by then. Nothing is committed: positions live in Sluice's checkpoints.
    eachBatchAutoResolve: true,
    eachBatch: async ({ batch }) => {
      const records: RawKafkaRecord[] = batch.messages.map((m) => ({
        topic: batch.topic,
        partition: batch.partition,
        offset: Number(m.offset),
        timestamp: Number(m.timestamp),
        key: m.key,
        value: m.value,
        headers: headersOf(m.headers),
      }));
      const nextOffset = Number(batch.lastOffset()) + 1;
      next.set(`${batch.topic}:${batch.partition}`, nextOffset);
      options.onBatch({ topic: batch.topic, partition: batch.partition, records, nextOffset });
    },
  });
  if (joined) seekAll();
  let closing: Promise<void> | undefined;
  return {
    pause(partitions) {
      for (const p of partitions)
        paused.set(`${p.topic}:${p.partition}`, { topic: p.topic, partition: p.partition });
      if (joined) consumer.pause(toTopics(partitions));
    },
    resume(partitions) {
      for (const p of partitions) paused.delete(`${p.topic}:${p.partition}`);
      if (joined) consumer.resume(toTopics(partitions));
    },
    close() {
      closing ??= (async () => {
        await consumer.disconnect();
        await (await admin()).deleteGroups([groupId]).catch(() => {});
      })();
      return closing;
    },
  };
}
