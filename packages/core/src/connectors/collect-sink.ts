import type { Sink } from '../api/sink.ts';
import { ConfigError } from '../errors.ts';

const CHUNK_RECORDS = 4096;

/**
 * Sends every record back to the process that runs the job, one message per input batch (or
 * per 4096 records); read them with `result.collected(name)` or as they arrive with the
 * `onSinkData` option. For tests and small results: the coordinator keeps them all in memory.
 */
export function collectSink<T>(name: string): Sink<T> {
  if (typeof name !== 'string' || name.length === 0)
    throw new ConfigError('collectSink: expected a non-empty name');
  return {
    name: `collect(${name})`,
    createWriter(context) {
      let buffer: T[] = [];
      const send = (): void => {
        if (buffer.length === 0) return;
        context.sendToCoordinator(`collect:${name}`, buffer);
        buffer = [];
      };
      return {
        write(value: T) {
          if (buffer.push(value) >= CHUNK_RECORDS) send();
        },
        flush: send,
        close: send,
      };
    },
  };
}
