import { createRequire } from 'node:module';
import { describe, expect, it } from 'vitest';
import { crc32c, groupMessagesPerPartition } from './kafkajs-fast-paths.ts';

const require = createRequire(import.meta.url);
// kafkajs' own implementations, loaded from their files: the reference the replacements must equal.
const kafkajsCrc32c = require('kafkajs/src/protocol/recordBatch/crc32C/crc32C.js') as (b: Buffer) => number;
const kafkajsGroup = (() => {
  const path = require.resolve('kafkajs/src/producer/groupMessagesPerPartition.js');
  const cached = require.cache[path];
  delete require.cache[path];
  try {
    return require(path) as typeof groupMessagesPerPartition;
  } finally {
    if (cached !== undefined) require.cache[path] = cached;
  }
})();

describe('kafkajs fast paths', () => {
  it('crc32c equals kafkajs’ CRC-32C on every length 0..300 and on a large buffer', () => {
    let seed = 12345;
    const random = () => {
      seed = (seed * 1103515245 + 12345) & 0x7fffffff;
      return seed & 0xff;
    };
    for (let length = 0; length <= 300; length++) {
      const buffer = Buffer.alloc(length);
      for (let i = 0; i < length; i++) buffer[i] = random();
      expect(crc32c(buffer)).toBe(kafkajsCrc32c(buffer));
    }
    const large = Buffer.alloc(1 << 20);
    for (let i = 0; i < large.length; i++) large[i] = random();
    expect(crc32c(large)).toBe(kafkajsCrc32c(large));
    // The standard check value of CRC-32C.
    expect(crc32c(Buffer.from('123456789'))).toBe(0xe3069283);
  });

  it('groupMessagesPerPartition groups as kafkajs does, order kept', () => {
    const messages = Array.from({ length: 1000 }, (_, i) => ({ i, partition: (i * 7) % 5 }));
    const args = {
      topic: 't',
      partitionMetadata: [{}, {}, {}, {}, {}],
      messages,
      partitioner: ({ message }: { message: unknown }) => (message as { partition: number }).partition,
    };
    expect(groupMessagesPerPartition(args)).toEqual(kafkajsGroup(args));
    expect(groupMessagesPerPartition({ ...args, partitionMetadata: [] })).toEqual({});
  });
});
