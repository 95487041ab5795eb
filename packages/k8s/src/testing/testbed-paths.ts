/**
 * Where the testbed's binaries live: `~/.cache/sluice-k8s/<versions>/bin` (or under
 * `SLUICE_K8S_CACHE`), keyed by the versions pinned in `testbed/versions.env`, which
 * `testbed/build.sh` reads too, so the script and the tests cannot disagree on a path.
 */
import { existsSync, readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The binaries the testbed runs, all built by `testbed/build.sh`. */
export const TESTBED_BINARIES = [
  'etcd',
  'kube-apiserver',
  'kube-controller-manager',
  'kube-scheduler',
  'kubectl',
  'kwok',
] as const;
export type TestbedBinary = (typeof TESTBED_BINARIES)[number];

export const BUILD_SCRIPT = fileURLToPath(new URL('../../testbed/build.sh', import.meta.url));
const VERSIONS_FILE = fileURLToPath(new URL('../../testbed/versions.env', import.meta.url));

export interface TestbedVersions {
  readonly etcd: string;
  readonly kube: string;
  readonly kwok: string;
}

export function testbedVersions(): TestbedVersions {
  const values = new Map<string, string>();
  for (const line of readFileSync(VERSIONS_FILE, 'utf8').split('\n')) {
    const match = /^([A-Z_]+)=(\S+)$/.exec(line.trim());
    if (match?.[1] !== undefined && match[2] !== undefined) values.set(match[1], match[2]);
  }
  const get = (name: string): string => {
    const value = values.get(name);
    if (value === undefined) throw new Error(`${VERSIONS_FILE} does not set ${name}`);
    return value;
  };
  return { etcd: get('ETCD_VERSION'), kube: get('KUBE_VERSION'), kwok: get('KWOK_VERSION') };
}

/** The cache folder of this set of versions (the same path build.sh writes). */
export function testbedCacheDir(): string {
  const v = testbedVersions();
  const root = process.env.SLUICE_K8S_CACHE ?? join(homedir(), '.cache', 'sluice-k8s');
  return join(root, `etcd-${v.etcd}_kube-${v.kube}_kwok-${v.kwok}`);
}

export function testbedBinary(name: TestbedBinary): string {
  return join(testbedCacheDir(), 'bin', name);
}

/** kwok's Stage objects (node and pod lifecycles), copied from its module by build.sh. */
export function kwokStagesFile(): string {
  return join(testbedCacheDir(), 'kwok-stages.yaml');
}

/** What build.sh has not produced yet; empty when the testbed can start. */
export function missingTestbedFiles(): string[] {
  const needed = [...TESTBED_BINARIES.map(testbedBinary), kwokStagesFile()];
  return needed.filter((path) => !existsSync(path));
}
