import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { JobTestDriver } from '@sluice/core/testing';
import { afterEach, describe, expect, it } from 'vitest';
import type { Alert, Payment, RuleUpdate, Summary } from './rules.ts';

const job = new URL('./job.ts', import.meta.url);
const folders: string[] = [];
afterEach(async () => {
  for (const folder of folders.splice(0)) await rm(folder, { recursive: true, force: true });
});
async function tempDir(): Promise<string> {
  const folder = await mkdtemp(join(tmpdir(), 'sluice-dynamic-rules-'));
  folders.push(folder);
  return folder;
}

function random(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (Math.imul(state ^ (state >>> 15), 0x2c1b3c6d) + 0x9e3779b9) >>> 0;
    return state / 2 ** 32;
  };
}

function payments(next: () => number, count: number): Payment[] {
  return Array.from({ length: count }, () => ({
    user: `u${Math.floor(next() * 50)}`,
    amount: Math.floor(next() * 1_000),
  }));
}

/** The test's story: rules, payments, a rule removed and one added, more payments, a minute. */
function scenario(seed: number) {
  const next = random(seed);
  return {
    initial: [
      { name: 'a', minAmount: 500 },
      { name: 'b', minAmount: 900 },
    ] as RuleUpdate[],
    first: payments(next, 400),
    updates: [
      { name: 'a', remove: true },
      { name: 'c', minAmount: 700 },
    ] as RuleUpdate[],
    second: payments(next, 400),
  };
}

/** The rules function as a plain loop over the same input, in the same phases. */
function model(s: ReturnType<typeof scenario>) {
  const rules = new Map<string, number>();
  const hits = new Map<string, Map<string, number>>();
  const alerts: Alert[][] = [[], []];
  const apply = (updates: RuleUpdate[]) => {
    for (const u of updates) {
      if ('remove' in u) {
        rules.delete(u.name);
        for (const userHits of hits.values()) userHits.delete(u.name);
      } else rules.set(u.name, u.minAmount);
    }
  };
  const check = (batch: Payment[], into: Alert[]) => {
    for (const p of batch) {
      for (const [rule, min] of rules) {
        if (p.amount < min) continue;
        into.push({ user: p.user, rule, amount: p.amount });
        const userHits = hits.get(p.user) ?? new Map<string, number>();
        userHits.set(rule, (userHits.get(rule) ?? 0) + 1);
        hits.set(p.user, userHits);
      }
    }
  };
  apply(s.initial);
  check(s.first, alerts[0]!);
  apply(s.updates);
  check(s.second, alerts[1]!);
  const summaries: Summary[] = [...hits].map(([user, counts]) => ({
    user,
    counts: [...counts].sort(([a], [b]) => (a < b ? -1 : 1)),
  }));
  return { alerts, summaries };
}

const sorted = <T>(rows: readonly T[]): T[] =>
  rows
    .map((r) => JSON.stringify(r))
    .sort()
    .map((s) => JSON.parse(s) as T);

const io = { inputs: ['rules', 'payments'], outputs: ['alerts', 'summaries'] };

describe('examples/dynamic-rules', () => {
  for (const parallelism of [1, 2, 4]) {
    for (const backend of ['heap', 'leveldb'] as const) {
      it(`checks payments against rules that change, as a plain loop does (parallelism ${parallelism}, ${backend} state)`, async () => {
        const s = scenario(parallelism * 10 + (backend === 'heap' ? 1 : 2));
        const expected = model(s);
        await using driver = await JobTestDriver.start(job, {
          parallelism,
          ...io,
          stateBackend:
            backend === 'heap' ? 'heap' : { kind: 'leveldb', directory: await tempDir(), cacheMaxKeys: 8 },
        });
        const rules = driver.input<RuleUpdate>('rules');
        const pay = driver.input<Payment>('payments');
        // Rule updates from one source subtask keep their order; settling puts them in force everywhere.
        rules.send(s.initial, { subtask: 0 });
        await driver.settle();
        pay.send(s.first);
        await driver.settle();
        rules.send(s.updates, { subtask: 0 });
        await driver.settle();
        pay.send(s.second);
        await driver.settle();
        const alerts = driver.output<Alert>('alerts').take();
        expect(sorted(alerts)).toEqual(sorted([...expected.alerts[0]!, ...expected.alerts[1]!]));
        expect(driver.output<Summary>('summaries').all()).toEqual([]);
        await driver.advanceTime(60_000); // each user's minute ends: the summaries, without rule 'a'
        expect(sorted(driver.output<Summary>('summaries').all())).toEqual(sorted(expected.summaries));
      }, 60_000);
    }
  }

  it('keeps rules, counts and timers through a savepoint restored at another parallelism', async () => {
    for (const [from, to, backend] of [
      [2, 4, 'leveldb'],
      [4, 1, 'heap'],
    ] as const) {
      const s = scenario(from * 100 + to);
      const expected = model(s);
      const stateBackend = async () =>
        backend === 'heap'
          ? ('heap' as const)
          : { kind: 'leveldb' as const, directory: await tempDir(), cacheMaxKeys: 8 };
      let savepoint: string;
      {
        await using first = await JobTestDriver.start(job, {
          parallelism: from,
          ...io,
          checkpointing: { directory: await tempDir(), intervalMs: 3_600_000 },
          stateBackend: await stateBackend(),
        });
        first.input<RuleUpdate>('rules').send(s.initial, { subtask: 0 });
        await first.settle();
        first.input<Payment>('payments').send(s.first);
        await first.settle();
        savepoint = await first.stopWithSavepoint(join(await tempDir(), 'savepoint'));
      }
      await using second = await JobTestDriver.start(job, {
        parallelism: to,
        ...io,
        restoreFrom: savepoint,
        stateBackend: await stateBackend(),
      });
      // The removal reaches the counts restored from the savepoint (applyToKeyedState), the new
      // payments meet the restored rules, and the restored timers end each user's minute.
      second.input<RuleUpdate>('rules').send(s.updates, { subtask: 0 });
      await second.settle();
      second.input<Payment>('payments').send(s.second);
      await second.settle();
      expect(sorted(second.output<Alert>('alerts').take())).toEqual(sorted(expected.alerts[1]!));
      await second.advanceTime(60_000);
      expect(sorted(second.output<Summary>('summaries').all())).toEqual(sorted(expected.summaries));
    }
  }, 120_000);
});
