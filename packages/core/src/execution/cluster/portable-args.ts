/**
 * Job arguments travel to the task managers in the deploy message (msgpack). Within one process
 * they are structured-cloned to the slot threads, where a SharedArrayBuffer stays shared and a
 * function is refused by the clone; across processes shared memory is not shared and msgpack
 * would silently turn a function into nothing. Refused before anything starts, naming the path.
 */
import { ConfigError } from '../../errors.ts';

export function checkPortableArgs(args: unknown): void {
  const seen = new Set<object>();
  const walk = (value: unknown, path: string): void => {
    if (typeof value === 'function') {
      throw new ConfigError(
        `job argument ${path} is a function: arguments of a job on task managers are sent to other processes as data`,
      );
    }
    if (typeof value !== 'object' || value === null || seen.has(value)) return;
    seen.add(value);
    if (
      value instanceof SharedArrayBuffer ||
      (ArrayBuffer.isView(value) && value.buffer instanceof SharedArrayBuffer)
    ) {
      throw new ConfigError(
        `job argument ${path} is shared memory (SharedArrayBuffer): a job on task managers gets a copy of its arguments in other processes, where it is not shared`,
      );
    }
    if (ArrayBuffer.isView(value) || value instanceof ArrayBuffer) return;
    if (value instanceof Map) {
      for (const [key, item] of value) walk(item, `${path}.get(${String(key)})`);
      return;
    }
    if (value instanceof Set) {
      for (const item of value) walk(item, `${path} (a Set member)`);
      return;
    }
    if (Array.isArray(value)) {
      for (const [index, item] of value.entries()) walk(item, `${path}[${index}]`);
      return;
    }
    for (const [key, item] of Object.entries(value)) walk(item, `${path}.${key}`);
  };
  walk(args, 'args');
}
