import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { JobExecutionError } from '@sluice/core';
import { JobTestDriver } from '@sluice/core/testing';
import { afterEach, describe, expect, it } from 'vitest';
import { difference } from '../src/channels/record-equality.test-helper.ts';
import type { Held, RecordStateArgs, Update } from './jobs/record-state.ts';
import { makeRecord } from './jobs/records.ts';
import { expectThreadsBackTo, warmThreadBaseline } from './os-threads.ts';

const job = new URL('./jobs/record-state.ts', import.meta.url);
const folders: string[] = [];
afterEach(async () => {
  for (const folder of folders.splice(0)) await rm(folder, { recursive: true, force: true });
});
async function tempDir(): Promise<string> {
  const folder = await mkdtemp(join(tmpdir(), 'sluice-record-state-'));
  folders.push(folder);
  return folder;
}

const KEYS = 40;
/** The value round `round` gives key `key`: a record of every type the contract carries. */
const valueFor = (round: number, key: number): unknown => makeRecord(round * 1_000 + key);
const updatesOf = (round: number): Update[] =>
  Array.from({ length: KEYS }, (_, key) => ({ key, value: valueFor(round, key) }));

/** The plain loop's answer for round `round`: what each key held before it, and all it was given. */
function expectedHeld(round: number): Held[] {
  return Array.from({ length: KEYS }, (_, key) => ({
    key,
    previous: round === 0 ? undefined : valueFor(round - 1, key),
    history: Array.from({ length: round }, (_, r) => valueFor(r, key)),
  }));
}

function expectExactly(arrived: Held[], round: number): void {
  const sorted = [...arrived].sort((a, b) => a.key - b.key);
  expect(sorted.length).toBe(KEYS);
  const expected = expectedHeld(round);
  for (let key = 0; key < KEYS; key++) {
    expect(difference(expected[key], sorted[key], `round ${round} key ${key}`)).toBeUndefined();
  }
}

describe('state keeps values exactly, through checkpoints and a restore at another parallelism', () => {
  const backends = {
    heap: async () => 'heap' as const,
    // A cache of 4 keys: most reads come back from disk.
    leveldb: async () => ({ kind: 'leveldb' as const, directory: await tempDir(), cacheMaxKeys: 4 }),
  };
  for (const [name, backend] of Object.entries(backends)) {
    it(`${name} state: Set, Map, -0, holes, typed arrays, BigInt over 64 bits, registered classes, errors`, async () => {
      const savepoint = join(await tempDir(), 'savepoint');
      const first = await JobTestDriver.start(job, {
        parallelism: 2,
        inputs: ['updates'],
        outputs: ['held'],
        stateBackend: await backend(),
        checkpointing: { directory: await tempDir(), intervalMs: 3_600_000 },
      });
      try {
        const held = first.output<Held>('held');
        for (const round of [0, 1]) {
          first.input<Update>('updates').send(updatesOf(round));
          await first.settle();
          expectExactly(held.take(), round);
        }
        await first.stopWithSavepoint(savepoint);
      } finally {
        await first.close();
      }
      for (const parallelism of [3, 1]) {
        await using resumed = await JobTestDriver.start(job, {
          parallelism,
          inputs: ['updates'],
          outputs: ['held'],
          stateBackend: await backend(),
          restoreFrom: savepoint,
        });
        resumed.input<Update>('updates').send(updatesOf(2));
        await resumed.settle();
        expectExactly(resumed.output<Held>('held').take(), 2);
      }
    }, 60_000);
  }
});

describe('state that holds what no record may is refused, naming the state, the key and the field', () => {
  const backends = {
    heap: async () => 'heap' as const,
    leveldb: async () => ({ kind: 'leveldb' as const, directory: await tempDir(), cacheMaxKeys: 4 }),
  };
  for (const [name, backend] of Object.entries(backends)) {
    it(`${name} state: the savepoint and the job fail, and no thread is left`, async () => {
      const baseline = await warmThreadBaseline();
      {
        await using driver = await JobTestDriver.start<RecordStateArgs>(job, {
          parallelism: 2,
          args: { keepsFunction: 3 },
          inputs: ['updates'],
          outputs: ['held'],
          stateBackend: await backend(),
          checkpointing: { directory: await tempDir(), intervalMs: 3_600_000 },
        });
        driver.input<Update>('updates').send(updatesOf(0));
        const refused = /state 'latest' of key 3.*\.handler\.onEvent is a function/s;
        const folder = join(await tempDir(), 'savepoint');
        // LevelDB writes state when it evicts keys as well: the job may fail before the savepoint,
        // while the records are processed.
        const steps = (async () => {
          await driver.settle();
          await driver.savepoint(folder);
        })();
        await expect(steps).rejects.toThrow();
        const failure = await driver.finish().then(
          () => undefined,
          (error: unknown) => error,
        );
        expect(failure).toBeInstanceOf(JobExecutionError);
        expect((failure as JobExecutionError).operatorId).toBe('keep');
        expect((failure as Error).message).toMatch(refused);
      }
      await expectThreadsBackTo(baseline);
    }, 60_000);
  }
});
