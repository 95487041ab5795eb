/**
 * A priority queue of timers: (timestamp, key, namespace) triples, deduplicated, with cheap
 * delete. It is the data structure under {@link InternalTimerService}, one instance per time
 * domain (event time, processing time).
 *
 * Design (compare Flink's `HeapPriorityQueueSet`):
 *
 * - Timers are grouped by timestamp into buckets, and the buckets sit in an array-based binary
 *   min-heap by timestamp. Window timers share timestamps: every key's window ends at the same
 *   time (tumbling, sliding), so a heap of buckets holds a few entries where a heap of timers
 *   would hold one per key and window, and adding or polling a timer of an existing bucket is
 *   O(1) instead of a sift through log(n) levels. Each bucket stores its own position in the
 *   heap (`heapIndex`), so dropping an emptied bucket is "swap with the last, then sift" —
 *   O(log buckets).
 * - Within a bucket, timers are `[key, namespace]` pairs in one array, in registration order:
 *   no object per timer. Deleting a timer unlinks it from the index at once (`size` is always
 *   exact) and leaves a hole, skipped when it reaches the front; a bucket whose holes outnumber
 *   its live timers is compacted, so they cannot pile up. An emptied bucket leaves the heap at
 *   once, which is what session windows need: they move their timer on every record, and each of
 *   those timers is usually the only one at its timestamp.
 * - Each bucket's dedup index `Map<key, position | Map<namespace, position>>` finds the timer of
 *   a triple without building a string per timer (no `${ts}|${key}|${ns}` concatenation on the
 *   hot path). Keys use `Map`'s SameValueZero equality: `1`, `1n`, `'1'` and `true` are four
 *   different keys; `1n` equals another `1n`. A key with one timer at the timestamp (the usual
 *   case) maps to its position, not to a one-entry Map; a bucket that has only ever had one
 *   timer has no index.
 * - Order is by timestamp, then by registration order (the position in the bucket). Flink leaves equal
 *   timestamps unordered; we make them first-registered-first-fired so that runs are
 *   deterministic and a snapshot restored in order fires in the same order.
 */

/** The types a key may have; mirrors the key type of keyed streams. */
export type TimerKey = string | number | bigint | boolean;

/** A bucket's index: the position of each key's timer, or of each of its namespaces' timers. */
type KeyIndex<K extends TimerKey> = Map<K, number | Map<string, number>>;

/**
 * The timers of one timestamp, in registration order, in one array of `[key, namespace]` pairs
 * (no object per timer: a window's timers live until its end, long enough to be promoted, and an
 * object each was most of what the timer service left to the old generation). A removed timer
 * leaves a hole (`undefined` namespace) until the bucket is compacted or dropped.
 */
class Bucket<K extends TimerKey> {
  /** Position in the heap of buckets. */
  heapIndex = 0;
  /** Timer `i`'s key at `2i`, its namespace at `2i + 1`. */
  readonly pairs: Array<K | string | undefined>;
  /** Number of the first live timer; those before it are spent. */
  head = 0;
  live = 1;
  /** Removed timers after `head`. */
  removed = 0;
  /** Undefined while the bucket has only ever had one timer (number 0). */
  index: KeyIndex<K> | undefined = undefined;

  readonly timestamp: number;

  constructor(timestamp: number, key: K, namespace: string) {
    this.timestamp = timestamp;
    this.pairs = [key, namespace];
  }

  get count(): number {
    return this.pairs.length >> 1;
  }

  keyAt(i: number): K {
    return this.pairs[2 * i] as K;
  }

  /** Undefined for a removed timer. */
  namespaceAt(i: number): string | undefined {
    return this.pairs[2 * i + 1] as string | undefined;
  }
}

/** A timer as plain data: `[timestamp, key, namespace]`. */
export type TimerTuple<K extends TimerKey = TimerKey> = [timestamp: number, key: K, namespace: string];

/** `Map`'s key equality (SameValueZero), for a bucket that holds one timer instead of an index. */
function sameKey(a: TimerKey | undefined, b: TimerKey): boolean {
  return a === b || (Number.isNaN(a) && Number.isNaN(b));
}

/** Removed timers a bucket may keep beyond its live count before it is compacted. */
const REMOVED_SLACK = 16;

export class TimerHeap<K extends TimerKey = TimerKey> {
  /** Buckets, a binary min-heap by timestamp (timestamps are distinct). */
  readonly #heap: Bucket<K>[] = [];
  readonly #buckets = new Map<number, Bucket<K>>();
  #size = 0;

  /** Number of distinct timers held. */
  get size(): number {
    return this.#size;
  }

  /** Timestamp of the next timer to fire (smallest timestamp), or undefined if there is none. */
  peekTimestamp(): number | undefined {
    return this.#heap[0]?.timestamp;
  }

  /** Key of the next timer to fire; only while {@link peekTimestamp} is defined. */
  peekKey(): K {
    const bucket = this.#heap[0]!;
    return bucket.keyAt(bucket.head);
  }

  /** Namespace of the next timer to fire; only while {@link peekTimestamp} is defined. */
  peekNamespace(): string {
    const bucket = this.#heap[0]!;
    return bucket.namespaceAt(bucket.head)!;
  }

  /**
   * Adds a timer. Returns false (and changes nothing, keeping the original registration order)
   * if the same triple is already present.
   */
  add(timestamp: number, key: K, namespace: string): boolean {
    // Normalise -0 so that a snapshot never carries a -0 that a later comparison treats as 0 anyway.
    const ts = timestamp === 0 ? 0 : timestamp;
    const bucket = this.#buckets.get(ts);
    if (bucket === undefined) {
      const created = new Bucket(ts, key, namespace);
      this.#buckets.set(ts, created);
      created.heapIndex = this.#heap.length;
      this.#heap.push(created);
      this.#siftUp(created.heapIndex);
      this.#size++;
      return true;
    }
    let index = bucket.index;
    if (index === undefined) {
      if (sameKey(bucket.keyAt(0), key) && bucket.namespaceAt(0) === namespace) return false;
      index = new Map();
      index.set(bucket.keyAt(0), 0);
      bucket.index = index;
    }
    const ofKey = index.get(key);
    const position = bucket.count;
    if (ofKey === undefined) {
      index.set(key, position);
    } else if (typeof ofKey === 'number') {
      const other = bucket.namespaceAt(ofKey)!;
      if (other === namespace) return false;
      index.set(key, new Map([[other, ofKey]]).set(namespace, position));
    } else {
      if (ofKey.has(namespace)) return false;
      ofKey.set(namespace, position);
    }
    bucket.pairs.push(key, namespace);
    bucket.live++;
    this.#size++;
    return true;
  }

  /** Position of the triple's timer in its bucket, or -1. */
  #find(bucket: Bucket<K>, key: K, namespace: string): number {
    const index = bucket.index;
    if (index === undefined) {
      return sameKey(bucket.keyAt(0), key) && bucket.namespaceAt(0) === namespace ? 0 : -1;
    }
    const ofKey = index.get(key);
    if (ofKey === undefined) return -1;
    if (typeof ofKey === 'number') return bucket.namespaceAt(ofKey) === namespace ? ofKey : -1;
    return ofKey.get(namespace) ?? -1;
  }

  /** True if the triple is registered. */
  has(timestamp: number, key: K, namespace: string): boolean {
    const bucket = this.#buckets.get(timestamp);
    return bucket !== undefined && this.#find(bucket, key, namespace) >= 0;
  }

  /** Removes a timer. Returns false if it was not present. O(1), or O(log buckets) for a bucket's last timer. */
  remove(timestamp: number, key: K, namespace: string): boolean {
    const bucket = this.#buckets.get(timestamp);
    if (bucket === undefined) return false;
    const position = this.#find(bucket, key, namespace);
    if (position < 0) return false;
    this.#removeAt(bucket, position);
    return true;
  }

  /** Removes the next timer to fire; only while {@link peekTimestamp} is defined. */
  dropNext(): void {
    const bucket = this.#heap[0]!;
    this.#removeAt(bucket, bucket.head);
  }

  /** Removes and returns the next timer to fire. */
  poll(): TimerTuple<K> | undefined {
    const timestamp = this.peekTimestamp();
    if (timestamp === undefined) return undefined;
    const timer: TimerTuple<K> = [timestamp, this.peekKey(), this.peekNamespace()];
    this.dropNext();
    return timer;
  }

  /** All timers in firing order, as plain tuples. O(n + b log b); meant for snapshots, not the hot path. */
  toSortedArray(filter?: (key: K) => boolean): TimerTuple<K>[] {
    const buckets = this.#heap.slice().sort((a, b) => a.timestamp - b.timestamp);
    const out: TimerTuple<K>[] = [];
    for (const bucket of buckets) {
      for (let i = bucket.head; i < bucket.count; i++) {
        const namespace = bucket.namespaceAt(i);
        if (namespace === undefined) continue;
        const key = bucket.keyAt(i);
        if (filter === undefined || filter(key)) out.push([bucket.timestamp, key, namespace]);
      }
    }
    return out;
  }

  #removeAt(bucket: Bucket<K>, position: number): void {
    this.#size--;
    if (--bucket.live === 0) {
      this.#buckets.delete(bucket.timestamp);
      this.#removeBucketAt(bucket.heapIndex);
      return;
    }
    const key = bucket.keyAt(position);
    const index = bucket.index!; // a bucket with another live timer has had two
    const ofKey = index.get(key)!;
    if (typeof ofKey === 'number') {
      index.delete(key);
    } else {
      ofKey.delete(bucket.namespaceAt(position)!);
      if (ofKey.size === 0) index.delete(key);
    }
    const pairs = bucket.pairs;
    pairs[2 * position] = undefined;
    pairs[2 * position + 1] = undefined;
    if (position === bucket.head) {
      // Keep `head` on a live timer: skip the removed ones behind it (counted in `removed`).
      let head = position + 1;
      while (pairs[2 * head + 1] === undefined) {
        head++;
        bucket.removed--;
      }
      bucket.head = head;
    } else if (++bucket.removed > bucket.live + REMOVED_SLACK) {
      this.#compact(bucket);
    }
  }

  /** Drops the spent and removed timers of a bucket and indexes the rest anew. */
  #compact(bucket: Bucket<K>): void {
    const pairs = bucket.pairs;
    const index: KeyIndex<K> = new Map();
    let to = 0;
    for (let from = bucket.head; from < bucket.count; from++) {
      const namespace = bucket.namespaceAt(from);
      if (namespace === undefined) continue;
      const key = bucket.keyAt(from);
      pairs[2 * to] = key;
      pairs[2 * to + 1] = namespace;
      const ofKey = index.get(key);
      if (ofKey === undefined) index.set(key, to);
      else if (typeof ofKey === 'number')
        index.set(key, new Map([[bucket.namespaceAt(ofKey)!, ofKey]]).set(namespace, to));
      else ofKey.set(namespace, to);
      to++;
    }
    pairs.length = 2 * to;
    bucket.index = index;
    bucket.head = 0;
    bucket.removed = 0;
  }

  #removeBucketAt(i: number): void {
    const heap = this.#heap;
    const last = heap.pop()!;
    if (i === heap.length) return; // removed the last slot
    heap[i] = last;
    last.heapIndex = i;
    // The moved bucket may belong above or below its new slot; at most one sift moves it.
    if (i > 0 && last.timestamp < heap[(i - 1) >> 1]!.timestamp) this.#siftUp(i);
    else this.#siftDown(i);
  }

  #siftUp(i: number): void {
    const heap = this.#heap;
    const bucket = heap[i]!;
    while (i > 0) {
      const parentIndex = (i - 1) >> 1;
      const parent = heap[parentIndex]!;
      if (!(bucket.timestamp < parent.timestamp)) break;
      heap[i] = parent;
      parent.heapIndex = i;
      i = parentIndex;
    }
    heap[i] = bucket;
    bucket.heapIndex = i;
  }

  #siftDown(i: number): void {
    const heap = this.#heap;
    const n = heap.length;
    const bucket = heap[i]!;
    for (;;) {
      const left = 2 * i + 1;
      if (left >= n) break;
      const right = left + 1;
      let child = left;
      let childBucket = heap[left]!;
      if (right < n) {
        const rightBucket = heap[right]!;
        if (rightBucket.timestamp < childBucket.timestamp) {
          child = right;
          childBucket = rightBucket;
        }
      }
      if (!(childBucket.timestamp < bucket.timestamp)) break;
      heap[i] = childBucket;
      childBucket.heapIndex = i;
      i = child;
    }
    heap[i] = bucket;
    bucket.heapIndex = i;
  }

  /** Test hook: checks the heap property, the buckets and their indexes; throws on the first violation. */
  assertInvariants(): void {
    const heap = this.#heap;
    if (this.#buckets.size !== heap.length) {
      throw new Error(`${this.#buckets.size} buckets by timestamp, ${heap.length} in the heap`);
    }
    let total = 0;
    for (let i = 0; i < heap.length; i++) {
      const b = heap[i]!;
      if (b.heapIndex !== i) throw new Error(`bucket at ${i} thinks it is at ${b.heapIndex}`);
      if (i > 0 && b.timestamp < heap[(i - 1) >> 1]!.timestamp) throw new Error(`heap order broken at ${i}`);
      if (this.#buckets.get(b.timestamp) !== b) throw new Error(`bucket ${b.timestamp} is not indexed`);
      if (b.namespaceAt(b.head) === undefined)
        throw new Error(`bucket ${b.timestamp} starts with a removed timer`);
      if (b.pairs.length % 2 !== 0) throw new Error(`bucket ${b.timestamp}: a key without its namespace`);
      let live = 0;
      let removed = 0;
      for (let p = b.head; p < b.count; p++) {
        const namespace = b.namespaceAt(p);
        if (namespace === undefined) {
          if (b.keyAt(p) !== undefined)
            throw new Error(`bucket ${b.timestamp} keeps the key of a removed timer`);
          removed++;
          continue;
        }
        live++;
        if (this.#find(b, b.keyAt(p), namespace) !== p)
          throw new Error(`timer ${b.timestamp} is not indexed`);
      }
      if (live !== b.live || removed !== b.removed) {
        throw new Error(
          `bucket ${b.timestamp}: ${live}/${removed} live/removed, counted ${b.live}/${b.removed}`,
        );
      }
      if (b.index !== undefined) {
        let indexed = 0;
        for (const ofKey of b.index.values()) indexed += typeof ofKey === 'number' ? 1 : ofKey.size;
        if (indexed !== live)
          throw new Error(`bucket ${b.timestamp} indexes ${indexed} timers, holds ${live}`);
      } else if (live !== 1 || b.count !== 1) {
        throw new Error(`bucket ${b.timestamp} without an index holds ${live} timers`);
      }
      total += live;
    }
    if (total !== this.#size) throw new Error(`${total} timers in buckets, size says ${this.#size}`);
  }
}
