import { describe, expect, it } from 'vitest';
import type {
  BroadcastProcessFunction,
  KeyedBroadcastProcessFunction,
  KeyedCoProcessFunction,
} from '../../contracts/co-functions.ts';
import { silentLogger } from '../../contracts/logger.ts';
import { outputTag } from '../../contracts/output-tag.ts';
import { OperatorCounters } from '../../metrics/operator-counters.ts';
import { mapState, valueState } from '../../state/descriptors.ts';
import { HeapKeyedStateBackend } from '../../state/heap/heap-keyed-state-backend.ts';
import { type Key, KeyGroupRange } from '../../state/key-groups.ts';
import { InternalTimerService } from '../../time/timer-service.ts';
import type { Output, StreamOperator } from '../operator.ts';
import { BroadcastStateError } from './broadcast-state.ts';
import { createOperator } from './index.ts';

/** What an operator emitted, in order. */
function capture() {
  const events: Array<{ value: unknown; timestamp: number; tag?: string } | { watermark: number }> = [];
  const output: Output = {
    collect: (value, timestamp) => events.push({ value, timestamp }),
    collectSide: (tag, value, timestamp) => events.push({ tag, value, timestamp }),
    emitWatermark: (watermark) => events.push({ watermark }),
    emitWatermarkStatus: () => {},
  };
  return { events, output };
}

function setUp(operator: StreamOperator<unknown, unknown>, keyed: HeapKeyedStateBackend | undefined) {
  const { events, output } = capture();
  operator.setup({
    output,
    runtime: {
      jobName: 'j',
      operatorId: 'op-1',
      subtaskIndex: 0,
      parallelism: 1,
      maxParallelism: 128,
      logger: silentLogger,
    },
    metrics: OperatorCounters.detached(),
    keyed: keyed === undefined ? undefined : { backend: keyed, timers: new InternalTimerService<Key>() },
    clock: () => 0,
    sendToCoordinator: () => {},
    sendOnSuccess: () => {},
    checkpointing: false,
    wake: () => {},
  });
  return events;
}

const heap = () =>
  new HeapKeyedStateBackend({ maxParallelism: 128, keyGroupRange: new KeyGroupRange(0, 127) });

describe('two-input operators', () => {
  it('co-map and co-flat-map call the function of the record’s input, keeping its timestamp', () => {
    const map = createOperator(
      { kind: 'coMap', fn: { map1: (a) => `1:${a}`, map2: (b) => `2:${b}` } },
      undefined,
    );
    const mapped = setUp(map, undefined);
    map.processElement('a', 5);
    map.processElement2!('b', 6);
    expect(mapped).toEqual([
      { value: '1:a', timestamp: 5 },
      { value: '2:b', timestamp: 6 },
    ]);
    const flat = createOperator(
      {
        kind: 'coFlatMap',
        fn: {
          flatMap1: (a) => [a, a],
          flatMap2: (b, out) => {
            out.collect(b);
          },
        },
      },
      undefined,
    );
    const flattened = setUp(flat, undefined);
    flat.processElement('x', 1);
    flat.processElement2!('y', 2);
    expect(flattened.map((e) => ('value' in e ? e.value : e))).toEqual(['x', 'x', 'y']);
  });

  it('a keyed co-process function shares one key’s state and timers between both inputs', async () => {
    const total = valueState<number>('total', { defaultValue: 0 });
    const fn: KeyedCoProcessFunction<string, { k: string; n: number }, string, string> = {
      processElement1(a, ctx) {
        ctx.getState(total).update(ctx.getState(total).value()! + a.n);
        ctx.timerService.registerEventTimeTimer(100);
      },
      processElement2(_k, ctx, out) {
        out.collect(`${ctx.key}=${ctx.getState(total).value()}`);
      },
      onTimer(timestamp, ctx, out) {
        out.collect(`${ctx.key}@${timestamp}:${ctx.timeDomain}`);
      },
    };
    const backend = heap();
    const operator = createOperator(
      { kind: 'keyedCoProcess', fn: fn as never, keySelector2: (k) => k as string },
      (a) => (a as { k: string }).k,
    );
    const events = setUp(operator, backend);
    await operator.initializeState?.();
    operator.open();
    operator.processElement({ k: 'a', n: 2 }, 1);
    operator.processElement({ k: 'a', n: 3 }, 2);
    operator.processElement({ k: 'b', n: 7 }, 3);
    operator.processElement2!('a', 4);
    operator.processElement2!('b', 5);
    operator.processElement2!('c', 6);
    await operator.processWatermark(100);
    expect(events).toEqual([
      { value: 'a=5', timestamp: 4 },
      { value: 'b=7', timestamp: 5 },
      { value: 'c=0', timestamp: 6 },
      { value: 'a@100:event-time', timestamp: 100 },
      { value: 'b@100:event-time', timestamp: 100 },
      { watermark: 100 },
    ]);
  });

  it('a disk-backed backend is asked for each input’s keys by that input’s selector', () => {
    const backend = heap();
    const asked: Key[] = [];
    Object.assign(backend, {
      prefetch: (keys: Iterable<readonly [Key, number]>) => {
        for (const [key] of keys) asked.push(key);
        return undefined;
      },
    });
    const operator = createOperator(
      {
        kind: 'keyedCoProcess',
        fn: { processElement1() {}, processElement2() {} },
        keySelector2: (b) => `right:${b as string}`,
      },
      (a) => `left:${a as string}`,
    );
    setUp(operator, backend);
    operator.prefetch!(['x'], null, 0);
    operator.prefetch!(['y'], null, 1);
    expect(asked).toEqual(['left:x', 'right:y']);
  });

  describe('broadcast state', () => {
    const limits = mapState<string, number>('limits');
    const other = mapState<string, number>('other');
    const dropped = outputTag<string>('dropped');
    const fn: BroadcastProcessFunction<{ k: string; v: number }, [string, number], string> = {
      processElement(x, ctx, out) {
        const limit = ctx.getBroadcastState(limits).get(x.k);
        if (limit !== undefined && x.v <= limit) out.collect(`${x.k}:${x.v}`);
        else ctx.output(dropped, x.k);
      },
      processBroadcastElement([k, limit], ctx) {
        ctx.getBroadcastState(limits).put(k, limit);
      },
    };

    it('the broadcast side writes, the other side reads; the state survives snapshot and restore', () => {
      const operator = createOperator(
        { kind: 'broadcastProcess', fn: fn as never, descriptors: [limits] },
        undefined,
      );
      const events = setUp(operator, undefined);
      operator.processElement2!(['a', 10], Number.NaN);
      operator.processElement({ k: 'a', v: 5 }, 1);
      operator.processElement({ k: 'a', v: 50 }, 2);
      operator.processElement({ k: 'b', v: 1 }, 3);
      expect(events).toEqual([
        { value: 'a:5', timestamp: 1 },
        { tag: 'dropped', value: 'a', timestamp: 2 },
        { tag: 'dropped', value: 'b', timestamp: 3 },
      ]);
      const snapshot = operator.snapshotState!(1) as { operatorState: unknown[] };
      operator.processElement2!(['a', 0], Number.NaN); // after the snapshot: not in it

      // A restore at another parallelism: every old subtask's copy is offered; the first one is taken.
      const restored = createOperator(
        { kind: 'broadcastProcess', fn: fn as never, descriptors: [limits] },
        undefined,
      );
      const after = setUp(restored, undefined);
      restored.restoreState!({
        keyGroups: [],
        operatorState: [],
        operatorStateOfAll: [...snapshot.operatorState, ...snapshot.operatorState],
      });
      restored.processElement({ k: 'a', v: 10 }, 4);
      expect(after).toEqual([{ value: 'a:10', timestamp: 4 }]);
    });

    it('refuses a descriptor not passed to broadcast(...) and writes from the non-broadcast side', () => {
      const undeclared = createOperator(
        {
          kind: 'broadcastProcess',
          fn: {
            processElement(_x, ctx) {
              ctx.getBroadcastState(other);
            },
            processBroadcastElement() {},
          },
          descriptors: [limits],
        },
        undefined,
      );
      setUp(undeclared, undefined);
      expect(() => undeclared.processElement('x', 1)).toThrow(BroadcastStateError);
      expect(() => undeclared.processElement('x', 1)).toThrow(
        /operator 'op-1': getBroadcastState\('other'\) names no broadcast state of this stream; declared: 'limits'/,
      );

      const writer = createOperator(
        {
          kind: 'broadcastProcess',
          fn: {
            processElement(_x, ctx) {
              (ctx.getBroadcastState(limits) as unknown as { put(k: string, v: number): void }).put('a', 1);
            },
            processBroadcastElement() {},
          },
          descriptors: [limits],
        },
        undefined,
      );
      setUp(writer, undefined);
      expect(() => writer.processElement('x', 1)).toThrow(
        expect.objectContaining({
          code: 'SLUICE_BROADCAST_STATE_READ_ONLY',
          message: expect.stringMatching(/broadcast state 'limits' is read-only in processElement/),
        }),
      );
    });

    it('applyToKeyedState visits every key with state under the descriptor', async () => {
      const seen = mapState<string, number>('seen');
      const fn: KeyedBroadcastProcessFunction<string, string, string, string> = {
        processElement(_x, ctx) {
          const s = ctx.getState(seen);
          s.put('n', (s.get('n') ?? 0) + 1);
        },
        processBroadcastElement(_reset, ctx, out) {
          ctx.applyToKeyedState(seen, (key, state) => {
            out.collect(`${key}:${state.get('n')}`);
            state.clear();
          });
        },
      };
      const backend = heap();
      const operator = createOperator(
        {
          kind: 'keyedBroadcastProcess',
          fn: fn as never,
          descriptors: [limits],
        },
        (x) => x as string,
      );
      const events = setUp(operator, backend);
      await operator.initializeState?.();
      operator.open();
      for (const x of ['a', 'b', 'a']) operator.processElement(x, 1);
      operator.processElement2!('reset', 2);
      operator.processElement2!('reset', 3);
      expect(events.map((e) => ('value' in e ? e.value : e)).sort()).toEqual(['a:2', 'b:1']);
    });
  });
});
