import { ConfigError, previewRecord, SluiceError } from '../errors.ts';

/**
 * Async I/O (Flink's `AsyncDataStream`): a function that looks something up for each record —
 * an HTTP call, a database query — and returns a promise. The operator keeps up to `capacity`
 * of them in flight at once instead of awaiting each in turn.
 */
export type AsyncFunction<T, R> = (value: T) => PromiseLike<R> | R;

/** How long to wait before the next attempt of a failed request. */
export type RetryBackoff =
  | { readonly kind: 'fixed'; readonly delayMs: number }
  | {
      readonly kind: 'exponential';
      readonly initialDelayMs: number;
      readonly maxDelayMs: number;
      /** Each delay is the previous one times this (default 2). */
      readonly multiplier?: number;
    };

/** When and how often a request is tried again (Flink's `AsyncRetryStrategy`). */
export interface AsyncRetryOptions<T, R> {
  /** Attempts in all, the first included (at least 1, at most 1000). */
  readonly maxAttempts: number;
  /** Default: no delay. */
  readonly backoff?: RetryBackoff;
  /** Whether a rejection is worth another attempt (default: every rejection is). */
  readonly retryOnError?: (error: unknown, value: T) => boolean;
  /**
   * Whether a result is worth another attempt (default: none is). When the attempts run out, the
   * last result is emitted.
   */
  readonly retryOnResult?: (result: R, value: T) => boolean;
}

/** Options of `mapAsync` / `flatMapAsync`. */
export interface AsyncOptions<T, R> {
  /**
   * `true` (default): results leave in the order their records came in. `false`: each result
   * leaves as soon as it is ready, but never across a watermark (a watermark waits for the
   * results of every record before it, and no result of a record after it leaves before it).
   */
  readonly ordered?: boolean;
  /**
   * Requests in flight at once per subtask (default 100, at most 100 000). When it is reached
   * the operator takes no more input: backpressure reaches the source.
   */
  readonly capacity?: number;
  /**
   * How long a record's request may take, retries and their backoff included (default 60 000),
   * measured on the job's processing-time clock. Past it, `onTimeout` gives the result, or
   * without one the job fails with an `AsyncTimeoutError`.
   */
  readonly timeoutMs?: number;
  /** The result of a record whose request timed out (emitted in its place). */
  readonly onTimeout?: (value: T) => R;
  readonly retry?: AsyncRetryOptions<T, R>;
}

/** The options with their defaults, checked: what the API records in the plan. */
export interface ResolvedAsyncOptions {
  readonly ordered: boolean;
  readonly capacity: number;
  readonly timeoutMs: number;
  readonly onTimeout: ((value: unknown) => unknown) | undefined;
  readonly maxAttempts: number;
  readonly backoff: RetryBackoff | undefined;
  readonly retryOnError: ((error: unknown, value: unknown) => boolean) | undefined;
  readonly retryOnResult: ((result: unknown, value: unknown) => boolean) | undefined;
}

export const ASYNC_DEFAULT_CAPACITY = 100;
export const ASYNC_MAX_CAPACITY = 100_000;
export const ASYNC_DEFAULT_TIMEOUT_MS = 60_000;
export const ASYNC_MAX_ATTEMPTS = 1000;

/** Checks `options` of the named operation and fills in the defaults; a bad option is a ConfigError naming it. */
export function resolveAsyncOptions(
  operation: string,
  options: AsyncOptions<never, never> | undefined,
): ResolvedAsyncOptions {
  if (options !== undefined && (options === null || typeof options !== 'object')) {
    throw new ConfigError(
      `${operation}: options must be an object, got ${options === null ? 'null' : typeof options}`,
    );
  }
  const o = options ?? {};
  const ordered = o.ordered ?? true;
  if (typeof ordered !== 'boolean') throw new ConfigError(`${operation}: options.ordered must be a boolean`);
  const capacity = o.capacity ?? ASYNC_DEFAULT_CAPACITY;
  requireInteger(operation, 'capacity', capacity, 1, ASYNC_MAX_CAPACITY);
  const timeoutMs = o.timeoutMs ?? ASYNC_DEFAULT_TIMEOUT_MS;
  if (typeof timeoutMs !== 'number' || !(timeoutMs > 0) || !Number.isFinite(timeoutMs)) {
    throw new ConfigError(
      `${operation}: options.timeoutMs must be a finite number of ms > 0, got ${String(timeoutMs)}`,
    );
  }
  requireOptionalFunction(operation, 'onTimeout', o.onTimeout);
  const retry = o.retry;
  if (retry === undefined) {
    return {
      ordered,
      capacity,
      timeoutMs,
      onTimeout: o.onTimeout as ((value: unknown) => unknown) | undefined,
      maxAttempts: 1,
      backoff: undefined,
      retryOnError: undefined,
      retryOnResult: undefined,
    };
  }
  if (retry === null || typeof retry !== 'object')
    throw new ConfigError(`${operation}: options.retry must be an object`);
  requireInteger(operation, 'retry.maxAttempts', retry.maxAttempts, 1, ASYNC_MAX_ATTEMPTS);
  requireOptionalFunction(operation, 'retry.retryOnError', retry.retryOnError);
  requireOptionalFunction(operation, 'retry.retryOnResult', retry.retryOnResult);
  if (retry.backoff !== undefined) checkBackoff(operation, retry.backoff);
  return {
    ordered,
    capacity,
    timeoutMs,
    onTimeout: o.onTimeout as ((value: unknown) => unknown) | undefined,
    maxAttempts: retry.maxAttempts,
    backoff: retry.backoff,
    retryOnError: retry.retryOnError as ((error: unknown, value: unknown) => boolean) | undefined,
    retryOnResult: retry.retryOnResult as ((result: unknown, value: unknown) => boolean) | undefined,
  };
}

/** The delay before attempt `attempt + 1`, after `attempt` attempts (1-based) have failed. */
export function backoffDelayMs(backoff: RetryBackoff | undefined, attempt: number): number {
  if (backoff === undefined) return 0;
  if (backoff.kind === 'fixed') return backoff.delayMs;
  const delay = backoff.initialDelayMs * (backoff.multiplier ?? 2) ** (attempt - 1);
  return Math.min(delay, backoff.maxDelayMs);
}

function checkBackoff(operation: string, backoff: RetryBackoff): void {
  const where = `${operation}: options.retry.backoff`;
  if (backoff === null || typeof backoff !== 'object') throw new ConfigError(`${where} must be an object`);
  if (backoff.kind === 'fixed') {
    requireDelay(where, 'delayMs', backoff.delayMs);
    return;
  }
  if (backoff.kind === 'exponential') {
    requireDelay(where, 'initialDelayMs', backoff.initialDelayMs);
    requireDelay(where, 'maxDelayMs', backoff.maxDelayMs);
    if (backoff.maxDelayMs < backoff.initialDelayMs) {
      throw new ConfigError(
        `${where}.maxDelayMs (${backoff.maxDelayMs}) is less than initialDelayMs (${backoff.initialDelayMs})`,
      );
    }
    const multiplier = backoff.multiplier ?? 2;
    if (typeof multiplier !== 'number' || !(multiplier >= 1) || !Number.isFinite(multiplier)) {
      throw new ConfigError(`${where}.multiplier must be a finite number >= 1, got ${String(multiplier)}`);
    }
    return;
  }
  throw new ConfigError(
    `${where}.kind must be 'fixed' or 'exponential', got ${String((backoff as { kind: unknown }).kind)}`,
  );
}

function requireDelay(where: string, name: string, value: unknown): void {
  if (typeof value !== 'number' || !(value >= 0) || !Number.isFinite(value)) {
    throw new ConfigError(`${where}.${name} must be a finite number of ms >= 0, got ${String(value)}`);
  }
}

function requireInteger(operation: string, name: string, value: unknown, min: number, max: number): void {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
    throw new ConfigError(
      `${operation}: options.${name} must be an integer from ${min} to ${max}, got ${String(value)}`,
    );
  }
}

function requireOptionalFunction(operation: string, name: string, value: unknown): void {
  if (value !== undefined && typeof value !== 'function') {
    throw new ConfigError(
      `${operation}: options.${name} must be a function, got ${value === null ? 'null' : typeof value}`,
    );
  }
}

/** A record's async request did not settle within `timeoutMs` and no `onTimeout` was given. */
export class AsyncTimeoutError extends SluiceError {
  readonly record: string;
  readonly timeoutMs: number;
  readonly attempts: number;

  constructor(record: unknown, timeoutMs: number, attempts: number) {
    const preview = previewRecord(record);
    super(
      'SLUICE_ASYNC_TIMEOUT',
      `the async request for record ${preview} did not complete within ${timeoutMs} ms (${attempts} attempt${attempts === 1 ? '' : 's'}); raise options.timeoutMs, or give options.onTimeout a result for such records`,
    );
    this.record = preview;
    this.timeoutMs = timeoutMs;
    this.attempts = attempts;
  }
}

/** A record's async request rejected, and no retry was left (or the rejection was not worth one). */
export class AsyncRequestFailedError extends SluiceError {
  readonly record: string;
  readonly attempts: number;

  constructor(record: unknown, attempts: number, cause: unknown) {
    const preview = previewRecord(record);
    const reason = cause instanceof Error ? cause.message : previewRecord(cause);
    super(
      'SLUICE_ASYNC_REQUEST_FAILED',
      `the async request for record ${preview} failed after ${attempts} attempt${attempts === 1 ? '' : 's'}: ${reason}`,
      { cause },
    );
    this.record = preview;
    this.attempts = attempts;
  }
}
