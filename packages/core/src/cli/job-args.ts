import { ConfigError } from '../errors.ts';

/** A `--arg` value: true/false, a number, JSON that parses (starting with [ { or "), else the string. */
function parseValue(raw: string): unknown {
  if (raw === 'true') return true;
  if (raw === 'false') return false;
  // Number(' ') is 0: blanks stay a string.
  if (raw.trim() !== '' && !Number.isNaN(Number(raw))) return Number(raw);
  if (/^[[{"]/.test(raw)) {
    try {
      return JSON.parse(raw);
    } catch {
      return raw;
    }
  }
  return raw;
}

/** `--args '{"a":1}'` and repeated `--arg key=value` into one object (`--arg` wins). */
export function parseJobArgs(
  json: string | undefined,
  pairs: readonly string[],
): Record<string, unknown> | undefined {
  let args: Record<string, unknown> | undefined;
  if (json !== undefined) {
    let parsed: unknown;
    try {
      parsed = JSON.parse(json);
    } catch (error) {
      throw new ConfigError(`--args must be a JSON object: ${(error as Error).message}`);
    }
    if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) {
      throw new ConfigError('--args must be a JSON object');
    }
    args = { ...(parsed as Record<string, unknown>) };
  }
  for (const pair of pairs) {
    const eq = pair.indexOf('=');
    if (eq <= 0) throw new ConfigError(`--arg expects key=value, got '${pair}'`);
    args ??= {};
    args[pair.slice(0, eq)] = parseValue(pair.slice(eq + 1));
  }
  return args;
}
