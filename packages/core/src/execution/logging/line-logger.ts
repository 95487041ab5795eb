import {
  isLogLevel,
  LEVEL_VALUES,
  type LineLevel,
  type LogFn,
  type Logger,
  type LogLevel,
} from '../../contracts/logger.ts';

/** One log call, its arguments sorted out the way pino does. */
export interface LogLine {
  readonly level: LineLevel;
  /** The bindings of the logger and its parents, outermost first. */
  readonly bindings: Readonly<Record<string, unknown>>;
  /** The object argument (`{ err }` for an Error argument), or undefined for `(msg)`. */
  readonly fields: Readonly<Record<string, unknown>> | undefined;
  readonly msg: string | undefined;
}

/**
 * A logger over a function that takes whole lines: the one shape behind the `log` option's
 * adapter, the CLI's text lines and the worker threads' forwarding logger. Lines below `level`
 * are dropped here, before any formatting or message to another thread.
 */
export class LineLogger implements Logger {
  readonly level: LogLevel;
  readonly #threshold: number;
  readonly #bindings: Readonly<Record<string, unknown>>;
  readonly #write: (line: LogLine) => void;
  readonly trace: LogFn;
  readonly debug: LogFn;
  readonly info: LogFn;
  readonly warn: LogFn;
  readonly error: LogFn;
  readonly fatal: LogFn;

  constructor(
    write: (line: LogLine) => void,
    level: LogLevel = 'info',
    bindings: Readonly<Record<string, unknown>> = {},
  ) {
    this.level = level;
    this.#threshold = LEVEL_VALUES[level];
    this.#bindings = bindings;
    this.#write = write;
    this.trace = this.#logFn('trace');
    this.debug = this.#logFn('debug');
    this.info = this.#logFn('info');
    this.warn = this.#logFn('warn');
    this.error = this.#logFn('error');
    this.fatal = this.#logFn('fatal');
  }

  child(bindings: Record<string, unknown>): Logger {
    return new LineLogger(this.#write, this.level, { ...this.#bindings, ...bindings });
  }

  #logFn(level: LineLevel): LogFn {
    if (LEVEL_VALUES[level] < this.#threshold) return noop;
    return ((objOrMsg: unknown, msg?: unknown) => {
      this.#write({ level, bindings: this.#bindings, ...sortArguments(objOrMsg, msg) });
    }) as LogFn;
  }
}

const noop: LogFn = () => {};

function sortArguments(
  objOrMsg: unknown,
  msg: unknown,
): { fields: Record<string, unknown> | undefined; msg: string | undefined } {
  const message = msg === undefined ? undefined : String(msg);
  if (objOrMsg instanceof Error) return { fields: { err: objOrMsg }, msg: message ?? objOrMsg.message };
  if (objOrMsg !== null && typeof objOrMsg === 'object') {
    return { fields: objOrMsg as Record<string, unknown>, msg: message };
  }
  return { fields: undefined, msg: objOrMsg === undefined ? message : String(objOrMsg) };
}

/** The level a logger writes from (pino's `level`); a logger that does not say gets every line. */
export function levelOf(logger: Logger): LogLevel {
  return isLogLevel(logger.level) ? logger.level : 'trace';
}

/** Hands a line to `logger` at its level, with its bindings, as the original call would have. */
export function replay(logger: Logger, line: LogLine): void {
  const target = Object.keys(line.bindings).length === 0 ? logger : logger.child({ ...line.bindings });
  if (line.fields === undefined) target[line.level](line.msg ?? '');
  else target[line.level](line.fields, line.msg);
}
