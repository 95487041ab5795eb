import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { decodeRecordKey, encodeEntryKey, encodeKeyPrefix, encodeStateName } from './key-codec.ts';

const anyUnits = fc
  .array(fc.integer({ min: 0, max: 0xffff }), { maxLength: 10 })
  .map((units) => String.fromCharCode(...units));

describe('LevelDB record keys', () => {
  it("keep string keys that UTF-8 cannot tell apart distinct: '\\uD800', '\\uDC00', '\\uFFFD'", () => {
    const prefixes = ['\uD800', '\uDC00', '\uFFFD', 'a\uD800', 'a\uFFFD'].map((key) =>
      encodeKeyPrefix(5, key).toString('hex'),
    );
    expect(new Set(prefixes).size).toBe(prefixes.length);
    // Well-formed strings keep the UTF-8 layout that directories already hold.
    expect(encodeKeyPrefix(5, '\uFFFD').toString('hex')).toBe('00050100000003efbfbd');
  });

  it('read back every string key exactly, manifest and entry alike', () => {
    fc.assert(
      fc.property(anyUnits, fc.integer({ min: 0, max: 32767 }), fc.string(), (key, keyGroup, namespace) => {
        const prefix = encodeKeyPrefix(keyGroup, key);
        expect(decodeRecordKey(prefix)).toEqual({ keyGroup, key, stateName: undefined, namespace: '' });
        const entry = encodeEntryKey(prefix, encodeStateName('count'), namespace);
        expect(decodeRecordKey(entry)).toEqual({ keyGroup, key, stateName: 'count', namespace });
      }),
      { numRuns: 500, seed: 3 },
    );
  });

  it('never lets one key be a prefix of another (each key is self-delimiting)', () => {
    fc.assert(
      fc.property(anyUnits, anyUnits, (a, b) => {
        fc.pre(a !== b);
        const pa = encodeKeyPrefix(0, a);
        const pb = encodeKeyPrefix(0, b);
        expect(pb.subarray(0, pa.length).equals(pa)).toBe(false);
      }),
      { numRuns: 500, seed: 4 },
    );
  });
});
