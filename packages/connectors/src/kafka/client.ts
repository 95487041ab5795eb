/**
 * The narrow slice of a Kafka client the Kafka connectors use. kafkajs implements it
 * (`kafkajs-client.ts`); kafkajs is in maintenance mode, so nothing else in the connectors
 * imports it, and another client can take its place by implementing this interface.
 *
 * Offsets are numbers: Kafka's are int64, but a partition would need 2^53 records to overflow.
 */

/** A partition and a position in it: the offset of the next record to read. */
export interface PartitionOffset {
  readonly topic: string;
  readonly partition: number;
  readonly offset: number;
}

/** A record as read from Kafka, before deserialization. */
export interface RawKafkaRecord {
  readonly topic: string;
  readonly partition: number;
  readonly offset: number;
  /** Milliseconds (CreateTime or LogAppendTime, as the topic is configured). */
  readonly timestamp: number;
  readonly key: Buffer | null;
  readonly value: Buffer | null;
  readonly headers: Readonly<Record<string, Buffer>>;
}

/** A record to write. Without `partition`, Kafka's default partitioner picks one from the key. */
export interface OutgoingKafkaRecord {
  readonly topic: string;
  readonly key?: Buffer | string | null;
  readonly value: Buffer | string | null;
  readonly partition?: number;
  readonly headers?: Readonly<Record<string, Buffer | string>>;
  readonly timestamp?: number;
}

export interface PartitionInfo {
  readonly partition: number;
  /** Offset of the first record still in the log. */
  readonly earliest: number;
  /** Offset the next record will get (the high watermark). */
  readonly latest: number;
}

/** Reads assigned partitions; records are handed over in batches, never one callback per record. */
/** Records fetched from one partition, and the offset after the last record of the batch. */
export interface FetchedBatch {
  readonly topic: string;
  readonly partition: number;
  readonly records: RawKafkaRecord[];
  /** Past every record of the batch, control and aborted records included. */
  readonly nextOffset: number;
}

export interface PartitionFetcher {
  /** Stops fetching these partitions until `resume` (records already fetched may still arrive). */
  pause(partitions: ReadonlyArray<{ topic: string; partition: number }>): void;
  resume(partitions: ReadonlyArray<{ topic: string; partition: number }>): void;
  close(): Promise<void>;
}

export interface FetchOptions {
  /** Exactly these partitions, from these offsets; no consumer-group rebalance decides. */
  readonly partitions: readonly PartitionOffset[];
  /** `read_committed`: records of aborted or open transactions are not delivered. */
  readonly readCommitted: boolean;
  /** A batch of one partition; also for batches with no data records (only transaction markers or aborted records) so positions move past them. */
  readonly onBatch: (batch: FetchedBatch) => void;
  /** The fetcher failed for good (after the client's own retries). */
  readonly onError: (error: Error) => void;
  /** A fetch from the broker returned, with records or without (how empty partitions are known). */
  readonly onFetch?: () => void;
}

/** What is needed to finish a transaction from another producer instance, even another process. */
export interface TransactionHandle {
  readonly transactionalId: string;
  readonly producerId: number;
  readonly producerEpoch: number;
}

export interface KafkaProducer {
  /** Resolves when every record is acknowledged by the broker (acks=all). */
  send(records: readonly OutgoingKafkaRecord[]): Promise<void>;
  close(): Promise<void>;
}

/** A producer with one open transaction, begun on creation. */
export interface TransactionalProducer extends KafkaProducer {
  readonly transaction: TransactionHandle;
  commit(): Promise<void>;
  abort(): Promise<void>;
}

export interface KafkaClient {
  listTopics(): Promise<string[]>;
  partitions(topic: string): Promise<PartitionInfo[]>;
  /** Per partition, the first offset with a timestamp at or after `timestamp` (or the end). */
  offsetsForTimestamp(
    topic: string,
    timestamp: number,
  ): Promise<Array<{ partition: number; offset: number }>>;
  /** Offsets a consumer group committed; `undefined` where it committed none. */
  committedOffsets(
    groupId: string,
    topic: string,
  ): Promise<Array<{ partition: number; offset: number | undefined }>>;
  /** Commits offsets for a group that has no active members (Sluice's groups are for monitoring). */
  commitOffsets(groupId: string, offsets: readonly PartitionOffset[]): Promise<void>;
  fetch(options: FetchOptions): Promise<PartitionFetcher>;
  producer(): Promise<KafkaProducer>;
  /** Initializes `transactionalId` (fencing older producers with it) and begins a transaction. */
  transactionalProducer(
    transactionalId: string,
    transactionTimeoutMs: number,
  ): Promise<TransactionalProducer>;
  /**
   * Commits a transaction begun by another producer instance, perhaps in a process that crashed
   * after the transaction was prepared: Flink's `resumeTransaction`. Succeeds again for one
   * already committed.
   */
  commitTransaction(transaction: TransactionHandle): Promise<void>;
  /**
   * Fences `transactionalId`: an open transaction under it is aborted. Says whether the id had
   * ever been used (its producer epoch was above zero), which ends a scan for lingering ones.
   */
  abortTransaction(transactionalId: string): Promise<{ used: boolean }>;
  close(): Promise<void>;
}

/** How connectors get a client: one per subtask, created in the subtask's thread. */
export type KafkaClientFactory = (options: { readonly clientId: string }) => KafkaClient;
