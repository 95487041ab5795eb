import type { SourceProgress } from '../contracts/source.ts';
import type { Task } from '../runtime/task.ts';

/**
 * Progress of bounded jobs: how much of their input the sources have read. Each slot samples its
 * source tasks on a timer (records read, and the reader's own `progress()` when it has one) and
 * sends the samples on its control port: one message per slot and interval, never per record.
 * The slot sends a last sample when it ends, before its port closes, so a finished job's
 * figures are final. The coordinator keeps the newest sample of each source subtask.
 */

/** How often a slot samples its sources. A display refreshes at most this often. */
export const PROGRESS_SAMPLE_INTERVAL_MS = 500;

/** One source subtask's figures at the time of the sample. */
export interface SourceSample {
  readonly operatorId: string;
  readonly subtaskIndex: number;
  /** Records the source subtask emitted in this attempt. */
  readonly recordsRead: number;
  /** The reader's own account, when it gives one. */
  readonly progress: SourceProgress | undefined;
}

export interface ProgressMessage {
  readonly type: 'progress';
  readonly samples: readonly SourceSample[];
}

/** What a job's sources have read so far; see `JobHandle.progress()`. */
export interface JobProgress {
  /** Records read by all sources in the current attempt, as of their last samples. */
  readonly recordsRead: number;
  /**
   * The share of the input read, 0 to 1, when every source subtask has reported a size
   * (`SourceReader.progress` with a `total`); undefined otherwise (unbounded, or not known).
   */
  readonly fraction: number | undefined;
  /** Source subtasks that have sent a sample, of those in the plan. */
  readonly sourcesReporting: number;
  readonly sourcesExpected: number;
}

/** A slot's sampler: call `sample()` on a timer and once at the end. */
export function progressSampler(
  sourceTasks: readonly { readonly task: Task; readonly operatorId: string }[],
  post: (message: ProgressMessage) => void,
): () => void {
  return () => {
    if (sourceTasks.length === 0) return;
    post({
      type: 'progress',
      samples: sourceTasks.map(({ task, operatorId }) => ({
        operatorId,
        subtaskIndex: task.options.subtaskIndex,
        recordsRead: task.recordsIn,
        progress: readerProgress(task),
      })),
    });
  };
}

/** A reader whose `progress()` throws or answers nonsense reports none: a display must not fail a job. */
function readerProgress(task: Task): SourceProgress | undefined {
  const reader = task.options.source?.reader;
  if (reader?.progress === undefined) return undefined;
  try {
    const { read, total, unit } = reader.progress();
    if (!Number.isFinite(read) || read < 0) return undefined;
    if (unit !== 'records' && unit !== 'bytes') return undefined;
    return {
      read,
      total: total !== undefined && Number.isFinite(total) && total >= 0 ? total : undefined,
      unit,
    };
  } catch {
    return undefined;
  }
}

/** The coordinator's view: the newest sample of each source subtask. */
export class ProgressTracker {
  readonly #expected: number;
  readonly #latest = new Map<string, SourceSample>();

  constructor(sourcesExpected: number) {
    this.#expected = sourcesExpected;
  }

  /** A new attempt counts from its own start (sources rewind to a checkpoint). */
  reset(): void {
    this.#latest.clear();
  }

  onMessage(message: ProgressMessage): void {
    for (const sample of message.samples)
      this.#latest.set(`${sample.operatorId}#${sample.subtaskIndex}`, sample);
  }

  snapshot(): JobProgress {
    let recordsRead = 0;
    const byUnit = new Map<string, { read: number; total: number }>();
    let sized = 0;
    for (const sample of this.#latest.values()) {
      recordsRead += sample.recordsRead;
      const p = sample.progress;
      if (p?.total === undefined) continue;
      sized++;
      const sum = byUnit.get(p.unit) ?? { read: 0, total: 0 };
      sum.read += Math.min(p.read, p.total);
      sum.total += p.total;
      byUnit.set(p.unit, sum);
    }
    // Records and bytes do not add up: each unit's share counts alike.
    let fraction: number | undefined;
    if (sized === this.#expected && this.#expected > 0) {
      const shares = [...byUnit.values()].map((s) => (s.total === 0 ? 1 : s.read / s.total));
      fraction = shares.reduce((a, b) => a + b, 0) / shares.length;
    }
    return { recordsRead, fraction, sourcesReporting: this.#latest.size, sourcesExpected: this.#expected };
  }
}
