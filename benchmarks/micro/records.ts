/**
 * The records the micro-benchmarks move, encode and decode: deterministic (the same on every run
 * and in every thread that builds them), in two sizes.
 *
 * - small: `{ id, key, value }`, about 25 bytes each in core's batch encoding;
 * - large: `{ id, key, timestamp, tags, text }`, about 1 KiB each (`text` is 960 characters).
 */

export type RecordSize = 'small' | 'large';

export interface SmallRecord {
  readonly id: number;
  readonly key: string;
  readonly value: number;
}

export interface LargeRecord {
  readonly id: number;
  readonly key: string;
  readonly timestamp: number;
  readonly tags: readonly string[];
  readonly text: string;
}

export type BenchRecord = SmallRecord | LargeRecord;

/** Characters of `text` in a large record. */
export const LARGE_TEXT_CHARS = 960;

const WORDS = ['stream', 'sluice', 'window', 'barrier', 'keyed', 'state', 'watermark', 'batch', 'ring'];
const TAGS = ['web', 'mobile', 'eu', 'us', 'beta'];

/** A text of pseudo-random words, 4x longer than any record needs; records take slices of it. */
const CORPUS = (() => {
  const words: string[] = [];
  let x = 0x2545f491;
  let chars = 0;
  while (chars < 4 * LARGE_TEXT_CHARS) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    const word = WORDS[(x >>> 0) % WORDS.length]!;
    words.push(word);
    chars += word.length + 1;
  }
  return words.join(' ');
})();

/** Record `id` of the given size. */
export function makeRecord(size: RecordSize, id: number): BenchRecord {
  const key = `user-${id % 10_000}`;
  if (size === 'small') return { id, key, value: ((id * 7919) % 1000) / 8 };
  const start = (id * 37) % (CORPUS.length - LARGE_TEXT_CHARS);
  return {
    id,
    key,
    timestamp: 1_767_225_600_000 + id,
    tags: [TAGS[id % TAGS.length]!, TAGS[(id >>> 3) % TAGS.length]!],
    // Flattened copy (not a V8 sliced string pointing into the corpus), like a string read from input.
    text: `${CORPUS.slice(start, start + LARGE_TEXT_CHARS)}`.split('').join(''),
  };
}

/** Records `0 .. count - 1`. */
export function makeRecords(size: RecordSize, count: number): BenchRecord[] {
  return Array.from({ length: count }, (_, id) => makeRecord(size, id));
}

/** Cuts `records` into batches of `batchSize` (the last may be shorter). */
export function toBatches<T>(records: readonly T[], batchSize: number): T[][] {
  const batches: T[][] = [];
  for (let i = 0; i < records.length; i += batchSize) batches.push(records.slice(i, i + batchSize));
  return batches;
}

/**
 * A checksum that reads every field a consumer would use, so a benchmark's consumer cannot
 * skip decoding a record, and a test can tell that every record arrived intact.
 */
export function checksumRecord(record: BenchRecord): number {
  let sum = record.id + record.key.length;
  if ('text' in record) sum += record.text.length + record.tags.length + (record.timestamp % 1000);
  else sum += record.value;
  return sum;
}

/** {@link checksumRecord} summed over a batch. */
export function checksumBatch(records: readonly unknown[]): number {
  let sum = 0;
  for (let i = 0; i < records.length; i++) sum += checksumRecord(records[i] as BenchRecord);
  return sum;
}
