import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { diskCodec, encodeEntryKey, encodeKeyPrefix, encodeStateName } from '../key-codec.ts';
import { LocalLevelStore } from './local-level-store.ts';

const dirs: string[] = [];
afterEach(async () => {
  for (const dir of dirs.splice(0)) await rm(dir, { recursive: true, force: true });
});

async function openStore(): Promise<LocalLevelStore> {
  const dir = await mkdtemp(join(tmpdir(), 'sluice-local-level-'));
  dirs.push(dir);
  const store = new LocalLevelStore(join(dir, 'db'));
  await store.open();
  return store;
}

describe('LocalLevelStore', () => {
  it('reads a large getMany in concurrent parts, every value in the order asked, absent keys undefined', async () => {
    const store = await openStore();
    try {
      const key = (i: number) => Buffer.from(`k${String(i).padStart(5, '0')}`);
      // Even keys only: every second key asked for is absent.
      await store.batch(
        Array.from({ length: 1000 }, (_, i) => ({
          type: 'put' as const,
          key: key(2 * i),
          value: Buffer.from(`v${2 * i}`),
        })),
      );
      // 1,537 keys in a shuffled order (more than the largest split, not a multiple of it).
      const asked = Array.from({ length: 1537 }, (_, j) => (j * 7919) % 2000);
      const values = await store.getMany(asked.map(key));
      expect(values.map((v) => v?.toString())).toEqual(asked.map((i) => (i % 2 === 0 ? `v${i}` : undefined)));
    } finally {
      await store.close();
    }
  });

  it('reads the manifests and entries of many keys as of one snapshot, whatever is written meanwhile', async () => {
    const store = await openStore();
    try {
      const count = encodeStateName('count');
      const prefixes = Array.from({ length: 600 }, (_, i) => encodeKeyPrefix(i % 128, `user-${i}`));
      const manifest = Buffer.from(diskCodec.pack([['count', ['']]]));
      await store.batch(
        prefixes.flatMap((prefix, i) => [
          { type: 'put' as const, key: prefix, value: manifest },
          {
            type: 'put' as const,
            key: encodeEntryKey(prefix, count, ''),
            value: Buffer.from(diskCodec.pack(i)),
          },
        ]),
      );
      const reading = store.readKeys(prefixes, ['count']);
      // Issued after the read: none of it may show in what the read returns.
      const writing = store.batch(
        prefixes.map((prefix) => ({
          type: 'put' as const,
          key: encodeEntryKey(prefix, count, ''),
          value: Buffer.from(diskCodec.pack(-1)),
        })),
      );
      const { manifests, entries } = await reading;
      await writing;
      expect(manifests.every((m) => m !== undefined)).toBe(true);
      expect(entries.map((e) => diskCodec.unpack(e!))).toEqual(prefixes.map((_, i) => i));
    } finally {
      await store.close();
    }
  });
});
