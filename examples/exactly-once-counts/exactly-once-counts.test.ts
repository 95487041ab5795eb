import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runJob, startJob } from '@sluice/core';
import { afterEach, describe, expect, it } from 'vitest';
import { type ExactlyOnceCountsArgs, expectedLines } from './job.ts';

const job = new URL('./job.ts', import.meta.url);

const folders: string[] = [];
afterEach(async () => {
  for (const folder of folders.splice(0)) await rm(folder, { recursive: true, force: true });
});

/** The lines of the sink's committed files (in-progress files start with '.'). */
async function committedLines(folder: string): Promise<string[]> {
  const lines: string[] = [];
  for (const name of await readdir(folder).catch(() => [] as string[])) {
    if (name.startsWith('.')) continue;
    for (const line of (await readFile(join(folder, name), 'utf8')).split('\n'))
      if (line !== '') lines.push(line);
  }
  return lines;
}

async function waitUntil(what: string, check: () => Promise<boolean>): Promise<void> {
  const deadline = Date.now() + 60_000;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`waited 60 s for ${what}, in vain`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

describe('examples/exactly-once-counts', () => {
  it("commits the plain loop's lines exactly once, across a worker crash and the restore", async () => {
    const dir = await mkdtemp(join(tmpdir(), 'sluice-eoc-'));
    folders.push(dir);
    const output = join(dir, 'out');
    // As the rendered manifests pass them: every argument a string.
    const args: ExactlyOnceCountsArgs = { events: '4000', keys: '7', ratePerSecond: '4000', output };
    const handle = await startJob<ExactlyOnceCountsArgs>(job, {
      parallelism: 2,
      args,
      checkpointing: { directory: join(dir, 'checkpoints'), intervalMs: 100 },
      restartStrategy: { kind: 'fixed-delay', attempts: 5, delayMs: 10 },
    });
    const outcome = handle.result.catch((error: unknown) => error);
    await waitUntil(
      'a quarter of the output committed',
      async () => (await committedLines(output)).length >= 1000,
    );
    expect(await handle.terminateWorker(1)).toBe(true);
    await waitUntil('every event committed', async () => (await committedLines(output)).length >= 4000);
    expect((await committedLines(output)).sort()).toEqual(expectedLines(4000, 7).sort());
    await handle.cancel();
    // The source never ends: only cancelling stops the job.
    expect(await outcome).toBeInstanceOf(Error);
  }, 120_000);

  it('refuses an argument that is not a whole number, naming it', async () => {
    await expect(
      runJob<ExactlyOnceCountsArgs>(job, {
        args: { events: 'many', keys: 1, ratePerSecond: 1, output: '/tmp/x' },
      }),
    ).rejects.toThrow(/argument events must be a whole number above 0, got "many"/);
  });
});
