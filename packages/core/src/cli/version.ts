import { readFileSync } from 'node:fs';

/**
 * The version of @sluice/core. `../../package.json` is the package root from src/cli/ (run from
 * the sources) and from dist/cli/ (installed) alike; read with fs because a JSON import would be
 * copied or re-rooted by the build.
 */
export function packageVersion(): string {
  const manifest = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as {
    version?: unknown;
  };
  if (typeof manifest.version !== 'string') throw new Error('bug: @sluice/core package.json has no version');
  return manifest.version;
}
