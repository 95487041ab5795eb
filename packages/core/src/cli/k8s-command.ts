/**
 * `sluice k8s ...`: the Kubernetes commands live in `@sluice/k8s` (they need
 * `@kubernetes/client-node`, which a job that never sees Kubernetes should not install), so this
 * command finds that package — next to the user's project first, then next to this one — and runs
 * its `sluice-k8s` bin with the same arguments, in a process of its own.
 */
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { ConfigError } from '../errors.ts';

/** The `sluice-k8s` bin of the nearest `@sluice/k8s`, or undefined when none is installed. */
export function findK8sBin(from: readonly string[]): string | undefined {
  for (const base of from) {
    let manifest: string;
    try {
      manifest = createRequire(base).resolve('@sluice/k8s/package.json');
    } catch {
      continue;
    }
    const bin = (JSON.parse(readFileSync(manifest, 'utf8')) as { bin?: Record<string, string> }).bin?.[
      'sluice-k8s'
    ];
    if (bin !== undefined) return join(dirname(manifest), bin);
  }
  return undefined;
}

/** Runs `sluice-k8s args...`; resolves with its exit code. */
export async function runK8sCommand(args: readonly string[]): Promise<number> {
  const bin = findK8sBin([join(process.cwd(), 'package.json'), import.meta.url]);
  if (bin === undefined) {
    throw new ConfigError(
      "sluice k8s needs the package @sluice/k8s: install it beside @sluice/core (npm install @sluice/k8s), or run its 'sluice-k8s' command",
    );
  }
  const child = spawn(process.execPath, [bin, ...args], { stdio: 'inherit' });
  return new Promise((resolve, reject) => {
    child.once('error', reject);
    child.once('close', (code, signal) => resolve(code ?? (signal === null ? 1 : 128 + 15)));
  });
}
