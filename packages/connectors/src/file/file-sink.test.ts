import { access, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ConfigError, runJob, type SinkWriterContext, silentLogger, startJob } from '@sluice/core';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { FileCommittable } from './file-commit.ts';
import { fileSink } from './file-sink.ts';
import type { GenerateLinesArgs } from './test-jobs/generate-lines.ts';
import type { WriteLinesArgs } from './test-jobs/write-lines.ts';
import { FileConnectorError } from './text-file-source.ts';

const writeLinesJob = new URL('./test-jobs/write-lines.ts', import.meta.url);
const generateLinesJob = new URL('./test-jobs/generate-lines.ts', import.meta.url);

let dir: string;
let runs = 0;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'sluice-file-sink-'));
});

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** Every line of every file in `directory` whose name starts with `prefix-`. */
async function readParts(directory: string, prefix = 'part'): Promise<{ files: string[]; lines: string[] }> {
  const files = (await readdir(directory)).filter((name) => name.startsWith(`${prefix}-`)).sort();
  const lines: string[] = [];
  for (const file of files) {
    const text = await readFile(join(directory, file), 'utf8');
    if (text.length === 0) continue;
    expect(text.endsWith('\n')).toBe(true);
    lines.push(...text.slice(0, -1).split('\n'));
  }
  return { files, lines };
}

function context(
  subtaskIndex: number,
  options: {
    checkpointing?: boolean;
    restoredState?: readonly unknown[];
    restoredCheckpointId?: number;
    handedOver?: unknown[][];
  } = {},
): SinkWriterContext {
  return {
    jobName: 'test',
    operatorId: 'sink',
    subtaskIndex,
    parallelism: 1,
    logger: silentLogger,
    sendToCoordinator: () => {},
    sendOnSuccess: () => {},
    commitAtEnd: (committables) => options.handedOver?.push([...committables]),
    checkpointing: options.checkpointing ?? false,
    restoredState: options.restoredState,
    restoredStateOfAllSubtasks: options.restoredState,
    restoredCheckpointId: options.restoredCheckpointId,
  };
}

/** The visible files' lines (in name order) and the names of the hidden files in `directory`. */
async function readDirectory(
  directory: string,
): Promise<{ visible: string[]; hidden: string[]; lines: string[] }> {
  const names = (await readdir(directory)).sort();
  const visible = names.filter((name) => !name.startsWith('.'));
  const hidden = names.filter((name) => name.startsWith('.'));
  const lines: string[] = [];
  for (const name of visible) {
    const text = await readFile(join(directory, name), 'utf8');
    if (text.length === 0) continue;
    expect(text.endsWith('\n')).toBe(true);
    lines.push(...text.slice(0, -1).split('\n'));
  }
  return { visible, hidden, lines };
}

/** The plain answer for the generate-lines job: every number below `count` exactly once. */
function expectEveryNumberOnce(lines: readonly string[], count: number): void {
  const seen = new Uint8Array(count);
  let duplicates = 0;
  let foreign = 0;
  for (const line of lines) {
    const n = Number(line);
    if (!Number.isInteger(n) || n < 0 || n >= count || String(n) !== line) foreign++;
    else if (seen[n] === 1) duplicates++;
    else seen[n] = 1;
  }
  const missing = seen.reduce((sum, times) => sum + (times === 0 ? 1 : 0), 0);
  expect({ duplicates, missing, foreign, lines: lines.length }).toEqual({
    duplicates: 0,
    missing: 0,
    foreign: 0,
    lines: count,
  });
}

const exists = (path: string): Promise<boolean> =>
  access(path).then(
    () => true,
    () => false,
  );

/** A deterministic pseudo-random sequence, so a failing run can be replayed. */
function random(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (Math.imul(state ^ (state >>> 15), 0x2c1b3c6d) + 0x9e3779b9) >>> 0;
    return state / 2 ** 32;
  };
}

// Lines without '\n' (the sink writes one line per record), with multi-byte characters.
const line = fc.string({ unit: fc.constantFrom('a', 'b', ' ', 'é', '😀', '\t', '\r'), maxLength: 12 });

describe('fileSink in a job', () => {
  for (const parallelism of [1, 2, 4]) {
    it(`writes one file per subtask whose union is the input at parallelism ${parallelism}`, async () => {
      await fc.assert(
        fc.asyncProperty(fc.array(line, { maxLength: 3000 }), async (input) => {
          // A directory that does not exist yet, nested, so that open() has to create it.
          const directory = join(dir, `run-${runs++}`, 'out');
          await runJob<WriteLinesArgs>(writeLinesJob, { parallelism, args: { input, directory } });
          const { files, lines } = await readParts(directory);
          expect(files).toEqual(Array.from({ length: parallelism }, (_, i) => `part-${i}`).sort());
          expect(lines.sort()).toEqual([...input].sort());
        }),
        { numRuns: 3 },
      );
    });
  }

  it('writes non-string records as JSON, under a prefix', async () => {
    const input = Array.from({ length: 1000 }, (_, i) => ({ n: i, word: `w${i % 10}` }));
    const directory = join(dir, `run-${runs++}`);
    await runJob<WriteLinesArgs>(writeLinesJob, {
      parallelism: 2,
      args: { input, directory, prefix: 'counts' },
    });
    const { files, lines } = await readParts(directory, 'counts');
    expect(files).toEqual(['counts-0', 'counts-1']);
    expect(lines.map((l) => JSON.parse(l) as { n: number }).sort((a, b) => a.n - b.n)).toEqual(input);
  });

  it('fails the job with an error naming the directory when it cannot be created', async () => {
    const blocker = join(dir, `blocker-${runs++}`);
    await writeFile(blocker, 'a file, not a directory');
    const directory = join(blocker, 'out');
    await expect(
      runJob<WriteLinesArgs>(writeLinesJob, { parallelism: 1, args: { input: ['x'], directory } }),
    ).rejects.toThrow(blocker);
  });
});

describe('fileSink writer', () => {
  it('writes in flush, returning the pending write, and the rest in close', async () => {
    const directory = join(dir, `writer-${runs++}`);
    const writer = fileSink<string | number>(directory, { format: (v) => `<${v}>` }).createWriter(context(3));
    await writer.open?.();
    expect(writer.flush?.()).toBeUndefined(); // nothing buffered: no promise, no pause
    writer.write('a', undefined);
    writer.write(2, undefined);
    const pending = writer.flush?.();
    expect(pending).toBeInstanceOf(Promise);
    await pending;
    expect(await readFile(join(directory, 'part-3'), 'utf8')).toBe('<a>\n<2>\n');
    writer.write('c', undefined);
    await writer.close?.();
    expect(await readFile(join(directory, 'part-3'), 'utf8')).toBe('<a>\n<2>\n<c>\n');
  });

  it('truncates a part file left by an earlier run', async () => {
    const directory = join(dir, `writer-${runs++}`);
    const first = fileSink<string>(directory).createWriter(context(0));
    await first.open?.();
    first.write('old 1', undefined);
    first.write('old 2', undefined);
    await first.close?.();
    const second = fileSink<string>(directory).createWriter(context(0));
    await second.open?.();
    second.write('new', undefined);
    await second.close?.();
    expect(await readFile(join(directory, 'part-0'), 'utf8')).toBe('new\n');
  });

  it('closes without having been opened (a job cancelled early)', async () => {
    const writer = fileSink<string>(join(dir, 'never-opened')).createWriter(context(0));
    await expect(Promise.resolve(writer.close?.())).resolves.toBeUndefined();
  });

  it('reports a failure to open with the file path', async () => {
    const blocker = join(dir, `blocker-${runs++}`);
    await writeFile(blocker, '');
    const writer = fileSink<string>(blocker).createWriter(context(0));
    const error = await Promise.resolve(writer.open?.()).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(FileConnectorError);
    expect((error as Error).message).toContain(blocker);
  });

  it('validates its options up front, naming them', () => {
    expect(() => fileSink('')).toThrow(ConfigError);
    expect(() => fileSink('')).toThrow(/"directory"/);
    expect(() => fileSink('out', { prefix: '' })).toThrow(/"prefix"/);
    expect(() => fileSink('out', { prefix: 'a/b' })).toThrow(/"prefix"/);
    expect(() => fileSink('out', { format: 'json' as unknown as () => string })).toThrow(/"format"/);
  });
});

describe('fileSink writer with checkpoints', () => {
  it('prepares at each barrier, commits when the checkpoint completes, and commits again harmlessly', async () => {
    const directory = join(dir, `writer-${runs++}`);
    const handedOver: unknown[][] = [];
    const sink = fileSink<string>(directory);
    const writer = sink.createWriter(context(0, { checkpointing: true, handedOver }));
    await writer.open?.();
    writer.write('a', undefined);
    writer.write('b', undefined);
    await writer.flush?.();
    // Written, but hidden: nothing is visible before a checkpoint completes.
    let listing = await readDirectory(directory);
    expect(listing.visible).toEqual([]);
    expect(listing.hidden).toEqual([expect.stringMatching(/^\.part-0-[0-9a-f]+-0\.inprogress$/)]);

    // A line not flushed yet goes into the file at the barrier.
    writer.write('c', undefined);
    const first = writer.snapshotState?.(1) as FileCommittable[];
    expect(first).toHaveLength(1);
    const [id1, inProgress1, final1] = first[0]!;
    expect(id1).toBe(1);
    expect(inProgress1).toBe(join(directory, listing.hidden[0]!));
    // The final name says which checkpoint committed it.
    expect(final1).toBe(join(directory, `${listing.hidden[0]!.slice(1, -'.inprogress'.length)}-c1`));
    expect(await readFile(inProgress1, 'utf8')).toBe('a\nb\nc\n');
    expect(await exists(final1)).toBe(false);

    // Nothing new: no new file, the pending one is still listed (a copy).
    const second = writer.snapshotState?.(2) as FileCommittable[];
    expect(second).toEqual(first);
    expect(second[0]).not.toBe(first[0]);

    writer.write('d', undefined);
    await writer.flush?.();
    const third = writer.snapshotState?.(3) as FileCommittable[];
    expect(third).toHaveLength(2);
    const [, inProgress3, final3] = third[1]!;

    // Phase two, twice at once and once more later: renamed exactly once.
    await Promise.all([writer.notifyCheckpointComplete?.(1), writer.notifyCheckpointComplete?.(1)]);
    expect(await readFile(final1, 'utf8')).toBe('a\nb\nc\n');
    expect(await exists(inProgress1)).toBe(false);
    expect(await exists(final3)).toBe(false);
    expect(writer.notifyCheckpointComplete?.(2)).toBeUndefined();
    expect(writer.snapshotState?.(4)).toEqual([[3, inProgress3, final3]]);

    // End of input: the last file and the uncommitted pending one go to commitAtEnd.
    writer.write('e', undefined);
    await writer.close?.();
    expect(handedOver).toHaveLength(1);
    const atEnd = handedOver[0] as FileCommittable[];
    expect(atEnd.map(([id]) => id)).toEqual([3, Number.POSITIVE_INFINITY]);
    expect(atEnd[0]).toEqual([3, inProgress3, final3]);
    expect(await exists(final3)).toBe(false);
    await sink.commitAtEnd?.(atEnd, { logger: silentLogger });
    await sink.commitAtEnd?.(atEnd, { logger: silentLogger }); // idempotent too
    listing = await readDirectory(directory);
    expect(listing.hidden).toEqual([]);
    expect(listing.visible).toHaveLength(3);
    expect(listing.lines.sort()).toEqual(['a', 'b', 'c', 'd', 'e']);
    expect(await readFile(final3, 'utf8')).toBe('d\n');
  });

  it('commits restored files on open, also those renamed just before a crash', async () => {
    const directory = join(dir, `writer-${runs++}`);
    const sink = fileSink<string>(directory);
    // The first attempt: checkpoint 1 completes and its file is renamed, checkpoint 2 completes
    // too, then the thread dies — before checkpoint 1's rename was recorded, before 2's happened.
    const crashed = sink.createWriter(context(0, { checkpointing: true }));
    await crashed.open?.();
    crashed.write('one', undefined);
    const checkpoint1 = crashed.snapshotState?.(1) as FileCommittable[];
    await crashed.notifyCheckpointComplete?.(1);
    expect(await exists(checkpoint1[0]![2])).toBe(true);
    crashed.write('two', undefined);
    const checkpoint2 = crashed.snapshotState?.(2) as FileCommittable[];
    expect(checkpoint2.map(([id]) => id)).toEqual([2]);
    // As if checkpoint 2 had been taken while checkpoint 1's rename was still running.
    const restoredState: FileCommittable[] = [...checkpoint1, ...checkpoint2];
    // Written after checkpoint 2 by the crashed attempt, never to be committed.
    crashed.write('lost', undefined);
    await crashed.flush?.();

    // The restored attempt, at another subtask index: committables carry absolute paths.
    const handedOver: unknown[][] = [];
    const restored = sink.createWriter(
      context(1, { checkpointing: true, restoredState, restoredCheckpointId: 2, handedOver }),
    );
    await restored.open?.();
    let listing = await readDirectory(directory);
    expect(listing.lines.sort()).toEqual(['one', 'two']);
    // The leftover is still there: the other subtasks might be writing theirs right now.
    expect(listing.hidden).toHaveLength(1);

    // Restoring the same checkpoint once more commits nothing twice.
    const again = sink.createWriter(
      context(0, { checkpointing: true, restoredState, restoredCheckpointId: 2 }),
    );
    await again.open?.();
    await again.close?.();
    expect((await readDirectory(directory)).lines.sort()).toEqual(['one', 'two']);

    restored.write('three', undefined);
    await restored.close?.();
    // Other prefixes' files and unrelated hidden files are not the sink's to delete.
    await writeFile(join(directory, '.other-0-abc-0.inprogress'), 'not ours\n');
    await writeFile(join(directory, '.keep'), '');
    await sink.commitAtEnd?.(handedOver.flat(), { logger: silentLogger });
    listing = await readDirectory(directory);
    expect(listing.lines.sort()).toEqual(['one', 'three', 'two']);
    expect(listing.hidden).toEqual(['.keep', '.other-0-abc-0.inprogress']);
    await crashed.close?.(); // releases the crashed writer's file handle (its file is gone)
  });

  it('fails loudly when a restored file is gone under both of its names', async () => {
    const directory = join(dir, `writer-${runs++}`);
    const inProgress = join(directory, '.part-0-gone-0.inprogress');
    const writer = fileSink<string>(directory).createWriter(
      context(0, { checkpointing: true, restoredState: [[1, inProgress, join(directory, 'part-0-gone-0')]] }),
    );
    const error = await Promise.resolve(writer.open?.()).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(FileConnectorError);
    expect((error as Error).message).toContain(inProgress);
  });

  it("refuses restored state that is not a file sink's", async () => {
    const writer = fileSink<string>(join(dir, `writer-${runs++}`)).createWriter(
      context(0, { checkpointing: true, restoredState: [{ records: [1, 2] }] }),
    );
    await expect(Promise.resolve(writer.open?.())).rejects.toThrow(/not a file sink's/);
  });

  it('creates no file for a checkpoint without data, and hands over an empty list at the end', async () => {
    const directory = join(dir, `writer-${runs++}`);
    const handedOver: unknown[][] = [];
    const writer = fileSink<string>(directory).createWriter(context(0, { checkpointing: true, handedOver }));
    await writer.open?.();
    expect(writer.flush?.()).toBeUndefined();
    expect(writer.snapshotState?.(1)).toEqual([]);
    expect(writer.notifyCheckpointComplete?.(1)).toBeUndefined();
    await writer.close?.();
    expect(handedOver).toEqual([[]]);
    expect(await readdir(directory)).toEqual([]);
  });

  it('commits restored files when the restored job runs without checkpoints', async () => {
    const directory = join(dir, `writer-${runs++}`);
    const sink = fileSink<string>(directory);
    const before = sink.createWriter(context(0, { checkpointing: true }));
    await before.open?.();
    before.write('prepared', undefined);
    const restoredState = (await before.snapshotState?.(1)) ?? [];
    before.write('after the checkpoint', undefined);
    await before.flush?.();
    const handedOver: unknown[][] = [];
    const writer = sink.createWriter(context(0, { restoredState, handedOver }));
    await writer.open?.();
    writer.write('direct', undefined);
    await writer.close?.();
    expect(handedOver).toEqual([[]]); // so that commitAtEnd removes the leftover
    await sink.commitAtEnd?.(handedOver.flat(), { logger: silentLogger });
    const listing = await readDirectory(directory);
    expect(listing.hidden).toEqual([]);
    expect(listing.visible).toContain('part-0');
    expect(listing.lines.sort()).toEqual(['direct', 'prepared']);
    await before.close?.();
  });
});

/** Slows a generate-lines job down to `ratePerSecond`, so that it can be checkpointed and crashed. */
function throttle(ratePerSecond: number): Partial<GenerateLinesArgs> {
  return { ratePerSecond };
}

describe('fileSink exactly-once in a job', () => {
  it('writes every record exactly once while worker threads are killed after checkpoints', async () => {
    const directory = join(dir, `run-${runs++}`, 'out');
    const checkpoints = await mkdtemp(join(dir, 'checkpoints-'));
    const args: GenerateLinesArgs = { count: 200_000, directory, ...throttle(100_000) };
    const next = random(7);
    const killsWanted = 6;
    let kills = 0;
    let killInFlight = false;
    let killing: Promise<unknown> = Promise.resolve();
    const messages: string[] = [];
    const handle = await startJob<GenerateLinesArgs>(generateLinesJob, {
      parallelism: 2,
      args,
      checkpointing: { directory: checkpoints, intervalMs: 100 },
      restartStrategy: { kind: 'fixed-delay', attempts: 100, delayMs: 20 },
      log: (message) => messages.push(message),
      onCheckpoint: () => {
        // One kill at a time, at a random point after a checkpoint: mid-write, mid-barrier, or at
        // once, before the worker has renamed the files of the checkpoint that just completed.
        if (killInFlight || kills >= killsWanted) return;
        killInFlight = true;
        const delayMs = next() < 0.5 ? 0 : next() * 150;
        killing = new Promise((resolve) => setTimeout(resolve, delayMs))
          .then(() => handle.terminateWorker(Math.floor(next() * 2)))
          .then((killed) => {
            if (killed) kills++;
            killInFlight = false;
          });
      },
    });
    const result = await handle.result;
    await killing;
    expect(kills).toBeGreaterThanOrEqual(5);
    expect(result.restarts).toBeGreaterThanOrEqual(5);
    const { visible, hidden, lines } = await readDirectory(directory);
    expect(hidden).toEqual([]);
    expect(visible.every((name) => /^part-[01]-[0-9a-f]+-\d+-c\d+(-end)?$/.test(name))).toBe(true);
    expectEveryNumberOnce(lines, args.count);
  }, 120_000);

  for (const restored of [
    { parallelism: 3, checkpointing: false },
    { parallelism: 1, checkpointing: true },
  ]) {
    it(`ends with exact output when restored at parallelism ${restored.parallelism} ${restored.checkpointing ? 'with' : 'without'} checkpoints`, async () => {
      const directory = join(dir, `run-${runs++}`, 'out');
      const checkpoints = await mkdtemp(join(dir, 'checkpoints-'));
      const args: GenerateLinesArgs = { count: 100_000, directory, ...throttle(100_000) };
      // Run at parallelism 2 until two checkpoints are complete, then cancel it.
      let completed = 0;
      const first = await startJob<GenerateLinesArgs>(generateLinesJob, {
        parallelism: 2,
        args,
        checkpointing: { directory: checkpoints, intervalMs: 100 },
        onCheckpoint: () => {
          completed++;
          if (completed === 2) void first.cancel();
        },
      });
      await first.result.catch(() => undefined);
      expect(completed).toBeGreaterThanOrEqual(2);
      // What the cancelled run committed is part of the input, with no duplicate.
      const partial = (await readDirectory(directory)).lines;
      expect(partial.length).toBeLessThan(args.count);
      expect(new Set(partial).size).toBe(partial.length);

      const result = await runJob<GenerateLinesArgs>(generateLinesJob, {
        parallelism: restored.parallelism,
        args,
        // The directory: its newest complete checkpoint (the newest chk-<n> folder may be one the
        // cancellation interrupted).
        restoreFrom: checkpoints,
        ...(restored.checkpointing
          ? { checkpointing: { directory: await mkdtemp(join(dir, 'checkpoints-')), intervalMs: 100 } }
          : {}),
      });
      expect(result.sourceRecords).toBeLessThan(args.count);
      const { hidden, lines } = await readDirectory(directory);
      expect(hidden).toEqual([]);
      expectEveryNumberOnce(lines, args.count);
    }, 60_000);
  }
});
