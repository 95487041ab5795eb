/**
 * The logger contract: pino's interface, so that a pino logger (or any logger with the same
 * shape: bunyan-style `(obj, msg)` or `(msg)` calls and `child`) can be passed to `runJob` as it
 * is. The runtime and user functions log through it; in worker threads a logger of this shape
 * forwards each line to the coordinator's logger (see `execution/logging/`).
 */
export interface LogFn {
  (obj: object, msg?: string): void;
  (msg: string): void;
}

export interface Logger {
  trace: LogFn;
  debug: LogFn;
  info: LogFn;
  warn: LogFn;
  error: LogFn;
  fatal: LogFn;
  /** A logger whose every line also carries `bindings` (e.g. `{ operator, subtask }`). */
  child(bindings: Record<string, unknown>): Logger;
  /** The lowest level written (pino's `level`); lines below it are not sent across threads. */
  level?: string;
}

/** pino's levels, lowest first, and `silent`: nothing. */
export const LOG_LEVELS = ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];
/** The levels a line can have (every level but `silent`). */
export type LineLevel = Exclude<LogLevel, 'silent'>;

/** pino's numeric values of the levels (trace 10 ... fatal 60; silent: above every line). */
export const LEVEL_VALUES: Readonly<Record<LogLevel, number>> = {
  trace: 10,
  debug: 20,
  info: 30,
  warn: 40,
  error: 50,
  fatal: 60,
  silent: Number.POSITIVE_INFINITY,
};

export function isLogLevel(value: unknown): value is LogLevel {
  return typeof value === 'string' && (LOG_LEVELS as readonly string[]).includes(value);
}

const discard: LogFn = () => {};

/** A logger that writes nothing: for contexts built by hand (tests of a reader or a function). */
export const silentLogger: Logger = {
  trace: discard,
  debug: discard,
  info: discard,
  warn: discard,
  error: discard,
  fatal: discard,
  child: () => silentLogger,
  level: 'silent',
};
