import {
  ConfigError,
  PollStatus,
  SluiceError,
  type Source,
  type SourceOutput,
  type SourceReader,
  type SourceReaderContext,
} from '@sluice/core';
import { parseBrokers } from './brokers.ts';
import type {
  FetchedBatch,
  KafkaClient,
  KafkaClientFactory,
  KafkaProducer,
  PartitionFetcher,
  RawKafkaRecord,
} from './client.ts';
import {
  deserializerFor,
  type KafkaDeserializer,
  type KafkaFormat,
  type KafkaRecord,
  type ValueOf,
} from './formats.ts';
import { kafkajsClient } from './kafkajs-client.ts';
import { partitionOwner } from './partition-owner.ts';

/** Where a partition is read from when no checkpoint says. */
export type KafkaStartOffsets =
  | 'earliest'
  | 'latest'
  /** The offsets `groupId` committed; `earliest` for partitions without one. */
  | 'committed'
  /** The first record at or after this time (ms since the epoch). */
  | { readonly timestamp: number };

/** What happens to a record the deserializer rejects. */
export type BadRecordPolicy =
  /** The job fails with an error naming topic, partition and offset. */
  | 'fail'
  /** The record is dropped and counted (`KafkaSourceReader.skippedRecords`, logged at close). */
  | 'skip'
  /** The raw record goes to this topic with headers naming where it came from and the error. */
  | { readonly deadLetterTopic: string };

export interface KafkaSourceOptions<T> {
  /** `host:port` of one or more brokers. */
  readonly brokers: string | readonly string[];
  /** Topics to read; or `topicPattern`. */
  readonly topics?: string | readonly string[];
  /** Every topic whose name matches, as of the start of the job. */
  readonly topicPattern?: RegExp;
  /** Default `earliest`. A restored checkpoint's offsets always win. */
  readonly startFrom?: KafkaStartOffsets;
  /**
   * Stop at the end offsets seen when the subtask starts, instead of reading forever: for batch
   * runs and tests. The source is then bounded.
   */
  readonly bounded?: boolean;
  /** For `startFrom: 'committed'`, and offsets are committed to it when a checkpoint completes. */
  readonly groupId?: string;
  /** Default `json`: values parsed as JSON, keys and headers as text. */
  readonly format?: KafkaFormat | KafkaDeserializer<T>;
  /** Default `fail`. */
  readonly onBadRecord?: BadRecordPolicy;
  /** Default true: records of aborted and open transactions are not read. */
  readonly readCommitted?: boolean;
  /** Records fetched but not yet emitted, per subtask, before fetching pauses (default 10,000). */
  readonly maxBufferedRecords?: number;
  /** Another Kafka client (default kafkajs). */
  readonly client?: KafkaClientFactory;
  /**
   * Watermarks generated per partition, as Flink's KafkaSource does: each partition's trails its
   * own highest timestamp, and the subtask's is the minimum over its partitions that are neither
   * finished nor idle, so records of a partition that lags behind another are not late. Without
   * this option the source emits no watermarks (use `assignTimestamps` downstream).
   */
  readonly watermarks?: KafkaWatermarks<T>;
}

export interface KafkaWatermarks<T> {
  /** Event time of a value in ms (default: the Kafka record's timestamp). */
  readonly timestamp?: (value: T) => number;
  /** How far a partition's watermark trails its highest timestamp (ms; default 0). */
  readonly maxOutOfOrderness?: number;
  /** A partition without records for this long (ms) stops holding back the watermark. */
  readonly idleTimeout?: number;
}

/** A record could not be deserialized, and the policy is to fail. */
export class KafkaRecordError extends SluiceError {
  readonly topic: string;
  readonly partition: number;
  readonly offset: number;

  constructor(record: RawKafkaRecord, cause: unknown) {
    super(
      'SLUICE_KAFKA_BAD_RECORD',
      `cannot deserialize the record at ${record.topic}/${record.partition}@${record.offset}: ${
        cause instanceof Error ? cause.message : String(cause)
      }`,
      { cause },
    );
    this.topic = record.topic;
    this.partition = record.partition;
    this.offset = record.offset;
  }
}

/** Headers a dead-lettered record carries. */
export const DEAD_LETTER_HEADERS = {
  topic: 'sluice.source.topic',
  partition: 'sluice.source.partition',
  offset: 'sluice.source.offset',
  timestamp: 'sluice.source.timestamp',
  error: 'sluice.error',
} as const;

/** A partition's split in a checkpoint: where to go on, and where to stop if bounded. */
interface PartitionSplit {
  readonly kind: 'kafka-partition';
  readonly topic: string;
  readonly partition: number;
  readonly offset: number;
  readonly end: number | null;
}

/** A bad record on its way to the dead-letter topic when the checkpoint was taken. */
interface DeadLetterSplit {
  readonly kind: 'kafka-dead-letter';
  readonly record: DeadLetter;
}

interface DeadLetter {
  readonly key: Buffer | null;
  readonly value: Buffer | null;
  readonly headers: Record<string, Buffer>;
}

/**
 * Reads Kafka topics. Partitions are dealt to the source's subtasks by Sluice itself (Flink's
 * rule: see `partition-owner.ts`), never by a consumer-group rebalance; each subtask's offsets go
 * into checkpoints and come back exactly on restore, so with checkpointing every record counts
 * once in the job's state. Values are emitted with the record's timestamp.
 *
 * With the built-in formats each value is a {@link KafkaRecord} (key, value, headers, topic,
 * partition, offset, timestamp); a custom deserializer returns whatever it likes.
 *
 * @example
 * env.fromSource(kafkaSource<Click>({ brokers: 'localhost:9092', topics: 'clicks' }))
 *   .map((record) => record.value)
 */
export function kafkaSource<T = KafkaRecord<unknown>>(options: KafkaSourceOptions<T>): Source<T>;
export function kafkaSource<F extends KafkaFormat>(
  options: KafkaSourceOptions<KafkaRecord<ValueOf<F>>> & { readonly format: F },
): Source<KafkaRecord<ValueOf<F>>>;
export function kafkaSource<T>(options: KafkaSourceOptions<T>): Source<T> {
  const resolved = validate(options);
  return {
    name: `kafka(${resolved.describe})`,
    boundedness: options.bounded === true ? 'bounded' : 'unbounded',
    emitsTimestamps: true,
    createReader: (context) => new KafkaSourceReader<T>(resolved, context),
  };
}

interface ResolvedOptions<T> {
  readonly brokers: readonly string[];
  readonly topics: readonly string[] | undefined;
  readonly topicPattern: RegExp | undefined;
  readonly describe: string;
  readonly startFrom: KafkaStartOffsets;
  readonly bounded: boolean;
  readonly groupId: string | undefined;
  readonly deserialize: KafkaDeserializer<T>;
  readonly onBadRecord: BadRecordPolicy;
  readonly readCommitted: boolean;
  readonly maxBufferedRecords: number;
  readonly client: KafkaClientFactory;
  readonly watermarks: KafkaWatermarks<T> | undefined;
}

function validate<T>(options: KafkaSourceOptions<T>): ResolvedOptions<T> {
  if (options === null || typeof options !== 'object') {
    throw new ConfigError('kafkaSource: options must be an object { brokers, topics | topicPattern, ... }');
  }
  const list = parseBrokers(options.brokers, 'kafkaSource');
  const topics = typeof options.topics === 'string' ? [options.topics] : options.topics;
  if ((topics === undefined) === (options.topicPattern === undefined)) {
    throw new ConfigError('kafkaSource: give exactly one of the options "topics" and "topicPattern"');
  }
  if (
    topics !== undefined &&
    (topics.length === 0 || topics.some((t) => typeof t !== 'string' || t.length === 0))
  ) {
    throw new ConfigError('kafkaSource: option "topics" must name at least one topic');
  }
  const startFrom = options.startFrom ?? 'earliest';
  const validStart =
    startFrom === 'earliest' ||
    startFrom === 'latest' ||
    startFrom === 'committed' ||
    (typeof startFrom === 'object' && Number.isFinite(startFrom.timestamp));
  if (!validStart) {
    throw new ConfigError(
      `kafkaSource: option "startFrom" must be 'earliest', 'latest', 'committed' or { timestamp }, got ${String(startFrom)}`,
    );
  }
  if (startFrom === 'committed' && options.groupId === undefined) {
    throw new ConfigError('kafkaSource: startFrom: \'committed\' needs the option "groupId"');
  }
  const onBadRecord = options.onBadRecord ?? 'fail';
  if (
    onBadRecord !== 'fail' &&
    onBadRecord !== 'skip' &&
    (typeof onBadRecord !== 'object' ||
      typeof onBadRecord.deadLetterTopic !== 'string' ||
      onBadRecord.deadLetterTopic === '')
  ) {
    throw new ConfigError(
      `kafkaSource: option "onBadRecord" must be 'fail', 'skip' or { deadLetterTopic }, got ${String(onBadRecord)}`,
    );
  }
  const maxBufferedRecords = options.maxBufferedRecords ?? 10_000;
  if (!Number.isInteger(maxBufferedRecords) || maxBufferedRecords < 1) {
    throw new ConfigError(
      `kafkaSource: option "maxBufferedRecords" must be a positive integer, got ${maxBufferedRecords}`,
    );
  }
  const format = options.format ?? 'json';
  if (typeof format !== 'function' && format !== 'string' && format !== 'json' && format !== 'bytes') {
    throw new ConfigError(
      `kafkaSource: option "format" must be 'string', 'json', 'bytes' or a function, got ${String(format)}`,
    );
  }
  return {
    brokers: list,
    topics,
    topicPattern: options.topicPattern,
    describe: topics === undefined ? String(options.topicPattern) : topics.join(','),
    startFrom,
    bounded: options.bounded === true,
    groupId: options.groupId,
    deserialize: deserializerFor(format),
    onBadRecord,
    readCommitted: options.readCommitted ?? true,
    maxBufferedRecords,
    client: options.client ?? (({ clientId }) => kafkajsClient({ brokers: list, clientId })),
    watermarks: options.watermarks,
  };
}

/** A partition this subtask reads: where it is (next offset to emit) and where it stops. */
interface Position {
  readonly topic: string;
  readonly partition: number;
  next: number;
  readonly end: number | undefined;
  done: boolean;
  /** Highest event time emitted from the partition. */
  maxTimestamp: number;
  /** When the partition last got or emitted a record (ms, the job's clock; -1: just now, not read yet). */
  lastRecordAt: number;
  /**
   * Records fetched and not yet emitted. A partition with some is never idle: its records only
   * wait behind another partition's, and moving the watermark past them would make them late.
   */
  buffered: number;
}

export class KafkaSourceReader<T> implements SourceReader<T> {
  readonly #options: ResolvedOptions<T>;
  readonly #context: SourceReaderContext;
  readonly #client: KafkaClient;
  readonly #positions = new Map<string, Position>();
  /** Fetched batches not yet emitted, in arrival order; `#cursor` indexes the first one's records. */
  #batches: FetchedBatch[] = [];
  #cursor = 0;
  #buffered = 0;
  /** Whether a fetch has returned (see `#onFetch`). */
  #fetched = false;
  #paused = false;
  #waiting = false;
  #watermark = Number.NEGATIVE_INFINITY;
  #idle = false;
  #idleCheck: NodeJS.Timeout | undefined;
  #fetcher: PartitionFetcher | undefined;
  #failure: Error | undefined;
  #deadLetters: KafkaProducer | undefined;
  /** Dead letters not yet acknowledged by the broker (they go into checkpoints until they are). */
  readonly #deadLettersInFlight = new Set<DeadLetter>();
  /** Records dropped by the `skip` policy. */
  skippedRecords = 0;
  /** Records sent to the dead-letter topic (acknowledged). */
  deadLettered = 0;

  constructor(options: ResolvedOptions<T>, context: SourceReaderContext) {
    this.#options = options;
    this.#context = context;
    this.#client = options.client({
      clientId: `sluice-${context.jobName}-${context.operatorId}-${context.subtaskIndex}`.replace(
        /[^A-Za-z0-9._-]/g,
        '_',
      ),
    });
  }

  async open(): Promise<void> {
    const restored = this.#context.restoredState as
      | ReadonlyArray<PartitionSplit | DeadLetterSplit>
      | undefined;
    const splits = restored === undefined ? await this.#initialSplits() : restored;
    if (typeof this.#options.onBadRecord === 'object') this.#deadLetters = await this.#client.producer();
    for (const split of splits) {
      if (split.kind === 'kafka-dead-letter') {
        this.#sendDeadLetter(split.record);
        continue;
      }
      const end = split.end ?? undefined;
      this.#positions.set(`${split.topic}:${split.partition}`, {
        topic: split.topic,
        partition: split.partition,
        next: split.offset,
        end,
        done: end !== undefined && split.offset >= end,
        maxTimestamp: Number.NEGATIVE_INFINITY,
        lastRecordAt: this.#context.currentProcessingTime(),
        buffered: 0,
      });
    }
    const toRead = [...this.#positions.values()].filter((p) => !p.done);
    if (toRead.length === 0) return;
    this.#fetcher = await this.#client.fetch({
      partitions: toRead.map((p) => ({ topic: p.topic, partition: p.partition, offset: p.next })),
      readCommitted: this.#options.readCommitted,
      onBatch: (batch) => this.#onBatch(batch),
      onError: (error) => this.#fail(error),
      onFetch: () => this.#onFetch(),
    });
  }

  /** This subtask's partitions and where to start, on a fresh start. */
  async #initialSplits(): Promise<PartitionSplit[]> {
    const { topics, topicPattern, startFrom, bounded, groupId } = this.#options;
    const { subtaskIndex, parallelism } = this.#context;
    const names = topics ?? (await this.#client.listTopics()).filter((t) => topicPattern!.test(t)).sort();
    const existing = new Set(topics === undefined ? names : await this.#client.listTopics());
    const splits: PartitionSplit[] = [];
    for (const topic of names) {
      if (!existing.has(topic)) {
        throw new ConfigError(
          `kafkaSource: topic '${topic}' does not exist on ${this.#options.brokers.join(',')}`,
        );
      }
      const partitions = (await this.#client.partitions(topic)).filter(
        (p) => partitionOwner(topic, p.partition, parallelism) === subtaskIndex,
      );
      if (partitions.length === 0) continue;
      let starts: Map<number, number>;
      if (startFrom === 'earliest') starts = new Map(partitions.map((p) => [p.partition, p.earliest]));
      else if (startFrom === 'latest') starts = new Map(partitions.map((p) => [p.partition, p.latest]));
      else if (startFrom === 'committed') {
        const committed = await this.#client.committedOffsets(groupId!, topic);
        const byPartition = new Map(committed.map((c) => [c.partition, c.offset]));
        starts = new Map(partitions.map((p) => [p.partition, byPartition.get(p.partition) ?? p.earliest]));
      } else {
        const found = await this.#client.offsetsForTimestamp(topic, startFrom.timestamp);
        starts = new Map(found.map((f) => [f.partition, f.offset]));
      }
      for (const p of partitions) {
        const offset = Math.max(starts.get(p.partition) ?? p.latest, p.earliest);
        splits.push({
          kind: 'kafka-partition',
          topic,
          partition: p.partition,
          offset,
          end: bounded ? p.latest : null,
        });
      }
    }
    return splits;
  }

  /**
   * Until the first fetch has returned, no partition is idle: the consumer may still be joining,
   * and records of a partition it has not fetched yet would be late behind one it has. Then the
   * idle clocks start, so a partition the fetch found empty goes idle after `idleTimeout`.
   */
  #onFetch(): void {
    if (this.#fetched) return;
    this.#fetched = true;
    for (const p of this.#positions.values()) p.lastRecordAt = -1;
    this.#wake();
  }

  #onBatch(batch: FetchedBatch): void {
    this.#batches.push(batch);
    this.#buffered += batch.records.length;
    const position = this.#positions.get(`${batch.topic}:${batch.partition}`);
    if (position !== undefined && batch.records.length > 0) {
      position.buffered += batch.records.length;
      position.lastRecordAt = -1;
    }
    if (!this.#paused && this.#buffered >= this.#options.maxBufferedRecords) {
      this.#paused = true;
      this.#fetcher?.pause(this.#readingPartitions());
    }
    this.#wake();
  }

  #readingPartitions(): Array<{ topic: string; partition: number }> {
    return [...this.#positions.values()].filter((p) => !p.done);
  }

  #fail(error: Error): void {
    this.#failure ??= error;
    this.#wake();
  }

  #wake(): void {
    if (!this.#waiting) return;
    this.#waiting = false;
    this.#context.notifyAvailable();
  }

  poll(output: SourceOutput<T>, maxRecords: number): PollStatus {
    if (this.#failure !== undefined) throw this.#failure;
    let emitted = 0;
    while (emitted < maxRecords && this.#batches.length > 0) {
      const batch = this.#batches[0]!;
      const position = this.#positions.get(`${batch.topic}:${batch.partition}`);
      const records = batch.records;
      while (emitted < maxRecords && this.#cursor < records.length) {
        const record = records[this.#cursor++]!;
        this.#buffered--;
        if (position !== undefined) position.buffered--;
        // Before the position: fetched before a seek took effect, or fetched twice.
        if (position === undefined || position.done || record.offset < position.next) continue;
        if (position.end !== undefined && record.offset >= position.end) {
          this.#finish(position);
          continue;
        }
        position.next = record.offset + 1;
        let value: T;
        try {
          value = this.#options.deserialize(record);
        } catch (error) {
          this.#badRecord(record, error);
          continue;
        }
        const timestamp = this.#timestampOf(value, record);
        if (timestamp > position.maxTimestamp) position.maxTimestamp = timestamp;
        // The idle clock starts when the partition has nothing left to emit, not when its last
        // batch arrived: records that waited in the buffer are not a sign of life to forget.
        position.lastRecordAt = -1;
        output.collect(value, timestamp);
        emitted++;
      }
      if (this.#cursor < records.length) break;
      // The whole batch is out: the position moves past its markers and aborted records too.
      this.#batches.shift();
      this.#cursor = 0;
      if (position !== undefined && !position.done) {
        position.next = Math.max(position.next, batch.nextOffset);
        if (position.end !== undefined && position.next >= position.end) this.#finish(position);
      }
    }
    if (this.#paused && this.#buffered <= this.#options.maxBufferedRecords / 2) {
      this.#paused = false;
      this.#fetcher?.resume(this.#readingPartitions());
    }
    if (this.#options.watermarks !== undefined) this.#emitWatermark(output);
    if (this.#batches.length > 0) return PollStatus.More;
    if (
      this.#options.bounded &&
      this.#readingPartitions().length === 0 &&
      this.#deadLettersInFlight.size === 0
    ) {
      return PollStatus.End;
    }
    this.#waiting = true;
    return PollStatus.Pending;
  }

  #timestampOf(value: T, record: RawKafkaRecord): number {
    const extract = this.#options.watermarks?.timestamp;
    if (extract === undefined) return record.timestamp;
    const timestamp = extract(value);
    if (typeof timestamp !== 'number' || !Number.isFinite(timestamp)) {
      throw new KafkaRecordError(
        record,
        new Error(`the watermarks.timestamp function returned ${String(timestamp)}`),
      );
    }
    return timestamp;
  }

  /** The minimum over partitions neither finished nor idle; idle when every such partition is. */
  #emitWatermark(output: SourceOutput<T>): void {
    const { maxOutOfOrderness = 0, idleTimeout } = this.#options.watermarks!;
    const now = this.#context.currentProcessingTime();
    let watermark = Number.POSITIVE_INFINITY;
    let active = 0;
    let unfinished = 0;
    for (const p of this.#positions.values()) {
      if (p.done) continue;
      unfinished++;
      if (p.lastRecordAt < 0) p.lastRecordAt = now;
      const idle =
        idleTimeout !== undefined && this.#fetched && p.buffered === 0 && now - p.lastRecordAt >= idleTimeout;
      if (idle) continue;
      active++;
      watermark = Math.min(watermark, p.maxTimestamp - maxOutOfOrderness - 1);
    }
    // Finished partitions hold nothing back; the end of a bounded read sends the final watermark.
    if (unfinished === 0) return;
    const idle = active === 0;
    if (idle !== this.#idle) {
      this.#idle = idle;
      output.markIdle(idle);
    }
    if (!idle && watermark > this.#watermark) {
      this.#watermark = watermark;
      output.emitWatermark(watermark);
    }
    // Polls stop while nothing arrives: wake up to notice partitions going idle.
    if (idleTimeout !== undefined && !idle && this.#idleCheck === undefined) {
      this.#idleCheck = setTimeout(() => {
        this.#idleCheck = undefined;
        this.#waiting = true;
        this.#wake();
      }, idleTimeout);
      this.#idleCheck.unref();
    }
  }

  #finish(position: Position): void {
    position.done = true;
    this.#fetcher?.pause([position]);
  }

  #badRecord(record: RawKafkaRecord, error: unknown): void {
    const policy = this.#options.onBadRecord;
    if (policy === 'fail') throw new KafkaRecordError(record, error);
    if (policy === 'skip') {
      this.skippedRecords++;
      return;
    }
    const message = error instanceof Error ? error.message : String(error);
    this.#sendDeadLetter({
      key: record.key,
      value: record.value,
      headers: {
        ...record.headers,
        [DEAD_LETTER_HEADERS.topic]: Buffer.from(record.topic),
        [DEAD_LETTER_HEADERS.partition]: Buffer.from(String(record.partition)),
        [DEAD_LETTER_HEADERS.offset]: Buffer.from(String(record.offset)),
        [DEAD_LETTER_HEADERS.timestamp]: Buffer.from(String(record.timestamp)),
        [DEAD_LETTER_HEADERS.error]: Buffer.from(message),
      },
    });
  }

  #sendDeadLetter(letter: DeadLetter): void {
    const policy = this.#options.onBadRecord as { deadLetterTopic: string };
    this.#deadLettersInFlight.add(letter);
    this.#deadLetters!.send([{ topic: policy.deadLetterTopic, ...letter }]).then(
      () => {
        this.#deadLettersInFlight.delete(letter);
        this.deadLettered++;
        this.#wake();
      },
      (error: unknown) =>
        this.#fail(
          new SluiceError(
            'SLUICE_KAFKA_DEAD_LETTER',
            `cannot write a bad record to the dead-letter topic '${policy.deadLetterTopic}': ${(error as Error).message}`,
            { cause: error },
          ),
        ),
    );
  }

  snapshotState(): readonly unknown[] {
    const splits: Array<PartitionSplit | DeadLetterSplit> = [];
    for (const p of this.#positions.values()) {
      splits.push({
        kind: 'kafka-partition',
        topic: p.topic,
        partition: p.partition,
        offset: p.next,
        end: p.end ?? null,
      });
    }
    for (const record of this.#deadLettersInFlight) splits.push({ kind: 'kafka-dead-letter', record });
    return splits;
  }

  async notifyCheckpointComplete(): Promise<void> {
    // Offsets of the completed checkpoint are committed for monitoring (lag), as Flink does; the
    // job never reads them back except with startFrom 'committed' on a fresh start.
    const { groupId } = this.#options;
    if (groupId === undefined || this.#positions.size === 0) return;
    await this.#client
      .commitOffsets(
        groupId,
        [...this.#positions.values()].map((p) => ({
          topic: p.topic,
          partition: p.partition,
          offset: p.next,
        })),
      )
      .catch(() => {});
  }

  async close(): Promise<void> {
    clearTimeout(this.#idleCheck);
    await this.#fetcher?.close().catch(() => {});
    this.#fetcher = undefined;
    const deadline = Date.now() + 10_000;
    while (this.#deadLettersInFlight.size > 0 && this.#failure === undefined && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    await this.#client.close();
    if (this.skippedRecords > 0) {
      this.#context.logger.warn(
        { skippedRecords: this.skippedRecords },
        `skipped ${this.skippedRecords} bad Kafka records`,
      );
    }
  }
}
