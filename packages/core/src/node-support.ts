/**
 * Sluice needs Node.js 22.19 or newer: type stripping without a flag, `require(esm)`, module
 * `registerHooks`, `zlib.crc32`. On an older Node the failure would otherwise be a SyntaxError from
 * deep inside the module graph; this module is evaluated first (the entry points import it before
 * anything else, and no module of the graph imports a name an older Node lacks), so it is this
 * message a user sees.
 */
export const MINIMUM_NODE_VERSION = '22.19.0';

/** Whether `version` (as in `process.versions.node`) is at least {@link MINIMUM_NODE_VERSION}. */
export function isSupportedNodeVersion(version: string): boolean {
  const [major = 0, minor = 0] = version.split('.').map(Number);
  return major > 22 || (major === 22 && minor >= 19);
}

if (!isSupportedNodeVersion(process.versions.node)) {
  throw new Error(
    `Sluice needs Node.js ${MINIMUM_NODE_VERSION} or newer (22 or 24 LTS); this is ${process.version} at ${process.execPath}`,
  );
}
