import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { JobTestDriver } from '@sluice/core/testing';
import fc from 'fast-check';
import { afterEach, describe, expect, it } from 'vitest';
import { type Seen, TTL_MS, type Visit } from './jobs/ttl-state.ts';

const job = new URL('./jobs/ttl-state.ts', import.meta.url);

const dirs: string[] = [];
afterEach(async () => {
  for (const dir of dirs.splice(0)) await rm(dir, { recursive: true, force: true });
});
async function tempDir(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'sluice-ttl-e2e-'));
  dirs.push(dir);
  return dir;
}

/** One step of the test: visits sent at the current time (at most one per user), then a move of the clock. */
interface Step {
  readonly visits: readonly Visit[];
  readonly advanceMs: number;
}

/** Random steps: clock moves around the TTL, so state expires between some visits and not others. */
function steps(seed: number, count: number): Step[] {
  const users = ['ann', 'bo', 'cy', 'dee', 'ed', 'flo', 'gus', 'hal'];
  const stepArb = fc.record({
    users: fc.subarray(users),
    pages: fc.array(fc.constantFrom('/', '/a', '/b'), { minLength: users.length, maxLength: users.length }),
    advanceMs: fc.oneof(fc.integer({ min: 0, max: 400 }), fc.constantFrom(TTL_MS - 1, TTL_MS, TTL_MS + 1)),
  });
  const raw = fc.sample(fc.array(stepArb, { minLength: count, maxLength: count }), { seed, numRuns: 1 })[0]!;
  return raw.map((s, step) => ({
    visits: s.users.map((user, i) => ({ user, page: s.pages[i]!, step })),
    advanceMs: s.advanceMs,
  }));
}

/** The answer, by a plain loop: each user's state as timestamped values, expired from t + TTL_MS on. */
function expected(all: readonly Step[], startMs: number): Seen[] {
  const live = (t: number, now: number) => t + TTL_MS > now;
  const previous = new Map<string, { page: string; t: number }>();
  const recent = new Map<string, Array<{ page: string; t: number }>>();
  const pages = new Map<string, Map<string, { n: number; t: number }>>();
  const out: Seen[] = [];
  let now = startMs;
  for (const { visits, advanceMs } of all) {
    for (const v of visits) {
      const last = previous.get(v.user);
      const list = (recent.get(v.user) ?? []).filter((e) => live(e.t, now));
      for (const e of list) e.t = now; // onReadAndWrite
      const perPage = pages.get(v.user) ?? new Map<string, { n: number; t: number }>();
      const entry = perPage.get(v.page);
      const visitsOfPage = (entry !== undefined && live(entry.t, now) ? entry.n : 0) + 1;
      out.push({
        user: v.user,
        step: v.step,
        previous: last !== undefined && live(last.t, now) ? last.page : null,
        recent: list.map((e) => e.page),
        visitsOfPage,
      });
      previous.set(v.user, { page: v.page, t: now });
      list.push({ page: v.page, t: now });
      recent.set(v.user, list);
      perPage.set(v.page, { n: visitsOfPage, t: now });
      pages.set(v.user, perPage);
    }
    now += advanceMs;
  }
  return sorted(out);
}

/** The steps make state expire for some visits and not for others (else the test would prove little). */
function expectBothOutcomes(answer: readonly Seen[]): void {
  const users = new Set<string>();
  let expiredAfterVisit = 0;
  let remembered = 0;
  for (const seen of answer) {
    if (seen.previous === null && users.has(seen.user)) expiredAfterVisit++;
    if (seen.previous !== null) remembered++;
    users.add(seen.user);
  }
  expect(expiredAfterVisit).toBeGreaterThan(0);
  expect(remembered).toBeGreaterThan(0);
}

function sorted(seen: readonly Seen[]): Seen[] {
  return [...seen].sort((a, b) => a.step - b.step || (a.user < b.user ? -1 : a.user > b.user ? 1 : 0));
}

async function runSteps(driver: JobTestDriver, part: readonly Step[]): Promise<void> {
  const input = driver.input<Visit>('visits');
  for (const { visits, advanceMs } of part) {
    input.send(visits);
    await driver.advanceTime(advanceMs);
  }
}

const START_MS = 5_000;
const backends = [
  ['heap', () => Promise.resolve('heap' as const)],
  ['leveldb', async () => ({ kind: 'leveldb' as const, directory: await tempDir(), cacheMaxKeys: 4 })],
] as const;

describe('state TTL in a job, on simulated processing time', () => {
  for (const [name, backend] of backends) {
    for (const parallelism of [1, 2, 4]) {
      it(`matches a plain loop at parallelism ${parallelism} (${name} backend)`, async () => {
        for (const seed of [1, 2]) {
          const all = steps(seed, 24);
          await using driver = await JobTestDriver.start(job, {
            parallelism,
            startTime: START_MS,
            inputs: ['visits'],
            outputs: ['seen'],
            stateBackend: await backend(),
          });
          await runSteps(driver, all);
          const answer = expected(all, START_MS);
          expectBothOutcomes(answer);
          expect(sorted(driver.output<Seen>('seen').all()), `seed ${seed}`).toEqual(answer);
        }
      }, 120_000);
    }

    for (const [from, to] of [
      [2, 4],
      [4, 1],
    ] as const) {
      it(`keeps timestamps through stop-with-savepoint and a resume at parallelism ${from} → ${to} (${name} backend)`, async () => {
        const all = steps(3 + from, 30);
        const [before, after] = [all.slice(0, 15), all.slice(15)];
        const savepoint = join(await tempDir(), 'savepoint');
        const common = { inputs: ['visits'], outputs: ['seen'] };
        let seen: Seen[];
        {
          await using driver = await JobTestDriver.start(job, {
            ...common,
            parallelism: from,
            startTime: START_MS,
            stateBackend: await backend(),
            checkpointing: { directory: await tempDir(), intervalMs: 3_600_000 },
          });
          await runSteps(driver, before);
          await driver.stopWithSavepoint(savepoint);
          await expect(driver.finish()).rejects.toThrow(/cancelled/);
          seen = driver.output<Seen>('seen').all();
        }
        // The resumed job's clock goes on from where the first one stopped.
        const resumeAt = START_MS + before.reduce((ms, s) => ms + s.advanceMs, 0);
        await using resumed = await JobTestDriver.start(job, {
          ...common,
          parallelism: to,
          startTime: resumeAt,
          stateBackend: await backend(),
          restoreFrom: savepoint,
        });
        await runSteps(resumed, after);
        seen = [...seen, ...resumed.output<Seen>('seen').all()];
        const answer = expected(all, START_MS);
        expectBothOutcomes(answer.filter((s) => s.step >= before.length));
        expect(sorted(seen)).toEqual(answer);
      }, 120_000);
    }
  }
});
