import { existsSync } from 'node:fs';
import { mkdtemp, readdir, readFile, rm, truncate } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type RunJobOptions, runJob, startJob } from '@sluice/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { GenerateLinesArgs } from './test-jobs/generate-lines.ts';
import type { WriteLinesArgs } from './test-jobs/write-lines.ts';

/**
 * Where a job starts when its checkpoint directory already holds checkpoints: resumed by
 * default, fresh on request, or restored from a folder named in one of three forms — and the
 * exactly-once file sink's output stays exact in every case, including a restore from a
 * checkpoint older than output already committed. Each situation is built deterministically: a
 * first run is cancelled once it has completed a given number of checkpoints.
 */

const generateLines = new URL('./test-jobs/generate-lines.ts', import.meta.url);
const writeLines = new URL('./test-jobs/write-lines.ts', import.meta.url);
const COUNT = 100_000;
const TEST_TIMEOUT_MS = 120_000;

let dir: string;
let runs = 0;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'sluice-resume-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function committedLines(directory: string): Promise<{ files: string[]; lines: string[] }> {
  const files = (await readdir(directory)).filter((name) => !name.startsWith('.')).sort();
  const lines: string[] = [];
  for (const file of files) {
    const text = await readFile(join(directory, file), 'utf8');
    if (text.length > 0) lines.push(...text.slice(0, -1).split('\n'));
  }
  return { files, lines };
}

/** The checkpoint a committed file names (`-c<id>`, `-c<id>-end`). */
function committedBy(name: string): number {
  const match = /-c(\d+)(-end)?$/.exec(name);
  if (match === null) throw new Error(`not a committed file of the sink: ${name}`);
  return Number(match[1]);
}

/** The plain loop's answer: every number below COUNT, once (in the files `only` keeps, by name). */
async function expectExactOutput(
  directory: string,
  only: (file: string) => boolean = () => true,
): Promise<void> {
  const files = (await readdir(directory)).filter((name) => !name.startsWith('.') && only(name));
  const lines: string[] = [];
  for (const file of files) {
    const text = await readFile(join(directory, file), 'utf8');
    if (text.length > 0) lines.push(...text.slice(0, -1).split('\n'));
  }
  const seen = new Uint8Array(COUNT);
  let duplicates = 0;
  let foreign = 0;
  for (const line of lines) {
    const n = Number(line);
    if (!Number.isInteger(n) || n < 0 || n >= COUNT) foreign++;
    else if (seen[n] === 1) duplicates++;
    else seen[n] = 1;
  }
  const missing = seen.reduce((sum, v) => sum + (v === 0 ? 1 : 0), 0);
  expect({ duplicates, missing, foreign }).toEqual({ duplicates: 0, missing: 0, foreign: 0 });
}

interface Interrupted {
  readonly output: string;
  readonly checkpoints: string;
  readonly args: GenerateLinesArgs;
  /** Completed checkpoint ids, oldest first. */
  readonly completed: number[];
  readonly savepoint: string | undefined;
}

/** A first run, cancelled once `wanted` checkpoints have completed (and a savepoint taken after the first, if asked). */
async function interrupted(wanted: number, withSavepoint = false): Promise<Interrupted> {
  const base = join(dir, `run-${runs++}`);
  const output = join(base, 'out');
  const checkpoints = join(base, 'checkpoints');
  const args: GenerateLinesArgs = { count: COUNT, directory: output, ratePerSecond: 50_000 };
  const completed: number[] = [];
  let savepoint: string | undefined;
  const cancelWhenDone = (): void => {
    if (completed.length >= wanted && (!withSavepoint || savepoint !== undefined)) void handle.cancel();
  };
  const handle = await startJob<GenerateLinesArgs>(generateLines, {
    parallelism: 2,
    args,
    checkpointing: { directory: checkpoints, intervalMs: 100 },
    log: () => {},
    onCheckpoint: (stats) => {
      completed.push(stats.checkpointId);
      if (completed.length === 1 && withSavepoint) {
        void handle.savepoint(join(base, 'savepoint')).then((folder) => {
          savepoint = folder;
          cancelWhenDone();
        });
      }
      cancelWhenDone();
    },
  });
  await handle.result.catch(() => undefined);
  expect(completed.length).toBeGreaterThanOrEqual(wanted);
  if (withSavepoint) expect(savepoint).toBeDefined();
  // A part was committed, not all of it: the second run has work left.
  const { lines } = await committedLines(output);
  expect(lines.length).toBeGreaterThan(0);
  expect(lines.length).toBeLessThan(COUNT);
  return { output, checkpoints, args, completed, savepoint };
}

function again(
  first: Interrupted,
  messages: string[],
  extra: Partial<RunJobOptions<GenerateLinesArgs>> = {},
) {
  return runJob<GenerateLinesArgs>(generateLines, {
    parallelism: 2,
    args: first.args,
    checkpointing: { directory: first.checkpoints, intervalMs: 100 },
    log: (message) => messages.push(message),
    ...extra,
  });
}

async function stateFileOf(folder: string): Promise<string> {
  const file = (await readdir(folder)).find((name) => name.endsWith('.state'));
  if (file === undefined) throw new Error(`no state file in ${folder}`);
  return join(folder, file);
}

describe('starting a job over its checkpoint directory', () => {
  it(
    'resumes by default from the newest checkpoint of the same job, and the output is exact',
    async () => {
      const first = await interrupted(2);
      const newest = first.completed.at(-1)!;
      const messages: string[] = [];
      const result = await again(first, messages);
      expect(messages).toContain(
        `resuming job 'generate-lines' from checkpoint ${newest} (${join(first.checkpoints, `chk-${newest}`)}); --fresh starts over instead`,
      );
      expect(result.sourceRecords).toBeLessThan(COUNT);
      await expectExactOutput(first.output);
      // A run that finished leaves nothing to resume: the next start is fresh, and says so.
      const finishedFiles = new Set((await readdir(first.output)).filter((name) => !name.startsWith('.')));
      const next: string[] = [];
      const rerun = await again(first, next);
      expect(next.some((m) => m.startsWith(`the previous run of job 'generate-lines' in `))).toBe(true);
      expect(rerun.sourceRecords).toBe(COUNT);
      // It wrote the whole output again, beside the finished run's, which it left alone.
      for (const name of finishedFiles) expect(existsSync(join(first.output, name))).toBe(true);
      await expectExactOutput(first.output, (name) => !finishedFiles.has(name));
      // Named explicitly, the directory of a finished run still gives its newest checkpoint.
      const named: string[] = [];
      const restored = await again(first, named, { restoreFrom: first.checkpoints });
      expect(
        named.some(
          (m) =>
            m.startsWith('restoring from ') &&
            m.endsWith(`the newest valid checkpoint in ${first.checkpoints}`),
        ),
      ).toBe(true);
      expect(restored.sourceRecords).toBeLessThan(COUNT);
      await expectExactOutput(first.output, (name) => !finishedFiles.has(name));
    },
    TEST_TIMEOUT_MS,
  );

  it(
    'fresh: starts over, says what it leaves, and deletes the old checkpoints only once it has completed one',
    async () => {
      const first = await interrupted(2);
      // Committed files only: hidden in-progress leftovers of the cancelled run are removed at the end.
      const oldOutput = new Set((await readdir(first.output)).filter((name) => !name.startsWith('.')));
      const newestOld = Math.max(...first.completed);
      const old = (await readdir(first.checkpoints)).filter((name) => name.startsWith('chk-'));
      expect(old.length).toBeGreaterThan(0);
      const messages: string[] = [];
      let oldPresentAtStart = false;
      const result = await again(first, messages, {
        fresh: true,
        log: (message) => {
          if (message.startsWith("starting job 'generate-lines' fresh"))
            oldPresentAtStart = old.every((name) => existsSync(join(first.checkpoints, name)));
          messages.push(message);
        },
      });
      expect(oldPresentAtStart).toBe(true);
      expect(messages.find((m) => m.startsWith("starting job 'generate-lines' fresh"))).toMatch(
        /the \d+ complete checkpoints? in .* \(chk-\d+ to chk-\d+\) will not be used, and are deleted once this run has completed its first checkpoint/,
      );
      expect(result.sourceRecords).toBe(COUNT);
      expect(result.checkpoints.completed.length).toBeGreaterThan(0);
      for (const name of old) expect(existsSync(join(first.checkpoints, name))).toBe(false);
      // The fresh run wrote the whole output, once, in files of its own checkpoints (numbered
      // after the old ones); the old run's files are left alone (a restore of them needs them).
      for (const name of oldOutput) expect(existsSync(join(first.output, name))).toBe(true);
      await expectExactOutput(first.output, (name) => !oldOutput.has(name));
      for (const name of await readdir(first.output))
        if (!oldOutput.has(name)) expect(committedBy(name)).toBeGreaterThanOrEqual(newestOld);
    },
    TEST_TIMEOUT_MS,
  );

  it(
    'refuses checkpoints of another job, naming both',
    async () => {
      const first = await interrupted(2);
      await expect(
        runJob<WriteLinesArgs>(writeLines, {
          args: { input: [1, 2, 3], directory: join(dir, `other-${runs++}`) },
          checkpointing: { directory: first.checkpoints, intervalMs: 100 },
          log: () => {},
        }),
      ).rejects.toMatchObject({
        code: 'SLUICE_CHECKPOINT_JOB_MISMATCH',
        message: expect.stringContaining(
          "holds a checkpoint of job 'generate-lines', not of job 'write-lines'",
        ),
      });
    },
    TEST_TIMEOUT_MS,
  );
});

describe('restoreFrom (--restore)', () => {
  it.each(['checkpoint directory', 'chk-N folder', 'savepoint'] as const)(
    'takes a %s, and the output is exact',
    async (form) => {
      const first = await interrupted(2, form === 'savepoint');
      const newest = first.completed.at(-1)!;
      const target =
        form === 'checkpoint directory'
          ? first.checkpoints
          : form === 'chk-N folder'
            ? join(first.checkpoints, `chk-${newest}`)
            : first.savepoint!;
      const messages: string[] = [];
      const result = await again(first, messages, { restoreFrom: target });
      expect(result.sourceRecords).toBeLessThan(COUNT);
      if (form === 'checkpoint directory')
        expect(messages).toContain(
          `restoring from ${join(first.checkpoints, `chk-${newest}`)}, the newest valid checkpoint in ${first.checkpoints}`,
        );
      await expectExactOutput(first.output);
    },
    TEST_TIMEOUT_MS,
  );

  it.each(['chk-N folder', 'checkpoint directory'] as const)(
    'given a %s whose newest checkpoint is corrupt, falls back to the previous valid one, says so, and takes back the output committed after it',
    async (form) => {
      const first = await interrupted(3);
      const [previous, newest] = first.completed.slice(-2) as [number, number];
      const newestFolder = join(first.checkpoints, `chk-${newest}`);
      await truncate(await stateFileOf(newestFolder), 3);
      // Output of the newest checkpoint was committed: restoring the previous one makes it again.
      const { files } = await committedLines(first.output);
      expect(files.some((name) => name.endsWith(`-c${newest}`))).toBe(true);
      const messages: string[] = [];
      await again(first, messages, {
        restoreFrom: form === 'chk-N folder' ? newestFolder : first.checkpoints,
      });
      const text = messages.join('\n');
      if (form === 'chk-N folder') {
        expect(text).toContain(`cannot restore from ${newestFolder}:`);
        expect(text).toContain(
          `falling back to the previous valid checkpoint, ${join(first.checkpoints, `chk-${previous}`)}`,
        );
      } else {
        expect(text).toContain(
          `checkpoint ${newest} named by ${join(first.checkpoints, '_latest')} is not usable`,
        );
        expect(text).toContain(`truncated to 3 of`);
      }
      expect(text).toContain(
        `WARNING: restoring checkpoint ${previous} although checkpoint ${newest} completed after it`,
      );
      await expectExactOutput(first.output);
    },
    TEST_TIMEOUT_MS,
  );

  it(
    'restoring an older checkpoint explicitly: the file sink removes what newer checkpoints committed, and the output is exact',
    async () => {
      const first = await interrupted(3);
      const [oldest, ...newer] = first.completed.slice(-3) as [number, ...number[]];
      const before = await committedLines(first.output);
      for (const id of newer) expect(before.files.some((name) => name.endsWith(`-c${id}`))).toBe(true);
      const messages: string[] = [];
      await again(first, messages, { restoreFrom: join(first.checkpoints, `chk-${oldest}`) });
      expect(messages.join('\n')).toContain(
        `WARNING: restoring checkpoint ${oldest} although checkpoints ${newer.join(', ')} completed after it`,
      );
      await expectExactOutput(first.output);
      // The abandoned newer checkpoints were deleted once the restored run completed its own.
      for (const id of newer) expect(existsSync(join(first.checkpoints, `chk-${id}`))).toBe(false);
    },
    TEST_TIMEOUT_MS,
  );
});
