import { pino } from 'pino';
import { isLogLevel, LOG_LEVELS, type Logger, type LogLevel } from '../../contracts/logger.ts';
import { ConfigError } from '../../errors.ts';
import { LineLogger } from './line-logger.ts';
import { formatText } from './text-format.ts';

const LOGGER_METHODS = ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'child'] as const;

/** What `runJob` takes to decide where its lines go (a subset of its options). */
export interface LoggingOptions {
  readonly logger?: Logger | undefined;
  readonly log?: ((message: string) => void) | undefined;
}

/**
 * The logger a job writes to: the `logger` option as given; else the `log` option's callback
 * (the simple form: info and above, one human line each); else pino writing JSON lines to
 * stderr, from SLUICE_LOG_LEVEL (default info). pino's destination is synchronous here, so a
 * line is written before the call returns: nothing is left in a buffer when a job fails or the
 * process exits.
 */
export function jobLogger(options: LoggingOptions, env: NodeJS.ProcessEnv = process.env): Logger {
  if (options.logger !== undefined && options.log !== undefined) {
    throw new ConfigError('options "logger" and "log" both given: pass one (log is the simple form)');
  }
  if (options.logger !== undefined) return validateLogger(options.logger);
  if (options.log !== undefined) return callbackLogger(options.log);
  return defaultLogger(logLevelFromEnv(env) ?? 'info');
}

/**
 * pino writing JSON lines to stderr, synchronously. An error's `err.message` is its own message:
 * pino's default serializer appends every cause's message to it, and a Sluice error's message
 * already ends with its cause's ("... failed while processing record 7: boom: boom"); the cause
 * is kept whole under `err.cause`.
 */
export function stderrJsonLogger(level: LogLevel): Logger {
  return pino(
    { level, serializers: { err: pino.stdSerializers.errWithCause } },
    pino.destination({ dest: 2, sync: true }),
  );
}

/** One default logger per level for the process: every job without a logger shares stderr's stream. */
const defaults = new Map<LogLevel, Logger>();

function defaultLogger(level: LogLevel): Logger {
  let logger = defaults.get(level);
  if (logger === undefined) {
    logger = stderrJsonLogger(level);
    defaults.set(level, logger);
  }
  return logger;
}

/** The `log` option as a logger: info and above, each line formatted for a human. */
export function callbackLogger(log: (message: string) => void): Logger {
  if (typeof log !== 'function') {
    throw new ConfigError(`option "log" must be a function (message: string) => void, got ${typeof log}`);
  }
  return new LineLogger((line) => log(formatText(line)), 'info');
}

function validateLogger(logger: Logger): Logger {
  const missing = LOGGER_METHODS.filter(
    (name) => typeof (logger as unknown as Record<string, unknown> | null)?.[name] !== 'function',
  );
  if (missing.length > 0) {
    throw new ConfigError(
      `option "logger" must be a pino-compatible logger (${LOGGER_METHODS.join(', ')}); missing: ${missing.join(', ')}`,
    );
  }
  return logger;
}

/** SLUICE_LOG_LEVEL, checked: a level name, or undefined when unset or empty. */
export function logLevelFromEnv(env: NodeJS.ProcessEnv): LogLevel | undefined {
  const value = env.SLUICE_LOG_LEVEL?.trim().toLowerCase();
  if (value === undefined || value === '') return undefined;
  if (!isLogLevel(value)) {
    throw new ConfigError(
      `SLUICE_LOG_LEVEL must be one of ${LOG_LEVELS.join(', ')}, got "${env.SLUICE_LOG_LEVEL}"`,
    );
  }
  return value;
}
