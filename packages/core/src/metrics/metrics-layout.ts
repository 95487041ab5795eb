/**
 * Where every live counter of one attempt lives: one `Float64Array` on a `SharedArrayBuffer`,
 * allocated by the coordinator per attempt and shared with every slot. Each subtask (a vertex's
 * subtask, Flink's task) owns one block, written only by the slot thread that runs it, with plain
 * (non-atomic) stores; the coordinator reads any block when it is asked for metrics. No message
 * crosses between threads for a metric, and a scrape never waits for a busy slot.
 *
 * A Float64 holds every integer below 2^53 exactly, so counters never wrap in practice, and a
 * torn read cannot happen: V8 writes an aligned 8-byte element with one store on the 64-bit
 * platforms Node runs on. A reader may see a counter one batch behind; that is all.
 *
 * Block of one subtask, in Float64 cells from its base:
 *
 * | cell               | field                                                           |
 * |--------------------|-----------------------------------------------------------------|
 * | 0                  | busy time, ms since the attempt started (cumulative)            |
 * | 1                  | idle time, ms (cumulative)                                      |
 * | 2                  | back-pressured time, ms (cumulative)                            |
 * | 3 + 5·o + 0        | operator o: records in                                          |
 * | 3 + 5·o + 1        | operator o: records out (main and side outputs)                 |
 * | 3 + 5·o + 2        | operator o: late records dropped                                |
 * | 3 + 5·o + 3        | operator o: current input watermark (−∞ before the first)       |
 * | 3 + 5·o + 4        | operator o: keyed state entries in memory (NaN: not keyed)      |
 *
 * Operators are numbered in the order of their vertex's `operatorIds` (the chain's creation
 * order, the source first in a source vertex).
 */

export const TaskField = { busyMs: 0, idleMs: 1, backPressuredMs: 2 } as const;
export const TASK_FIELDS = 3;

export const OperatorField = {
  recordsIn: 0,
  recordsOut: 1,
  lateRecordsDropped: 2,
  watermark: 3,
  stateEntries: 4,
} as const;
export const OPERATOR_FIELDS = 5;

/** What the layout needs to know of one vertex of the job graph. */
export interface VertexShape {
  readonly parallelism: number;
  readonly operatorCount: number;
}

/** Where each subtask's block starts; computed the same from the same plan on every thread. */
export class MetricsLayout {
  /** Block bases, by vertex index, then subtask index. */
  readonly #bases: readonly (readonly number[])[];
  readonly #operatorCounts: readonly number[];
  readonly totalCells: number;

  constructor(vertices: readonly VertexShape[]) {
    let next = 0;
    this.#bases = vertices.map((v) => {
      const bases: number[] = [];
      for (let s = 0; s < v.parallelism; s++) {
        bases.push(next);
        next += TASK_FIELDS + v.operatorCount * OPERATOR_FIELDS;
      }
      return bases;
    });
    this.#operatorCounts = vertices.map((v) => v.operatorCount);
    this.totalCells = next;
  }

  /** How many cells one subtask of `vertex` has (its block's length). */
  subtaskCells(vertex: number): number {
    const operators = this.#operatorCounts[vertex];
    if (operators === undefined) throw new Error(`bug: no vertex ${vertex} in the metrics layout`);
    return TASK_FIELDS + operators * OPERATOR_FIELDS;
  }

  /** The first cell of a subtask's block. */
  taskBase(vertex: number, subtaskIndex: number): number {
    const base = this.#bases[vertex]?.[subtaskIndex];
    if (base === undefined)
      throw new Error(`bug: no metrics block for vertex ${vertex} subtask ${subtaskIndex}`);
    return base;
  }

  /** The first cell of operator `operator` (its position in the vertex) in a subtask's block. */
  operatorBase(vertex: number, subtaskIndex: number, operator: number): number {
    if (operator < 0 || operator >= this.#operatorCounts[vertex]!) {
      throw new Error(`bug: vertex ${vertex} has no operator ${operator}`);
    }
    return this.taskBase(vertex, subtaskIndex) + TASK_FIELDS + operator * OPERATOR_FIELDS;
  }

  /** A zeroed array for one attempt, watermarks at −∞ and state sizes unknown (NaN). */
  allocate(): Float64Array {
    const cells = new Float64Array(new SharedArrayBuffer(this.totalCells * Float64Array.BYTES_PER_ELEMENT));
    this.#bases.forEach((bases, vertex) => {
      for (const base of bases) {
        for (let o = 0; o < this.#operatorCounts[vertex]!; o++) {
          const at = base + TASK_FIELDS + o * OPERATOR_FIELDS;
          cells[at + OperatorField.watermark] = Number.NEGATIVE_INFINITY;
          cells[at + OperatorField.stateEntries] = Number.NaN;
        }
      }
    });
    return cells;
  }
}
