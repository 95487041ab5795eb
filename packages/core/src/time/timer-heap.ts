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
 * - Within a bucket, timers are a list in registration order. Deleting a timer unlinks it from
 *   the index at once (`size` is always exact) and leaves it in the list, skipped when it
 *   reaches the front; a bucket whose removed timers outnumber its live ones is compacted, so
 *   they cannot pile up. An emptied bucket leaves the heap at once, which is what session
 *   windows need: they move their timer on every record, and each of those timers is usually
 *   the only one at its timestamp.
 * - Each bucket's dedup index `Map<key, Map<namespace, entry>>` finds the entry of a triple
 *   without building a string per timer (no `${ts}|${key}|${ns}` concatenation on the hot path).
 *   Keys use `Map`'s SameValueZero equality: `1`, `1n`, `'1'` and `true` are four different keys;
 *   `1n` equals another `1n`. A key with one timer at the timestamp (the usual case) maps to the
 *   entry itself, not to a one-entry Map; a bucket that has only ever had one timer has no index.
 * - Order is by timestamp, then by registration order (a sequence number). Flink leaves equal
 *   timestamps unordered; we make them first-registered-first-fired so that runs are
 *   deterministic and a snapshot restored in order fires in the same order.
 */

/** The types a key may have; mirrors the key type of keyed streams. */
export type TimerKey = string | number | bigint | boolean;

/** One timer in the heap. Fields are readonly to callers; the heap owns `seq` and `heapIndex`. */
export interface TimerEntry<K extends TimerKey = TimerKey> {
  readonly timestamp: number;
  readonly key: K;
  readonly namespace: string;
  /** Registration order, the tie-breaker between equal timestamps. */
  readonly seq: number;
  /** 0 while the timer is queued; -1 once removed. */
  readonly heapIndex: number;
}

/** Internal mutable view of an entry. */
interface MutableEntry<K extends TimerKey> {
  timestamp: number;
  key: K;
  namespace: string;
  seq: number;
  heapIndex: number;
  /** The next timer of the same timestamp, in registration order (possibly removed). */
  next: MutableEntry<K> | undefined;
}

type KeyIndex<K extends TimerKey> = Map<K, MutableEntry<K> | Map<string, MutableEntry<K>>>;

/** The timers of one timestamp, in registration order. */
class Bucket<K extends TimerKey> {
  /** Position in the heap of buckets. */
  heapIndex = 0;
  /** The first live timer; removed timers before it have been dropped. */
  head: MutableEntry<K>;
  tail: MutableEntry<K>;
  live = 1;
  /** Removed timers still in the list after `head`. */
  removed = 0;
  /** Undefined while the bucket has only ever had one timer (`head`). */
  index: KeyIndex<K> | undefined = undefined;

  readonly timestamp: number;

  constructor(timestamp: number, first: MutableEntry<K>) {
    this.timestamp = timestamp;
    this.head = first;
    this.tail = first;
  }
}

/** A timer as plain data: `[timestamp, key, namespace]`. */
export type TimerTuple<K extends TimerKey = TimerKey> = [timestamp: number, key: K, namespace: string];

/** `Map`'s key equality (SameValueZero), for a bucket or key that holds one entry instead of a Map. */
function sameKey(a: TimerKey, b: TimerKey): boolean {
  return a === b || (Number.isNaN(a) && Number.isNaN(b));
}

/** Removed timers a bucket may keep in its list beyond its live count before it is compacted. */
const REMOVED_SLACK = 16;

export class TimerHeap<K extends TimerKey = TimerKey> {
  /** Buckets, a binary min-heap by timestamp (timestamps are distinct). */
  readonly #heap: Bucket<K>[] = [];
  readonly #buckets = new Map<number, Bucket<K>>();
  #size = 0;
  #nextSeq = 0;

  /** Number of distinct timers held. */
  get size(): number {
    return this.#size;
  }

  /** The next timer to fire (smallest timestamp, earliest registered), without removing it. */
  peek(): TimerEntry<K> | undefined {
    return this.#heap[0]?.head;
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
      const created = new Bucket(ts, this.#entry(ts, key, namespace));
      this.#buckets.set(ts, created);
      created.heapIndex = this.#heap.length;
      this.#heap.push(created);
      this.#siftUp(created.heapIndex);
      this.#size++;
      return true;
    }
    let index = bucket.index;
    if (index === undefined) {
      const only = bucket.head;
      if (sameKey(only.key, key) && only.namespace === namespace) return false;
      index = new Map();
      index.set(only.key, only);
      bucket.index = index;
    }
    const ofKey = index.get(key);
    let entry: MutableEntry<K>;
    if (ofKey === undefined) {
      entry = this.#entry(ts, key, namespace);
      index.set(key, entry);
    } else if (ofKey instanceof Map) {
      if (ofKey.has(namespace)) return false;
      entry = this.#entry(ts, key, namespace);
      ofKey.set(namespace, entry);
    } else {
      if (ofKey.namespace === namespace) return false;
      entry = this.#entry(ts, key, namespace);
      index.set(key, new Map([[ofKey.namespace, ofKey]]).set(namespace, entry));
    }
    bucket.tail.next = entry;
    bucket.tail = entry;
    bucket.live++;
    this.#size++;
    return true;
  }

  #entry(timestamp: number, key: K, namespace: string): MutableEntry<K> {
    return { timestamp, key, namespace, seq: this.#nextSeq++, heapIndex: 0, next: undefined };
  }

  #find(bucket: Bucket<K>, key: K, namespace: string): MutableEntry<K> | undefined {
    const index = bucket.index;
    if (index === undefined) {
      const only = bucket.head;
      return sameKey(only.key, key) && only.namespace === namespace ? only : undefined;
    }
    const ofKey = index.get(key);
    if (ofKey === undefined) return undefined;
    if (ofKey instanceof Map) return ofKey.get(namespace);
    return ofKey.namespace === namespace ? ofKey : undefined;
  }

  /** True if the triple is registered. */
  has(timestamp: number, key: K, namespace: string): boolean {
    const bucket = this.#buckets.get(timestamp);
    return bucket !== undefined && this.#find(bucket, key, namespace) !== undefined;
  }

  /** Removes a timer. Returns false if it was not present. O(1), or O(log buckets) for a bucket's last timer. */
  remove(timestamp: number, key: K, namespace: string): boolean {
    const bucket = this.#buckets.get(timestamp);
    if (bucket === undefined) return false;
    const entry = this.#find(bucket, key, namespace);
    if (entry === undefined) return false;
    this.#removeEntry(bucket, entry);
    return true;
  }

  /** Removes and returns the next timer to fire. */
  poll(): TimerEntry<K> | undefined {
    const bucket = this.#heap[0];
    if (bucket === undefined) return undefined;
    const top = bucket.head;
    this.#removeEntry(bucket, top);
    return top;
  }

  /** All timers in firing order, as plain tuples. O(n + b log b); meant for snapshots, not the hot path. */
  toSortedArray(filter?: (key: K) => boolean): TimerTuple<K>[] {
    const buckets = this.#heap.slice().sort((a, b) => a.timestamp - b.timestamp);
    const out: TimerTuple<K>[] = [];
    for (const bucket of buckets) {
      for (let e: MutableEntry<K> | undefined = bucket.head; e !== undefined; e = e.next) {
        if (e.heapIndex >= 0 && (filter === undefined || filter(e.key)))
          out.push([e.timestamp, e.key, e.namespace]);
      }
    }
    return out;
  }

  #removeEntry(bucket: Bucket<K>, entry: MutableEntry<K>): void {
    entry.heapIndex = -1;
    this.#size--;
    if (--bucket.live === 0) {
      this.#buckets.delete(bucket.timestamp);
      this.#removeBucketAt(bucket.heapIndex);
      return;
    }
    const index = bucket.index!; // a bucket with another live timer has had two
    const ofKey = index.get(entry.key)!;
    if (ofKey instanceof Map) {
      ofKey.delete(entry.namespace);
      if (ofKey.size === 0) index.delete(entry.key);
    } else {
      index.delete(entry.key);
    }
    if (entry === bucket.head) {
      // Keep `head` live: skip removed timers behind it (they were counted in `removed`).
      let head = entry.next!;
      while (head.heapIndex < 0) {
        head = head.next!;
        bucket.removed--;
      }
      bucket.head = head;
    } else if (++bucket.removed > bucket.live + REMOVED_SLACK) {
      this.#compact(bucket);
    }
  }

  /** Unlinks the removed timers of a bucket (its head is live). */
  #compact(bucket: Bucket<K>): void {
    let last = bucket.head;
    for (let e = last.next; e !== undefined; e = e.next) {
      if (e.heapIndex < 0) continue;
      last.next = e;
      last = e;
    }
    last.next = undefined;
    bucket.tail = last;
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
      if (b.head.heapIndex < 0) throw new Error(`bucket ${b.timestamp} starts with a removed timer`);
      let live = 0;
      let removed = 0;
      let seq = -1;
      let last: MutableEntry<K> | undefined;
      for (let e: MutableEntry<K> | undefined = b.head; e !== undefined; e = e.next) {
        last = e;
        if (e.timestamp !== b.timestamp) throw new Error(`timer ${e.timestamp} in bucket ${b.timestamp}`);
        if (e.seq <= seq) throw new Error(`bucket ${b.timestamp} out of registration order`);
        seq = e.seq;
        if (e.heapIndex < 0) {
          removed++;
          continue;
        }
        live++;
        if (this.#find(b, e.key, e.namespace) !== e) throw new Error(`timer ${e.timestamp} is not indexed`);
      }
      if (last !== b.tail) throw new Error(`bucket ${b.timestamp} has a wrong tail`);
      if (live !== b.live || removed !== b.removed) {
        throw new Error(
          `bucket ${b.timestamp}: ${live}/${removed} live/removed, counted ${b.live}/${b.removed}`,
        );
      }
      if (b.index !== undefined) {
        let indexed = 0;
        for (const ofKey of b.index.values()) indexed += ofKey instanceof Map ? ofKey.size : 1;
        if (indexed !== live)
          throw new Error(`bucket ${b.timestamp} indexes ${indexed} timers, holds ${live}`);
      } else if (live !== 1) {
        throw new Error(`bucket ${b.timestamp} without an index holds ${live} timers`);
      }
      total += live;
    }
    if (total !== this.#size) throw new Error(`${total} timers in buckets, size says ${this.#size}`);
  }
}
