import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  ConfigError,
  PollStatus,
  runJob,
  type SourceProgress,
  type SourceReaderContext,
  silentLogger,
} from '@sluice/core';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ReadLinesArgs } from './test-jobs/read-lines.ts';
import { FileConnectorError, type TextFileSourceOptions, textFileSource } from './text-file-source.ts';

const readLinesJob = new URL('./test-jobs/read-lines.ts', import.meta.url);

/** The plain answer: split on '\n', no empty line after a final '\n', one trailing '\r' dropped. */
function linesOf(content: string): string[] {
  if (content.length === 0) return [];
  const lines = content.split('\n');
  if (content.endsWith('\n')) lines.pop();
  return lines.map((line) => (line.endsWith('\r') ? line.slice(0, -1) : line));
}

/** Polls one subtask's reader to the end the way a source task does, honouring `Pending`. */
async function readSubtask(
  paths: string | readonly string[],
  subtaskIndex: number,
  parallelism: number,
  options: TextFileSourceOptions = {},
  maxRecords = 7,
  /** Gets the reader's progress after open and after every poll. */
  progress?: SourceProgress[],
): Promise<string[]> {
  let notified = false;
  let wake: (() => void) | undefined;
  const context: SourceReaderContext = {
    jobName: 'test',
    logger: silentLogger,
    operatorId: 'source',
    subtaskIndex,
    parallelism,
    currentProcessingTime: () => 0,
    restoredState: undefined,
    notifyAvailable: () => {
      notified = true;
      wake?.();
    },
  };
  const reader = textFileSource(paths, options).createReader(context);
  const lines: string[] = [];
  const output = { collect: (line: string) => lines.push(line), emitWatermark() {}, markIdle() {} };
  await reader.open?.();
  if (progress !== undefined) progress.push(reader.progress!());
  try {
    for (let polls = 0; ; polls++) {
      if (polls > 1_000_000) throw new Error('reader never ended');
      notified = false;
      const status = reader.poll(output, maxRecords);
      if (progress !== undefined) progress.push(reader.progress!());
      if (status === PollStatus.End) break;
      if (status === PollStatus.Pending && !notified) {
        await new Promise<void>((resolve, reject) => {
          const timeout = setTimeout(() => reject(new Error('Pending without notifyAvailable')), 5_000);
          wake = () => {
            clearTimeout(timeout);
            resolve();
          };
        });
        wake = undefined;
      }
    }
  } finally {
    await reader.close?.();
  }
  return lines;
}

async function readAllSubtasks(
  paths: string | readonly string[],
  parallelism: number,
  options: TextFileSourceOptions = {},
): Promise<string[][]> {
  const subtasks: string[][] = [];
  for (let i = 0; i < parallelism; i++) subtasks.push(await readSubtask(paths, i, parallelism, options));
  return subtasks;
}

let dir: string;
let fileCounter = 0;

async function tempFile(content: string | Buffer): Promise<string> {
  const path = join(dir, `input-${fileCounter++}.txt`);
  await writeFile(path, content);
  return path;
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'sluice-text-file-source-'));
});

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

// Pieces with one- to four-byte UTF-8 characters, '\r\n' and lone '\r', so that range starts,
// range ends and read-chunk boundaries fall inside characters and between '\r' and '\n'.
const piece = fc.constantFrom('a', 'bc', ' ', 'é', '€', '😀', '𝄞x', '\n', '\n', '\r\n', '\r', '\n\n');
const content = fc.array(piece, { maxLength: 120 }).map((pieces) => pieces.join(''));

describe('textFileSource reader', () => {
  it('splits random files over 1..5 subtasks into every line exactly once, in order', async () => {
    await fc.assert(
      fc.asyncProperty(content, fc.integer({ min: 1, max: 17 }), async (text, readChunkBytes) => {
        const path = await tempFile(text);
        const expected = linesOf(text);
        for (let parallelism = 1; parallelism <= 5; parallelism++) {
          const subtasks = await readAllSubtasks(path, parallelism, { readChunkBytes });
          // Subtask i reads byte range i, so their outputs in order are the file in order.
          expect(subtasks.flat()).toEqual(expected);
        }
      }),
      { numRuns: 60 },
    );
  });

  it('reads several files, each split over the subtasks', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(content, { minLength: 1, maxLength: 4 }),
        fc.integer({ min: 1, max: 5 }),
        fc.integer({ min: 1, max: 64 }),
        async (texts, parallelism, readChunkBytes) => {
          const paths = await Promise.all(texts.map((text) => tempFile(text)));
          const subtasks = await readAllSubtasks(paths, parallelism, { readChunkBytes });
          expect(subtasks.flat().sort()).toEqual(texts.flatMap(linesOf).sort());
        },
      ),
      { numRuns: 30 },
    );
  });

  it('handles empty files, files without a final newline and lines of CRLF', async () => {
    const cases: Array<[string, string[]]> = [
      ['', []],
      ['\n', ['']],
      ['\r\n', ['']],
      ['\n\n\n', ['', '', '']],
      ['no newline', ['no newline']],
      ['a\r\nb\r\n', ['a', 'b']],
      ['a\r\nb', ['a', 'b']],
      ['a\rb\n', ['a\rb']],
      ['x\n\ny', ['x', '', 'y']],
      ['ü€😀\n😀', ['ü€😀', '😀']],
    ];
    for (const [text, expected] of cases) {
      const path = await tempFile(text);
      for (let parallelism = 1; parallelism <= 5; parallelism++) {
        for (const readChunkBytes of [1, 2, 3, 65_536]) {
          const subtasks = await readAllSubtasks(path, parallelism, { readChunkBytes });
          expect(subtasks.flat(), JSON.stringify({ text, parallelism, readChunkBytes })).toEqual(expected);
        }
      }
    }
  });

  it('reads a file of many 64 KiB chunks with the default buffer', async () => {
    const lines = Array.from(
      { length: 40_000 },
      (_, i) => 'é😀'.repeat(i % 13) + String(i) + 'x'.repeat(i % 97),
    );
    lines[1234] = 'long '.repeat(40_000); // one line over three read chunks
    const text = `${lines.join('\r\n')}\r\n`;
    const path = await tempFile(text);
    for (const parallelism of [1, 3, 5]) {
      const subtasks = await readAllSubtasks(path, parallelism);
      expect(subtasks.flat()).toEqual(lines);
    }
  });

  it('does not read ahead of a slow consumer without bound', async () => {
    const path = await tempFile('\n'.repeat(1_000_000));
    const context: SourceReaderContext = {
      jobName: 'test',
      logger: silentLogger,
      operatorId: 'source',
      subtaskIndex: 0,
      parallelism: 1,
      currentProcessingTime: () => 0,
      restoredState: undefined,
      notifyAvailable: () => {},
    };
    const reader = textFileSource(path).createReader(context);
    let emitted = 0;
    const output = { collect: () => emitted++, emitWatermark() {}, markIdle() {} };
    await reader.open?.();
    try {
      reader.poll(output, 1);
      // Time for many reads, were the reader to keep reading without being polled.
      await new Promise((resolve) => setTimeout(resolve, 200));
      emitted = 0;
      reader.poll(output, Number.MAX_SAFE_INTEGER);
      // At most the line limit plus one 64 KiB chunk of one-byte lines.
      expect(emitted).toBeGreaterThan(0);
      expect(emitted).toBeLessThanOrEqual(4096 + 65_536);
    } finally {
      await reader.close?.();
    }
  });

  it('fails with the path of a missing file, from poll rather than as an unhandled rejection', async () => {
    const missing = join(dir, 'does-not-exist.txt');
    const error = await readSubtask(missing, 0, 1).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(FileConnectorError);
    expect((error as FileConnectorError).message).toContain(missing);
    expect((error as FileConnectorError).path).toBe(missing);
    expect((error as FileConnectorError).code).toBe('SLUICE_FILE_IO');
  });

  it('fails with the path when a path is a directory', async () => {
    const error = await readSubtask(dir, 0, 1).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(FileConnectorError);
    expect((error as Error).message).toContain(dir);
  });

  it('validates its options up front, naming them', () => {
    expect(() => textFileSource([])).toThrow(ConfigError);
    expect(() => textFileSource([])).toThrow(/"paths"/);
    expect(() => textFileSource('')).toThrow(/"paths"/);
    expect(() => textFileSource(['a.txt', ''])).toThrow(/"paths"/);
    expect(() => textFileSource('a.txt', { encoding: 'latin1' as 'utf8' })).toThrow(/"encoding"/);
    expect(() => textFileSource('a.txt', { readChunkBytes: 0 })).toThrow(/"readChunkBytes"/);
    expect(() => textFileSource('a.txt', { readChunkBytes: 1.5 })).toThrow(/"readChunkBytes"/);
  });
});

describe('textFileSource in a job', () => {
  for (const parallelism of [1, 2, 4]) {
    it(`reads every line exactly once at parallelism ${parallelism}`, async () => {
      await fc.assert(
        fc.asyncProperty(fc.array(content, { minLength: 1, maxLength: 3 }), async (texts) => {
          const paths = await Promise.all(texts.map((text) => tempFile(text)));
          const result = await runJob<ReadLinesArgs>(readLinesJob, {
            parallelism,
            args: { paths, readChunkBytes: 5 },
          });
          expect(result.collected<string>('lines').sort()).toEqual(texts.flatMap(linesOf).sort());
        }),
        { numRuns: 3 },
      );
    });
  }

  it('reads a larger file with the default buffer at parallelism 4', async () => {
    const lines = Array.from({ length: 50_000 }, (_, i) => `line ${i} ${'ß'.repeat(i % 31)}`);
    const path = await tempFile(`${lines.join('\n')}\n`);
    const result = await runJob<ReadLinesArgs>(readLinesJob, { parallelism: 4, args: { paths: [path] } });
    expect(result.collected<string>('lines').sort()).toEqual([...lines].sort());
  });

  it('fails the job with an error naming a missing file', async () => {
    const missing = join(dir, 'missing', 'input.txt');
    await expect(
      runJob<ReadLinesArgs>(readLinesJob, { parallelism: 2, args: { paths: [missing] } }),
    ).rejects.toThrow(missing);
  });
});

describe('progress in bytes', () => {
  it('each subtask counts up to its share of every file; the shares add up to the files', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'sluice-file-progress-'));
    try {
      const contents = [
        Array.from({ length: 500 }, (_, i) => `line ${i} ${'x'.repeat(i % 37)}`).join('\n'),
        Array.from({ length: 77 }, (_, i) => `é${i}`).join('\r\n') + '\n',
      ];
      const paths = contents.map((_, i) => join(dir, `part-${i}.txt`));
      await Promise.all(paths.map((path, i) => writeFile(path, contents[i]!)));
      const sizes = contents.reduce((n, c) => n + Buffer.byteLength(c), 0);
      for (const parallelism of [1, 3]) {
        let totals = 0;
        for (let subtask = 0; subtask < parallelism; subtask++) {
          const samples: SourceProgress[] = [];
          await readSubtask(paths, subtask, parallelism, { readChunkBytes: 64 }, 5, samples);
          const total = samples[0]!.total!;
          for (let i = 0; i < samples.length; i++) {
            expect(samples[i]).toMatchObject({ total, unit: 'bytes' });
            expect(samples[i]!.read).toBeLessThanOrEqual(total);
            if (i > 0) expect(samples[i]!.read).toBeGreaterThanOrEqual(samples[i - 1]!.read);
          }
          expect(samples.at(-1)!.read).toBe(total);
          totals += total;
        }
        expect(totals).toBe(sizes);
      }
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('a file that cannot be sized leaves the total unknown, and reading it fails as before', async () => {
    const samples: SourceProgress[] = [];
    await expect(readSubtask(['/no/such/file.txt'], 0, 1, {}, 7, samples)).rejects.toThrow(/cannot read/);
    expect(samples[0]).toEqual({ read: 0, total: undefined, unit: 'bytes' });
  });
});
