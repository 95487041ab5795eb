import { statSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ConfigError } from '../errors.ts';

/**
 * Command-line values, checked where they are read so that the message names the flag and the
 * value as typed: the runtime checks its options again, but names them as the API does
 * (`bufferTimeoutMs`), which a command-line user never typed.
 */

/** The longest delay Node's timers take (2^31 - 1 ms, about 24.8 days): beyond it they fire after 1 ms. */
export const TIMER_MAX_MS = 2 ** 31 - 1;

/** A parser for commander: digits only (no sign, exponent, hex or blanks), within `[min, max]`. */
export function wholeNumber(flag: string, min: number, max: number): (value: string) => number {
  return (value: string): number => {
    const n = /^\d+$/.test(value) ? Number(value) : Number.NaN;
    if (!(n >= min && n <= max)) {
      throw new ConfigError(
        `${flag} must be a whole number from ${min} to ${max}, got ${JSON.stringify(value)}`,
      );
    }
    return n;
  };
}

export function oneOf<const T extends string>(flag: string, choices: readonly T[]): (value: string) => T {
  return (value: string): T => {
    if (!(choices as readonly string[]).includes(value)) {
      throw new ConfigError(
        `${flag} must be ${choices.map((c) => `'${c}'`).join(' or ')}, got ${JSON.stringify(value)}`,
      );
    }
    return value as T;
  };
}

/** For a repeatable flag; no default list, so that help does not show "(default: [])". */
export function collect(value: string, previous: string[] | undefined): string[] {
  return [...(previous ?? []), value];
}

/** `my-jobs` or `@acme/jobs/clicks`: a package name (and subpath), not a path. */
function isBareSpecifier(ref: string): boolean {
  return !/^[./\\]/.test(ref) && !/^[a-z]:/i.test(ref) && /^(@[^/\s]+\/)?[^./\s@][^\s]*$/.test(ref);
}

/**
 * A job shipped as a package (in a container image: `sluice jobmanager @acme/jobs/clicks`),
 * resolved as `import` would from the working directory's project, else from beside
 * @sluice/core (the image's node_modules).
 */
function packageJobModule(ref: string, cwd: string): string | undefined {
  if (!isBareSpecifier(ref)) return undefined;
  try {
    return createRequire(join(cwd, 'package.json')).resolve(ref);
  } catch {
    try {
      return fileURLToPath(import.meta.resolve(ref));
    } catch {
      return undefined;
    }
  }
}

/**
 * The job argument as the loader takes it. A path is checked here, because the import error
 * for a missing file names the loader's own module ("imported from .../job-loader.ts"), which
 * misleads; a URL (file:, data:) goes through as given.
 */
export function jobModule(ref: string, cwd: string = process.cwd()): string {
  if (/^[a-z][a-z0-9+.-]*:/i.test(ref) && !/^[a-z]:[\\/]/i.test(ref)) return ref;
  const path = resolve(cwd, ref);
  let stats: ReturnType<typeof statSync>;
  try {
    stats = statSync(path, { throwIfNoEntry: false });
  } catch (error) {
    throw new ConfigError(`cannot read job module ${ref}: ${(error as Error).message}`, { cause: error });
  }
  if (stats === undefined) {
    const fromPackage = packageJobModule(ref, cwd);
    if (fromPackage !== undefined) return fromPackage;
    throw new ConfigError(
      `job module ${ref} not found (no file at ${path}${isBareSpecifier(ref) && !/\.[cm]?[jt]s$/.test(ref) ? ', and no package of that name is installed here' : ''})`,
    );
  }
  if (!stats.isFile()) throw new ConfigError(`job module ${ref} is not a file (${path})`);
  return path;
}
