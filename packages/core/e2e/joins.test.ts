import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { JobExecutionError, type RunJobOptions, runJob } from '@sluice/core';
import { JobTestDriver } from '@sluice/core/testing';
import fc from 'fast-check';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { FailingJoinArgs } from './jobs/failing-join.ts';
import type { AssignerKind, JoinArgs, Joined, Side } from './jobs/joins.ts';
import { canonical, expectedJoin } from './join-model.ts';
import { expectThreadsBackTo, warmThreadBaseline } from './os-threads.ts';

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
      // At least half full: fast-check starts with its smallest values, and runs are few.
      { minLength: Math.floor(maxLength / 2), maxLength },
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

/**
 * Parallelism 1, 2 and 4 for every case, the backend alternating between cases, so each backend
 * meets every parallelism across the cases of a group (all six pairs per case took 8 minutes).
 */
function runsFor(caseIndex: number): Array<{ parallelism: number; backend: 'heap' | 'leveldb' }> {
  return [1, 2, 4].map((parallelism, i) => ({
    parallelism,
    backend: (caseIndex + i) % 2 === 0 ? 'heap' : 'leveldb',
  }));
}

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
  for (const [index, [kind, assigner]] of cases.entries()) {
    it.each(runsFor(index))(
      `${kind} in ${assigner} windows, parallelism $parallelism, $backend state`,
      async ({ parallelism, backend }) => {
        await fc.assert(
          fc.asyncProperty(sideArbitrary(200), sideArbitrary(200), async (left, right) => {
            await expectJoinMatchesLoop(
              { left, right, kind, assigner, maxOutOfOrderness: MAX_DISORDER },
              parallelism,
              backend,
            );
          }),
          { numRuns: 1 },
        );
      },
    );
  }
});

describe('interval joins match a nested loop over both sides', () => {
  const intervals: Array<Pick<JoinArgs, 'lowerMs' | 'upperMs' | 'lowerExclusive' | 'upperExclusive'>> = [
    { lowerMs: -20, upperMs: 30 },
    { lowerMs: -15, upperMs: 15, lowerExclusive: true, upperExclusive: true },
    { lowerMs: 5, upperMs: 25, upperExclusive: true },
    { lowerMs: -30, upperMs: -10, lowerExclusive: true },
  ];
  for (const [index, interval] of intervals.entries()) {
    const name = `${interval.lowerExclusive ? '(' : '['}${interval.lowerMs}, ${interval.upperMs}${interval.upperExclusive ? ')' : ']'}`;
    it.each(runsFor(index))(
      `between ${name}, parallelism $parallelism, $backend state`,
      async ({ parallelism, backend }) => {
        await fc.assert(
          fc.asyncProperty(sideArbitrary(250), sideArbitrary(250), async (left, right) => {
            const args: JoinArgs = {
              left,
              right,
              kind: 'interval',
              ...interval,
              maxOutOfOrderness: MAX_DISORDER,
            };
            await expectJoinMatchesLoop(args, parallelism, backend);
          }),
          { numRuns: 2 },
        );
      },
    );
  }
});

describe('joins on a small input, by hand', () => {
  const left: Side[] = [
    { id: 0, key: 'a', ts: 1_000 },
    { id: 1, key: 'b', ts: 1_050 },
    { id: 2, key: 'a', ts: 1_120 },
  ];
  const right: Side[] = [
    { id: 0, key: 'a', ts: 1_010 },
    { id: 1, key: 'a', ts: 1_099 },
    { id: 2, key: 'b', ts: 1_200 },
    { id: 3, key: 'a', ts: 1_130 },
  ];

  it('a tumbling window join pairs records of one key and window, stamped with the window end - 1', async () => {
    const args: JoinArgs = { left, right, kind: 'join', assigner: 'tumbling', maxOutOfOrderness: 0 };
    const result = await runJob<JoinArgs>(job, { parallelism: 2, args });
    expect(canonical(result.collected<Joined>('joined'))).toEqual(['a|0|0@1099', 'a|0|1@1099', 'a|2|3@1199']);
  });

  it('an interval join pairs records whose timestamps are close enough, stamped with the later one', async () => {
    const args: JoinArgs = { left, right, kind: 'interval', lowerMs: -10, upperMs: 10, maxOutOfOrderness: 0 };
    const result = await runJob<JoinArgs>(job, { parallelism: 2, args });
    expect(canonical(result.collected<Joined>('joined'))).toEqual(['a|0|0@1010', 'a|2|3@1130']);
  });

  it('a session co-group sees both sides of each session, one side possibly empty', async () => {
    const args: JoinArgs = { left, right, kind: 'coGroup', assigner: 'session', maxOutOfOrderness: 0 };
    const result = await runJob<JoinArgs>(job, { parallelism: 2, args });
    // Sessions with a 30 ms gap: a [1000, 1040), a [1099, 1160) (1099, 1120, 1130), b 1050, b 1200.
    expect(canonical(result.collected<Joined>('joined'))).toEqual([
      'a|0|0@1039',
      'a|2|1,3@1159',
      'b|1|@1079',
      'b||2@1229',
    ]);
  });
});

describe('a join stopped with a savepoint midway and resumed at another parallelism', () => {
  const cases: Array<{
    name: string;
    args: Omit<JoinArgs, 'left' | 'right' | 'maxOutOfOrderness'>;
    backend: 'heap' | 'leveldb';
    from: number;
    to: number;
  }> = [
    {
      name: 'tumbling window join',
      args: { kind: 'join', assigner: 'tumbling' },
      backend: 'heap',
      from: 2,
      to: 4,
    },
    {
      name: 'session window join',
      args: { kind: 'join', assigner: 'session' },
      backend: 'leveldb',
      from: 2,
      to: 1,
    },
    {
      name: 'sliding co-group',
      args: { kind: 'coGroup', assigner: 'sliding' },
      backend: 'leveldb',
      from: 1,
      to: 3,
    },
    {
      name: 'interval join',
      args: { kind: 'interval', lowerMs: -25, upperMs: 10 },
      backend: 'heap',
      from: 2,
      to: 1,
    },
    {
      name: 'interval join, exclusive bounds',
      args: { kind: 'interval', lowerMs: -10, upperMs: 30, lowerExclusive: true, upperExclusive: true },
      backend: 'leveldb',
      from: 2,
      to: 4,
    },
  ];
  for (const { name, args: joinArgs, backend, from, to } of cases) {
    it(`${name}: parallelism ${from} then ${to}, ${backend} state, same answer as one run`, async () => {
      await fc.assert(
        fc.asyncProperty(
          sideArbitrary(200),
          sideArbitrary(200),
          fc.integer({ min: 20, max: 80 }),
          async (left, right, cutPercent) => {
            const args: JoinArgs = { ...joinArgs, left, right, maxOutOfOrderness: MAX_DISORDER };
            const savepoint = join(await tempDir(), 'savepoint');
            const io = { inputs: ['left', 'right'], outputs: ['joined'] };
            const leftAt = Math.floor((cutPercent / 100) * left.length);
            const rightAt = Math.floor((cutPercent / 100) * right.length);

            const before = await JobTestDriver.start<JoinArgs>(job, {
              parallelism: from,
              args,
              ...io,
              ...(await backendOptions(backend)),
              checkpointing: { directory: await tempDir(), intervalMs: 600_000 },
            });
            let firstPart: Joined[];
            try {
              before.input<Side>('left').send(left.slice(0, leftAt));
              before.input<Side>('right').send(right.slice(0, rightAt));
              await before.settle();
              await before.stopWithSavepoint(savepoint);
              firstPart = before.output<Joined>('joined').all();
            } finally {
              await before.close();
            }

            const after = await JobTestDriver.start<JoinArgs>(job, {
              parallelism: to,
              args,
              ...io,
              ...(await backendOptions(backend)),
              restoreFrom: savepoint,
            });
            try {
              after.input<Side>('left').send(left.slice(leftAt));
              after.input<Side>('right').send(right.slice(rightAt));
              await after.finish();
              const all = [...firstPart, ...after.output<Joined>('joined').all()];
              expect(canonical(all)).toEqual(canonical(expectedJoin(args)));
            } finally {
              await after.close();
            }
          },
        ),
        { numRuns: 2 },
      );
    });
  }
});

describe('a join function that throws', () => {
  let baseline = 0;
  beforeAll(async () => {
    baseline = await warmThreadBaseline();
  });
  const failingJob = new URL('./jobs/failing-join.ts', import.meta.url);
  for (const [kind, operator] of [
    ['window', 'window-join'],
    ['interval', 'interval-join'],
  ] as const) {
    it(`fails the ${kind} join with the operator, the subtask and the user's error, and leaves no thread`, async () => {
      const run = runJob<FailingJoinArgs>(failingJob, { parallelism: 2, args: { kind, poison: 517 } });
      const error = await run.then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(error).toBeInstanceOf(JobExecutionError);
      expect((error as JobExecutionError).operatorId).toBe(operator);
      expect((error as Error).message).toMatch(
        new RegExp(`operator '${operator}'.* subtask [12]/2 .*no pairs for 517`),
      );
      await expectThreadsBackTo(baseline);
    });
  }
});
