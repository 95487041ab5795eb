/**
 * Checkpoint duration and size for one value state per key over `keys` keys, and recovery time
 * from a killed worker thread to the first record processed again.
 *
 *   pnpm --filter @sluice/benchmarks checkpoints [keys] [parallelism] [heap|leveldb]
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type CompletedCheckpointStats, startJob } from '@sluice/core';
import type { KeyedValuesArgs } from './jobs/keyed-values.ts';

const keys = Number(process.argv[2] ?? 1_000_000);
const parallelism = Number(process.argv[3] ?? 2);
const backend = process.argv[4] === 'leveldb' ? 'leveldb' : 'heap';
const directory = await mkdtemp(join(tmpdir(), 'sluice-bench-checkpoints-'));
const progress = new SharedArrayBuffer(8);
const firstRecordAt = new Float64Array(progress);
const completed: CompletedCheckpointStats[] = [];
let notify: () => void = () => {};

const handle = await startJob<KeyedValuesArgs>(new URL('./jobs/keyed-values.ts', import.meta.url), {
  parallelism,
  args: { keys, progress },
  checkpointing: { directory, intervalMs: 3_000, timeoutMs: 120_000 },
  stateBackend: backend === 'heap' ? 'heap' : { kind: 'leveldb', directory: join(directory, 'state') },
  log: (message) => {
    if (process.env.SLUICE_BENCH_VERBOSE) console.log(`${Date.now() % 100_000} ${message}`);
  },
  onCheckpoint: (checkpoint) => {
    completed.push(checkpoint);
    notify();
  },
});
const nextCheckpoint = () => new Promise<void>((resolve) => (notify = resolve));

// Checkpoints once every key has state (the generator cycles through the keys).
for (let i = 0; i < 4; i++) await nextCheckpoint();
const steady = completed.slice(1);

// Recovery: kill a worker thread, wait for the first record processed after the kill.
const recoveries: number[] = [];
for (let i = 0; i < 3; i++) {
  await nextCheckpoint();
  const killedAt = Date.now();
  if (process.env.SLUICE_BENCH_VERBOSE) console.log(`${killedAt % 100_000} kill`);
  await handle.terminateWorker(i % parallelism); // Subtasks of the new attempt stamp their first record; the old ones stamped theirs long ago.
  while (firstRecordAt[0]! <= killedAt) await new Promise((resolve) => setTimeout(resolve, 2));
  recoveries.push(firstRecordAt[0]! - killedAt);
}
await handle.cancel();
await rm(directory, { recursive: true, force: true });

const mb = (bytes: number) => (bytes / 1024 / 1024).toFixed(1);
console.log(
  `keyed value state: ${keys.toLocaleString('en-US')} keys, parallelism ${parallelism}, ${backend} backend, node ${process.version}`,
);
for (const c of steady) {
  console.log(
    `  checkpoint ${c.checkpointId}: ${c.durationMs} ms, ${mb(c.bytes)} MB, alignment ${c.maxAlignmentMs} ms`,
  );
}
console.log(
  `  recovery from a killed worker to the first record processed again: ${recoveries.map((r) => `${r} ms`).join(', ')}`,
);
