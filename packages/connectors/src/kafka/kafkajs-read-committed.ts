/**
 * A correct `read_committed` filter for kafkajs 2.2.4.
 *
 * A broker does not remove aborted records from a fetch: it returns them with the list of
 * aborted transactions (producer id, first offset) that overlap the fetched range, and the
 * client hides them. kafkajs' `filterAbortedMessages` gets this wrong in two ways:
 *
 * - it starts at most one aborted transaction per record it looks at, so when a fetch begins
 *   inside two or more aborted transactions (common with several transactional producers on a
 *   partition), records of the others are delivered: **aborted data shows up as duplicates**;
 * - a transaction started late can be started after its abort marker has gone by; it then stays
 *   "aborted" for the rest of the fetch and hides that producer's next, committed transaction
 *   (a transactional id keeps its producer id across epochs): **committed data goes missing**.
 *
 * Here it is done as Kafka's Java consumer does it: every aborted transaction whose first offset
 * is at or before a record marks its producer aborted, and that producer's abort marker clears
 * it. Aborted records are not removed from the fetch (kafkajs computes the next fetch offset
 * from the records it got): they are flagged as control records, which kafkajs already skips.
 * The wrapper installs itself on kafkajs' `Broker.prototype.fetch`, once per thread, and then
 * hands kafkajs an empty aborted list so its own filter does nothing.
 */
import { createRequire } from 'node:module';

/** A record of a fetch response as kafkajs decodes it (the fields used here). */
export interface FetchedRecord {
  readonly offset: string;
  readonly key: Buffer | null;
  isControlRecord: boolean;
  readonly batchContext: { readonly producerId: string; readonly inTransaction: boolean };
}

/** An aborted transaction as a fetch response lists it. */
export interface AbortedTransaction {
  readonly producerId: string;
  readonly firstOffset: string;
}

/** The key of an abort marker: control record version 0, type 0 (ABORT). */
const ABORT_MARKER_KEY = Buffer.from([0, 0, 0, 0]);

function isAbortMarker(record: FetchedRecord): boolean {
  return record.isControlRecord && record.key !== null && ABORT_MARKER_KEY.equals(record.key);
}

/**
 * Flags the records of aborted transactions as control records (so kafkajs skips them); returns
 * how many it flagged. `records` are in offset order, as a fetch returns them.
 */
export function hideAbortedRecords(
  records: readonly FetchedRecord[],
  abortedTransactions: readonly AbortedTransaction[],
): number {
  if (abortedTransactions.length === 0) return 0;
  const pending = [...abortedTransactions].sort((a, b) => compareOffsets(a.firstOffset, b.firstOffset));
  const aborted = new Set<string>();
  let next = 0;
  let hidden = 0;
  for (const record of records) {
    while (next < pending.length && compareOffsets(pending[next]!.firstOffset, record.offset) <= 0) {
      aborted.add(pending[next]!.producerId);
      next++;
    }
    const { producerId, inTransaction } = record.batchContext;
    if (isAbortMarker(record)) aborted.delete(producerId);
    else if (!record.isControlRecord && inTransaction && aborted.has(producerId)) {
      record.isControlRecord = true;
      hidden++;
    }
  }
  return hidden;
}

/** Offsets come as decimal strings (64-bit); compare without losing precision. */
function compareOffsets(a: string, b: string): number {
  return a.length !== b.length ? a.length - b.length : a < b ? -1 : a > b ? 1 : 0;
}

interface FetchResponse {
  readonly responses?: ReadonlyArray<{
    readonly partitions?: ReadonlyArray<{
      abortedTransactions?: AbortedTransaction[] | null;
      readonly messages?: FetchedRecord[];
    }>;
  }>;
}

let installed = false;

/** Puts the filter in front of kafkajs' own for every fetch in this thread. Idempotent. */
export function installReadCommittedFilter(): void {
  if (installed) return;
  installed = true;
  const require = createRequire(import.meta.url);
  const Broker = require('kafkajs/src/broker/index.js') as {
    prototype: { fetch(this: unknown, ...args: unknown[]): Promise<FetchResponse> };
  };
  const fetch = Broker.prototype.fetch;
  Broker.prototype.fetch = async function (this: unknown, ...args: unknown[]) {
    const response = await fetch.apply(this, args);
    for (const topic of response.responses ?? []) {
      for (const partition of topic.partitions ?? []) {
        const aborted = partition.abortedTransactions;
        if (aborted === undefined || aborted === null || aborted.length === 0) continue;
        hideAbortedRecords(partition.messages ?? [], aborted);
        partition.abortedTransactions = [];
      }
    }
    return response;
  };
}
