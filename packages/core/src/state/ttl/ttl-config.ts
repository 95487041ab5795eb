/**
 * State time-to-live (Flink's `StateTtlConfig`): how long a keyed state value lives after it was
 * last written (or read), in processing time, and how expired values are cleaned up.
 *
 * Time is the backend's processing-time clock: the runtime's injected clock in a job, the test's
 * clock under the `JobTestDriver` or the operator harness. A value written at `t` is expired from
 * `t + ttlMs` on (Flink's rule: expired when `lastAccess + ttl <= now`). TTL applies per value for
 * value, reducing and aggregating state, per element for list state and per entry for map state.
 *
 * Cleanup, in three places:
 * - on access: an expired value read is removed (always; it is also what makes it invisible);
 * - incrementally: after every batch of records of its operator (and, if asked, after every access
 *   to the state), a bounded number of this state's entries of any key are checked and what
 *   expired is removed (`cleanup.incremental`); on the LevelDB backend this covers the keys cached
 *   in memory;
 * - in snapshots: expired values are left out of checkpoints and savepoints (`cleanup.inSnapshots`).
 *
 * @example
 * const session = valueState<Session>('session', {
 *   ttl: { ttlMs: 30 * 60_000, updateType: 'onReadAndWrite' },
 * });
 */

import { StateArgumentError } from '../errors.ts';

/** When a value's timestamp is set: on every write only, or on reads too. */
export type TtlUpdateType = 'onCreateAndWrite' | 'onReadAndWrite';

/** Whether a read may still return a value that expired but was not removed yet. */
export type TtlStateVisibility = 'neverReturnExpired' | 'returnExpiredIfNotCleanedUp';

/** Background cleanup: entries checked per step, bounded so that no step costs more than that. */
export interface TtlIncrementalCleanup {
  /** Entries of the state checked after each access to it (default 0: none). */
  readonly entriesPerAccess?: number;
  /**
   * Entries checked after each batch of records the operator processes, whether or not the
   * batch used the state (default 256).
   */
  readonly entriesPerBatch?: number;
}

/** What a state descriptor's `ttl` option takes. */
export interface StateTtlConfig {
  /** Time to live in ms of processing time: a positive integer. */
  readonly ttlMs: number;
  /** Default `'onCreateAndWrite'`. */
  readonly updateType?: TtlUpdateType;
  /** Default `'neverReturnExpired'`. */
  readonly visibility?: TtlStateVisibility;
  readonly cleanup?: {
    /** Leave expired values out of snapshots (checkpoints, savepoints). Default `true`. */
    readonly inSnapshots?: boolean;
    /** Background cleanup; `false` turns it off. Default: on, with the default sizes. */
    readonly incremental?: TtlIncrementalCleanup | false;
  };
}

/** A validated {@link StateTtlConfig} with every default filled in; what descriptors hold. */
export interface ResolvedTtlConfig {
  readonly ttlMs: number;
  readonly updateType: TtlUpdateType;
  readonly visibility: TtlStateVisibility;
  readonly cleanupInSnapshots: boolean;
  /** 0: no cleanup on access beyond the value accessed. */
  readonly entriesPerAccess: number;
  /** 0: no cleanup per batch. */
  readonly entriesPerBatch: number;
}

/**
 * Off by default: a step after every access costs more than the access itself (measured on the
 * heap, value state read + update per record, with a cheap clock: 5 entries per access, Flink's
 * default, made it 7-9x the time without TTL, against 2.3-2.8x with the per-batch step only). The
 * per-batch step does the background work for a fraction of that, amortised over a batch.
 */
export const DEFAULT_ENTRIES_PER_ACCESS = 0;
/** About half a default batch of records (512): the sweep keeps pace with a key space of any size over time. */
export const DEFAULT_ENTRIES_PER_BATCH = 256;
/** Upper bound of both sizes: a step is meant to be small. */
export const MAX_ENTRIES_PER_STEP = 100_000;

const UPDATE_TYPES: readonly TtlUpdateType[] = ['onCreateAndWrite', 'onReadAndWrite'];
const VISIBILITIES: readonly TtlStateVisibility[] = ['neverReturnExpired', 'returnExpiredIfNotCleanedUp'];
const CONFIG_KEYS = new Set(['ttlMs', 'updateType', 'visibility', 'cleanup']);
const CLEANUP_KEYS = new Set(['inSnapshots', 'incremental']);
const INCREMENTAL_KEYS = new Set(['entriesPerAccess', 'entriesPerBatch']);

/**
 * Validates the `ttl` option of state `stateName` and fills in the defaults.
 * @throws {StateArgumentError} naming the state and the option (`ttl.ttlMs`, `ttl.cleanup.incremental.entriesPerAccess`, ...).
 */
export function resolveTtlConfig(stateName: string, ttl: unknown): ResolvedTtlConfig {
  const bad = (option: string, message: string): StateArgumentError =>
    new StateArgumentError(`option ${option} of state '${stateName}'`, message);
  checkObject(ttl, 'ttl', CONFIG_KEYS, bad, '{ ttlMs, updateType?, visibility?, cleanup? }');
  const {
    ttlMs,
    updateType = 'onCreateAndWrite',
    visibility = 'neverReturnExpired',
    cleanup,
  } = ttl as unknown as StateTtlConfig;
  if (typeof ttlMs !== 'number' || !Number.isSafeInteger(ttlMs) || ttlMs <= 0) {
    throw bad('ttl.ttlMs', `must be a positive integer of milliseconds, got ${describe(ttlMs)}`);
  }
  if (!UPDATE_TYPES.includes(updateType)) {
    throw bad('ttl.updateType', `must be one of ${quoteAll(UPDATE_TYPES)}, got ${describe(updateType)}`);
  }
  if (!VISIBILITIES.includes(visibility)) {
    throw bad('ttl.visibility', `must be one of ${quoteAll(VISIBILITIES)}, got ${describe(visibility)}`);
  }
  let cleanupInSnapshots = true;
  let entriesPerAccess = DEFAULT_ENTRIES_PER_ACCESS;
  let entriesPerBatch = DEFAULT_ENTRIES_PER_BATCH;
  if (cleanup !== undefined) {
    checkObject(cleanup, 'ttl.cleanup', CLEANUP_KEYS, bad, '{ inSnapshots?, incremental? }');
    if (cleanup.inSnapshots !== undefined) {
      if (typeof cleanup.inSnapshots !== 'boolean') {
        throw bad('ttl.cleanup.inSnapshots', `must be a boolean, got ${describe(cleanup.inSnapshots)}`);
      }
      cleanupInSnapshots = cleanup.inSnapshots;
    }
    const incremental = cleanup.incremental;
    if (incremental === false) {
      entriesPerAccess = 0;
      entriesPerBatch = 0;
    } else if (incremental !== undefined) {
      checkObject(
        incremental,
        'ttl.cleanup.incremental',
        INCREMENTAL_KEYS,
        bad,
        '{ entriesPerAccess?, entriesPerBatch? } or false',
      );
      entriesPerAccess = entriesOption(
        incremental.entriesPerAccess,
        'entriesPerAccess',
        entriesPerAccess,
        bad,
      );
      entriesPerBatch = entriesOption(incremental.entriesPerBatch, 'entriesPerBatch', entriesPerBatch, bad);
    }
  }
  return Object.freeze({
    ttlMs,
    updateType,
    visibility,
    cleanupInSnapshots,
    entriesPerAccess,
    entriesPerBatch,
  });
}

function entriesOption(
  value: unknown,
  name: string,
  fallback: number,
  bad: (option: string, message: string) => StateArgumentError,
): number {
  if (value === undefined) return fallback;
  if (
    typeof value !== 'number' ||
    !Number.isSafeInteger(value) ||
    value < 0 ||
    value > MAX_ENTRIES_PER_STEP
  ) {
    throw bad(
      `ttl.cleanup.incremental.${name}`,
      `must be an integer of entries in [0, ${MAX_ENTRIES_PER_STEP}] (0 turns this step off), got ${describe(value)}`,
    );
  }
  return value;
}

function checkObject(
  value: unknown,
  option: string,
  keys: ReadonlySet<string>,
  bad: (option: string, message: string) => StateArgumentError,
  shape: string,
): asserts value is Record<string, unknown> {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    throw bad(option, `must be an object ${shape}, got ${describe(value)}`);
  }
  for (const key of Object.keys(value)) {
    if (!keys.has(key))
      throw bad(`${option}.${key}`, `is not an option; the options are ${[...keys].join(', ')}`);
  }
}

function describe(value: unknown): string {
  if (typeof value === 'string') return JSON.stringify(value);
  if (typeof value === 'number' || typeof value === 'boolean') return String(value);
  return value === null ? 'null' : Array.isArray(value) ? 'an array' : typeof value;
}

function quoteAll(values: readonly string[]): string {
  return values.map((v) => `'${v}'`).join(', ');
}
