/**
 * A priority queue of timers: (timestamp, key, namespace) triples, deduplicated, with O(log n)
 * delete. It is the data structure under {@link InternalTimerService}, one instance per time
 * domain (event time, processing time).
 *
 * Design (compare Flink's `HeapPriorityQueueSet`):
 *
 * - An array-based binary min-heap of entry objects. Each entry stores its own position in the
 *   array (`heapIndex`), updated on every swap, so deleting an arbitrary timer is "swap with the
 *   last element, then sift up or down" — O(log n) — rather than a linear search. We chose this
 *   over lazy deletion (a tombstone Set checked on poll) because window operators delete timers
 *   often (every merged session window deletes its old cleanup timers) and tombstones would keep
 *   memory and `size` wrong until the dead timers reached the top of the heap.
 * - A dedup index `Map<timestamp, Map<key, Map<namespace, entry>>>` finds the entry of a triple
 *   without building a string per timer (no `${ts}|${key}|${ns}` concatenation on the hot path).
 *   Nesting by timestamp first suits windows: many keys share one window end, so the outer map
 *   stays small. Keys use `Map`'s SameValueZero equality: `1`, `1n`, `'1'` and `true` are four
 *   different keys; `1n` equals another `1n`. A level with a single timer holds the entry itself
 *   instead of a one-entry Map: a key has one timer per window end (fixed windows), and a session
 *   window's end is usually the only timer at its timestamp, so most timers would otherwise
 *   allocate one or two Maps each, and session windows move their timers on every record.
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
  /** Position in the heap array; -1 once removed. */
  readonly heapIndex: number;
}

/** Internal mutable view of an entry. */
interface MutableEntry<K extends TimerKey> {
  timestamp: number;
  key: K;
  namespace: string;
  seq: number;
  heapIndex: number;
}

/** A timer as plain data: `[timestamp, key, namespace]`. */
export type TimerTuple<K extends TimerKey = TimerKey> = [timestamp: number, key: K, namespace: string];

/** `Map`'s key equality (SameValueZero), for a level that holds one entry instead of a Map. */
function sameKey(a: TimerKey, b: TimerKey): boolean {
  return a === b || (Number.isNaN(a) && Number.isNaN(b));
}

function before<K extends TimerKey>(a: MutableEntry<K>, b: MutableEntry<K>): boolean {
  return a.timestamp < b.timestamp || (a.timestamp === b.timestamp && a.seq < b.seq);
}

export class TimerHeap<K extends TimerKey = TimerKey> {
  readonly #heap: MutableEntry<K>[] = [];
  readonly #index = new Map<
    number,
    MutableEntry<K> | Map<K, MutableEntry<K> | Map<string, MutableEntry<K>>>
  >();
  #nextSeq = 0;

  /** Number of distinct timers held. */
  get size(): number {
    return this.#heap.length;
  }

  /** The next timer to fire (smallest timestamp, earliest registered), without removing it. */
  peek(): TimerEntry<K> | undefined {
    return this.#heap[0];
  }

  /**
   * Adds a timer. Returns false (and changes nothing, keeping the original registration order)
   * if the same triple is already present.
   */
  add(timestamp: number, key: K, namespace: string): boolean {
    // Normalise -0 so that a snapshot never carries a -0 that a later comparison treats as 0 anyway.
    const ts = timestamp === 0 ? 0 : timestamp;
    const index = this.#index;
    const atTime = index.get(ts);
    if (atTime !== undefined) {
      if (atTime instanceof Map) {
        const ofKey = atTime.get(key);
        if (ofKey === undefined) {
          atTime.set(key, this.#push(ts, key, namespace));
        } else if (ofKey instanceof Map) {
          if (ofKey.has(namespace)) return false;
          ofKey.set(namespace, this.#push(ts, key, namespace));
        } else {
          if (ofKey.namespace === namespace) return false;
          atTime.set(key, new Map([[ofKey.namespace, ofKey]]).set(namespace, this.#push(ts, key, namespace)));
        }
      } else if (sameKey(atTime.key, key)) {
        if (atTime.namespace === namespace) return false;
        const ofKey = new Map([[atTime.namespace, atTime]]).set(namespace, this.#push(ts, key, namespace));
        index.set(ts, new Map<K, MutableEntry<K> | Map<string, MutableEntry<K>>>([[atTime.key, ofKey]]));
      } else {
        const byKey = new Map<K, MutableEntry<K> | Map<string, MutableEntry<K>>>([[atTime.key, atTime]]);
        byKey.set(key, this.#push(ts, key, namespace));
        index.set(ts, byKey);
      }
      return true;
    }
    index.set(ts, this.#push(ts, key, namespace));
    return true;
  }

  /** A new entry at the end of the heap, sifted into place. */
  #push(timestamp: number, key: K, namespace: string): MutableEntry<K> {
    const entry: MutableEntry<K> = {
      timestamp,
      key,
      namespace,
      seq: this.#nextSeq++,
      heapIndex: this.#heap.length,
    };
    this.#heap.push(entry);
    this.#siftUp(entry.heapIndex);
    return entry;
  }

  #find(timestamp: number, key: K, namespace: string): MutableEntry<K> | undefined {
    const atTime = this.#index.get(timestamp);
    if (atTime === undefined) return undefined;
    if (atTime instanceof Map) {
      const ofKey = atTime.get(key);
      if (ofKey === undefined) return undefined;
      if (ofKey instanceof Map) return ofKey.get(namespace);
      return ofKey.namespace === namespace ? ofKey : undefined;
    }
    return sameKey(atTime.key, key) && atTime.namespace === namespace ? atTime : undefined;
  }

  /** True if the triple is registered. */
  has(timestamp: number, key: K, namespace: string): boolean {
    return this.#find(timestamp, key, namespace) !== undefined;
  }

  /** Removes a timer. Returns false if it was not present. O(log n). */
  remove(timestamp: number, key: K, namespace: string): boolean {
    const entry = this.#find(timestamp, key, namespace);
    if (entry === undefined) return false;
    this.#unindex(entry);
    this.#removeAt(entry.heapIndex);
    return true;
  }

  /** Removes and returns the next timer to fire. */
  poll(): TimerEntry<K> | undefined {
    const top = this.#heap[0];
    if (top === undefined) return undefined;
    this.#unindex(top);
    this.#removeAt(0);
    return top;
  }

  /** All timers in firing order, as plain tuples. O(n log n); meant for snapshots, not the hot path. */
  toSortedArray(filter?: (key: K) => boolean): TimerTuple<K>[] {
    const entries = filter === undefined ? this.#heap.slice() : this.#heap.filter((e) => filter(e.key));
    entries.sort((a, b) => (before(a, b) ? -1 : 1));
    return entries.map((e) => [e.timestamp, e.key, e.namespace]);
  }

  #unindex(entry: MutableEntry<K>): void {
    const atTime = this.#index.get(entry.timestamp)!;
    if (!(atTime instanceof Map)) {
      this.#index.delete(entry.timestamp);
      return;
    }
    const ofKey = atTime.get(entry.key)!;
    if (ofKey instanceof Map) {
      ofKey.delete(entry.namespace);
      if (ofKey.size > 0) return;
    }
    atTime.delete(entry.key);
    if (atTime.size === 0) this.#index.delete(entry.timestamp);
  }

  #removeAt(i: number): void {
    const heap = this.#heap;
    const removed = heap[i]!;
    removed.heapIndex = -1;
    const last = heap.pop()!;
    if (i === heap.length) return; // removed the last slot
    heap[i] = last;
    last.heapIndex = i;
    // The moved element may belong above or below its new slot; at most one sift moves it.
    if (i > 0 && before(last, heap[(i - 1) >> 1]!)) this.#siftUp(i);
    else this.#siftDown(i);
  }

  #siftUp(i: number): void {
    const heap = this.#heap;
    const entry = heap[i]!;
    while (i > 0) {
      const parentIndex = (i - 1) >> 1;
      const parent = heap[parentIndex]!;
      if (!before(entry, parent)) break;
      heap[i] = parent;
      parent.heapIndex = i;
      i = parentIndex;
    }
    heap[i] = entry;
    entry.heapIndex = i;
  }

  #siftDown(i: number): void {
    const heap = this.#heap;
    const n = heap.length;
    const entry = heap[i]!;
    for (;;) {
      const left = 2 * i + 1;
      if (left >= n) break;
      const right = left + 1;
      let child = left;
      let childEntry = heap[left]!;
      if (right < n) {
        const rightEntry = heap[right]!;
        if (before(rightEntry, childEntry)) {
          child = right;
          childEntry = rightEntry;
        }
      }
      if (!before(childEntry, entry)) break;
      heap[i] = childEntry;
      childEntry.heapIndex = i;
      i = child;
    }
    heap[i] = entry;
    entry.heapIndex = i;
  }

  /** Test hook: checks the heap property and the index; throws on the first violation. */
  assertInvariants(): void {
    const heap = this.#heap;
    let indexed = 0;
    for (const atTime of this.#index.values()) {
      if (!(atTime instanceof Map)) indexed++;
      else for (const ofKey of atTime.values()) indexed += ofKey instanceof Map ? ofKey.size : 1;
    }
    if (indexed !== heap.length) throw new Error(`index holds ${indexed} timers, heap ${heap.length}`);
    for (let i = 0; i < heap.length; i++) {
      const e = heap[i]!;
      if (e.heapIndex !== i) throw new Error(`entry at ${i} thinks it is at ${e.heapIndex}`);
      if (i > 0 && before(e, heap[(i - 1) >> 1]!)) throw new Error(`heap order broken at ${i}`);
      if (this.#find(e.timestamp, e.key, e.namespace) !== e) {
        throw new Error(`entry at ${i} is not indexed`);
      }
    }
  }
}
