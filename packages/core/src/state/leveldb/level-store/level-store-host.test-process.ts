/**
 * Process side of the thread-count test in `level-store-host.test.ts`, run as a process of its own
 * so that nothing else loaded classic-level in its main thread. Rounds of: start a LevelDB host,
 * write enough to a new database that LevelDB flushes and compacts (which starts its background
 * thread), close it, shut the host down. Prints the process's thread count after each round.
 */

import { readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { LevelStoreClient } from './level-store-client.ts';
import { LevelStoreHost } from './level-store-host.ts';

const ROUNDS = 4;
/** Past LevelDB's 4 MiB write buffer: a memtable is flushed, so a compaction is scheduled. */
const BYTES_PER_ROUND = 6 * 1024 * 1024;

function threads(): number {
  return Number(/Threads:\s+(\d+)/.exec(readFileSync('/proc/self/status', 'utf8'))![1]);
}

const root = await mkdtemp(join(tmpdir(), 'sluice-level-threads-'));
const counts: number[] = [];
try {
  for (let round = 0; round < ROUNDS; round++) {
    const host = LevelStoreHost.start();
    const connection = host.connect();
    const client = new LevelStoreClient(connection.port);
    const store = client.store(join(root, `db-${round}`));
    await store.open();
    const value = Buffer.alloc(1024, round);
    for (let written = 0, batch = 0; written < BYTES_PER_ROUND; batch++) {
      const ops = Array.from({ length: 512 }, (_, i) => ({
        type: 'put' as const,
        key: Buffer.from(`key-${batch}-${i}`),
        value,
      }));
      await store.batch(ops);
      written += ops.length * value.length;
    }
    await store.close();
    client.close();
    await host.release([connection.id]);
    await host.shutdown();
    // Threads end asynchronously: give them time, then count.
    await new Promise((resolve) => setTimeout(resolve, 300));
    counts.push(threads());
  }
} finally {
  await rm(root, { recursive: true, force: true });
}
process.stdout.write(`${JSON.stringify(counts)}\n`);
