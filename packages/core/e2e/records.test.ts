import { readFileSync } from 'node:fs';
import { JobExecutionError, runJob } from '@sluice/core';
import { describe, expect, it } from 'vitest';
import { difference } from '../src/channels/record-equality.test-helper.ts';
import { LedgerError, Money, makeRecords, type RecordsArgs, type RecordsMode } from './jobs/records.ts';
import { Money as SpendMoney } from './jobs/spend.ts';

const job = new URL('./jobs/records.ts', import.meta.url);

const byId = (records: Array<Record<string, unknown>>): Array<Record<string, unknown>> =>
  [...records].sort((a, b) => (a.id as number) - (b.id as number));

describe('records arrive exactly as they were emitted, at every parallelism', () => {
  const count = 300;
  const expected = makeRecords(count);
  for (const parallelism of [1, 2, 4]) {
    it(`types included, through rebalance and keyBy (parallelism ${parallelism})`, async () => {
      const result = await runJob<RecordsArgs>(job, { parallelism, args: { mode: 'round-trip', count } });
      for (const sink of ['rebalanced', 'keyed']) {
        const arrived = byId(result.collected<Record<string, unknown>>(sink));
        expect(arrived.length).toBe(count);
        for (let i = 0; i < count; i++) {
          expect(difference(expected[i], arrived[i], `${sink} record ${i}`)).toBeUndefined();
        }
        const sample = arrived[4]!;
        expect(Object.is(sample.zero, -0)).toBe(true);
        expect(sample.money).toBeInstanceOf(Money);
        expect((sample.money as Money).label).toBe('400 EUR');
        expect(Buffer.isBuffer(sample.buffer)).toBe(true);
        expect(sample.error).toBeInstanceOf(LedgerError);
        expect((sample.error as LedgerError).account).toBe('acct-4');
      }
    });
  }
});

describe('a record that cannot cross a thread fails the job at every parallelism, naming the operator and the field', () => {
  const cases: Array<[RecordsMode, RegExp]> = [
    ['function', /record\.user\.address\.geo is a function/],
    ['symbol', /record\.tags\[1\] is a symbol \(Symbol\(b\)\)/],
    [
      'unregistered-class',
      /record\.items\[0\] is an instance of class Unregistered \(not registered\).*registerType\(Unregistered/,
    ],
  ];
  for (const [mode, message] of cases) {
    for (const parallelism of [1, 2]) {
      it(`${mode} (parallelism ${parallelism})`, async () => {
        let error: unknown;
        try {
          await runJob<RecordsArgs>(job, { parallelism, args: { mode, count: 2000, poison: 1234 } });
        } catch (thrown) {
          error = thrown;
        }
        expect(error).toBeInstanceOf(JobExecutionError);
        const failure = error as JobExecutionError;
        expect(failure.operatorId).toBe('make-records');
        expect(failure.message).toMatch(
          /operator 'make-records' \(make records\) subtask \d\/\d of job 'records' failed/,
        );
        expect(failure.message).toMatch(message);
        expect((failure.cause as { code?: string }).code).toBe('SLUICE_RECORD_NOT_SERIALIZABLE');
      });
    }
  }
});

describe('a chained call that is chained at one parallelism only is checked too', () => {
  for (const parallelism of [1, 2, 4]) {
    it(`fails the job in the emitting operator, naming the field (parallelism ${parallelism})`, async () => {
      let error: unknown;
      try {
        await runJob<RecordsArgs>(job, {
          parallelism,
          args: { mode: 'chained-function', count: 2000, poison: 777 },
        });
      } catch (thrown) {
        error = thrown;
      }
      expect(error).toBeInstanceOf(JobExecutionError);
      const failure = error as JobExecutionError;
      expect(failure.operatorId).toBe('make-records');
      expect(failure.message).toMatch(/record\.user\.geo is a function/);
      expect((failure.cause as { code?: string }).code).toBe('SLUICE_RECORD_NOT_SERIALIZABLE');
    });
  }

  it("and a job whose records obey the contract gives the plain loop's answer at each parallelism", async () => {
    for (const parallelism of [1, 2, 4]) {
      const result = await runJob<RecordsArgs>(job, {
        parallelism,
        args: { mode: 'chained-function', count: 500 },
      });
      const ids = result.collected<{ id: number }>('out').map((r) => r.id);
      expect(ids.sort((a, b) => a - b)).toEqual(Array.from({ length: 500 }, (_, i) => i));
    }
  });
});

describe('the example of docs/writing-jobs.md (registered class and Set in records and state)', () => {
  const spend = new URL('./jobs/spend.ts', import.meta.url);

  it('is the job module shown, verbatim', () => {
    const doc = readFileSync(new URL('../../../docs/writing-jobs.md', import.meta.url), 'utf8');
    const section = doc.slice(doc.indexOf('## What records and state may hold'));
    const block = section.slice(
      section.indexOf('```ts\n') + 6,
      section.indexOf('```\n', section.indexOf('```ts\n') + 6),
    );
    expect(block).toBe(readFileSync(spend, 'utf8'));
  });

  for (const parallelism of [1, 2, 4]) {
    it(`gives the plain loop's totals, as Money and Set (parallelism ${parallelism})`, async () => {
      const result = await runJob(spend, { parallelism });
      const totals = result.collected<{ user: string; price: SpendMoney; tags: Set<string> }>('totals');
      expect(totals.length).toBe(2);
      const [first, second] = [...totals].sort((a, b) => Number(a.price.cents - b.price.cents));
      for (const total of [first!, second!]) {
        expect(total.price).toBeInstanceOf(SpendMoney);
        expect(total.tags).toBeInstanceOf(Set);
      }
      // The plain loop: a running sum per user. Above parallelism 1 the two orders come from two
      // source subtasks in either order, so the first total is either price; the last is the sum.
      expect([250n, 100n]).toContain(first!.price.cents);
      expect(second!.price.cents).toBe(350n);
      expect(second!.tags).toEqual(new Set([first!.price.cents === 250n ? 'app' : 'web']));
    });
  }
});
