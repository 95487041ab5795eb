/** Writes consistent batches through a LevelDB host connection until terminated (see the test). */

import { type MessagePort, parentPort, workerData } from 'node:worker_threads';
import { LevelStoreClient } from './level-store-client.ts';

const { port, directory } = workerData as { port: MessagePort; directory: string };
const store = new LevelStoreClient(port).store(directory);
await store.open();
// Every batch rewrites all 100 keys and the round number: a torn batch would show as keys that
// disagree with each other or with the round.
for (let round = 1; ; round++) {
  const value = Buffer.from(String(round));
  const ops = Array.from({ length: 100 }, (_, i) => ({
    type: 'put' as const,
    key: Buffer.from(`key-${i}`),
    value,
  }));
  ops.push({ type: 'put', key: Buffer.from('round'), value });
  await store.batch(ops);
  if (round === 1) parentPort!.postMessage('writing');
  const read = await store.getMany([Buffer.from('round'), Buffer.from('key-0')]);
  if (read[0]?.toString() !== String(round) || read[1]?.toString() !== String(round)) {
    throw new Error(`read ${read.map((b) => b?.toString())} after writing round ${round}`);
  }
}
