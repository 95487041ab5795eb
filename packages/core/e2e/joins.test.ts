import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type RunJobOptions, runJob } from '@sluice/core';
import fc from 'fast-check';
import { afterEach, describe, expect, it } from 'vitest';
import { canonical, expectedJoin } from './join-model.ts';
import type { AssignerKind, JoinArgs, Joined, Side } from './jobs/joins.ts';

const job = new URL('./jobs/joins.ts', import.meta.url);
const MAX_DISORDER = 40;

const folders: string[] = [];
afterEach(async () => {
  for (const folder of folders.splice(0)) await rm(folder, { recursive: true, force: true });
});
async function tempDir(): Promise<string> {
  const folder = await mkdtemp(join(tmpdir(), 'sluice-joins-'));
  folders.push(folder);
  return folder;
}

/**
 * One side's records: timestamps rise on average and are out of order by up to MAX_DISORDER ms,
 * never more, so that no record is ever late (each is at least the highest timestamp before it
 * minus MAX_DISORDER, above every watermark it can meet, at any parallelism).
 */
function sideArbitrary(maxLength: number): fc.Arbitrary<Side[]> {
  return fc
    .array(
      fc.record({
        key: fc.constantFrom('a', 'b', 'c', 'd', 'e'),
        step: fc.integer({ min: 0, max: 12 }),
        jitter: fc.integer({ min: 0, max: MAX_DISORDER }),
      }),
      { maxLength },
    )
    .map((raw) => {
      let clock = 1_000;
      return raw.map(({ key, step, jitter }, id): Side => {
        clock += step;
        return { id, key, ts: clock - jitter };
      });
    });
}

async function backendOptions(backend: 'heap' | 'leveldb'): Promise<Pick<RunJobOptions, 'stateBackend'>> {
  // A tiny cache, so that LevelDB state is written out and read back between batches.
  return backend === 'heap'
    ? { stateBackend: 'heap' }
    : { stateBackend: { kind: 'leveldb', directory: await tempDir(), cacheMaxKeys: 2 } };
}

const RUNS = [1, 2, 4].flatMap((parallelism) =>
  (['heap', 'leveldb'] as const).map((backend) => ({ parallelism, backend })),
);

async function expectJoinMatchesLoop(args: JoinArgs, parallelism: number, backend: 'heap' | 'leveldb') {
  const result = await runJob<JoinArgs>(job, { parallelism, args, ...(await backendOptions(backend)) });
  expect(canonical(result.collected<Joined>('joined'))).toEqual(canonical(expectedJoin(args)));
}

describe('window joins match a nested loop per key and window', () => {
  const cases: Array<[JoinArgs['kind'], AssignerKind]> = [
    ['join', 'tumbling'],
    ['join', 'sliding'],
    ['join', 'session'],
    ['flatJoin', 'sliding'],
    ['coGroup', 'tumbling'],
    ['coGroup', 'session'],
  ];
  for (const [kind, assigner] of cases) {
    it.each(RUNS)(`${kind} in ${assigner} windows, parallelism $parallelism, $backend state`, async ({
      parallelism,
      backend,
    }) => {
      await fc.assert(
        fc.asyncProperty(sideArbitrary(200), sideArbitrary(200), async (left, right) => {
          await expectJoinMatchesLoop({ left, right, kind, assigner, maxOutOfOrderness: MAX_DISORDER }, parallelism, backend);
        }),
        { numRuns: 2 },
      );
    });
  }
});
