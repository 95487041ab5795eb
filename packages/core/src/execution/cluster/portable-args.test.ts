import { describe, expect, it } from 'vitest';
import { ConfigError } from '../../errors.ts';
import { checkPortableArgs } from './portable-args.ts';

describe('job arguments sent to task managers', () => {
  it('passes data: objects, arrays, typed arrays, maps, sets, cycles', () => {
    const cyclic: Record<string, unknown> = { a: 1 };
    cyclic.self = cyclic;
    for (const args of [
      undefined,
      1,
      'x',
      { input: [1, 2], nested: { bytes: new Uint8Array(4) } },
      new Map([[1, { a: 2 }]]),
      new Set([1]),
      cyclic,
    ]) {
      expect(() => checkPortableArgs(args)).not.toThrow();
    }
  });

  it('refuses shared memory and functions, naming where they are', () => {
    expect(() => checkPortableArgs({ counters: { crashes: new SharedArrayBuffer(8) } })).toThrow(
      /job argument args\.counters\.crashes is shared memory/,
    );
    expect(() => checkPortableArgs({ view: [new Int32Array(new SharedArrayBuffer(8))] })).toThrow(
      /args\.view\[0\]/,
    );
    expect(() => checkPortableArgs({ map: new Map([['k', () => 1]]) })).toThrow(
      /args\.map\.get\(k\) is a function/,
    );
    expect(() => checkPortableArgs({ f: () => 1 })).toThrow(ConfigError);
  });
});
