import fc from 'fast-check';
import { Packr, Unpackr } from 'msgpackr';
import { describe, expect, it } from 'vitest';
import type { Key } from './key-groups.ts';
import { fromSnapshotKey, toSnapshotKey } from './snapshot-keys.ts';

// As checkpoint files are written (runtime/checkpointing.ts).
const packr = new Packr({ useRecords: false, moreTypes: false });
const unpackr = new Unpackr({ useRecords: false });

describe('keys in checkpoints', () => {
  it('come back exactly through msgpack, lone surrogates included', () => {
    const anyKey: fc.Arbitrary<Key> = fc.oneof(
      fc.array(fc.integer({ min: 0, max: 0xffff }), { maxLength: 10 }).map((u) => String.fromCharCode(...u)),
      fc.constantFrom<Key>('\uD800', '\uDC00', '\uFFFD'),
      fc.integer(),
      fc.bigInt({ min: -(2n ** 63n), max: 2n ** 64n - 1n }),
      fc.boolean(),
    );
    fc.assert(
      fc.property(fc.array(anyKey), (keys) => {
        const stored = unpackr.unpack(packr.pack(keys.map(toSnapshotKey))) as unknown[];
        expect(stored.map((k) => fromSnapshotKey(k as Key))).toEqual(keys);
      }),
      { numRuns: 300, seed: 9 },
    );
  });

  it('leave well-formed keys as they are, so older checkpoints read back unchanged', () => {
    for (const key of ['plain', '\uFFFD', '😀', 7, 7n, true] as const) expect(toSnapshotKey(key)).toBe(key);
    expect(toSnapshotKey('\uD800')).toBeInstanceOf(Uint8Array);
  });
});
