import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { type AbortedTransaction, type FetchedRecord, hideAbortedRecords } from './kafkajs-read-committed.ts';

/** One entry of a partition's log: a data record or a transaction marker. */
type Entry =
  | { readonly kind: 'data'; readonly producerId: string; readonly txn: number | undefined }
  | { readonly kind: 'marker'; readonly producerId: string; readonly commit: boolean };

interface Log {
  readonly entries: readonly Entry[];
  /** Per transaction (by number): committed or not, its first offset and its marker's offset. */
  readonly transactions: ReadonlyMap<
    number,
    { producerId: string; commit: boolean; first: number; marker: number }
  >;
}

/**
 * A partition written by a few producers, each running transactions one after another (the
 * producer id stays the same across them, as a transactional id's does across epochs), plus
 * non-transactional records; steps are interleaved as `schedule` says.
 */
function buildLog(
  schedule: ReadonlyArray<{ producer: number; action: 'write' | 'commit' | 'abort' | 'plain' }>,
): Log {
  const entries: Entry[] = [];
  const transactions = new Map<
    number,
    { producerId: string; commit: boolean; first: number; marker: number }
  >();
  const open = new Map<number, number>();
  let nextTxn = 0;
  for (const { producer, action } of schedule) {
    const producerId = String(1000 + producer);
    const txn = open.get(producer);
    if (action === 'plain')
      entries.push({ kind: 'data', producerId: String(9000 + producer), txn: undefined });
    else if (action === 'write') {
      let id = txn;
      if (id === undefined) {
        id = nextTxn++;
        open.set(producer, id);
        transactions.set(id, { producerId, commit: false, first: entries.length, marker: -1 });
      }
      entries.push({ kind: 'data', producerId, txn: id });
    } else if (txn !== undefined) {
      const t = transactions.get(txn)!;
      t.commit = action === 'commit';
      t.marker = entries.length;
      entries.push({ kind: 'marker', producerId, commit: t.commit });
      open.delete(producer);
    }
  }
  // A read_committed fetch only goes up to the last stable offset: finish what is still open.
  for (const [producer, txn] of open) {
    const t = transactions.get(txn)!;
    t.marker = entries.length;
    entries.push({ kind: 'marker', producerId: String(1000 + producer), commit: false });
  }
  return { entries, transactions };
}

/** What a fetch from `start` returns, as kafkajs decodes it, and the broker's aborted list for it. */
function fetchFrom(log: Log, start: number): { records: FetchedRecord[]; aborted: AbortedTransaction[] } {
  const records = log.entries.slice(start).map(
    (entry, i): FetchedRecord => ({
      offset: String(start + i),
      key:
        entry.kind === 'marker' ? Buffer.from([0, 0, 0, entry.commit ? 1 : 0]) : Buffer.from(`k${start + i}`),
      isControlRecord: entry.kind === 'marker',
      batchContext: {
        producerId: entry.producerId,
        inTransaction: entry.kind === 'marker' || entry.txn !== undefined,
      },
    }),
  );
  // As the broker does: every aborted transaction that overlaps the fetched range.
  const aborted = [...log.transactions.values()]
    .filter((t) => !t.commit && t.marker >= start)
    .map((t) => ({ producerId: t.producerId, firstOffset: String(t.first) }));
  return { records, aborted };
}

/** The plain answer: the offsets of data records that are not in an aborted transaction. */
function visibleOffsets(log: Log, start: number): number[] {
  const out: number[] = [];
  for (let offset = start; offset < log.entries.length; offset++) {
    const entry = log.entries[offset]!;
    if (entry.kind !== 'data') continue;
    if (entry.txn === undefined || log.transactions.get(entry.txn)!.commit) out.push(offset);
  }
  return out;
}

const schedule = fc.array(
  fc.record({
    producer: fc.integer({ min: 0, max: 3 }),
    action: fc.constantFrom('write', 'write', 'write', 'commit', 'abort', 'plain') as fc.Arbitrary<
      'write' | 'commit' | 'abort' | 'plain'
    >,
  }),
  { maxLength: 80 },
);

describe('hideAbortedRecords', () => {
  it('leaves exactly the committed and non-transactional records, for any interleaving and fetch start', () => {
    fc.assert(
      fc.property(schedule, fc.nat(), (steps, startSeed) => {
        const log = buildLog(steps);
        const start = log.entries.length === 0 ? 0 : startSeed % log.entries.length;
        const { records, aborted } = fetchFrom(log, start);
        hideAbortedRecords(records, aborted);
        const delivered = records.filter((r) => !r.isControlRecord).map((r) => Number(r.offset));
        expect(delivered).toEqual(visibleOffsets(log, start));
      }),
      { numRuns: 2000 },
    );
  });

  it('hides a fetch that starts inside two aborted transactions, and keeps a committed one of the same producer after an abort', () => {
    // offsets: 0 A1, 1 B1, 2 A1, 3 B1, 4 abort A, 5 abort B, 6 A2 (same producer id), 7 commit A
    const log = buildLog([
      { producer: 0, action: 'write' },
      { producer: 1, action: 'write' },
      { producer: 0, action: 'write' },
      { producer: 1, action: 'write' },
      { producer: 0, action: 'abort' },
      { producer: 1, action: 'abort' },
      { producer: 0, action: 'write' },
      { producer: 0, action: 'commit' },
    ]);
    const { records, aborted } = fetchFrom(log, 2);
    expect(hideAbortedRecords(records, aborted)).toBe(2);
    expect(records.filter((r) => !r.isControlRecord).map((r) => r.offset)).toEqual(['6']);
  });
});
