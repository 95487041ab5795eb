import { describe, expect, it } from 'vitest';
import type { DataStream } from '../../api/data-stream.ts';
import type { ProcessFunction } from '../../contracts/functions.ts';
import type { Logger } from '../../contracts/logger.ts';
import { outputTag } from '../../contracts/output-tag.ts';
import type { ListState } from '../../state/state.ts';
import { createOperatorHarness, type OperatorHarnessSnapshot } from '../../testing/index.ts';

const rejected = outputTag<string>('rejected');

/** Passes numbers on, sends the rest to a side output, and keeps what it saw in list state. */
function validate(): ProcessFunction<string, number> {
  let seen!: ListState<string>;
  return {
    open(context) {
      seen = context.getListState<string>('seen');
    },
    processElement(text, ctx, out) {
      seen.add(text);
      const n = Number(text);
      if (Number.isNaN(n)) ctx.output(rejected, `${text} at ${ctx.timestamp}`);
      else out.collect(n);
    },
  };
}

const build = (input: DataStream<string>) => input.process(validate());

describe('ProcessOperator through the operator harness', () => {
  it('emits to the main and side outputs with the record timestamp', async () => {
    const harness = await createOperatorHarness(build);
    harness.processElement('1', 10);
    harness.processElement('x', 11);
    harness.processElement('2');
    expect(harness.output()).toEqual([
      { value: 1, timestamp: 10 },
      { value: 2, timestamp: undefined },
    ]);
    expect(harness.sideOutput(rejected)).toEqual([{ value: 'x at 11', timestamp: 11 }]);
  });

  it('deals list state round-robin over the subtasks of a restore, as a checkpoint restore does', async () => {
    const snapshots: OperatorHarnessSnapshot[] = [];
    for (const subtaskIndex of [0, 1]) {
      const harness = await createOperatorHarness(build, { parallelism: 2, subtaskIndex });
      for (const text of ['a', 'b', 'c']) harness.processElement(`${text}${subtaskIndex}`);
      snapshots.push(await harness.snapshot());
    }
    const restoredLists: string[][] = [];
    for (const subtaskIndex of [0, 1, 2]) {
      let seen!: ListState<string>;
      await createOperatorHarness(
        (input: DataStream<string>) =>
          input.process<string>({
            open(context) {
              seen = context.getListState<string>('seen');
            },
            processElement() {},
          }),
        { parallelism: 3, subtaskIndex, restore: snapshots },
      );
      restoredLists.push(seen.get());
    }
    // Old subtask order, then round-robin: a0 b0 c0 a1 b1 c1 over three new subtasks.
    expect(restoredLists).toEqual([
      ['a0', 'a1'],
      ['b0', 'b1'],
      ['c0', 'c1'],
    ]);
  });

  it('refuses a snapshot of another operator: state is found by operator id', async () => {
    const first = await createOperatorHarness((input: DataStream<string>) =>
      input.process(validate()).uid('a'),
    );
    first.processElement('1');
    const snapshot = await first.snapshot();
    await expect(
      createOperatorHarness((input: DataStream<string>) => input.process(validate()).uid('b'), {
        restore: snapshot,
      }),
    ).rejects.toThrow(/snapshot of operator 'a' cannot restore operator 'b'/);
  });
});

describe('ctx.logger through the operator harness', () => {
  it('writes to the logger the harness was given, bound to the job, operator and subtask', async () => {
    const calls: { bindings: Record<string, unknown>; args: unknown[] }[] = [];
    const make = (bindings: Record<string, unknown>): Logger => {
      const at = (...args: unknown[]): void => {
        calls.push({ bindings, args });
      };
      return {
        trace: at,
        debug: at,
        info: at,
        warn: at,
        error: at,
        fatal: at,
        child: (b) => make({ ...bindings, ...b }),
      };
    };
    const harness = await createOperatorHarness(
      (input: DataStream<string>) =>
        input.process<string>({
          open(ctx) {
            ctx.logger.info({ parallelism: ctx.parallelism }, 'opened');
          },
          processElement(text, _ctx, out) {
            out.collect(text);
          },
        }),
      { logger: make({}), jobName: 'logs', parallelism: 3, subtaskIndex: 2 },
    );
    harness.processElement('a');
    expect(calls).toEqual([
      {
        bindings: { job: 'logs', operator: harness.operatorId, subtask: 2 },
        args: [{ parallelism: 3 }, 'opened'],
      },
    ]);
  });

  it('without a logger writes nowhere, and a logger that is not one is refused', async () => {
    const harness = await createOperatorHarness((input: DataStream<string>) =>
      input.process<string>({
        open(ctx) {
          ctx.logger.warn('nobody hears this');
        },
        processElement(text, _ctx, out) {
          out.collect(text);
        },
      }),
    );
    harness.processElement('a');
    expect(harness.outputValues()).toEqual(['a']);
    await expect(
      createOperatorHarness((input: DataStream<string>) => input.map((s) => s), { logger: {} as Logger }),
    ).rejects.toThrow(/option "logger" must be a pino-compatible logger/);
  });
});
