/**
 * Errors raised by the state layer.
 *
 * Every error has a stable `code` that callers (and tests) match on instead of the message,
 * which may change. Two families:
 *
 * - {@link StateError}: something went wrong while using state — a user registered the same
 *   state name with two kinds, a merge is impossible, a checkpoint is corrupt, or (codes marked
 *   "assertion") the runtime broke one of its own invariants.
 * - {@link StateArgumentError}: an argument failed validation up front; `argument` names it.
 *
 * Both extend {@link SluiceError}, so a caller catches every coded Sluice error in one place.
 */

import { SluiceError } from '../errors.ts';

/** Stable codes of {@link StateError}. */
export type StateErrorCode =
  /** The same state name was requested with two different kinds (e.g. `value` then `list`). */
  | 'SLUICE_STATE_KIND_MISMATCH'
  /** Assertion: a key was routed to a subtask whose key group range does not hold its key group. */
  | 'SLUICE_KEY_GROUP_OUT_OF_RANGE'
  /** Namespaces of an aggregating state were merged but its AggregateFunction has no `merge`. */
  | 'SLUICE_STATE_NO_MERGE'
  /** State was written (or the current key read) before any `setCurrentKey`. */
  | 'SLUICE_STATE_NO_CURRENT_KEY'
  /** A key is not a string, number, bigint or boolean. */
  | 'SLUICE_STATE_INVALID_KEY'
  /** Restored entries do not fit the backend (wrong key group, wrong shape for the state kind). */
  | 'SLUICE_STATE_RESTORE_INVALID'
  /** Assertion (LevelDB backend): state of a key was used that is neither cached nor prefetched. */
  | 'SLUICE_STATE_NOT_PREFETCHED'
  /** The LevelDB backend was used before `open()` resolved, or after `close()` / `destroy()`. */
  | 'SLUICE_STATE_BACKEND_CLOSED'
  /** A LevelDB read or write failed; after a failed write the backend refuses further use. */
  | 'SLUICE_STATE_STORAGE_FAILED'
  /** A record on disk does not follow the LevelDB backend's layout. */
  | 'SLUICE_STATE_STORAGE_CORRUPT';

/** An error raised while using keyed state; match on {@link StateError.code}. */
export class StateError extends SluiceError {
  // Explicit names, not the classes': a minifying bundler renames classes.
  override readonly name = 'StateError';
  declare readonly code: StateErrorCode;

  constructor(code: StateErrorCode, message: string, options?: ErrorOptions) {
    super(code, message, options);
  }
}

/**
 * An argument of a state-layer function failed validation; `argument` names the offending
 * argument. Not a `RangeError`: a class extends one class, and coded errors extend
 * {@link SluiceError}. Match it by class or by `code`.
 */
export class StateArgumentError extends SluiceError {
  override readonly name = 'StateArgumentError';
  declare readonly code: 'SLUICE_STATE_INVALID_ARGUMENT';
  readonly argument: string;

  constructor(argument: string, message: string) {
    super('SLUICE_STATE_INVALID_ARGUMENT', `${argument} ${message}`);
    this.argument = argument;
  }
}

/** Formats a key for error messages: strings quoted, bigints suffixed, so `1` and `'1'` differ. */
export function describeKey(key: unknown): string {
  switch (typeof key) {
    case 'string':
      return JSON.stringify(key.length > 64 ? `${key.slice(0, 64)}…` : key);
    case 'bigint':
      return `${key}n`;
    case 'number':
    case 'boolean':
      return String(key);
    default:
      return `<${key === null ? 'null' : typeof key}>`;
  }
}
