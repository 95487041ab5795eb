import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type RunJobOptions, runJob } from '@sluice/core';
import { JobTestDriver } from '@sluice/core/testing';
import fc from 'fast-check';
import { afterEach, describe, expect, it } from 'vitest';
import { type StringKeysArgs, type UnitsCount, unitsOf } from './jobs/string-keys.ts';

const job = new URL('./jobs/string-keys.ts', import.meta.url);
const folders: string[] = [];
afterEach(async () => {
  for (const folder of folders.splice(0)) await rm(folder, { recursive: true, force: true });
});
async function tempDir(): Promise<string> {
  const folder = await mkdtemp(join(tmpdir(), 'sluice-keyed-routing-'));
  folders.push(folder);
  return folder;
}

type Backend = 'heap' | 'leveldb';

async function backendOption(backend: Backend): Promise<Pick<RunJobOptions, 'stateBackend'>> {
  // A cache of 2 keys: state goes to and comes back from LevelDB's record keys all the time.
  return backend === 'heap'
    ? {}
    : { stateBackend: { kind: 'leveldb', directory: await tempDir(), cacheMaxKeys: 2 } };
}

/** The plain loop's answer: how often each key occurs, keyed by its code units. */
function expectedCounts(keys: readonly string[]): Map<string, number> {
  const counts = new Map<string, number>();
  for (const key of keys) {
    const id = unitsOf(key).join(',');
    counts.set(id, (counts.get(id) ?? 0) + 1);
  }
  return counts;
}

function actualCounts(output: readonly UnitsCount[]): Map<string, number> {
  const counts = new Map<string, number>();
  for (const { units, count } of output) {
    const id = units.join(',');
    // A key reported twice would be a key split over two subtasks or states: fail on it.
    expect(counts.has(id), `key ${id} reported twice`).toBe(false);
    counts.set(id, count);
  }
  return counts;
}

const LONE = ['\uD800', '\uDC00', '\uFFFD', '\uDBFF', 'a\uD800', 'a\uFFFD', '\uDC00\uD800'];

/** Strings of any UTF-16 code units, lone surrogates included, and the keys that used to merge. */
const anyKey = fc.oneof(
  fc.constantFrom(...LONE),
  fc
    .array(fc.integer({ min: 0, max: 0xffff }), { maxLength: 6 })
    .map((units) => String.fromCharCode(...units)),
  fc
    .array(fc.integer({ min: 0xd800, max: 0xdfff }), { minLength: 1, maxLength: 3 })
    .map((units) => String.fromCharCode(...units)),
);

describe('keyed routing carries the key the selector returned', () => {
  for (const backend of ['heap', 'leveldb'] as const) {
    for (const parallelism of [1, 2, 4]) {
      it(`keeps '\\uD800', '\\uDC00' and '\\uFFFD' apart, and runs the key selector once a record (${backend}, parallelism ${parallelism})`, async () => {
        const keys = [...LONE, ...LONE, '\uD800', 'x'.repeat(300), '\uD800'.repeat(200)];
        const selectorCalls = new SharedArrayBuffer(4);
        const result = await runJob<StringKeysArgs>(job, {
          parallelism,
          args: { keyUnits: keys.map(unitsOf), selectorCalls },
          ...(await backendOption(backend)),
        });
        expect(actualCounts(result.collected<UnitsCount>('counts'))).toEqual(expectedCounts(keys));
        // Once, at the sender: the keyed operator uses the key that came with the record.
        expect(Atomics.load(new Int32Array(selectorCalls), 0)).toBe(keys.length);
      }, 60_000);

      it(`carries the keys of both inputs of a keyed connected stream (${backend}, parallelism ${parallelism})`, async () => {
        const keys = [...LONE, ...LONE, '\uD800', '\uDC00', 'b', 'x'.repeat(300)];
        const selectorCalls = new SharedArrayBuffer(4);
        const result = await runJob<StringKeysArgs>(job, {
          parallelism,
          args: { keyUnits: keys.map(unitsOf), selectorCalls, twoInputs: true },
          ...(await backendOption(backend)),
        });
        expect(actualCounts(result.collected<UnitsCount>('counts'))).toEqual(expectedCounts(keys));
        expect(Atomics.load(new Int32Array(selectorCalls), 0)).toBe(keys.length);
      }, 60_000);

      it(`counts random keys with lone surrogates like a plain loop (${backend}, parallelism ${parallelism})`, async () => {
        await fc.assert(
          fc.asyncProperty(fc.array(anyKey, { minLength: 1, maxLength: 400 }), async (keys) => {
            const result = await runJob<StringKeysArgs>(job, {
              parallelism,
              args: { keyUnits: keys.map(unitsOf) },
              ...(await backendOption(backend)),
            });
            expect(actualCounts(result.collected<UnitsCount>('counts'))).toEqual(expectedCounts(keys));
          }),
          { numRuns: 3, seed: 12 + parallelism, endOnFailure: true },
        );
      }, 120_000);
    }

    it(`restores lone-surrogate keys from a savepoint at another parallelism (${backend})`, async () => {
      const random = fc.sample(fc.array(anyKey, { minLength: 50, maxLength: 50 }), {
        numRuns: 1,
        seed: 7,
      })[0]!;
      const distinct = [...LONE, ...random];
      // 100 rounds over the keys, read at 1,000 records a second: the savepoint at 1 s cuts the input.
      const keys: string[] = [];
      for (let round = 0; round < 100; round++) keys.push(...distinct);
      const args: StringKeysArgs = { keyUnits: keys.map(unitsOf), ratePerSecond: 1_000 };
      const savepoint = join(await tempDir(), 'savepoint');
      const driver = await JobTestDriver.start<StringKeysArgs>(job, {
        parallelism: 2,
        args,
        checkpointing: { directory: await tempDir(), intervalMs: 60_000 },
        ...(await backendOption(backend)),
      });
      await driver.advanceTime(1_000);
      await expect(driver.stopWithSavepoint(savepoint)).resolves.toBe(savepoint);
      await expect(driver.finish()).rejects.toThrow(/cancelled/);

      const resumed = await runJob<StringKeysArgs>(job, {
        parallelism: 3,
        args: { ...args, ratePerSecond: undefined },
        restoreFrom: savepoint,
        ...(await backendOption(backend)),
      });
      expect(resumed.sourceRecords).toBeLessThan(keys.length);
      expect(actualCounts(resumed.collected<UnitsCount>('counts'))).toEqual(expectedCounts(keys));
    }, 120_000);
  }
});
