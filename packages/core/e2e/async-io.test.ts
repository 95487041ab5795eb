import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AsyncRequestFailedError, AsyncTimeoutError, JobExecutionError, runJob } from '@sluice/core';
import { JobTestDriver } from '@sluice/core/testing';
import fc from 'fast-check';
import { afterEach, describe, expect, it } from 'vitest';
import { type AsyncIoArgs, answer, type Enriched } from './jobs/async-io.ts';
import { expectThreadsBackTo, warmThreadBaseline } from './os-threads.ts';

const job = new URL('./jobs/async-io.ts', import.meta.url);
const folders: string[] = [];
afterEach(async () => {
  for (const folder of folders.splice(0)) await rm(folder, { recursive: true, force: true });
});
async function tempDir(): Promise<string> {
  const folder = await mkdtemp(join(tmpdir(), 'sluice-async-io-'));
  folders.push(folder);
  return folder;
}

/** The plain loop's answer: one result per input record, by sequence number. */
function expected(input: readonly number[]): { seq: number; out: number }[] {
  return input.map((v, seq) => ({ seq, out: answer(v) }));
}

const bySeq = (records: readonly Enriched[]): { seq: number; out: number }[] =>
  records.map(({ seq, out }) => ({ seq, out })).sort((a, b) => a.seq - b.seq);

describe('mapAsync, end to end on worker threads', () => {
  it('matches a plain loop at parallelism 1, 2 and 4, ordered and unordered, chained to its source or behind a rebalance, keeping order and watermarks', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(
          fc.integer({ min: -10_000, max: 10_000 }).filter((v) => v !== 666),
          { maxLength: 3_000 },
        ),
        fc.constantFrom(1, 2, 4),
        fc.boolean(),
        fc.integer({ min: 1, max: 64 }),
        fc.boolean(),
        async (input, parallelism, ordered, capacity, rebalance) => {
          const args: AsyncIoArgs = { input, ordered, capacity, respond: 'turns', rebalance };
          const result = await runJob<AsyncIoArgs>(job, { parallelism, args });
          const out = result.collected<Enriched>('enriched');
          expect(bySeq(out)).toEqual(expected(input));
          // No result reached the next operator behind a watermark that had passed it.
          expect(out.filter((r) => r.late)).toEqual([]);
          if (ordered && !rebalance) {
            // Each subtask reads its split in order; ordered mode hands its results on in that order.
            for (let s = 0; s < parallelism; s++) {
              const seqs = out.filter((r) => r.subtask === s).map((r) => r.seq);
              expect(seqs).toEqual([...seqs].sort((a, b) => a - b));
            }
          }
        },
      ),
      { numRuns: 12 },
    );
  }, 180_000);

  it('fails the job naming the operator, the record and the cause when a request rejects', async () => {
    const baseline = await warmThreadBaseline();
    const args: AsyncIoArgs = { input: [1, 2, 666, 4], ordered: true, capacity: 4, respond: 'microtasks' };
    const error = await runJob<AsyncIoArgs>(job, { parallelism: 2, args }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(JobExecutionError);
    expect((error as JobExecutionError).operatorId).toBe('lookup');
    expect((error as Error).message).toMatch(
      /operator 'lookup' .*subtask \d\/2 .*failed: the async request for record \{ seq: 2, v: 666 \} failed after 1 attempt: the service refused 666/,
    );
    expect(((error as Error).cause as Error).name).toBe(AsyncRequestFailedError.name);
    await expectThreadsBackTo(baseline);
  }, 60_000);
});

describe('flatMapAsync', () => {
  it('emits 0..n results per record, as a plain loop does, at parallelism 1, 2 and 4', async () => {
    const flat = new URL('./jobs/async-flat.ts', import.meta.url);
    const input = Array.from({ length: 2_000 }, (_, i) => ((i * 7919) % 1_001) - 500);
    const expectedOut = input
      .flatMap((v) => Array.from({ length: Math.abs(v) % 3 }, (_, i) => `${v}:${i}`))
      .sort();
    for (const parallelism of [1, 2, 4]) {
      for (const ordered of [true, false]) {
        const result = await runJob(flat, { parallelism, args: { input, ordered } });
        expect(result.collected<string>('out').sort()).toEqual(expectedOut);
      }
    }
  }, 120_000);
});

describe('mapAsync under the test driver (simulated time)', () => {
  const start = (args: Partial<AsyncIoArgs>, parallelism = 2) =>
    JobTestDriver.start<AsyncIoArgs>(job, {
      parallelism,
      args: { input: [], ordered: true, capacity: 10, respond: 'microtasks', ...args },
      inputs: ['numbers'],
      outputs: ['enriched'],
    });

  it('retries with backoff on the simulated clock', async () => {
    await using driver = await start({ flakyEvery: 2, maxAttempts: 3 });
    const records = Array.from({ length: 10 }, (_, seq) => ({ seq, v: seq * 7 }));
    driver.input('numbers').send(records);
    await driver.settle();
    const output = driver.output<Enriched>('enriched');
    // Odd records answered at once (ordered: those before the first flaky one in each subtask).
    const first = output.take();
    expect(first.every((r) => r.seq % 2 === 1)).toBe(true);
    await driver.advanceTime(999);
    expect(output.take()).toEqual([]);
    await driver.advanceTime(1); // second attempt fails again, 1 s more
    expect(output.take()).toEqual([]);
    await driver.advanceTime(1_000); // third attempt succeeds
    const all = [...first, ...output.take()];
    expect(bySeq(all)).toEqual(records.map(({ seq, v }) => ({ seq, out: answer(v) })));
  }, 60_000);

  it('a request that never answers fails the job at its timeout, naming the record', async () => {
    await using driver = await start({ hangEvery: 5, timeoutMs: 500 }, 1);
    driver.input('numbers').send([0, 1, 2].map((seq) => ({ seq, v: seq })));
    await driver.advanceTime(499);
    expect(driver.output('enriched').all()).toEqual([]); // ordered: 1 and 2 wait behind 0
    // The slot fails at 500 ms; the job's failure is what `finish` resolves with.
    await driver.advanceTime(1).catch(() => {});
    const failure = await driver.finish().catch((e: unknown) => e);
    expect(failure).toBeInstanceOf(JobExecutionError);
    expect((failure as Error).message).toMatch(
      /operator 'lookup' .*: the async request for record \{ seq: 0, v: 0 \} did not complete within 500 ms \(1 attempt\)/,
    );
    expect(((failure as Error).cause as Error).name).toBe(AsyncTimeoutError.name);
  }, 60_000);

  it('with a timeout handler, its result takes the place of the missing answer', async () => {
    await using driver = await start(
      { hangEvery: 5, timeoutMs: 500, withTimeoutHandler: true, ordered: false },
      1,
    );
    driver.input('numbers').send([0, 1, 2].map((seq) => ({ seq, v: seq })));
    await driver.settle();
    const output = driver.output<Enriched>('enriched');
    expect(output.take().map((r) => r.seq)).toEqual([1, 2]); // unordered: no waiting behind 0
    await driver.advanceTime(500);
    expect(output.take().map(({ seq, out }) => ({ seq, out }))).toEqual([{ seq: 0, out: -1 }]);
  }, 60_000);
});

describe('mapAsync in checkpoints', () => {
  it.each([
    ['heap', 2, 3],
    ['leveldb', 2, 1],
    ['heap', 4, 2],
  ] as const)(
    'requests in flight at a savepoint (%s) are re-issued when resumed from it, from p=%i at p=%i, with exact results',
    async (backend, parallelism, resumeParallelism) => {
      const input = Array.from({ length: 5_000 }, (_, i) => (i * 7919) % 10_007);
      const savepoint = join(await tempDir(), 'savepoint');
      const stateBackend = async () =>
        backend === 'heap' ? ('heap' as const) : { kind: 'leveldb' as const, directory: await tempDir() };
      // First run: the lookups never answer, so every subtask fills up to its capacity and stops reading.
      const driver = await JobTestDriver.start<AsyncIoArgs>(job, {
        parallelism,
        args: { input, ordered: true, capacity: 16, respond: 'never' },
        outputs: ['enriched'],
        stateBackend: await stateBackend(),
        checkpointing: { directory: await tempDir(), intervalMs: 600_000 },
      });
      await driver.settle();
      expect(driver.output('enriched').all()).toEqual([]);
      await driver.stopWithSavepoint(savepoint);
      await expect(driver.finish()).rejects.toThrow(/cancelled/);
      await driver.close();

      const resumed = await runJob<AsyncIoArgs>(job, {
        parallelism: resumeParallelism,
        args: { input, ordered: true, capacity: 16, respond: 'turns' },
        stateBackend: await stateBackend(),
        restoreFrom: savepoint,
      });
      // Backpressure held the source back: most of the input was read only after the restore.
      expect(resumed.sourceRecords).toBeGreaterThan(input.length / 2);
      expect(resumed.sourceRecords).toBeLessThan(input.length);
      // Every record exactly once: the ones in flight at the savepoint came back from its state.
      expect(bySeq(resumed.collected<Enriched>('enriched'))).toEqual(expected(input));
    },
    120_000,
  );
});
