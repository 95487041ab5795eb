import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { SluiceError } from '../errors.ts';
import { StateArgumentError, StateError } from './errors.ts';
import {
  assignToKeyGroup,
  computeKeyGroupRangeForOperatorIndex,
  computeOperatorIndexForKeyGroup,
  DEFAULT_MAX_PARALLELISM,
  hashKey,
  type Key,
  KeyGroupRange,
  MAX_MAX_PARALLELISM,
} from './key-groups.ts';

/**
 * Pearson's chi-square statistic of the key group counts against a uniform distribution.
 * With 128 groups it follows chi-square with 127 degrees of freedom: mean 127, sd ~15.9.
 */
function chiSquare(keys: Iterable<Key>, groups: number): number {
  const counts = new Array<number>(groups).fill(0);
  let n = 0;
  for (const key of keys) {
    const kg = assignToKeyGroup(key, groups);
    counts[kg] = (counts[kg] ?? 0) + 1;
    n++;
  }
  const expected = n / groups;
  let chi = 0;
  for (const c of counts) chi += (c - expected) ** 2 / expected;
  return chi;
}

function* range<T>(n: number, f: (i: number) => T): Generator<T> {
  for (let i = 0; i < n; i++) yield f(i);
}

/**
 * Two-sided bound at about six standard deviations: a random-looking hash fails with probability
 * far below 1e-6, while a hash that is too regular fails the lower bound (identity or `i % 128`
 * gives 0 on sequential keys) and a clumping one fails the upper bound (identity on multiples of
 * 128 puts everything in one group: ~12.7 million).
 */
function expectUniform(keys: Iterable<Key>, groups = 128): void {
  const df = groups - 1;
  const sd = Math.sqrt(2 * df);
  const chi = chiSquare(keys, groups);
  expect(chi).toBeGreaterThan(df - 6 * sd);
  expect(chi).toBeLessThan(df + 6 * sd);
}

function popcount32(x: number): number {
  let v = x >>> 0;
  let n = 0;
  while (v !== 0) {
    v &= v - 1;
    n++;
  }
  return n;
}

describe('hashKey', () => {
  it('is a pure function of the value (known answers: changing them breaks restoring old checkpoints)', () => {
    const answers: Array<[Key, number]> = [
      ['', 4176560736],
      ['a', 630667657],
      ['user-42', 291784800],
      ['ünïcødé ✓ 😀', 2086616012],
      [0, 4277216834],
      [1, 2533481856],
      [-1, 2731290144],
      [2 ** 31, 547361091],
      [2 ** 53 - 1, 3796663023],
      [1.5, 2250028535],
      [Number.POSITIVE_INFINITY, 928299849],
      [0n, 1950299501],
      [-(2n ** 100n), 844999385],
      [true, 2927627480],
      [false, 3079609528],
    ];
    expect(answers.map(([key]) => [key, hashKey(key)])).toEqual(answers);
  });

  it('returns an unsigned 32-bit integer and is stable across calls', () => {
    fc.assert(
      fc.property(fc.oneof(fc.string(), fc.double(), fc.integer(), fc.bigInt(), fc.boolean()), (key) => {
        const h = hashKey(key);
        expect(Number.isInteger(h) && h >= 0 && h < 2 ** 32).toBe(true);
        expect(hashKey(key)).toBe(h);
      }),
    );
  });

  it('tags the type: 1, "1", 1n and true hash differently', () => {
    const hashes = [1, '1', 1n, true, 0, '0', 0n, false, '', 'true'].map(hashKey);
    expect(new Set(hashes).size).toBe(hashes.length);
  });

  it('agrees with Map key equality: -0 and 0, every NaN', () => {
    expect(hashKey(-0)).toBe(hashKey(0));
    const otherNaN = new Float64Array(new BigUint64Array([0x7ff8_0000_dead_beefn]).buffer)[0]!;
    expect(Number.isNaN(otherNaN)).toBe(true);
    expect(hashKey(otherNaN)).toBe(hashKey(Number.NaN));
  });

  it('tells apart wide integers, floats and bigints that share low bits', () => {
    const keys: Key[] = [
      2 ** 32,
      0,
      2 ** 32 + 1,
      1,
      2 ** 40,
      0.5,
      1.5,
      -0.5,
      2n ** 64n,
      2n ** 32n,
      0n,
      -1n,
      1n,
    ];
    expect(new Set(keys.map(hashKey)).size).toBe(keys.length);
  });

  it('rejects keys that are not primitives', () => {
    for (const bad of [{}, null, undefined, Symbol('s'), () => 1]) {
      expect(() => hashKey(bad as unknown as Key)).toThrow(
        expect.objectContaining({ name: 'StateError', code: 'SLUICE_STATE_INVALID_KEY' }),
      );
    }
    expect(() => hashKey({} as unknown as Key)).toThrow(StateError);
  });

  it('avalanches: flipping one input bit flips about half of the output bits', () => {
    let flipped = 0;
    let trials = 0;
    for (let i = 0; i < 2000; i++) {
      const x = Math.imul(i, 0x9e3779b1);
      for (let bit = 0; bit < 32; bit++) {
        flipped += popcount32(hashKey(x) ^ hashKey(x ^ (1 << bit)));
        trials++;
      }
    }
    const mean = flipped / trials;
    expect(mean).toBeGreaterThan(15.5);
    expect(mean).toBeLessThan(16.5);

    flipped = 0;
    trials = 0;
    for (let i = 0; i < 2000; i++) {
      const s = `session-${i}`;
      flipped += popcount32(hashKey(s) ^ hashKey(`session-${i ^ 1}`));
      trials++;
    }
    expect(flipped / trials).toBeGreaterThan(15);
    expect(flipped / trials).toBeLessThan(17);
  });
});

describe('assignToKeyGroup distribution over 128 key groups', () => {
  const N = 100_000;
  it('is uniform for 100k string keys', () => {
    expectUniform(range(N, (i) => `user-${i}`));
    expectUniform(
      range(N, (i) => String.fromCharCode(65 + (i % 26), 65 + (((i / 26) | 0) % 26), 48 + ((i / 676) | 0))),
    );
  });
  it('is uniform for 100k sequential ints', () => {
    expectUniform(range(N, (i) => i));
  });
  it('is uniform for 100k ints that are all multiples of 128 or of 2^16', () => {
    expectUniform(range(N, (i) => i * 128));
    expectUniform(range(N, (i) => i * 65536));
    expectUniform(range(N, (i) => -i * 128));
  });
  it('is uniform for wide integers, floats, bigints', () => {
    expectUniform(range(N, (i) => 2 ** 40 + i * 2 ** 32));
    expectUniform(range(N, (i) => i + 0.25));
    expectUniform(range(N, (i) => BigInt(i) << 64n));
  });
  it('is uniform for a maxParallelism that is not a power of two', () => {
    expectUniform(
      range(N, (i) => `k${i}`),
      100,
    );
  });
  it('is in [0, maxParallelism)', () => {
    fc.assert(
      fc.property(fc.string(), fc.integer({ min: 1, max: MAX_MAX_PARALLELISM }), (key, maxP) => {
        const kg = assignToKeyGroup(key, maxP);
        expect(Number.isInteger(kg) && kg >= 0 && kg < maxP).toBe(true);
      }),
    );
  });
});

describe('KeyGroupRange', () => {
  it('is inclusive at both ends', () => {
    const r = new KeyGroupRange(3, 7);
    expect(r.size).toBe(5);
    expect([...r]).toEqual([3, 4, 5, 6, 7]);
    expect([2, 3, 7, 8].map((kg) => r.contains(kg))).toEqual([false, true, true, false]);
    expect(String(r)).toBe('[3, 7]');
  });
  it('has an empty range', () => {
    expect(KeyGroupRange.EMPTY.size).toBe(0);
    expect([...KeyGroupRange.EMPTY]).toEqual([]);
    expect(KeyGroupRange.EMPTY.contains(0)).toBe(false);
    expect(new KeyGroupRange(5, 4).equals(KeyGroupRange.EMPTY)).toBe(true);
    expect(new KeyGroupRange(0, 9).intersection(new KeyGroupRange(10, 12))).toBe(KeyGroupRange.EMPTY);
    expect(new KeyGroupRange(0, 9).intersection(new KeyGroupRange(5, 12))).toEqual(new KeyGroupRange(5, 9));
  });
  it('validates its bounds, naming the argument', () => {
    expect(() => new KeyGroupRange(-1, 3)).toThrow(expect.objectContaining({ argument: 'start' }));
    expect(() => new KeyGroupRange(1.5, 3)).toThrow(SluiceError);
    expect(() => new KeyGroupRange(4, 2)).toThrow(expect.objectContaining({ argument: 'end' }));
    expect(() => new KeyGroupRange(0, MAX_MAX_PARALLELISM)).toThrow(StateArgumentError);
  });
});

describe('key group ranges of operator subtasks (Flink formulas)', () => {
  const maxAndParallelism = fc
    .integer({ min: 1, max: MAX_MAX_PARALLELISM })
    .chain((maxP) => fc.tuple(fc.constant(maxP), fc.integer({ min: 1, max: maxP })));

  /** Plain comparisons in the loop (not expect) keep 100 runs with p up to 32768 fast. */
  function checkPartition(maxP: number, p: number): void {
    let next = 0;
    let minSize = Number.POSITIVE_INFINITY;
    let maxSize = 0;
    for (let i = 0; i < p; i++) {
      const r = computeKeyGroupRangeForOperatorIndex(maxP, p, i);
      // Contiguous, in order, never empty (p <= maxP): together they cover each key group once.
      if (r.start !== next || r.size <= 0) {
        expect.fail(`maxP ${maxP}, p ${p}: subtask ${i} has ${r}, expected to start at ${next}`);
      }
      if (
        computeOperatorIndexForKeyGroup(maxP, p, r.start) !== i ||
        computeOperatorIndexForKeyGroup(maxP, p, r.end) !== i
      ) {
        expect.fail(`maxP ${maxP}, p ${p}: the ends of ${r} do not map back to subtask ${i}`);
      }
      next = r.end + 1;
      minSize = Math.min(minSize, r.size);
      maxSize = Math.max(maxSize, r.size);
    }
    expect(next).toBe(maxP);
    expect(maxSize - minSize).toBeLessThanOrEqual(1);
  }

  it('cover every key group exactly once, for every p in 1..maxP (exhaustive for maxP = 128)', () => {
    for (let p = 1; p <= DEFAULT_MAX_PARALLELISM; p++) checkPartition(DEFAULT_MAX_PARALLELISM, p);
  });

  it('cover every key group exactly once, for random maxP and p', () => {
    fc.assert(fc.property(maxAndParallelism, ([maxP, p]) => checkPartition(maxP, p)));
  });

  it('computeOperatorIndexForKeyGroup agrees with the ranges for every key group', () => {
    fc.assert(
      fc.property(maxAndParallelism, ([maxP, p]) => {
        const owner = new Array<number>(maxP).fill(-1);
        for (let i = 0; i < p; i++) {
          for (const kg of computeKeyGroupRangeForOperatorIndex(maxP, p, i)) {
            if (owner[kg] !== -1) expect.fail(`key group ${kg} owned by ${owner[kg]} and ${i}`);
            owner[kg] = i;
          }
        }
        const computed = owner.map((_, kg) => computeOperatorIndexForKeyGroup(maxP, p, kg));
        expect(computed).toEqual(owner);
      }),
    );
  });

  it('match Flink on known values', () => {
    expect(computeKeyGroupRangeForOperatorIndex(128, 3, 0)).toEqual(new KeyGroupRange(0, 42));
    expect(computeKeyGroupRangeForOperatorIndex(128, 3, 1)).toEqual(new KeyGroupRange(43, 85));
    expect(computeKeyGroupRangeForOperatorIndex(128, 3, 2)).toEqual(new KeyGroupRange(86, 127));
    expect(computeOperatorIndexForKeyGroup(128, 3, 42)).toBe(0);
    expect(computeOperatorIndexForKeyGroup(128, 3, 43)).toBe(1);
  });

  it('validate arguments with a StateArgumentError naming the argument', () => {
    const cases: Array<[() => unknown, string]> = [
      [() => computeKeyGroupRangeForOperatorIndex(0, 1, 0), 'maxParallelism'],
      [() => computeKeyGroupRangeForOperatorIndex(MAX_MAX_PARALLELISM + 1, 1, 0), 'maxParallelism'],
      [() => computeKeyGroupRangeForOperatorIndex(128, 0, 0), 'parallelism'],
      [() => computeKeyGroupRangeForOperatorIndex(128, 129, 0), 'parallelism'],
      [() => computeKeyGroupRangeForOperatorIndex(128, 4, 4), 'operatorIndex'],
      [() => computeKeyGroupRangeForOperatorIndex(128, 4, -1), 'operatorIndex'],
      [() => computeKeyGroupRangeForOperatorIndex(128, 4, 0.5), 'operatorIndex'],
      [() => computeOperatorIndexForKeyGroup(128, 4, 128), 'keyGroup'],
      [() => computeOperatorIndexForKeyGroup(128, 4, Number.NaN), 'keyGroup'],
      [() => computeOperatorIndexForKeyGroup(1.5, 1, 0), 'maxParallelism'],
    ];
    for (const [call, argument] of cases) {
      expect(call).toThrow(StateArgumentError);
      expect(call).toThrow(expect.objectContaining({ argument, code: 'SLUICE_STATE_INVALID_ARGUMENT' }));
      expect(call).toThrow(new RegExp(`^${argument} `));
    }
  });
});
