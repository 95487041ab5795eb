import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  type AsyncOptions,
  AsyncRequestFailedError,
  AsyncTimeoutError,
  resolveAsyncOptions,
} from '../../contracts/async-io.ts';
import { silentLogger } from '../../contracts/logger.ts';
import { ConfigError } from '../../errors.ts';
import { OperatorCounters } from '../../metrics/operator-counters.ts';
import type { Output } from '../operator.ts';
import { AsyncWaitOperator } from './async-wait.ts';

type Event = { record: unknown; timestamp: number } | { watermark: number };

/** A promise the test settles by hand, so that completion order is the test's choice. */
interface Deferred {
  readonly value: unknown;
  resolve(result: unknown): void;
  reject(error: unknown): void;
}

/** The operator on the test's thread: a manual clock, a recording output, requests the test settles. */
function harness(options: AsyncOptions<never, never> = {}, flat = false, fn?: (value: unknown) => unknown) {
  const events: Event[] = [];
  const pending: Deferred[] = [];
  const calls: unknown[] = [];
  let nowMs = 0;
  let wakes = 0;
  const output: Output = {
    collect: (record, timestamp) => events.push({ record, timestamp }),
    collectSide: () => {
      throw new Error('no side output');
    },
    emitWatermark: (watermark) => events.push({ watermark }),
    emitWatermarkStatus: () => {},
  };
  const userFn =
    fn ??
    ((value: unknown) => {
      calls.push(value);
      return new Promise((resolve, reject) => pending.push({ value, resolve, reject }));
    });
  const operator = new AsyncWaitOperator(userFn, resolveAsyncOptions('mapAsync', options), flat);
  operator.setup({
    output,
    runtime: {
      jobName: 'test',
      operatorId: 'mapAsync-1',
      subtaskIndex: 0,
      parallelism: 1,
      maxParallelism: 128,
      logger: silentLogger,
    },
    metrics: OperatorCounters.detached(),
    keyed: undefined,
    clock: () => nowMs,
    sendToCoordinator: () => {},
    sendOnSuccess: () => {},
    checkpointing: true,
    wake: () => wakes++,
  });
  operator.open();
  /** What the task does when woken or at a deadline: one step of the operator. */
  const step = (): void => {
    if (operator.nextProcessingTimeDeadline() <= nowMs) operator.advanceProcessingTime(nowMs);
  };
  return {
    operator,
    events,
    pending,
    calls,
    wakes: () => wakes,
    setTime: (ms: number) => {
      nowMs = ms;
    },
    step,
    /** Lets settled promises run their callbacks, then steps. */
    settle: async () => {
      await new Promise((resolve) => setImmediate(resolve));
      step();
    },
    records: () =>
      events.filter((e): e is { record: unknown; timestamp: number } => 'record' in e).map((e) => e.record),
  };
}

const take = (pending: Deferred[], value: unknown): Deferred => {
  const index = pending.findIndex((d) => d.value === value);
  if (index < 0) throw new Error(`no pending request for ${String(value)}`);
  return pending.splice(index, 1)[0]!;
};

describe('AsyncWaitOperator, ordered', () => {
  it('emits in input order whatever the completion order, with the records’ timestamps', async () => {
    const h = harness({ ordered: true });
    for (const [i, v] of ['a', 'b', 'c'].entries()) h.operator.processElement(v, i * 10);
    take(h.pending, 'c').resolve('C');
    take(h.pending, 'b').resolve('B');
    await h.settle();
    expect(h.events).toEqual([]);
    expect(h.wakes()).toBe(1); // one wake for a burst of settlements
    take(h.pending, 'a').resolve('A');
    await h.settle();
    expect(h.events).toEqual([
      { record: 'A', timestamp: 0 },
      { record: 'B', timestamp: 10 },
      { record: 'C', timestamp: 20 },
    ]);
    expect(h.operator.hasPendingWork()).toBe(false);
  });

  it('holds a watermark behind the records before it', async () => {
    const h = harness({ ordered: true });
    h.operator.processElement(1, 5);
    h.operator.processWatermark(5);
    h.operator.processElement(2, 7);
    take(h.pending, 2).resolve(20);
    await h.settle();
    expect(h.events).toEqual([]);
    take(h.pending, 1).resolve(10);
    await h.settle();
    expect(h.events).toEqual([{ record: 10, timestamp: 5 }, { watermark: 5 }, { record: 20, timestamp: 7 }]);
  });

  it('matches a plain loop for any completion order (property)', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.integer(), { maxLength: 60 }),
        fc.integer({ min: 1, max: 10 }),
        fc.boolean(),
        fc.infiniteStream(fc.nat()),
        async (input, capacity, ordered, choices) => {
          const h = harness({ ordered, capacity });
          const queue = [...input];
          const pick = choices[Symbol.iterator]();
          // Feed while there is room (the task does not read input when full), settle at random.
          while (queue.length > 0 || h.pending.length > 0) {
            while (queue.length > 0 && !h.operator.isFull())
              h.operator.processElement(queue.shift(), Number.NaN);
            expect(h.pending.length).toBeLessThanOrEqual(capacity);
            const d = h.pending.splice(pick.next().value % h.pending.length, 1)[0]!;
            d.resolve((d.value as number) * 2);
            await h.settle();
          }
          const expected = input.map((n) => n * 2);
          if (ordered) expect(h.records()).toEqual(expected);
          else expect([...(h.records() as number[])].sort()).toEqual([...expected].sort());
        },
      ),
      { numRuns: 60 },
    );
  });
});

describe('AsyncWaitOperator, unordered', () => {
  it('emits results as they complete, but never across a watermark', async () => {
    const h = harness({ ordered: false });
    h.operator.processElement('a', 1);
    h.operator.processElement('b', 2);
    h.operator.processWatermark(2);
    h.operator.processElement('c', 3);
    take(h.pending, 'c').resolve('C');
    take(h.pending, 'b').resolve('B');
    await h.settle();
    // b is out before a; c waits behind the watermark, which waits for a.
    expect(h.events).toEqual([{ record: 'B', timestamp: 2 }]);
    take(h.pending, 'a').resolve('A');
    await h.settle();
    expect(h.events).toEqual([
      { record: 'B', timestamp: 2 },
      { record: 'A', timestamp: 1 },
      { watermark: 2 },
      { record: 'C', timestamp: 3 },
    ]);
  });

  it('forwards a watermark at once when nothing is in flight', () => {
    const h = harness({ ordered: false });
    h.operator.processWatermark(9);
    expect(h.events).toEqual([{ watermark: 9 }]);
  });

  it('keeps every record between the same watermarks as in its input (property)', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.oneof(fc.constant('wm' as const), fc.constant('record' as const)), { maxLength: 60 }),
        fc.infiniteStream(fc.nat()),
        async (items, choices) => {
          const h = harness({ ordered: false, capacity: 1000 });
          // Each record is its index; its segment is the number of watermarks before it.
          const segmentOf: number[] = [];
          let watermarks = 0;
          for (const item of items) {
            if (item === 'wm') h.operator.processWatermark(watermarks++);
            else {
              h.operator.processElement(segmentOf.length, segmentOf.length);
              segmentOf.push(watermarks);
            }
          }
          const pick = choices[Symbol.iterator]();
          while (h.pending.length > 0) {
            const d = h.pending.splice(pick.next().value % h.pending.length, 1)[0]!;
            d.resolve(d.value);
            await h.settle();
          }
          let seen = 0;
          for (const e of h.events) {
            if ('watermark' in e) expect(e.watermark).toBe(seen++);
            else expect(segmentOf[e.record as number]).toBe(seen);
          }
          expect(seen).toBe(watermarks);
          expect([...(h.records() as number[])].sort((x, y) => x - y)).toEqual(segmentOf.map((_, i) => i));
        },
      ),
      { numRuns: 80 },
    );
  });
});

describe('AsyncWaitOperator, capacity', () => {
  it('is full at capacity and issues queued records as room frees, in order', async () => {
    const h = harness({ capacity: 2 });
    for (const v of [1, 2, 3, 4]) h.operator.processElement(v, Number.NaN);
    expect(h.calls).toEqual([1, 2]);
    expect(h.operator.isFull()).toBe(true);
    take(h.pending, 1).resolve(1);
    await h.settle();
    expect(h.calls).toEqual([1, 2, 3]);
    expect(h.operator.isFull()).toBe(true); // 4 still waits for room
    take(h.pending, 2).resolve(2);
    take(h.pending, 3).resolve(3);
    await h.settle();
    expect(h.calls).toEqual([1, 2, 3, 4]);
    expect(h.operator.isFull()).toBe(false);
  });

  it('counts done but unemitted results against the capacity (ordered)', async () => {
    const h = harness({ capacity: 2 });
    h.operator.processElement(1, Number.NaN);
    h.operator.processElement(2, Number.NaN);
    take(h.pending, 2).resolve(2);
    await h.settle();
    expect(h.operator.isFull()).toBe(true);
  });
});

describe('AsyncWaitOperator, timeouts and retries', () => {
  it('fails with a timeout naming the record, on the injected clock', async () => {
    const h = harness({ timeoutMs: 100 });
    h.operator.processElement({ id: 7 }, Number.NaN);
    expect(h.operator.nextProcessingTimeDeadline()).toBe(100);
    h.setTime(99);
    h.step();
    h.setTime(100);
    expect(() => h.step()).toThrow(AsyncTimeoutError);
    expect(() => h.operator.advanceProcessingTime(100)).toThrow(
      /record \{ id: 7 \} did not complete within 100 ms/,
    );
  });

  it('emits the timeout handler’s result in order, and ignores the late answer', async () => {
    const h = harness({ timeoutMs: 100, onTimeout: (v: never) => `timeout:${String(v)}` as never });
    h.operator.processElement('a', 1);
    h.setTime(50);
    h.operator.processElement('b', 2);
    take(h.pending, 'b').resolve('B');
    await h.settle();
    h.setTime(100);
    h.step();
    const late = take(h.pending, 'a');
    late.resolve('A');
    await h.settle();
    expect(h.records()).toEqual(['timeout:a', 'B']);
  });

  it('retries a rejection with exponential backoff on the clock, then succeeds', async () => {
    const h = harness({
      timeoutMs: 10_000,
      retry: { maxAttempts: 4, backoff: { kind: 'exponential', initialDelayMs: 10, maxDelayMs: 15 } },
    });
    h.operator.processElement('x', Number.NaN);
    take(h.pending, 'x').reject(new Error('503'));
    await h.settle();
    expect(h.operator.nextProcessingTimeDeadline()).toBe(10);
    h.setTime(10);
    h.step();
    expect(h.calls).toEqual(['x', 'x']);
    take(h.pending, 'x').reject(new Error('503'));
    await h.settle();
    expect(h.operator.nextProcessingTimeDeadline()).toBe(25); // 10 + min(20, 15)
    h.setTime(25);
    h.step();
    take(h.pending, 'x').resolve('ok');
    await h.settle();
    expect(h.records()).toEqual(['ok']);
  });

  it('fails with the cause once the attempts run out, or at once for an error not worth a retry', async () => {
    const h = harness({ retry: { maxAttempts: 2 } });
    h.operator.processElement('x', Number.NaN);
    take(h.pending, 'x').reject(new Error('boom'));
    await h.settle();
    take(h.pending, 'x').reject(new Error('boom again'));
    await new Promise((resolve) => setImmediate(resolve));
    let error: unknown;
    try {
      h.step();
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(AsyncRequestFailedError);
    expect((error as Error).message).toBe(
      "the async request for record 'x' failed after 2 attempts: boom again",
    );
    expect((error as Error).cause).toEqual(new Error('boom again'));

    const picky = harness({
      retry: { maxAttempts: 5, retryOnError: (e) => (e as Error).message !== 'fatal' },
    });
    picky.operator.processElement('y', Number.NaN);
    take(picky.pending, 'y').reject(new Error('fatal'));
    await new Promise((resolve) => setImmediate(resolve));
    expect(() => picky.step()).toThrow(/failed after 1 attempt: fatal/);
  });

  it('retries on a result predicate and emits the last result when attempts run out', async () => {
    const h = harness({ retry: { maxAttempts: 3, retryOnResult: (r) => r === 'not yet' } });
    h.operator.processElement('x', Number.NaN);
    for (let i = 0; i < 3; i++) {
      take(h.pending, 'x').resolve('not yet');
      await h.settle();
    }
    expect(h.calls).toEqual(['x', 'x', 'x']);
    expect(h.records()).toEqual(['not yet']);
  });

  it('the timeout covers the retries', async () => {
    const h = harness({ timeoutMs: 30, retry: { maxAttempts: 10, backoff: { kind: 'fixed', delayMs: 20 } } });
    h.operator.processElement('x', Number.NaN);
    take(h.pending, 'x').reject(new Error('no'));
    await h.settle();
    h.setTime(20);
    h.step();
    expect(h.operator.nextProcessingTimeDeadline()).toBe(30);
    h.setTime(30);
    expect(() => h.step()).toThrow(/did not complete within 30 ms \(2 attempts\)/);
  });
});

describe('AsyncWaitOperator, checkpoints', () => {
  it('stores every unemitted record in input order, and re-issues them on restore', async () => {
    const h = harness({ capacity: 2 });
    for (const v of [1, 2, 3]) h.operator.processElement(v, v * 10);
    take(h.pending, 2).resolve(20); // done, not emitted: still stored
    await h.settle();
    h.operator.processElement(4, Number.NaN);
    const snapshot = h.operator.snapshotState();
    expect(snapshot.operatorState).toEqual([
      [1, 10],
      [2, 20],
      [3, 30],
      [4, null],
    ]);

    const calls: unknown[] = [];
    const restored = harness({ capacity: 2 }, false, (v) => {
      calls.push(v);
      return Promise.resolve(v);
    });
    restored.operator.restoreState({
      keyGroups: [],
      operatorState: snapshot.operatorState!,
      operatorStateOfAll: [],
    });
    restored.operator.open();
    expect(calls).toEqual([1, 2]); // capacity holds on restore too
    expect(restored.operator.isFull()).toBe(true);
    for (let i = 0; i < 3; i++) await restored.settle();
    expect(restored.events).toEqual([
      { record: 1, timestamp: 10 },
      { record: 2, timestamp: 20 },
      { record: 3, timestamp: 30 },
      { record: 4, timestamp: Number.NaN },
    ]);
  });

  it('finish waits for the last requests and emits them', async () => {
    const h = harness({}, true, (v) => Promise.resolve([v, v]));
    h.operator.processElement('a', 1);
    await h.operator.finish();
    expect(h.records()).toEqual(['a', 'a']);
  });
});

describe('options', () => {
  it.each([
    [{ capacity: 0 }, /options.capacity must be an integer from 1 to 100000, got 0/],
    [{ timeoutMs: -1 }, /options.timeoutMs must be a finite number of ms > 0, got -1/],
    [{ ordered: 'yes' }, /options.ordered must be a boolean/],
    [{ retry: { maxAttempts: 0 } }, /options.retry.maxAttempts must be an integer from 1 to 1000/],
    [
      { retry: { maxAttempts: 2, backoff: { kind: 'exponential', initialDelayMs: 10, maxDelayMs: 5 } } },
      /maxDelayMs \(5\) is less than initialDelayMs \(10\)/,
    ],
    [
      { retry: { maxAttempts: 2, backoff: { kind: 'linear' } } },
      /backoff.kind must be 'fixed' or 'exponential'/,
    ],
    [{ onTimeout: 5 }, /options.onTimeout must be a function, got number/],
  ])('refuses %o', (options, message) => {
    expect(() => resolveAsyncOptions('mapAsync', options as never)).toThrow(ConfigError);
    expect(() => resolveAsyncOptions('mapAsync', options as never)).toThrow(message);
  });
});
