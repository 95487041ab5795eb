import { inspect } from 'node:util';

/**
 * Every error Sluice raises for the world's mistakes (bad options, bad graphs, failing user code)
 * carries a stable `code` so that callers can branch on it without parsing messages.
 * Assertions about our own invariants throw plain `Error`s.
 */
export class SluiceError extends Error {
  readonly code: string;

  constructor(code: string, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
    this.code = code;
  }
}

/** An option or argument is invalid; the message names it. */
export class ConfigError extends SluiceError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('SLUICE_CONFIG', message, options);
  }
}

/** The job graph cannot run; detected while planning, before any thread starts. */
export class PlanError extends SluiceError {
  readonly operatorId: string | undefined;

  constructor(message: string, operatorId?: string) {
    super('SLUICE_PLAN', message);
    this.operatorId = operatorId;
  }
}

/** Where in a running job something failed. */
export interface FailureLocation {
  readonly jobName: string;
  readonly operatorId: string | undefined;
  readonly operatorName: string | undefined;
  readonly subtaskIndex: number | undefined;
  readonly parallelism: number | undefined;
  /** A short preview of the record being processed, when the failure happened on one. */
  readonly record: string | undefined;
  /**
   * The function that failed, when it is not the operator's function for a record: `key selector`
   * (a keyBy's, which runs where records are routed: in a subtask of the operator before, named by
   * {@link ranIn}; `subtaskIndex` and `parallelism` are that subtask's), a window's `reduce
   * function` or `aggregate function` folding records before the keyBy (local aggregation: it
   * runs in the sending subtask too, named by {@link ranIn}), or a timer (`event-time timer at
   * 999 for key 'a'`).
   */
  readonly userFunction?: string | undefined;
  /** For a key selector or a local aggregation: the operator whose subtask ran it (routing its output). */
  readonly ranIn?: string | undefined;
}

/** The job failed while running; `cause` is the user's error (or ours), rebuilt across the thread boundary. */
export class JobExecutionError extends SluiceError implements FailureLocation {
  readonly jobName: string;
  readonly operatorId: string | undefined;
  readonly operatorName: string | undefined;
  readonly subtaskIndex: number | undefined;
  readonly parallelism: number | undefined;
  readonly record: string | undefined;
  readonly userFunction: string | undefined;
  readonly ranIn: string | undefined;

  constructor(location: FailureLocation, cause: Error) {
    const operator =
      location.operatorId === undefined
        ? undefined
        : `operator '${location.operatorId}'${location.operatorName && location.operatorName !== location.operatorId ? ` (${location.operatorName})` : ''}`;
    const subtask = `subtask ${location.subtaskIndex! + 1}/${location.parallelism}`;
    const job = `job '${location.jobName}'`;
    let where: string;
    if (operator === undefined) where = job;
    else if (location.ranIn !== undefined) {
      where = `${location.userFunction ?? 'key selector'} of ${operator}, run in ${subtask} of '${location.ranIn}' of ${job},`;
    } else {
      const during = location.userFunction === undefined ? '' : `, in its ${location.userFunction},`;
      where = `${operator} ${subtask} of ${job}${during}`;
    }
    const record = location.record === undefined ? '' : ` while processing record ${location.record}`;
    super('SLUICE_JOB_FAILED', `${where} failed${record}: ${cause.message}`, { cause });
    this.userFunction = location.userFunction;
    this.ranIn = location.ranIn;
    this.jobName = location.jobName;
    this.operatorId = location.operatorId;
    this.operatorName = location.operatorName;
    this.subtaskIndex = location.subtaskIndex;
    this.parallelism = location.parallelism;
    this.record = location.record;
  }
}

/** A plain-data form of an error, to cross a thread or process boundary. */
export interface SerializedError {
  readonly name: string;
  readonly message: string;
  readonly stack: string | undefined;
  readonly code: string | undefined;
  /** The error's own `cause`, so that a user's error wrapping another keeps both stacks. */
  readonly cause?: SerializedError | undefined;
}

/** Bounds the `cause` chain carried across threads: a chain that long is a loop or a bug. */
export const CAUSE_DEPTH_MAX = 8;

export function serializeError(error: unknown): SerializedError {
  return serializeAt(error, 0);
}

function serializeAt(error: unknown, depth: number): SerializedError {
  if (error instanceof Error) {
    const code = (error as { code?: unknown }).code;
    const cause = 'cause' in error && depth < CAUSE_DEPTH_MAX ? error.cause : undefined;
    return {
      name: error.name,
      message: error.message,
      stack: error.stack,
      code: typeof code === 'string' ? code : undefined,
      cause: cause === undefined ? undefined : serializeAt(cause, depth + 1),
    };
  }
  return { name: 'Error', message: `non-error thrown: ${String(error)}`, stack: undefined, code: undefined };
}

/** Rebuilds an error with the stack it had in the thread that threw it, and its `cause` chain. */
export function deserializeError(serialized: SerializedError): Error {
  const error = new Error(
    serialized.message,
    serialized.cause === undefined ? undefined : { cause: deserializeError(serialized.cause) },
  );
  error.name = serialized.name;
  if (serialized.stack !== undefined) error.stack = serialized.stack;
  if (serialized.code !== undefined) (error as { code?: string }).code = serialized.code;
  return error;
}

/** A record as a failure report shows it: short, on one line. */
export function previewRecord(record: unknown): string {
  return inspect(record, {
    depth: 2,
    breakLength: Number.POSITIVE_INFINITY,
    maxStringLength: 200,
    maxArrayLength: 10,
  }).slice(0, 300);
}
