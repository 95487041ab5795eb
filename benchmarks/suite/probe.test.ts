import { describe, expect, it } from 'vitest';
import { measuredInterval, type ProbeMessage } from './probe.ts';

describe('measuredInterval', () => {
  it('starts when the last subtask is warm and counts each subtask from its interpolated position', () => {
    const messages: ProbeMessage[] = [
      // Subtask 0 starts first: warm at t=1000 with 100 records, then 100 records per 100 ms.
      { type: 'warm', subtask: 0, records: 100, atMs: 1000 },
      { type: 'progress', subtask: 0, records: 200, atMs: 1100 },
      { type: 'progress', subtask: 0, records: 300, atMs: 1200 },
      // Subtask 1 starts late: warm at t=1150.
      { type: 'warm', subtask: 1, records: 120, atMs: 1150 },
      { type: 'source-end', subtask: 0, records: 1000, atMs: 1900, heapPeakBytes: 1 },
      { type: 'source-end', subtask: 1, records: 1000, atMs: 2000, heapPeakBytes: 1 },
      { type: 'sink-closed', subtask: 0, parallelism: 2, records: 5, atMs: 2010 },
      { type: 'sink-closed', subtask: 1, parallelism: 2, records: 5, atMs: 2050 },
    ];
    const interval = measuredInterval(messages, 2000);
    expect(interval?.fromMs).toBe(1150);
    expect(interval?.toMs).toBe(2050);
    // At t=1150 subtask 0 had emitted 250 (between 200 and 300), subtask 1 120.
    expect(interval?.events).toBe(2000 - 250 - 120);
    expect(interval?.from).toBe(messages[3]);
    expect(interval?.to).toBe(messages[7]);
  });

  it('is undefined when a subtask never got past its warm-up', () => {
    const messages: ProbeMessage[] = [
      { type: 'warm', subtask: 0, records: 100, atMs: 1000 },
      { type: 'source-end', subtask: 0, records: 1000, atMs: 1900, heapPeakBytes: 1 },
      { type: 'source-end', subtask: 1, records: 50, atMs: 1000, heapPeakBytes: 1 },
      { type: 'sink-closed', subtask: 0, parallelism: 1, records: 5, atMs: 2010 },
    ];
    expect(measuredInterval(messages, 1050)).toBeUndefined();
  });
});
