import * as fs from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import * as zlib from 'node:zlib';
import fc from 'fast-check';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ConfigError } from '../errors.ts';
import { runTsWorker } from '../testing/run-ts-worker.ts';
import { crc32 } from './crc32.ts';
import {
  CheckpointCorruptError,
  CheckpointExistsError,
  CheckpointIncompleteError,
  CheckpointNotFoundError,
  CheckpointSymlinkError,
} from './errors.ts';
import { decodeMetadata, encodeMetadata } from './metadata.ts';
import {
  type StateWriterWorkerData,
  sharedContent,
  testFileContent,
  testFileName,
} from './storage.test-worker.ts';
import {
  type CheckpointMetadata,
  CheckpointStorage,
  loadCheckpoint,
  type StateFileHandle,
  writeStateFile,
} from './storage.ts';

let tmp: string;

beforeEach(async () => {
  tmp = await fs.mkdtemp(path.join(os.tmpdir(), 'sluice-checkpoint-'));
});

afterEach(async () => {
  await fs.rm(tmp, { recursive: true, force: true });
});

function bytes(length: number, seed: number): Uint8Array {
  const data = new Uint8Array(length);
  for (let i = 0; i < length; i++) data[i] = (seed * 97 + i * 13 + (i >>> 7)) & 0xff;
  return data;
}

/** Metadata for one operator whose subtask `i` owns `handles[i]` (maxParallelism 128, split evenly). */
function metadataFor(
  checkpointId: number,
  handles: StateFileHandle[][],
  kind: 'checkpoint' | 'savepoint' = 'checkpoint',
): CheckpointMetadata {
  const parallelism = Math.max(handles.length, 1);
  return {
    version: 1,
    jobName: 'test-job',
    checkpointId,
    kind,
    createdAtMs: 1_700_000_000_000 + checkpointId,
    maxParallelism: 128,
    operators: {
      'op-a': {
        parallelism,
        subtasks: handles.map((files, i) => ({
          subtaskIndex: i,
          keyGroupStart: Math.floor((i * 128) / parallelism),
          keyGroupEnd: Math.floor(((i + 1) * 128) / parallelism) - 1,
          files,
        })),
      },
    },
    extra: { sourceOffsets: { 'kafka-0': checkpointId * 100 } },
  };
}

/** Writes `op-a.sub-0.state` (100 bytes) and `op-a.sub-1.state` (5000 bytes) and commits. */
async function writeCheckpoint(storage: CheckpointStorage, id: number): Promise<string> {
  const folder = storage.folderFor(id);
  const a = await writeStateFile(folder, 'op-a.sub-0.state', bytes(100, id));
  const b = await writeStateFile(folder, 'op-a.sub-1.state', bytes(5000, id + 1000));
  return storage.commit(metadataFor(id, [[a], [b]]));
}

async function flipByte(file: string, position: number, mask = 0x01): Promise<void> {
  const data = await fs.readFile(file);
  data[position] = data[position]! ^ mask;
  await fs.writeFile(file, data);
}

/** The entries of `dir` but the latest-checkpoint pointer, which every commit writes. */
async function folderNames(dir: string): Promise<string[]> {
  return (await fs.readdir(dir)).filter((name) => name !== '_latest').sort();
}

describe('crc32', () => {
  it('matches the standard check value', () => {
    expect(crc32(new TextEncoder().encode('123456789'))).toBe(0xcbf43926);
    expect(crc32(new Uint8Array(0))).toBe(0);
  });

  it('continues from the CRC of the bytes before: chunked equals whole', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 2000 }), fc.nat(), (data, cut) => {
        const at = data.length === 0 ? 0 : cut % (data.length + 1);
        expect(crc32(data.subarray(at), crc32(data.subarray(0, at)))).toBe(crc32(data));
      }),
    );
  });
});

describe('writeStateFile', () => {
  it('creates the folder, writes durably, returns size and CRC, leaves no temp files', async () => {
    const folder = path.join(tmp, 'a', 'chk-1');
    const data = bytes(3000, 1);
    const handle = await writeStateFile(folder, 'x.state', data);
    expect(handle).toEqual({ file: 'x.state', bytes: 3000, crc32: zlib.crc32(data) });
    expect(new Uint8Array(await fs.readFile(path.join(folder, 'x.state')))).toEqual(data);
    const empty = await writeStateFile(folder, 'empty.state', new Uint8Array(0));
    expect(empty).toEqual({ file: 'empty.state', bytes: 0, crc32: 0 });
    // Rewriting a name (a retried attempt) replaces it whole.
    await writeStateFile(folder, 'x.state', bytes(10, 2));
    expect(new Uint8Array(await fs.readFile(path.join(folder, 'x.state')))).toEqual(bytes(10, 2));
    expect(await folderNames(folder)).toEqual(['empty.state', 'x.state']);
  });

  it('rejects names that could escape the folder or collide with storage files', async () => {
    const bad = [
      '',
      '..',
      '.',
      'a/b',
      'a\\b',
      '../x',
      'a..b',
      '_metadata',
      '_metadata.tmp',
      '.hidden',
      'a\0b',
      'é.state',
      'x'.repeat(201),
    ];
    for (const name of bad)
      await expect(writeStateFile(tmp, name, new Uint8Array(1)), name).rejects.toBeInstanceOf(ConfigError);
    await expect(writeStateFile(tmp, 'a..b', new Uint8Array(1))).rejects.toThrow(/'\.\.'/);
    await expect(writeStateFile(tmp, 'a/b', new Uint8Array(1))).rejects.toThrow(/path separators/);
    expect(await folderNames(tmp)).toEqual([]);
    await writeStateFile(tmp, 'x'.repeat(200), new Uint8Array(1));
  });
});

describe('CheckpointStorage', () => {
  it('round trip: write files, commit, latestValid returns them and readFile gives the bytes back', async () => {
    const storage = new CheckpointStorage(path.join(tmp, 'checkpoints'));
    const folder = storage.folderFor(1);
    expect(folder).toBe(path.join(tmp, 'checkpoints', 'chk-1'));
    const inputs = [bytes(0, 1), bytes(1, 2), bytes(3 * 1024 * 1024 + 17, 3)]; // last spans verify chunks
    const handles = await Promise.all(inputs.map((data, i) => writeStateFile(folder, `s${i}.state`, data)));
    expect(await storage.commit(metadataFor(1, [handles.slice(0, 2), handles.slice(2)]))).toBe(folder);
    expect(await folderNames(folder)).toEqual(['_metadata', 's0.state', 's1.state', 's2.state']);
    expect(await storage.listComplete()).toEqual([1]);

    const logs: string[] = [];
    const loaded = await storage.latestValid((m) => logs.push(m));
    expect(logs).toEqual([]);
    expect(loaded?.folder).toBe(folder);
    expect(loaded?.metadata).toEqual(metadataFor(1, [handles.slice(0, 2), handles.slice(2)]));
    for (let i = 0; i < inputs.length; i++)
      // Buffer.compare: toEqual walks a 3 MiB array element by element, which takes seconds.
      expect(Buffer.compare(await loaded!.readFile(handles[i]!), inputs[i]!)).toBe(0);

    // The same folder loads by path too (`--restore <path>`).
    const again = await loadCheckpoint(folder);
    expect(again.metadata.checkpointId).toBe(1);
  });

  it('a stateless checkpoint (no files) commits into a folder that does not exist yet', async () => {
    const storage = new CheckpointStorage(tmp);
    await storage.commit(metadataFor(4, []));
    expect((await storage.latestValid())?.metadata.checkpointId).toBe(4);
  });

  it('an empty or missing directory has no checkpoint', async () => {
    expect(await new CheckpointStorage(path.join(tmp, 'nope')).latestValid()).toBeUndefined();
    expect(await new CheckpointStorage(tmp).latestValid()).toBeUndefined();
    expect(await new CheckpointStorage(tmp).listComplete()).toEqual([]);
  });

  it('retention: keeps the newest `retain`, prunes older incomplete folders, keeps a newer in-progress one', async () => {
    const storage = new CheckpointStorage(tmp, { retain: 2 });
    // Leftovers of aborted checkpoints: an empty folder and one with a data file but no _metadata.
    await fs.mkdir(storage.folderFor(0));
    await writeStateFile(storage.folderFor(2), 'op-a.sub-0.state', bytes(10, 0));
    await fs.writeFile(path.join(tmp, 'unrelated.txt'), 'not ours');
    for (const id of [1, 3, 4, 5, 6]) await writeCheckpoint(storage, id);
    // Crash in the middle of checkpoint 7: data files written, no _metadata.
    await writeStateFile(storage.folderFor(7), 'op-a.sub-0.state', bytes(100, 7));
    expect(await folderNames(tmp)).toEqual(['chk-5', 'chk-6', 'chk-7', 'unrelated.txt']);
    expect(await storage.listComplete()).toEqual([6, 5]);

    const logs: string[] = [];
    const loaded = await storage.latestValid((m) => logs.push(m));
    expect(loaded?.metadata.checkpointId).toBe(6);
    expect(logs.join('\n')).toMatch(/chk-7: _metadata: missing/);
    // Still there: it may be in progress.
    expect(await folderNames(storage.folderFor(7))).toEqual(['op-a.sub-0.state']);

    // Once checkpoint 8 completes, the abandoned 7 is older than the newest complete one: pruned.
    await writeCheckpoint(storage, 8);
    expect(await folderNames(tmp)).toEqual(['chk-6', 'chk-8', 'unrelated.txt']);
  });

  it('commits 5 checkpoints with retain 2: only the 2 newest folders remain', async () => {
    const storage = new CheckpointStorage(tmp, { retain: 2 });
    for (let id = 1; id <= 5; id++) await writeCheckpoint(storage, id);
    expect(await folderNames(tmp)).toEqual(['chk-4', 'chk-5']);
    expect(new CheckpointStorage(tmp).retain).toBe(3);
  });

  describe('a corrupt newest checkpoint falls back to the previous one, saying why', () => {
    const dataFile = 'op-a.sub-0.state'; // 100 bytes
    const cases: Array<{
      name: string;
      corrupt: (folder: string) => Promise<void>;
      reason: RegExp;
      /** What a direct load reports, when it differs from `reason`. */
      loadReason?: RegExp;
    }> = [
      {
        name: 'truncated data file',
        corrupt: (folder) => fs.truncate(path.join(folder, dataFile), 10),
        reason: /op-a\.sub-0\.state: truncated to 10 of 100 bytes/,
      },
      {
        name: 'extended data file',
        corrupt: (folder) => fs.appendFile(path.join(folder, dataFile), 'x'),
        reason: /op-a\.sub-0\.state: has 101 bytes, expected 100/,
      },
      {
        name: 'one flipped byte in a data file',
        corrupt: (folder) => flipByte(path.join(folder, dataFile), 42),
        reason: /op-a\.sub-0\.state: checksum mismatch \(crc32 [0-9a-f]{8}, expected [0-9a-f]{8}\)/,
      },
      {
        name: 'deleted data file',
        corrupt: (folder) => fs.rm(path.join(folder, dataFile)),
        reason: /op-a\.sub-0\.state: missing/,
      },
      {
        name: 'deleted _metadata',
        corrupt: (folder) => fs.rm(path.join(folder, '_metadata')),
        reason: /chk-2: _metadata: missing/,
        loadReason: /_metadata: missing/,
      },
      {
        name: 'one flipped byte in the body of _metadata',
        corrupt: async (folder) => flipByte(path.join(folder, '_metadata'), 200, 0x20),
        reason: /_metadata: metadata corrupt: checksum mismatch/,
      },
      {
        name: 'one flipped byte in the header of _metadata',
        corrupt: async (folder) => flipByte(path.join(folder, '_metadata'), 3),
        reason: /_metadata: metadata corrupt: unreadable header line/,
      },
      {
        name: 'truncated _metadata',
        corrupt: async (folder) => {
          const file = path.join(folder, '_metadata');
          const { size } = await fs.stat(file);
          await fs.truncate(file, size - 5);
        },
        reason: /_metadata: metadata corrupt: truncated to \d+ of \d+ bytes/,
      },
      {
        name: '_metadata of another checkpoint',
        corrupt: (folder) =>
          fs.copyFile(path.join(folder, '..', 'chk-1', '_metadata'), path.join(folder, '_metadata')),
        reason: /_metadata: metadata corrupt: it is for checkpoint 1, but the folder is chk-2/,
        // A path given to --restore has no expected id; the files then fail their checksums.
        loadReason: /op-a\.sub-0\.state: checksum mismatch/,
      },
    ];

    for (const { name, corrupt, reason, loadReason } of cases)
      it(name, async () => {
        const storage = new CheckpointStorage(tmp);
        await writeCheckpoint(storage, 1);
        const newest = await writeCheckpoint(storage, 2);
        await corrupt(newest);
        const logs: string[] = [];
        const loaded = await storage.latestValid((m) => logs.push(m));
        expect(loaded?.metadata.checkpointId).toBe(1);
        expect(loaded?.folder).toBe(storage.folderFor(1));
        expect(logs.join('\n')).toMatch(reason);
        expect(logs.join('\n')).toContain(newest);
        // The same corruption fails a direct load, naming the file.
        await expect(loadCheckpoint(newest)).rejects.toThrow(loadReason ?? reason);
      });
  });

  it('all checkpoints bad: CheckpointCorruptError lists each with its files and problems', async () => {
    const storage = new CheckpointStorage(tmp);
    const one = await writeCheckpoint(storage, 1);
    const two = await writeCheckpoint(storage, 2);
    const three = await writeCheckpoint(storage, 3);
    await fs.truncate(path.join(one, 'op-a.sub-1.state'), 7);
    await flipByte(path.join(two, '_metadata'), 100);
    await fs.rm(path.join(three, 'op-a.sub-0.state'));
    await flipByte(path.join(three, 'op-a.sub-1.state'), 4999);

    const logs: string[] = [];
    const error = await storage.latestValid((m) => logs.push(m)).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(CheckpointCorruptError);
    const corrupt = error as CheckpointCorruptError;
    expect(corrupt.code).toBe('SLUICE_CHECKPOINT_CORRUPT');
    expect(corrupt.checkpoints.map((c) => c.checkpointId)).toEqual([3, 2, 1]);
    expect(corrupt.checkpoints[0]!.problems).toEqual([
      { file: 'op-a.sub-0.state', problem: 'missing' },
      { file: 'op-a.sub-1.state', problem: expect.stringMatching(/^checksum mismatch/) },
    ]);
    expect(corrupt.message).toMatch(/all 3 complete checkpoints tried are corrupt/);
    expect(corrupt.message).toContain(
      `${three}: op-a.sub-0.state: missing; op-a.sub-1.state: checksum mismatch`,
    );
    expect(corrupt.message).toContain(`${two}: _metadata: metadata corrupt: checksum mismatch`);
    expect(corrupt.message).toContain(`${one}: op-a.sub-1.state: truncated to 7 of 5000 bytes`);
    expect(logs).toHaveLength(3);
  });

  it('a crash in the middle of commit (_metadata.tmp, no _metadata) is not a checkpoint', async () => {
    const storage = new CheckpointStorage(tmp);
    await writeCheckpoint(storage, 1);
    const folder = storage.folderFor(2);
    const handle = await writeStateFile(folder, 'op-a.sub-0.state', bytes(100, 2));
    // A complete, valid metadata file that never got renamed into place.
    await fs.writeFile(path.join(folder, '_metadata.tmp'), encodeMetadata(metadataFor(2, [[handle]])));
    expect(await storage.listComplete()).toEqual([1]);
    expect((await storage.latestValid())?.metadata.checkpointId).toBe(1);
    await expect(loadCheckpoint(folder)).rejects.toThrow(/_metadata: missing/);
    // Retrying the commit of 2 overwrites the stale temp file and completes it.
    await storage.commit(metadataFor(2, [[handle]]));
    expect(await folderNames(folder)).toEqual(['_metadata', 'op-a.sub-0.state']);
    expect((await storage.latestValid())?.metadata.checkpointId).toBe(2);

    // Only a crashed commit and nothing complete: no checkpoint at all.
    const alone = new CheckpointStorage(path.join(tmp, 'alone'));
    await fs.mkdir(alone.folderFor(1), { recursive: true });
    await fs.writeFile(path.join(alone.folderFor(1), '_metadata.tmp'), encodeMetadata(metadataFor(1, [])));
    expect(await alone.latestValid()).toBeUndefined();
  });

  it('commit refuses to complete a checkpoint whose files are missing or the wrong size', async () => {
    const storage = new CheckpointStorage(tmp);
    const folder = storage.folderFor(1);
    const a = await writeStateFile(folder, 'a.state', bytes(10, 1));
    const ghost: StateFileHandle = { file: 'ghost.state', bytes: 5, crc32: 0 };
    const wrong: StateFileHandle = { ...a, bytes: 11 };
    await expect(storage.commit(metadataFor(1, [[a, ghost]]))).rejects.toThrow(CheckpointIncompleteError);
    await expect(storage.commit(metadataFor(1, [[wrong]]))).rejects.toThrow(
      /a\.state: truncated to 10 of 11 bytes/,
    );
    await expect(storage.commit(metadataFor(1, [[a, ghost]]))).rejects.toThrow(/ghost\.state: missing/);
    expect(await folderNames(folder)).toEqual(['a.state']);
    expect(await storage.latestValid()).toBeUndefined();
  });

  it('commit never overwrites a complete checkpoint', async () => {
    const storage = new CheckpointStorage(tmp);
    await writeCheckpoint(storage, 1);
    const error = await storage.commit(metadataFor(1, [])).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(CheckpointExistsError);
    expect((error as CheckpointExistsError).code).toBe('SLUICE_CHECKPOINT_EXISTS');
    expect((await storage.latestValid())?.metadata.operators['op-a']?.subtasks).toHaveLength(2);
  });

  it('commit validates the metadata up front, naming the field', async () => {
    const storage = new CheckpointStorage(tmp);
    const good = metadataFor(1, []);
    await expect(storage.commit({ ...good, kind: 'savepoint' })).rejects.toThrow(/commitTo/);
    await expect(storage.commit({ ...good, maxParallelism: 0 })).rejects.toThrow(/maxParallelism/);
    await expect(storage.commit({ ...good, checkpointId: -1 })).rejects.toThrow(ConfigError);
    const badFile = metadataFor(1, [[{ file: '../escape', bytes: 1, crc32: 1 }]]);
    await expect(storage.commit(badFile)).rejects.toThrow(/subtasks\[0\]\.files\[0\]\.file/);
    const badRange = metadataFor(1, [[]]);
    badRange.operators['op-a']!.subtasks[0]!.keyGroupEnd = 128;
    await expect(storage.commit(badRange)).rejects.toThrow(/keyGroupEnd/);
    const twice = metadataFor(1, [[{ file: 'a', bytes: 1, crc32: 1 }], [{ file: 'a', bytes: 2, crc32: 1 }]]);
    await expect(storage.commit(twice)).rejects.toThrow(/listed twice/);
    expect(await folderNames(tmp)).toEqual([]);
  });

  it('options and ids are validated, naming the option', () => {
    expect(() => new CheckpointStorage(tmp, { retain: 0 })).toThrow(/options\.retain/);
    expect(() => new CheckpointStorage(tmp, { retain: 1.5 })).toThrow(/options\.retain/);
    expect(() => new CheckpointStorage('')).toThrow(/dir/);
    const storage = new CheckpointStorage(tmp);
    expect(() => storage.folderFor(-1)).toThrow(/checkpointId/);
    expect(() => storage.folderFor(Number.NaN)).toThrow(ConfigError);
  });

  it('discard deletes a checkpoint, complete or not', async () => {
    const storage = new CheckpointStorage(tmp);
    await writeCheckpoint(storage, 1);
    await writeStateFile(storage.folderFor(2), 'x.state', bytes(3, 3));
    await storage.discard(1);
    await storage.discard(2);
    await storage.discard(3); // absent: no-op
    expect(await folderNames(tmp)).toEqual([]);
  });

  it('readFile re-verifies: a file corrupted after loading is detected, not returned', async () => {
    const storage = new CheckpointStorage(tmp);
    const folder = await writeCheckpoint(storage, 1);
    const loaded = (await storage.latestValid())!;
    const [handle] = loaded.metadata.operators['op-a']!.subtasks[0]!.files;
    await flipByte(path.join(folder, handle!.file), 0);
    await expect(loaded.readFile(handle!)).rejects.toThrow(/op-a\.sub-0\.state: checksum mismatch/);
    await fs.truncate(path.join(folder, handle!.file), 3);
    await expect(loaded.readFile(handle!)).rejects.toThrow(/truncated to 3 of 100 bytes/);
    await expect(loaded.readFile({ file: 'other.state', bytes: 1, crc32: 0 })).rejects.toThrow(ConfigError);
  });
});

describe('savepoints and --restore', () => {
  it('commitTo writes a savepoint into any folder; loadCheckpoint verifies and opens it', async () => {
    const folder = path.join(tmp, 'savepoints', 'savepoint-2024-01-01');
    const data = bytes(777, 9);
    const handle = await writeStateFile(folder, 'op-a.sub-0.state', data);
    const metadata = metadataFor(12, [[handle]], 'savepoint');
    expect(await CheckpointStorage.commitTo(folder, metadata)).toBe(folder);
    const loaded = await loadCheckpoint(folder);
    expect(loaded.metadata).toEqual(metadata);
    expect(new Uint8Array(await loaded.readFile(handle))).toEqual(data);
    await expect(CheckpointStorage.commitTo(folder, metadata)).rejects.toThrow(CheckpointExistsError);
  });

  it('loadCheckpoint names what is wrong', async () => {
    await expect(loadCheckpoint(path.join(tmp, 'nope'))).rejects.toThrow(CheckpointNotFoundError);
    await fs.writeFile(path.join(tmp, 'file'), 'x');
    await expect(loadCheckpoint(path.join(tmp, 'file'))).rejects.toThrow(CheckpointNotFoundError);
    await expect(loadCheckpoint(tmp)).rejects.toThrow(/_metadata: missing/);
    const folder = path.join(tmp, 'sp');
    const handle = await writeStateFile(folder, 'a.state', bytes(50, 1));
    await CheckpointStorage.commitTo(folder, metadataFor(1, [[handle]], 'savepoint'));
    await fs.truncate(path.join(folder, 'a.state'), 20);
    const error = await loadCheckpoint(folder).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(CheckpointCorruptError);
    expect((error as Error).message).toMatch(/a\.state: truncated to 20 of 50 bytes/);
  });
});

const workerEntry = new URL('./storage.test-worker.ts', import.meta.url);

function startWriter(data: StateWriterWorkerData): Promise<StateFileHandle[]> {
  return runTsWorker<StateFileHandle[]>(workerEntry, data, `writer ${data.writer}`);
}

describe('across worker threads', () => {
  it('subtasks on several threads write into one folder at once; the commit verifies them all', async () => {
    const storage = new CheckpointStorage(path.join(tmp, 'checkpoints'));
    const folder = storage.folderFor(1);
    const writers = 4;
    const files = 12;
    const results = await Promise.all(
      Array.from({ length: writers }, (_, writer) =>
        startWriter({ folder, writer, files, writeShared: true }),
      ),
    );

    // Every writer wrote `shared.state`; renames are atomic, so it is one writer's version, whole.
    const shared = new Uint8Array(await fs.readFile(path.join(folder, 'shared.state')));
    const winner = Array.from({ length: writers }, (_, w) => w).find(
      (w) => Buffer.compare(shared, sharedContent(w)) === 0,
    );
    expect(winner).toBeDefined();

    const handles = results.map((handlesOfWriter, writer) => {
      expect(handlesOfWriter).toHaveLength(files + 1);
      const own = handlesOfWriter.filter((h) => h.file !== 'shared.state');
      return writer === winner ? [...own, handlesOfWriter[files]!] : own;
    });
    await storage.commit(metadataFor(1, handles));
    const names = await folderNames(folder);
    expect(names.filter((n) => n.endsWith('.tmp'))).toEqual([]);
    expect(names).toHaveLength(writers * files + 2);

    const loaded = (await storage.latestValid())!;
    expect(loaded.metadata.checkpointId).toBe(1);
    for (let writer = 0; writer < writers; writer++)
      for (let file = 0; file < files; file++) {
        const handle = handles[writer]![file]!;
        expect(handle.file).toBe(testFileName(writer, file));
        expect(Buffer.compare(await loaded.readFile(handle), testFileContent(writer, file))).toBe(0);
      }
  });
});

describe('property: every single-byte corruption is detected', () => {
  const corruption = fc.record({
    target: fc.nat(),
    position: fc.nat(),
    kind: fc.constantFrom('flip', 'truncate', 'append'),
    mask: fc.integer({ min: 1, max: 255 }),
  });

  it('random files, one random byte changed (or cut off, or added) anywhere in any file', async () => {
    let run = 0;
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.uint8Array({ maxLength: 3000 }), { minLength: 1, maxLength: 4 }),
        corruption,
        async (contents, { target, position, kind, mask }) => {
          const folder = path.join(tmp, `run-${run++}`);
          const handles = await Promise.all(
            contents.map((data, i) => writeStateFile(folder, `f${i}.state`, data)),
          );
          await CheckpointStorage.commitTo(folder, metadataFor(run, [handles]));
          const intact = await loadCheckpoint(folder);
          for (let i = 0; i < handles.length; i++)
            expect(Buffer.compare(await intact.readFile(handles[i]!), contents[i]!)).toBe(0);

          // Any file that has a byte to change (appending works on empty files too).
          const candidates = [
            '_metadata',
            ...handles.filter((h) => kind === 'append' || h.bytes > 0).map((h) => h.file),
          ];
          const victim = candidates[target % candidates.length]!;
          const file = path.join(folder, victim);
          const { size } = await fs.stat(file);
          if (kind === 'flip') await flipByte(file, position % size, mask);
          else if (kind === 'truncate') await fs.truncate(file, position % size);
          else await fs.appendFile(file, new Uint8Array([mask]));

          const error = await loadCheckpoint(folder).catch((e: unknown) => e);
          expect(error).toBeInstanceOf(CheckpointCorruptError);
          const problems = (error as CheckpointCorruptError).checkpoints[0]!.problems;
          expect(problems.map((p) => p.file)).toEqual([victim]);
          await fs.rm(folder, { recursive: true });
        },
      ),
      { numRuns: 200 },
    );
  });

  it('decodeMetadata rejects every single-byte change of an encoded _metadata', () => {
    const encoded = encodeMetadata(metadataFor(3, [[{ file: 'a.state', bytes: 10, crc32: 123 }]]));
    expect(decodeMetadata(encoded).ok).toBe(true);
    // Exhaustive over positions; random over the new byte value.
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 255 }), (mask) => {
        for (let i = 0; i < encoded.length; i++) {
          const copy = Uint8Array.from(encoded);
          copy[i] = copy[i]! ^ mask;
          expect(decodeMetadata(copy).ok, `byte ${i} ^ ${mask}`).toBe(false);
        }
      }),
      { numRuns: 30 },
    );
  });
});

describe('symbolic links inside a checkpoint', () => {
  /** Replaces `file` by a link to a file outside the checkpoint of exactly the same size. */
  async function swapForLink(file: string): Promise<string> {
    const size = (await fs.stat(file)).size;
    const outside = path.join(tmp, `outside-${path.basename(file)}`);
    // Same bytes even: a link is refused for what it is, not for what it points at.
    await fs.copyFile(file, outside);
    expect((await fs.stat(outside)).size).toBe(size);
    await fs.rm(file);
    await fs.symlink(outside, file);
    return outside;
  }

  it('a state file replaced by a link is refused when verifying, naming the file, and the previous checkpoint is taken', async () => {
    const storage = new CheckpointStorage(path.join(tmp, 'ckp'));
    await writeCheckpoint(storage, 1);
    const newest = await writeCheckpoint(storage, 2);
    await swapForLink(path.join(newest, 'op-a.sub-1.state'));
    await expect(loadCheckpoint(newest)).rejects.toThrow(
      /op-a\.sub-1\.state: is a symbolic link \(checkpoint storage does not follow links\)/,
    );
    const log: string[] = [];
    const latest = await storage.latestValid((message) => log.push(message));
    expect(latest?.metadata.checkpointId).toBe(1);
    expect(log.join('\n')).toContain('op-a.sub-1.state: is a symbolic link');
  });

  it('a link to /etc/passwd put in place after verification is refused when read: CheckpointSymlinkError', async () => {
    const storage = new CheckpointStorage(path.join(tmp, 'ckp'));
    const folder = await writeCheckpoint(storage, 1);
    const loaded = await loadCheckpoint(folder);
    const file = path.join(folder, 'op-a.sub-0.state');
    await fs.rm(file);
    await fs.symlink('/etc/passwd', file);
    const handle = loaded.metadata.operators['op-a']!.subtasks[0]!.files[0]!;
    const error = await loaded.readFile(handle).then(
      () => undefined,
      (caught: unknown) => caught,
    );
    expect(error).toBeInstanceOf(CheckpointSymlinkError);
    expect(error).toMatchObject({ code: 'SLUICE_CHECKPOINT_SYMLINK', file });
  });

  it('a _metadata replaced by a link, and a chk-<n> folder that is a link, are not taken for checkpoints', async () => {
    const storage = new CheckpointStorage(path.join(tmp, 'ckp'));
    await writeCheckpoint(storage, 1);
    const second = await writeCheckpoint(storage, 2);
    await swapForLink(path.join(second, '_metadata'));
    const elsewhere = new CheckpointStorage(path.join(tmp, 'elsewhere'));
    const foreign = await writeCheckpoint(elsewhere, 9);
    await fs.symlink(foreign, path.join(storage.dir, 'chk-3'));
    const log: string[] = [];
    const latest = await storage.latestValid((message) => log.push(message));
    expect(latest?.metadata.checkpointId).toBe(1);
    expect(log.join('\n')).toContain('_metadata: is a symbolic link');
  });
});

describe('the latest-checkpoint pointer', () => {
  it('is written atomically at each commit, and read first; a stale or unparsable one falls back to the scan', async () => {
    const storage = new CheckpointStorage(path.join(tmp, 'ckp'), { retain: 5 });
    await writeCheckpoint(storage, 1);
    await writeCheckpoint(storage, 2);
    expect(await storage.readLatestPointer()).toEqual({
      jobName: 'test-job',
      checkpointId: 2,
      finished: false,
    });
    // No temp file is left behind.
    expect((await fs.readdir(storage.dir)).filter((name) => name.endsWith('.tmp'))).toEqual([]);
    expect((await storage.latestForResume()).checkpoint?.metadata.checkpointId).toBe(2);

    // The pointer wins over the scan: a newer folder the pointer does not name is not resumed.
    await storage.writeLatestPointer({ jobName: 'test-job', checkpointId: 1, finished: false });
    expect((await storage.latestForResume()).checkpoint?.metadata.checkpointId).toBe(1);

    // A pointer to a checkpoint that is gone, or that does not parse: the newest valid folder.
    await storage.writeLatestPointer({ jobName: 'test-job', checkpointId: 7, finished: false });
    const log: string[] = [];
    expect((await storage.latestForResume((m) => log.push(m))).checkpoint?.metadata.checkpointId).toBe(2);
    expect(log.join('\n')).toContain('checkpoint 7 named by');
    await fs.writeFile(path.join(storage.dir, '_latest'), '{"version":1,');
    expect((await storage.latestForResume()).checkpoint?.metadata.checkpointId).toBe(2);

    // A finished run: nothing to resume.
    await storage.writeLatestPointer({ jobName: 'test-job', checkpointId: 2, finished: true });
    expect(await storage.latestForResume()).toEqual({
      checkpoint: undefined,
      finishedRun: { jobName: 'test-job', checkpointId: 2, finished: true },
    });
  });
});
