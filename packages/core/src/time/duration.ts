/**
 * Durations are plain numbers of milliseconds, the same unit as timestamps and watermarks.
 * These helpers exist so that job code reads `seconds(10)` instead of `10_000`, and so that a
 * bad value (negative, NaN, Infinity) fails where it is written, with the helper's name in the
 * message, instead of producing a window of size NaN far away.
 *
 * @example
 * ```ts
 * import { minutes, seconds } from '@sluice/core';
 * tumbling(minutes(5));                 // 300_000
 * seconds(1.5);                         // 1_500
 * ```
 */

const MS_PER_SECOND = 1_000;
const MS_PER_MINUTE = 60 * MS_PER_SECOND;
const MS_PER_HOUR = 60 * MS_PER_MINUTE;

function checkAmount(fn: string, n: number): void {
  if (typeof n !== 'number' || !Number.isFinite(n) || n < 0) {
    throw new RangeError(`${fn}(n): n must be a finite number >= 0, got ${String(n)}`);
  }
}

/** `n` milliseconds (returned unchanged once validated). */
export function milliseconds(n: number): number {
  checkAmount('milliseconds', n);
  return n;
}

/** `n` seconds, in milliseconds. */
export function seconds(n: number): number {
  checkAmount('seconds', n);
  return n * MS_PER_SECOND;
}

/** `n` minutes, in milliseconds. */
export function minutes(n: number): number {
  checkAmount('minutes', n);
  return n * MS_PER_MINUTE;
}

/** `n` hours, in milliseconds. */
export function hours(n: number): number {
  checkAmount('hours', n);
  return n * MS_PER_HOUR;
}

/**
 * A short human form of a duration for plan descriptions and error messages:
 * `3600000 → '1h'`, `90000 → '90s'`, `1500 → '1500ms'`. The largest unit that divides the value
 * exactly is used, so the text always round-trips to the same number.
 */
export function formatDuration(ms: number): string {
  if (!Number.isFinite(ms)) return String(ms);
  if (ms !== 0 && Number.isInteger(ms)) {
    if (ms % MS_PER_HOUR === 0) return `${ms / MS_PER_HOUR}h`;
    if (ms % MS_PER_MINUTE === 0) return `${ms / MS_PER_MINUTE}m`;
    if (ms % MS_PER_SECOND === 0) return `${ms / MS_PER_SECOND}s`;
  }
  return `${ms}ms`;
}
