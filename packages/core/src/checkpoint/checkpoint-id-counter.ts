/**
 * Hands out checkpoint ids for one run of a job (Flink's CheckpointIDCounter): strictly
 * increasing over every attempt, and continuing after the ids already in the checkpoint
 * directory, so that no checkpoint of this run overwrites or reuses an earlier one's folder.
 */
export class CheckpointIdCounter {
  #next: number;

  /** Starts after `newestExisting` (0: none yet). */
  constructor(newestExisting = 0) {
    this.#next = newestExisting + 1;
  }

  /** The id for a checkpoint being started now. */
  next(): number {
    return this.#next++;
  }

  /** The id the next checkpoint will get. */
  peek(): number {
    return this.#next;
  }
}
