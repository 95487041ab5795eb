import { JobExecutionError, runJob } from '@sluice/core';
import { beforeAll, describe, expect, it } from 'vitest';
import type { FailingFunction, FailingFunctionsArgs } from './jobs/failing-functions.ts';
import { expectThreadsBackTo, warmThreadBaseline } from './os-threads.ts';

const job = new URL('./jobs/failing-functions.ts', import.meta.url);

let baseline = 0;
beforeAll(async () => {
  baseline = await warmThreadBaseline();
});

async function failureOf(
  args: FailingFunctionsArgs,
  parallelism: number,
  localAggregation?: boolean,
): Promise<JobExecutionError> {
  try {
    await runJob<FailingFunctionsArgs>(job, {
      parallelism,
      args,
      ...(localAggregation === undefined ? {} : { localAggregation }),
    });
  } catch (error) {
    expect(error).toBeInstanceOf(JobExecutionError);
    return error as JobExecutionError;
  }
  throw new Error('expected the job to fail');
}

const POISON = 1234;
const RECORD = "{ n: 1234, tag: 'item-1234' }";

/** Each failing function: the operator the failure must name, and what its cause says. */
const WINDOW_NAME = 'window(TumblingEventTimeWindows(size=100ms, offset=0ms))';
const cases: ReadonlyArray<{ fails: FailingFunction; operator: RegExp; name: string; cause: string }> = [
  { fails: 'map', operator: /^map-\d+$/, name: 'map', cause: 'map boom at 1234' },
  { fails: 'flatMap', operator: /^flatMap-\d+$/, name: 'flatMap', cause: 'flatMap boom at 1234' },
  { fails: 'filter', operator: /^filter-\d+$/, name: 'filter', cause: 'filter boom at 1234' },
  { fails: 'process', operator: /^process-\d+$/, name: 'process', cause: 'process boom at 1234' },
  { fails: 'sink', operator: /^sink-\d+$/, name: 'failing-sink', cause: 'sink boom at 1234' },
  { fails: 'timestamps', operator: /^timestamps-\d+$/, name: 'timestamps', cause: 'timestamp boom at 1234' },
  { fails: 'keyed-process', operator: /^process-\d+$/, name: 'process', cause: 'keyed process boom at 1234' },
  { fails: 'reduce', operator: /^reduce-\d+$/, name: 'reduce', cause: 'reduce boom at 1234' },
  {
    fails: 'window-reduce',
    operator: /^window-\d+$/,
    name: WINDOW_NAME,
    cause: 'window reduce boom at 1234',
  },
];

describe('a failing user function names its operator, subtask, record and cause', () => {
  for (const parallelism of [1, 2]) {
    for (const chained of [true, false]) {
      const how = `${chained ? 'chained to the source' : 'after a rebalance'}, parallelism ${parallelism}`;
      for (const { fails, operator, name, cause } of cases) {
        it(`${fails} (${how})`, async () => {
          // A window reduce runs where the window runs only without local aggregation (below).
          const error = await failureOf(
            { fails, chained, count: 5_000, poison: POISON },
            parallelism,
            fails === 'window-reduce' ? false : undefined,
          );
          expect(error.code).toBe('SLUICE_JOB_FAILED');
          expect(error.operatorId).toMatch(operator);
          expect(error.operatorName).toBe(name);
          expect(error.subtaskIndex).toBeGreaterThanOrEqual(0);
          expect(error.subtaskIndex).toBeLessThan(parallelism);
          expect(error.parallelism).toBe(parallelism);
          expect(error.record).toBe(RECORD);
          expect(error.userFunction).toBeUndefined();
          expect((error.cause as Error).message).toBe(cause);
          expect(error.message).toBe(
            `operator '${error.operatorId}' (${name}) subtask ${error.subtaskIndex! + 1}/${parallelism} of job 'failing-functions' failed while processing record ${RECORD}: ${cause}`,
          );
        }, 30_000);
      }

      it(`key selector: blamed on the keyBy's operator, run in the sending subtask (${how})`, async () => {
        const error = await failureOf(
          { fails: 'key-selector', chained, count: 5_000, poison: POISON },
          parallelism,
        );
        expect(error.operatorId).toMatch(/^reduce-\d+$/);
        expect(error.operatorName).toBe('reduce');
        expect(error.userFunction).toBe('key selector');
        // The subtask that ran it: the source's when chained, else the rebalance's reader (the source here too).
        expect(error.ranIn).toMatch(/^source-\d+$/);
        expect(error.subtaskIndex).toBeLessThan(parallelism);
        expect(error.parallelism).toBe(parallelism);
        expect(error.record).toBe(RECORD);
        expect((error.cause as Error).message).toBe('key selector boom at 1234');
        expect(error.message).toBe(
          `key selector of operator '${error.operatorId}' (reduce), run in subtask ${error.subtaskIndex! + 1}/${parallelism} of '${error.ranIn}' of job 'failing-functions', failed while processing record ${RECORD}: key selector boom at 1234`,
        );
      }, 30_000);
    }

    it(`a window reduce pre-aggregated before the keyBy: blamed on the window, where it ran (parallelism ${parallelism})`, async () => {
      const error = await failureOf(
        { fails: 'window-reduce', chained: false, count: 5_000, poison: POISON },
        parallelism,
      );
      expect(error.operatorId).toMatch(/^window-\d+$/);
      expect(error.operatorName).toBe(WINDOW_NAME);
      expect((error.cause as Error).message).toBe('window reduce boom at 1234');
      expect(error.record).toContain("'item-1234'");
      // In the sending subtask, folding the record into its pane's partial; or in the window,
      // merging the partial the record started (which of the two depends on batch boundaries).
      if (error.userFunction !== undefined) {
        expect(error.userFunction).toBe('reduce function');
        expect(error.ranIn).toMatch(/^timestamps-\d+$/);
        expect(error.record).toBe(RECORD);
      } else {
        expect(error.ranIn).toBeUndefined();
      }
    }, 30_000);

    it(`a timer callback names its operator, subtask, timer and key (keyed process onTimer, parallelism ${parallelism})`, async () => {
      const error = await failureOf(
        { fails: 'keyed-timer', chained: false, count: 5_000, poison: POISON },
        parallelism,
      );
      expect(error.operatorId).toMatch(/^process-\d+$/);
      expect(error.record).toBeUndefined();
      expect(error.userFunction).toBe(`event-time timer at 1000000 for key ${POISON % 7}`);
      expect(error.message).toMatch(
        new RegExp(
          `^operator 'process-\\d+' \\(process\\) subtask \\d/${parallelism} of job 'failing-functions', in its event-time timer at 1000000 for key 2, failed: onTimer boom at 1000000$`,
        ),
      );
    }, 30_000);

    it(`a window function names its operator, subtask, window timer and key (parallelism ${parallelism})`, async () => {
      const error = await failureOf(
        { fails: 'window-process', chained: false, count: 5_000, poison: POISON },
        parallelism,
      );
      expect(error.operatorId).toMatch(/^window-\d+$/);
      expect((error.cause as Error).message).toBe('window process boom at 1234');
      // The window [1200, 1300) of key 1234 % 7 fires at its last millisecond.
      expect(error.userFunction).toBe(`event-time timer at 1299 for key ${POISON % 7}`);
    }, 30_000);
  }

  it('leaves no thread behind', async () => {
    await expectThreadsBackTo(baseline);
  });
});
