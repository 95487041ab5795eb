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
 *   case) maps to its position, not to a one-entry Map.
 * - The index is built lazily, when a lookup needs it: a bucket of at most
 *   {@link LINEAR_FIND_MAX} timers is searched in place, and {@link TimerHeap.addNew} (for
 *   callers that know the triple is absent: the window operator registers a window's timer with
 *   its first record) appends without one. A window's timers are only ever added and fired, so
 *   their buckets never get an index: an index entry per key and window was ~50 bytes of old
 *   generation each (Nexmark q5: 1.5M timers and 73 MB per slot) and a `Map.set` and
 *   `Map.delete` per timer.
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
  /** The live timers at positions below {@link indexedTo}; undefined until a lookup needs it. */
  index: KeyIndex<K> | undefined = undefined;
  /** Timers from this position on are not in the index (added by `addNew`, or after it was built). */
  indexedTo = 0;

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

/** A bucket without an index and with at most this many timers (live or removed) is searched in place. */
const LINEAR_FIND_MAX = 8;

/** Records the timer at `position` in `index` (which must not hold the triple yet). */
function indexTimer<K extends TimerKey>(
  index: KeyIndex<K>,
  key: K,
  namespace: string,
  position: number,
  bucket: Bucket<K>,
): void {
  const ofKey = index.get(key);
  if (ofKey === undefined) index.set(key, position);
  else if (typeof ofKey === 'number')
    index.set(key, new Map([[bucket.namespaceAt(ofKey)!, ofKey]]).set(namespace, position));
  else ofKey.set(namespace, position);
}

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
      this.#newBucket(ts, key, namespace);
      return true;
    }
    if (this.#find(bucket, key, namespace) >= 0) return false;
    const position = bucket.count;
    bucket.pairs.push(key, namespace);
    bucket.live++;
    this.#size++;
    // An index that covered every timer keeps doing so (the next lookup need not catch up).
    if (bucket.index !== undefined && bucket.indexedTo === position) {
      indexTimer(bucket.index, key, namespace, position, bucket);
      bucket.indexedTo = position + 1;
    }
    return true;
  }

  /**
   * Adds a timer that the caller knows is absent, without looking for it and without an index
   * entry. Adding a triple that is present breaks the heap's promise of one timer per triple:
   * it would fire twice.
   */
  addNew(timestamp: number, key: K, namespace: string): void {
    const ts = timestamp === 0 ? 0 : timestamp;
    const bucket = this.#buckets.get(ts);
    if (bucket === undefined) {
      this.#newBucket(ts, key, namespace);
      return;
    }
    bucket.pairs.push(key, namespace);
    bucket.live++;
    this.#size++;
  }

  #newBucket(ts: number, key: K, namespace: string): void {
    const created = new Bucket(ts, key, namespace);
    this.#buckets.set(ts, created);
    created.heapIndex = this.#heap.length;
    this.#heap.push(created);
    this.#siftUp(created.heapIndex);
    this.#size++;
  }

  /** Position of the triple's timer in its bucket, or -1. */
  #find(bucket: Bucket<K>, key: K, namespace: string): number {
    const count = bucket.count;
    if (bucket.index === undefined && count - bucket.head <= LINEAR_FIND_MAX) {
      for (let p = bucket.head; p < count; p++) {
        if (bucket.namespaceAt(p) === namespace && sameKey(bucket.keyAt(p), key)) return p;
      }
      return -1;
    }
    const index = this.#fullIndex(bucket);
    const ofKey = index.get(key);
    if (ofKey === undefined) return -1;
    if (typeof ofKey === 'number') return bucket.namespaceAt(ofKey) === namespace ? ofKey : -1;
    return ofKey.get(namespace) ?? -1;
  }

  /** The bucket's index, brought up to date with the timers added without it. */
  #fullIndex(bucket: Bucket<K>): KeyIndex<K> {
    let index = bucket.index;
    if (index === undefined) {
      index = new Map();
      bucket.index = index;
    }
    const count = bucket.count;
    for (let p = Math.max(bucket.indexedTo, bucket.head); p < count; p++) {
      const namespace = bucket.namespaceAt(p);
      if (namespace !== undefined) indexTimer(index, bucket.keyAt(p), namespace, p, bucket);
    }
    bucket.indexedTo = count;
    return index;
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
    const index = bucket.index;
    if (index !== undefined && position < bucket.indexedTo) {
      const key = bucket.keyAt(position);
      const ofKey = index.get(key)!;
      if (typeof ofKey === 'number') {
        index.delete(key);
      } else {
        ofKey.delete(bucket.namespaceAt(position)!);
        if (ofKey.size === 0) index.delete(key);
      }
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

  /** Drops the spent and removed timers of a bucket; its index is built again when a lookup needs it. */
  #compact(bucket: Bucket<K>): void {
    const pairs = bucket.pairs;
    let to = 0;
    for (let from = bucket.head; from < bucket.count; from++) {
      const namespace = bucket.namespaceAt(from);
      if (namespace === undefined) continue;
      pairs[2 * to] = bucket.keyAt(from);
      pairs[2 * to + 1] = namespace;
      to++;
    }
    pairs.length = 2 * to;
    bucket.index = undefined;
    bucket.indexedTo = 0;
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
      let indexedLive = 0;
      const seen = new Map<K, Set<string>>();
      for (let p = b.head; p < b.count; p++) {
        const namespace = b.namespaceAt(p);
        if (namespace === undefined) {
          if (b.keyAt(p) !== undefined)
            throw new Error(`bucket ${b.timestamp} keeps the key of a removed timer`);
          removed++;
          continue;
        }
        live++;
        const key = b.keyAt(p);
        const namespaces = seen.get(key) ?? new Set<string>();
        if (namespaces.has(namespace)) throw new Error(`bucket ${b.timestamp} holds a timer twice`);
        seen.set(key, namespaces.add(namespace));
        if (b.index !== undefined && p < b.indexedTo) {
          indexedLive++;
          const ofKey = b.index.get(key);
          const at =
            typeof ofKey === 'number'
              ? b.namespaceAt(ofKey) === namespace
                ? ofKey
                : -1
              : ofKey?.get(namespace);
          if (at !== p) throw new Error(`timer ${b.timestamp} is not indexed`);
        }
      }
      if (live !== b.live || removed !== b.removed) {
        throw new Error(
          `bucket ${b.timestamp}: ${live}/${removed} live/removed, counted ${b.live}/${b.removed}`,
        );
      }
      if (b.index !== undefined) {
        let indexed = 0;
        for (const ofKey of b.index.values()) indexed += typeof ofKey === 'number' ? 1 : ofKey.size;
        if (indexed !== indexedLive)
          throw new Error(
            `bucket ${b.timestamp} indexes ${indexed} timers, holds ${indexedLive} below ${b.indexedTo}`,
          );
      } else if (b.indexedTo !== 0) {
        throw new Error(`bucket ${b.timestamp} without an index says it covers ${b.indexedTo} timers`);
      }
      total += live;
    }
    if (total !== this.#size) throw new Error(`${total} timers in buckets, size says ${this.#size}`);
  }
}
