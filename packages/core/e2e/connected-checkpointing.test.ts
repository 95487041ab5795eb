import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runJob } from '@sluice/core';
import { afterEach, describe, expect, it } from 'vitest';
import type { BothCounts, ConnectedCountingArgs } from './jobs/connected-counting.ts';

const job = new URL('./jobs/connected-counting.ts', import.meta.url);
const folders: string[] = [];
afterEach(async () => {
  for (const folder of folders.splice(0)) await rm(folder, { recursive: true, force: true });
});
async function tempDir(): Promise<string> {
  const folder = await mkdtemp(join(tmpdir(), 'sluice-connected-checkpoints-'));
  folders.push(folder);
  return folder;
}

describe('two-input operators in checkpoints', () => {
  for (const backend of ['heap', 'leveldb'] as const) {
    it(`count both inputs exactly once through a failure and a restore from a checkpoint aligned across both (${backend} state)`, async () => {
      const args: ConnectedCountingArgs = {
        events: 40_000,
        keys: 100,
        ratePerSecond: 40_000,
        crashAt: 30_000,
        crashes: new SharedArrayBuffer(4),
      };
      const messages: string[] = [];
      const result = await runJob<ConnectedCountingArgs>(job, {
        parallelism: 2,
        args,
        checkpointing: { directory: await tempDir(), intervalMs: 100 },
        restartStrategy: { kind: 'fixed-delay', attempts: 3, delayMs: 10 },
        stateBackend: backend === 'heap' ? 'heap' : { kind: 'leveldb', directory: await tempDir() },
        log: (message) => messages.push(message),
      });
      // The outcome does not depend on when checkpoints happen; that one completed before the
      // failure is what makes the restart resume rather than start over (both are exact).
      expect(result.restarts).toBe(1);
      expect(result.checkpoints.completed.length).toBeGreaterThan(0);
      expect(messages.some((m) => m.includes('injected failure at record 30000'))).toBe(true);
      expect(result.collected('gaps')).toEqual([]);
      const counts = result.collected<BothCounts>('counts').sort((a, b) => a.key - b.key);
      // The plain loop: every key gets events / keys records of the first input, half that of the second.
      expect(counts).toEqual(
        Array.from({ length: args.keys }, (_, key) => ({
          key,
          first: args.events / args.keys,
          second: args.events / 2 / args.keys,
        })),
      );
    }, 120_000);
  }
});
