/**
 * A channel between two subtasks in the same slot (thread): batches are handed over as arrays,
 * with no encoding, no copy and no doorbell. Bounded in batches, so backpressure works exactly
 * as on a ring. Records are passed by reference, as between chained operators: a function must
 * not change a record after emitting it. They are checked against the record contract all the
 * same (`RecordWriter.emit`), so what a ring would refuse is refused here too.
 */
export type LocalItem = { readonly values: unknown[]; readonly timestamps: number[] | null } | Uint8Array;

export class LocalChannel {
  readonly #items: LocalItem[] = [];
  #head = 0;
  readonly capacityBatches: number;

  constructor(capacityBatches: number) {
    this.capacityBatches = Math.max(2, capacityBatches);
  }

  tryPush(item: LocalItem): boolean {
    if (this.#items.length - this.#head >= this.capacityBatches) return false;
    this.#items.push(item);
    return true;
  }

  shift(): LocalItem | undefined {
    if (this.#head === this.#items.length) return undefined;
    const item = this.#items[this.#head]!;
    this.#head++;
    // Compact now and then instead of Array#shift per item (O(n) each).
    if (this.#head === this.#items.length) {
      this.#items.length = 0;
      this.#head = 0;
    } else if (this.#head >= 64) {
      this.#items.splice(0, this.#head);
      this.#head = 0;
    }
    return item;
  }
}
