import { inspect } from 'node:util';
import type { Sink } from '../contracts/sink.ts';

export interface PrintOptions<T> {
  /** Turns a record into its line (default: util.inspect on one line). */
  readonly format?: (value: T) => string;
  /** Written before each line; `{subtask}` is replaced by the subtask number (Flink prints `n> `). */
  readonly prefix?: string;
}

/**
 * Writes each record as a line on stdout, a batch of lines per write. In a slot's worker thread
 * `process.stdout` relays each write to the main thread, which writes them one after another (so
 * lines of parallel subtasks never interleave); a write's callback runs once the main thread has
 * taken it. `close` waits for that: the slot threads end when their tasks do, and lines still in
 * the relay were lost when stdout was a pipe or a file (a tenth of them seen through `| grep`).
 */
export function printSink<T>(options: PrintOptions<T> = {}): Sink<T> {
  const format =
    options.format ??
    ((v: T) => (typeof v === 'string' ? v : inspect(v, { breakLength: Number.POSITIVE_INFINITY })));
  return {
    name: 'print',
    createWriter(context) {
      const prefix = (options.prefix ?? (context.parallelism > 1 ? '{subtask}> ' : '')).replaceAll(
        '{subtask}',
        String(context.subtaskIndex + 1),
      );
      let lines: string[] = [];
      const flush = (): void => {
        if (lines.length === 0) return;
        process.stdout.write(`${lines.join('\n')}\n`);
        lines = [];
      };
      return {
        write(value: T) {
          lines.push(prefix + format(value));
        },
        flush,
        close(): Promise<void> {
          const text = lines.length === 0 ? '' : `${lines.join('\n')}\n`;
          lines = [];
          return new Promise((resolve, reject) => {
            process.stdout.write(text, (error) => (error ? reject(error) : resolve()));
          });
        },
      };
    },
  };
}
