/**
 * Worker side of the concurrency test in `storage.test.ts`: a stand-in for a subtask that writes
 * its state files with the real {@link writeStateFile}, then reports the handles. The content of
 * each file is a pure function of (writer, file), so the test can check every byte read back.
 */
import { isMainThread, parentPort, workerData } from 'node:worker_threads';
import { writeStateFile } from './storage.ts';

export interface StateWriterWorkerData {
  readonly folder: string;
  readonly writer: number;
  readonly files: number;
  /** Also writes `shared.state`, which every writer writes: the last rename wins, whole. */
  readonly writeShared: boolean;
}

export function testFileName(writer: number, file: number): string {
  return `op-a.sub-${writer}.part-${file}.state`;
}

/** Deterministic content: sizes from 0 to ~70 KiB, so some files span several verify chunks. */
export function testFileContent(writer: number, file: number): Uint8Array {
  const size = ((writer * 7919 + file * 104_729) % 70_001) + (file === 0 ? 0 : 1);
  const data = new Uint8Array(file === 0 ? 0 : size);
  for (let i = 0; i < data.length; i++) data[i] = (writer * 131 + file * 17 + i * 31 + (i >>> 8)) & 0xff;
  return data;
}

/** What writer `writer` puts into `shared.state`: 40 KiB of one byte value. */
export function sharedContent(writer: number): Uint8Array {
  return new Uint8Array(40 * 1024).fill(writer + 1);
}

if (!isMainThread && parentPort !== null) {
  const data = workerData as StateWriterWorkerData;
  const port = parentPort;
  const run = async () => {
    const writes = [];
    for (let f = 0; f < data.files; f++)
      writes.push(writeStateFile(data.folder, testFileName(data.writer, f), testFileContent(data.writer, f)));
    if (data.writeShared)
      writes.push(writeStateFile(data.folder, 'shared.state', sharedContent(data.writer)));
    return Promise.all(writes);
  };
  run().then(
    (handles) => port.postMessage(handles),
    (error: unknown) => {
      process.nextTick(() => {
        throw error;
      });
    },
  );
}
