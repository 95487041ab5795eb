import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ConfigError, runJob, type SinkWriterContext } from '@sluice/core';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fileSink } from './file-sink.ts';
import type { WriteLinesArgs } from './test-jobs/write-lines.ts';
import { FileConnectorError } from './text-file-source.ts';

const writeLinesJob = new URL('./test-jobs/write-lines.ts', import.meta.url);

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

function context(subtaskIndex: number): SinkWriterContext {
  return {
    jobName: 'test',
    operatorId: 'sink',
    subtaskIndex,
    parallelism: 1,
    sendToCoordinator: () => {},
    sendOnSuccess: () => {},
    commitAtEnd: () => {},
    checkpointing: false,
    restoredState: undefined,
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
