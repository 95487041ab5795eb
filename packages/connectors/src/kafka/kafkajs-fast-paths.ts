/**
 * Two of kafkajs 2.2.4's producer hot spots, replaced by equivalent code (found profiling the
 * Kafka sink, see benchmarks/README.md):
 *
 * - `groupMessagesPerPartition` copies the partition's array for every message
 *   (`[...current, message]`): quadratic in the records of a request, a few percent of a sink
 *   thread's samples and much of its garbage at 5,000 records a request;
 * - the CRC-32C of every record batch is computed a byte at a time; slicing by 8 bytes does the
 *   same in a fraction of the time.
 *
 * kafkajs' modules take these with `require` when they load, so the replacements must be in
 * Node's CommonJS cache before kafkajs is loaded: `kafkajs-client.ts` installs them, then
 * requires kafkajs. Where kafkajs was loaded earlier in the thread (a test or program that
 * imports it first), kafkajs keeps its own code, which gives the same results, slower.
 */
import { createRequire, Module } from 'node:module';

const require = createRequire(import.meta.url);

type Partitioner = (args: { topic: string; partitionMetadata: unknown[]; message: unknown }) => number;

/** kafkajs' contract: partition → its messages, in the order given; `{}` without metadata. */
export function groupMessagesPerPartition({
  topic,
  partitionMetadata,
  messages,
  partitioner,
}: {
  topic: string;
  partitionMetadata: unknown[];
  messages: unknown[];
  partitioner: Partitioner;
}): Record<number, unknown[]> {
  const result: Record<number, unknown[]> = {};
  if (partitionMetadata.length === 0) return result;
  for (const message of messages) {
    const partition = partitioner({ topic, partitionMetadata, message });
    const list = result[partition];
    if (list === undefined) result[partition] = [message];
    else list.push(message);
  }
  return result;
}

/** Eight tables of CRC-32C (Castagnoli, reflected polynomial 0x82f63b78), one per byte position. */
const TABLES = (() => {
  const tables = new Int32Array(8 * 256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? (c >>> 1) ^ 0x82f63b78 : c >>> 1;
    tables[n] = c;
  }
  for (let n = 0; n < 256; n++) {
    let c = tables[n]!;
    for (let t = 1; t < 8; t++) {
      c = tables[c & 0xff]! ^ (c >>> 8);
      tables[t * 256 + n] = c;
    }
  }
  return tables;
})();

/** CRC-32C of `buffer`, unsigned (what kafkajs' `recordBatch/crc32C` returns). */
export function crc32c(buffer: Uint8Array): number {
  const t = TABLES;
  let crc = -1;
  let i = 0;
  const end8 = buffer.length - (buffer.length % 8);
  for (; i < end8; i += 8) {
    const lo = crc ^ (buffer[i]! | (buffer[i + 1]! << 8) | (buffer[i + 2]! << 16) | (buffer[i + 3]! << 24));
    crc =
      t[1792 + (lo & 0xff)]! ^
      t[1536 + ((lo >>> 8) & 0xff)]! ^
      t[1280 + ((lo >>> 16) & 0xff)]! ^
      t[1024 + (lo >>> 24)]! ^
      t[768 + buffer[i + 4]!]! ^
      t[512 + buffer[i + 5]!]! ^
      t[256 + buffer[i + 6]!]! ^
      t[buffer[i + 7]!]!;
  }
  for (; i < buffer.length; i++) crc = t[(crc ^ buffer[i]!) & 0xff]! ^ (crc >>> 8);
  return (crc ^ -1) >>> 0;
}

/** Puts `exports` in the CommonJS cache under `specifier`'s file, unless that module is loaded. */
function preload(specifier: string, exports: unknown): boolean {
  const filename = require.resolve(specifier);
  if (require.cache[filename] !== undefined) return false;
  const module = new Module(filename);
  module.filename = filename;
  module.loaded = true;
  module.exports = exports;
  require.cache[filename] = module;
  return true;
}

let installed: boolean | undefined;

/** Installs the replacements, once per thread; whether kafkajs runs with them (false: it was loaded before). */
export function installKafkajsFastPaths(): boolean {
  installed ??=
    require.cache[require.resolve('kafkajs')] === undefined &&
    preload('kafkajs/src/producer/groupMessagesPerPartition.js', groupMessagesPerPartition) &&
    preload('kafkajs/src/protocol/recordBatch/crc32C/index.js', crc32c);
  return installed;
}
