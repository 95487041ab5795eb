import { describe, expect, it } from 'vitest';
import { type ProgressMessage, ProgressTracker, type SourceSample } from './progress.ts';

const sample = (
  operatorId: string,
  subtaskIndex: number,
  recordsRead: number,
  progress?: SourceSample['progress'],
): SourceSample => ({ operatorId, subtaskIndex, recordsRead, progress });
const message = (...samples: SourceSample[]): ProgressMessage => ({ type: 'progress', samples });

describe('ProgressTracker', () => {
  it('keeps the newest sample of each source subtask; the share needs every subtask’s size', () => {
    const tracker = new ProgressTracker(3);
    tracker.onMessage(message(sample('a', 0, 5, { read: 5, total: 10, unit: 'records' })));
    tracker.onMessage(message(sample('a', 1, 2, { read: 2, total: 10, unit: 'records' })));
    expect(tracker.snapshot()).toEqual({
      recordsRead: 7,
      fraction: undefined,
      sourcesReporting: 2,
      sourcesExpected: 3,
    });
    tracker.onMessage(
      message(
        sample('a', 0, 10, { read: 10, total: 10, unit: 'records' }),
        sample('f', 0, 40, { read: 250, total: 1_000, unit: 'bytes' }),
      ),
    );
    // Records: 12 of 20; bytes: 250 of 1000; the units count alike.
    expect(tracker.snapshot()).toEqual({
      recordsRead: 52,
      fraction: (12 / 20 + 0.25) / 2,
      sourcesReporting: 3,
      sourcesExpected: 3,
    });
  });

  it('a subtask of unknown size leaves the share unknown; a reset starts a new attempt from nothing', () => {
    const tracker = new ProgressTracker(2);
    tracker.onMessage(
      message(sample('a', 0, 5, { read: 5, total: 10, unit: 'records' }), sample('a', 1, 7, undefined)),
    );
    expect(tracker.snapshot().fraction).toBeUndefined();
    expect(tracker.snapshot().recordsRead).toBe(12);
    tracker.reset();
    expect(tracker.snapshot()).toEqual({
      recordsRead: 0,
      fraction: undefined,
      sourcesReporting: 0,
      sourcesExpected: 2,
    });
  });

  it('a reader that counts past its total counts as done, not more', () => {
    const tracker = new ProgressTracker(1);
    tracker.onMessage(message(sample('a', 0, 5, { read: 15, total: 10, unit: 'records' })));
    expect(tracker.snapshot().fraction).toBe(1);
  });
});
