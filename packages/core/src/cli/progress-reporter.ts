import type { JobProgress } from '../execution/progress.ts';

/** The timer the reporter refreshes on: Node's by default, a test's own to make refreshes exact. */
export interface ProgressTimers {
  setInterval(callback: () => void, ms: number): unknown;
  clearInterval(handle: unknown): void;
}

export interface ProgressReporterOptions {
  /** The job's progress now (`JobHandle.progress()`). */
  readonly sample: () => JobProgress;
  /** Where a line goes: stderr's write for text, a log call for JSON lines. */
  readonly write: (line: string, figures: ProgressFigures) => void;
  /** One updating line (carriage return) instead of a line each refresh. */
  readonly tty: boolean;
  readonly intervalMs: number;
  /** Milliseconds, for elapsed time and rates. */
  readonly now: () => number;
  readonly timers?: ProgressTimers;
}

/** What one refresh shows. */
export interface ProgressFigures {
  readonly recordsRead: number;
  /** Records per second since the previous refresh (since the start for the first). */
  readonly recordsPerSecond: number;
  /** Share of the input read, 0 to 1, when the sources know their size. */
  readonly fraction: number | undefined;
  readonly elapsedMs: number;
}

const CLEAR_LINE = '\r\u001b[2K';

/**
 * `sluice run --progress`: records read, their rate, the share of input read and the time
 * elapsed, refreshed every `intervalMs`. On a terminal it redraws one line; otherwise it writes
 * a plain line per refresh, for logs. It reads the job's progress samples (sent by the slots a
 * few times a second), never the records themselves.
 */
export class ProgressReporter {
  readonly #options: ProgressReporterOptions;
  readonly #timers: ProgressTimers;
  readonly #startedAt: number;
  #previous: { readonly at: number; readonly records: number };
  #handle: unknown;
  /** A TTY line is on screen (to clear before anything else is written). */
  #drawn = false;

  constructor(options: ProgressReporterOptions) {
    this.#options = options;
    this.#timers = options.timers ?? {
      setInterval: (callback, ms) => setInterval(callback, ms).unref(),
      clearInterval: (handle) => clearInterval(handle as ReturnType<typeof setInterval>),
    };
    this.#startedAt = options.now();
    this.#previous = { at: this.#startedAt, records: 0 };
  }

  start(): void {
    this.#handle ??= this.#timers.setInterval(() => this.refresh(), this.#options.intervalMs);
  }

  /** Draws the figures now (the timer calls this). */
  refresh(): void {
    const { sample, now, tty, write } = this.#options;
    const progress = sample();
    const at = now();
    const seconds = (at - this.#previous.at) / 1000;
    const figures: ProgressFigures = {
      recordsRead: progress.recordsRead,
      recordsPerSecond:
        seconds > 0 ? Math.max(0, (progress.recordsRead - this.#previous.records) / seconds) : 0,
      fraction: progress.fraction,
      elapsedMs: at - this.#startedAt,
    };
    this.#previous = { at, records: progress.recordsRead };
    const line = progressLine(figures);
    if (tty) {
      write(`${CLEAR_LINE}${line}`, figures);
      this.#drawn = true;
    } else {
      write(`${line}\n`, figures);
    }
  }

  /** Clears the TTY line, so that a log line does not run into it; the next refresh redraws it. */
  interrupt(): void {
    if (!this.#drawn) return;
    this.#drawn = false;
    this.#options.write(CLEAR_LINE, this.#lastFigures());
  }

  stop(): void {
    if (this.#handle !== undefined) this.#timers.clearInterval(this.#handle);
    this.#handle = undefined;
    this.interrupt();
  }

  #lastFigures(): ProgressFigures {
    return {
      recordsRead: this.#previous.records,
      recordsPerSecond: 0,
      fraction: undefined,
      elapsedMs: this.#previous.at - this.#startedAt,
    };
  }
}

/** `sluice: 12,345 records read (4,567 records/s), 42.0% of input, 1:05 elapsed` */
export function progressLine(figures: ProgressFigures): string {
  const parts = [
    `${figures.recordsRead.toLocaleString('en-US')} records read (${Math.round(figures.recordsPerSecond).toLocaleString('en-US')} records/s)`,
  ];
  if (figures.fraction !== undefined) parts.push(`${(figures.fraction * 100).toFixed(1)}% of input`);
  parts.push(`${elapsed(figures.elapsedMs)} elapsed`);
  return `sluice: ${parts.join(', ')}`;
}

function elapsed(ms: number): string {
  const total = Math.floor(ms / 1000);
  const hours = Math.floor(total / 3600);
  const minutes = Math.floor((total % 3600) / 60);
  const seconds = String(total % 60).padStart(2, '0');
  return hours > 0 ? `${hours}:${String(minutes).padStart(2, '0')}:${seconds}` : `${minutes}:${seconds}`;
}
