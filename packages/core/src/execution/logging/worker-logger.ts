import type { Logger, LogLevel } from '../../contracts/logger.ts';
import { LineLogger, type LogLine } from './line-logger.ts';

/** A log line on its way from a slot's thread to the coordinator. */
export interface LogMessage {
  readonly type: 'log';
  readonly line: LogLine;
}

/**
 * The logger of a slot's thread. A user's logger object (or pino's stream) cannot cross a
 * thread, so each line travels as one message on the slot's control port and the coordinator
 * replays it into the job's logger (`replay`). Log lines are rare next to records, so a message
 * per line costs nothing that matters, and it keeps the one ordered path the slot's other
 * messages take: every line a slot posts arrives before the slot's port closes, and the attempt
 * waits for that close, so a failing or closing job loses no line. (pino's own transports would
 * add a thread per slot and still could not reach a logger object the user passed in.) Lines
 * below `level` are dropped in the worker, before any message.
 */
export function workerLogger(post: (message: LogMessage) => void, level: LogLevel): Logger {
  return new LineLogger((line) => {
    try {
      post({ type: 'log', line });
    } catch {
      // A field that cannot be cloned (a function, a socket): send what JSON can say of it.
      post({ type: 'log', line: { ...line, fields: jsonSafe(line.fields) } });
    }
  }, level);
}

function jsonSafe(fields: LogLine['fields']): LogLine['fields'] {
  if (fields === undefined) return undefined;
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(fields)) {
    if (value instanceof Error) {
      out[key] = { type: value.name, message: value.message, stack: value.stack };
      continue;
    }
    try {
      out[key] = JSON.parse(JSON.stringify(value) ?? 'null');
    } catch {
      out[key] = String(value);
    }
  }
  return out;
}
