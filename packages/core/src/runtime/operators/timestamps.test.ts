import { describe, expect, it } from 'vitest';
import type { DataStream } from '../../api/data-stream.ts';
import { createOperatorHarness } from '../../testing/index.ts';

describe('TimestampsAndWatermarksOperator through the operator harness', () => {
  it('stamps records and lets the watermark trail the highest timestamp, once per batch', async () => {
    const harness = await createOperatorHarness((input: DataStream<{ at: number }>) =>
      input.assignTimestamps({ timestamp: (event) => event.at, maxOutOfOrderness: 5 }),
    );
    harness.processElement({ at: 100 });
    harness.processElement({ at: 90 });
    harness.processElement({ at: 120 });
    expect(harness.events()).toEqual([
      { kind: 'record', value: { at: 100 }, timestamp: 100 },
      { kind: 'watermark', watermark: 94 },
      { kind: 'record', value: { at: 90 }, timestamp: 90 },
      { kind: 'record', value: { at: 120 }, timestamp: 120 },
      { kind: 'watermark', watermark: 114 },
    ]);
  });

  it('marks the stream idle after idleTimeout of harness time without records, and active on the next', async () => {
    const harness = await createOperatorHarness(
      (input: DataStream<number>) => input.assignTimestamps({ timestamp: (n) => n, idleTimeout: 1_000 }),
      { processingTimeMs: 5_000 },
    );
    harness.processElement(1);
    harness.setProcessingTime(5_999);
    expect(harness.events().filter((e) => e.kind === 'watermark-status')).toEqual([]);
    harness.setProcessingTime(6_000);
    harness.processElement(2);
    expect(harness.events().filter((e) => e.kind === 'watermark-status')).toEqual([
      { kind: 'watermark-status', idle: true },
      { kind: 'watermark-status', idle: false },
    ]);
  });
});
