import { describe, expect, it } from 'vitest';
import { count } from '../api/aggregates.ts';
import type { BatchKeys } from '../channels/batch-keys.ts';
import type { ChannelSender } from '../channels/channel.ts';
import type { AggregateFunction } from '../contracts/functions.ts';
import { sliding, tumbling } from '../time/windows.ts';
import {
  type LocalAggregationSpec,
  LocalWindowAggregatingWriter,
  paneSize,
} from './local-window-aggregation.ts';

interface Reading {
  readonly key: string;
  readonly v: number;
}

/** A sender that writes down what it is given, in order: batches as `[record, timestamp, key]` items. */
class RecordingSender implements ChannelSender {
  readonly items: unknown[] = [];
  readonly isBlocked = false;
  sendBatch(
    values: unknown[],
    timestamps: number[] | null,
    _exact: boolean,
    keys?: BatchKeys | null,
  ): boolean {
    values.forEach((value, i) => {
      this.items.push({ value, timestamp: timestamps?.[i] ?? Number.NaN, key: keys?.keys[i] });
    });
    return true;
  }
  sendWatermark(watermark: number): boolean {
    this.items.push(`watermark ${watermark}`);
    return true;
  }
  sendWatermarkStatus(idle: boolean): boolean {
    this.items.push(idle ? 'idle' : 'active');
    return true;
  }
  sendBarrier(checkpointId: number): boolean {
    this.items.push(`barrier ${checkpointId}`);
    return true;
  }
  sendEndOfInput(): boolean {
    this.items.push('end');
    return true;
  }
  flushPending(): boolean {
    return false;
  }
  close(): void {}
}

function writerFor(spec: Omit<LocalAggregationSpec, 'keySelector'>) {
  const sender = new RecordingSender();
  const writer = new LocalWindowAggregatingWriter(
    [sender],
    { maxParallelism: 128, batchSize: 512, subtaskIndex: 0 },
    () => 0,
    { ...spec, keySelector: (r) => (r as Reading).key },
  );
  return { sender, writer };
}

type WindowFn = LocalAggregationSpec['fn'];
const sumOf: WindowFn = {
  kind: 'reduce',
  reduce: (a, b) => ({ key: (a as Reading).key, v: (a as Reading).v + (b as Reading).v }),
  result: undefined,
};
const counts: WindowFn = {
  kind: 'aggregate',
  aggregate: count() as AggregateFunction<unknown, unknown, unknown>,
  result: undefined,
};

describe('LocalWindowAggregatingWriter', () => {
  it('folds a batch into one partial per key and pane, sent in the order of their first records at the end of the step', () => {
    const { sender, writer } = writerFor({ assigner: tumbling(100), fn: sumOf });
    writer.emit({ key: 'b', v: 1 }, 10);
    writer.emit({ key: 'a', v: 2 }, 20);
    writer.emit({ key: 'b', v: 3 }, 150);
    writer.emit({ key: 'b', v: 4 }, 99);
    expect(sender.items).toEqual([]);
    writer.flushOlderThan(0, 0);
    expect(sender.items).toEqual([
      { value: ['b', 0, { key: 'b', v: 5 }, 2], timestamp: Number.NaN, key: 'b' },
      { value: ['a', 0, { key: 'a', v: 2 }, 1], timestamp: Number.NaN, key: 'a' },
      { value: ['b', 100, { key: 'b', v: 3 }, 1], timestamp: Number.NaN, key: 'b' },
    ]);
    // The next batch starts empty.
    writer.emit({ key: 'a', v: 7 }, 30);
    writer.flushOlderThan(0, 0);
    expect(sender.items.at(-1)).toEqual({
      value: ['a', 0, { key: 'a', v: 7 }, 1],
      timestamp: Number.NaN,
      key: 'a',
    });
  });

  it('folds sliding windows by pane, gcd(size, slide) long: one partial per key and pane, not per window', () => {
    expect(paneSize(sliding(100, 40))).toBe(20);
    expect(paneSize(sliding(10_000, 2_000))).toBe(2_000);
    expect(paneSize(tumbling(100))).toBe(100);
    const { sender, writer } = writerFor({ assigner: sliding(100, 40), fn: counts });
    for (const ts of [80, 85, 99, 100, 119]) writer.emit({ key: 'a', v: 1 }, ts);
    writer.flush();
    expect(sender.items.map((i) => (i as { value: unknown }).value)).toEqual([
      ['a', 80, 3, 3],
      ['a', 100, 2, 2],
    ]);
  });

  it('sends its partials before a watermark, a status, a barrier and end of input', () => {
    const { sender, writer } = writerFor({ assigner: tumbling(100), fn: counts });
    const partial = (n: number) => ({ value: ['a', 1000, n, n], timestamp: Number.NaN, key: 'a' });
    writer.emit({ key: 'a', v: 1 }, 1000);
    writer.emitWatermark(5);
    writer.emit({ key: 'a', v: 1 }, 1000);
    writer.emitBarrier(1);
    writer.emit({ key: 'a', v: 1 }, 1000);
    writer.emit({ key: 'a', v: 1 }, 1001);
    writer.emitWatermarkStatus(false);
    writer.emit({ key: 'a', v: 1 }, 1000);
    writer.emitEndOfInput();
    expect(sender.items).toEqual([
      partial(1),
      'watermark 5',
      partial(1),
      'barrier 1',
      partial(2),
      'active',
      partial(1),
      'end',
    ]);
  });

  it('passes whole a record with a window the last watermark reached, after the partials before it', () => {
    const { sender, writer } = writerFor({ assigner: sliding(100, 50), fn: counts });
    writer.emitWatermark(249);
    writer.emit({ key: 'a', v: 1 }, 260); // windows [200, 300) and [250, 350): folded
    writer.emit({ key: 'a', v: 2 }, 210); // windows [150, 250) and [200, 300): [150, 250) is due
    writer.emit({ key: 'a', v: 3 }, 120); // windows [50, 150) and [100, 200): both late or due
    writer.emit({ key: 'a', v: 4 }, 270);
    writer.flush();
    expect(sender.items).toEqual([
      'watermark 249',
      { value: ['a', 250, 1, 1], timestamp: Number.NaN, key: 'a' },
      { value: { key: 'a', v: 2 }, timestamp: 210, key: 'a' },
      { value: { key: 'a', v: 3 }, timestamp: 120, key: 'a' },
      { value: ['a', 250, 1, 1], timestamp: Number.NaN, key: 'a' },
    ]);
  });

  it('refuses a record without a timestamp with the error of the assigner (a partial is what travels without one)', () => {
    const { writer } = writerFor({ assigner: tumbling(100), fn: counts });
    expect(() => writer.emit({ key: 'a', v: 1 }, Number.NaN)).toThrow(
      /cannot assign windows to timestamp NaN/,
    );
    expect(writer.keyingFunction).toBe('window assigner');
  });

  it('passes every record whole once its channel went idle', () => {
    const { sender, writer } = writerFor({ assigner: tumbling(100), fn: counts });
    writer.emit({ key: 'a', v: 1 }, 1000);
    writer.emitWatermarkStatus(true);
    writer.emit({ key: 'a', v: 2 }, 1000);
    writer.emitWatermarkStatus(false);
    writer.emit({ key: 'a', v: 3 }, 1000);
    writer.flush();
    expect(sender.items).toEqual([
      { value: ['a', 1000, 1, 1], timestamp: Number.NaN, key: 'a' },
      'idle',
      { value: { key: 'a', v: 2 }, timestamp: 1000, key: 'a' },
      'active',
      { value: { key: 'a', v: 3 }, timestamp: 1000, key: 'a' },
    ]);
  });

  it('passes records whole for 15 steps after a step in which folding saved less than half, then folds again', () => {
    const { sender, writer } = writerFor({ assigner: tumbling(100), fn: counts });
    const partials = () =>
      sender.items.filter((i) => Number.isNaN((i as { timestamp: number }).timestamp)).length;
    const step = (keys: number) => {
      for (let k = 0; k < 64; k++) writer.emit({ key: `k${k % keys}`, v: 1 }, 1000);
      writer.flushOlderThan(0, 0);
    };
    step(32); // 64 records, 32 partials: half, folding goes on
    expect(partials()).toBe(32);
    step(33); // 33 partials: more than half
    expect(partials()).toBe(65);
    for (let i = 0; i < 15; i++) step(1);
    expect(partials()).toBe(65);
    expect(sender.items.length).toBe(65 + 15 * 64);
    step(1);
    expect(partials()).toBe(66);
  });

  it('passes whole a record in no window (a slide longer than the size)', () => {
    const { sender, writer } = writerFor({ assigner: sliding(10, 30), fn: counts });
    writer.emit({ key: 'a', v: 1 }, 5); // in [0, 10)
    writer.emit({ key: 'a', v: 2 }, 15); // in none
    writer.flush();
    expect(sender.items).toEqual([
      { value: ['a', 0, 1, 1], timestamp: Number.NaN, key: 'a' },
      { value: { key: 'a', v: 2 }, timestamp: 15, key: 'a' },
    ]);
  });
});
