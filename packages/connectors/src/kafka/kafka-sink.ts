import {
  ConfigError,
  type Logger,
  type Sink,
  type SinkWriter,
  type SinkWriterContext,
  SluiceError,
} from '@sluice/core';
import { parseBrokers } from './brokers.ts';
import type {
  KafkaClient,
  KafkaClientFactory,
  KafkaProducer,
  OutgoingKafkaRecord,
  TransactionalProducer,
  TransactionHandle,
} from './client.ts';
import { type KafkaSerializer, serializerFor } from './formats.ts';
import { kafkajsClient } from './kafkajs-client.ts';
import { SendPipeline } from './send-pipeline.ts';

/** Records waiting behind the request on the wire before the task waits (see `SendPipeline`). */
const MAX_PENDING_RECORDS = 20_000;

export interface KafkaSinkOptions<T> {
  /** `host:port` of one or more brokers. */
  readonly brokers: string | readonly string[];
  /** Where records go unless the serializer names a topic. */
  readonly topic: string;
  /** Default `json` (no key); a function chooses key, partition, headers and topic per value. */
  readonly format?: 'string' | 'json' | KafkaSerializer<T>;
  /**
   * `at-least-once` (default): records are acknowledged before a checkpoint completes, so a
   * restart may write some twice. `exactly-once`: records go into a Kafka transaction per
   * checkpoint, committed when the checkpoint completes; `read_committed` consumers see each
   * record once. Needs checkpointing (without it, one transaction is committed at end of input).
   */
  readonly guarantee?: 'at-least-once' | 'exactly-once';
  /** Transactional ids are `<prefix>-<subtask>-<n>`; unique per job. Default `sluice-<job>-<operator id>`. */
  readonly transactionalIdPrefix?: string;
  /** The broker aborts a transaction open longer than this (default 60,000 ms; at most the broker's transaction.max.timeout.ms). */
  readonly transactionTimeoutMs?: number;
  /** Another Kafka client (default kafkajs). */
  readonly client?: KafkaClientFactory;
}

/** A transaction prepared at a checkpoint, as stored in it. */
interface PreparedTransaction extends TransactionHandle {
  readonly kind: 'kafka-transaction';
  /** The subtask that wrote it, at the parallelism of the checkpoint. */
  readonly subtask: number;
}

/** Per old subtask: the sequence number of its next transactional id after the checkpoint. */
interface TransactionalIdRange {
  readonly kind: 'kafka-transactional-ids';
  readonly subtask: number;
  readonly nextSequence: number;
}

type SinkState = PreparedTransaction | TransactionalIdRange;

/** Errors Kafka answers when a transaction to commit was already finished (or fenced). */
const ALREADY_FINISHED = new Set(['INVALID_TXN_STATE', 'PRODUCER_FENCED', 'INVALID_PRODUCER_EPOCH']);

/**
 * Writes to Kafka; exactly once with `guarantee: 'exactly-once'` and checkpointing, the way
 * Flink's KafkaSink does it:
 *
 * - each subtask writes into a transaction under its own transactional id `<prefix>-<i>-<n>`;
 * - at a checkpoint barrier the transaction is flushed and stored (id, producer id, epoch) in the
 *   checkpoint, and the next records go into a new transaction;
 * - when the checkpoint completes, the stored transactions are committed;
 * - on restore, every subtask sees all stored transactions and commits those of the old subtasks
 *   it answers for (old subtask j goes to j mod parallelism), with EndTxn under the stored
 *   producer id and epoch (so a crash between checkpoint completion and commit loses nothing);
 *   then it aborts whatever the failed attempt left open, by fencing the transactional ids that
 *   follow the checkpoint's until one was never used;
 * - at end of input the last transaction is committed by the job's coordinator once every task
 *   has finished (never after a failure).
 */
export function kafkaSink<T>(options: KafkaSinkOptions<T>): Sink<T> {
  const resolved = validate(options);
  return {
    name: `kafka(${options.topic})`,
    createWriter: (context) =>
      resolved.guarantee === 'exactly-once'
        ? new ExactlyOnceKafkaWriter(resolved, context)
        : new AtLeastOnceKafkaWriter(resolved, context),
    async commitAtEnd(committables, { logger }) {
      if (committables.length === 0) return;
      const client = resolved.client({ clientId: 'sluice-kafka-sink-commit' });
      try {
        for (const transaction of committables as PreparedTransaction[])
          await commitRestored(client, transaction, logger);
      } finally {
        await client.close();
      }
    },
  };
}

interface ResolvedSinkOptions<T> {
  readonly topic: string;
  readonly serialize: KafkaSerializer<T>;
  readonly guarantee: 'at-least-once' | 'exactly-once';
  readonly transactionalIdPrefix: string | undefined;
  readonly transactionTimeoutMs: number;
  readonly client: KafkaClientFactory;
}

function validate<T>(options: KafkaSinkOptions<T>): ResolvedSinkOptions<T> {
  if (options === null || typeof options !== 'object') {
    throw new ConfigError('kafkaSink: options must be an object { brokers, topic, ... }');
  }
  const list = parseBrokers(options.brokers, 'kafkaSink');
  if (typeof options.topic !== 'string' || options.topic.length === 0) {
    throw new ConfigError('kafkaSink: option "topic" must name a topic');
  }
  const guarantee = options.guarantee ?? 'at-least-once';
  if (guarantee !== 'at-least-once' && guarantee !== 'exactly-once') {
    throw new ConfigError(
      `kafkaSink: option "guarantee" must be 'at-least-once' or 'exactly-once', got ${String(guarantee)}`,
    );
  }
  const format = options.format ?? 'json';
  if (typeof format !== 'function' && format !== 'string' && format !== 'json') {
    throw new ConfigError(
      `kafkaSink: option "format" must be 'string', 'json' or a function, got ${String(format)}`,
    );
  }
  const transactionTimeoutMs = options.transactionTimeoutMs ?? 60_000;
  if (!Number.isInteger(transactionTimeoutMs) || transactionTimeoutMs < 1000) {
    throw new ConfigError(
      `kafkaSink: option "transactionTimeoutMs" must be an integer ≥ 1000, got ${transactionTimeoutMs}`,
    );
  }
  return {
    topic: options.topic,
    serialize: serializerFor(format),
    guarantee,
    transactionalIdPrefix: options.transactionalIdPrefix,
    transactionTimeoutMs,
    client: options.client ?? (({ clientId }) => kafkajsClient({ brokers: list, clientId })),
  };
}

function clientIdOf(context: SinkWriterContext): string {
  return `sluice-${context.jobName}-${context.operatorId}-${context.subtaskIndex}`.replace(
    /[^A-Za-z0-9._-]/g,
    '_',
  );
}

/** Serializes one value, naming the operator's record when the serializer fails. */
function toRecord<T>(options: ResolvedSinkOptions<T>, value: T): OutgoingKafkaRecord {
  let record: ReturnType<KafkaSerializer<T>>;
  try {
    record = options.serialize(value);
  } catch (cause) {
    throw new SluiceError(
      'SLUICE_KAFKA_SERIALIZE',
      `kafkaSink(${options.topic}): cannot serialize a record: ${(cause as Error).message}`,
      {
        cause,
      },
    );
  }
  return record.topic === undefined ? { ...record, topic: options.topic } : (record as OutgoingKafkaRecord);
}

class AtLeastOnceKafkaWriter<T> implements SinkWriter<T> {
  readonly #options: ResolvedSinkOptions<T>;
  readonly #client: KafkaClient;
  #producer: KafkaProducer | undefined;
  #buffer: OutgoingKafkaRecord[] = [];
  readonly #pipeline = new SendPipeline<OutgoingKafkaRecord>(
    (records) => this.#producer!.send(records),
    MAX_PENDING_RECORDS,
  );

  constructor(options: ResolvedSinkOptions<T>, context: SinkWriterContext) {
    this.#options = options;
    this.#client = options.client({ clientId: clientIdOf(context) });
  }

  async open(): Promise<void> {
    this.#producer = await this.#client.producer();
  }

  write(value: T): void {
    this.#buffer.push(toRecord(this.#options, value));
  }

  /** Hands what the batch wrote to the pipeline; waits only while too much is unacknowledged. */
  flush(): Promise<void> | undefined {
    const records = this.#buffer;
    this.#buffer = [];
    return this.#pipeline.add(records);
  }

  async snapshotState(): Promise<readonly unknown[]> {
    await this.#drain();
    return [];
  }

  #drain(): Promise<void> {
    this.flush();
    return this.#pipeline.drain();
  }

  async close(): Promise<void> {
    try {
      await this.#drain();
    } finally {
      await this.#client.close();
    }
  }
}

class ExactlyOnceKafkaWriter<T> implements SinkWriter<T> {
  readonly #options: ResolvedSinkOptions<T>;
  readonly #context: SinkWriterContext;
  readonly #client: KafkaClient;
  readonly #prefix: string;
  #nextSequence = 0;
  #current: TransactionalProducer | undefined;
  #currentHasRecords = false;
  /**
   * The next transaction's producer, opened ahead (connections, InitProducerId) while the
   * current one is still written, so that a barrier does not wait for it. Its id is taken from
   * the sequence: a restore scans from it, and fences it like any other used id.
   */
  #opening: Promise<TransactionalProducer> | undefined;
  #buffer: OutgoingKafkaRecord[] = [];
  /** Sends into the current transaction (begun with its first records). */
  readonly #pipeline = new SendPipeline<OutgoingKafkaRecord>(async (records) => {
    if (this.#current === undefined) {
      const opening = this.#opening ?? this.#openNext();
      this.#opening = undefined;
      this.#current = await opening;
    }
    this.#currentHasRecords = true;
    await this.#current.send(records);
  }, MAX_PENDING_RECORDS);
  /** Transactions stored in checkpoints, waiting for their checkpoint to complete. */
  readonly #prepared = new Map<number, TransactionalProducer>();
  /** Commits in flight (see `notifyCheckpointComplete`). */
  readonly #committing = new Set<Promise<void>>();

  constructor(options: ResolvedSinkOptions<T>, context: SinkWriterContext) {
    this.#options = options;
    this.#context = context;
    this.#client = options.client({ clientId: clientIdOf(context) });
    this.#prefix = options.transactionalIdPrefix ?? `sluice-${context.jobName}-${context.operatorId}`;
  }

  #transactionalId(subtask: number, sequence: number): string {
    return `${this.#prefix}-${subtask}-${sequence}`;
  }

  #openNext(): Promise<TransactionalProducer> {
    const opening = this.#client.transactionalProducer(
      this.#transactionalId(this.#context.subtaskIndex, this.#nextSequence++),
      this.#options.transactionTimeoutMs,
    );
    // A failure surfaces where the producer is awaited (the next send, or close).
    opening.catch(() => {});
    return opening;
  }

  async open(): Promise<void> {
    const { subtaskIndex, parallelism } = this.#context;
    const restored = (this.#context.restoredStateOfAllSubtasks ?? []) as SinkState[];
    // 1. Finish what completed checkpoints prepared, for the old subtasks this one answers for.
    for (const item of restored) {
      if (item.kind === 'kafka-transaction' && item.subtask % parallelism === subtaskIndex) {
        await commitRestored(this.#client, item, this.#context.logger);
      }
    }
    // 2. Abort what the failed attempt left open after the checkpoint, for the same old subtasks.
    const starts = new Map<number, number>();
    for (const item of restored) {
      if (item.kind === 'kafka-transactional-ids' && item.subtask % parallelism === subtaskIndex) {
        starts.set(item.subtask, item.nextSequence);
      }
    }
    // Without a range of its own (a fresh start, or a subtask new after rescaling) a subtask
    // scans its ids from the first: earlier runs may have left transactions open.
    if (!starts.has(subtaskIndex)) starts.set(subtaskIndex, 0);
    for (const [subtask, start] of starts) {
      let sequence = start;
      while ((await this.#client.abortTransaction(this.#transactionalId(subtask, sequence))).used) sequence++;
      if (subtask === subtaskIndex) this.#nextSequence = sequence;
    }
    this.#opening = this.#openNext();
  }

  write(value: T): void {
    this.#buffer.push(toRecord(this.#options, value));
  }

  flush(): Promise<void> | undefined {
    const records = this.#buffer;
    this.#buffer = [];
    return this.#pipeline.add(records);
  }

  /** Everything written so far is in the current transaction, acknowledged. */
  #sendBuffer(): Promise<void> {
    this.flush();
    return this.#pipeline.drain();
  }

  async snapshotState(checkpointId: number): Promise<readonly unknown[]> {
    await this.#sendBuffer();
    const state: SinkState[] = [];
    if (this.#current !== undefined && this.#currentHasRecords) {
      this.#prepared.set(checkpointId, this.#current);
      this.#current = undefined;
      this.#currentHasRecords = false;
    }
    // Earlier transactions whose commit has not happened yet go in too (as Flink's committer
    // state does): restored from this checkpoint, they must still be committed.
    for (const producer of this.#prepared.values()) {
      state.push({ kind: 'kafka-transaction', ...producer.transaction, subtask: this.#context.subtaskIndex });
    }
    // Scanning from here on restore finds every transaction begun after this checkpoint.
    state.push({
      kind: 'kafka-transactional-ids',
      subtask: this.#context.subtaskIndex,
      nextSequence:
        this.#current === undefined && this.#opening === undefined
          ? this.#nextSequence
          : this.#nextSequence - 1,
    });
    // After the state: the id it takes is the first a restore from this checkpoint scans.
    this.#opening ??= this.#openNext();
    return state;
  }

  async notifyCheckpointComplete(checkpointId: number): Promise<void> {
    for (const [id, producer] of [...this.#prepared]) {
      if (id > checkpointId) continue;
      // Stays prepared (in checkpoints, and for close) until the commit is confirmed: closing the
      // client mid-commit would otherwise leave the transaction open, blocking read_committed
      // readers until the broker aborts it.
      const committing = producer.commit();
      this.#committing.add(committing);
      try {
        await committing;
      } finally {
        this.#committing.delete(committing);
      }
      this.#prepared.delete(id);
      await producer.close();
    }
  }

  async close(): Promise<void> {
    try {
      await this.#sendBuffer();
      // Committed by the coordinator if, and only if, the whole job finishes.
      await Promise.allSettled([...this.#committing]);
      const open = [...this.#prepared.values()];
      if (this.#current !== undefined && this.#currentHasRecords) open.push(this.#current);
      const committables: PreparedTransaction[] = open.map((p) => ({
        kind: 'kafka-transaction',
        ...p.transaction,
        subtask: this.#context.subtaskIndex,
      }));
      if (committables.length > 0) this.#context.commitAtEnd(committables);
    } finally {
      this.#prepared.clear();
      this.#current = undefined;
      // Opened ahead and never written: closed with the client (no transaction began on the broker).
      await this.#opening?.catch(() => {});
      this.#opening = undefined;
      await this.#client.close();
    }
  }
}

/** Commits a stored transaction; one that is already finished is not an error (logged as a warning). */
async function commitRestored(
  client: KafkaClient,
  transaction: TransactionHandle,
  logger: Logger,
): Promise<void> {
  try {
    await client.commitTransaction(transaction);
  } catch (error) {
    const type = (error as { type?: string }).type;
    if (type === undefined || !ALREADY_FINISHED.has(type)) throw error;
    logger.warn(
      { transactionalId: transaction.transactionalId, errorType: type },
      `Kafka transaction ${transaction.transactionalId} (producer ${transaction.producerId}, epoch ${transaction.producerEpoch}) was already finished (${type}); if the broker aborted it after transaction.timeout.ms, its records are lost`,
    );
  }
}
