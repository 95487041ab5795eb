import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { CheckpointCoordinator } from './checkpoint-coordinator.ts';
import { CheckpointIdCounter } from './checkpoint-id-counter.ts';
import type { CheckpointAck } from './protocol.ts';
import { CheckpointStorage } from './storage.ts';

/**
 * The stop savepoint's contract, on the coordinator alone (one stateless task, a fake transport,
 * fake interval timers): from the stop's request on, no periodic checkpoint is triggered; once
 * its savepoint is written none ever is; should it fail, periodic checkpoints resume.
 */

const INTERVAL_MS = 1_000;
let dir: string;

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'sluice-coordinator-'));
  vi.useFakeTimers({ toFake: ['setInterval', 'clearInterval', 'setTimeout', 'clearTimeout'] });
});
afterEach(async () => {
  vi.useRealTimers();
  await rm(dir, { recursive: true, force: true });
});

function coordinator(): { coordinator: CheckpointCoordinator; triggered: number[] } {
  const triggered: number[] = [];
  const made = new CheckpointCoordinator({
    storage: new CheckpointStorage(join(dir, 'checkpoints')),
    // Two at once: a checkpoint in flight alone would not hold the periodic ones back.
    checkpointing: { directory: join(dir, 'checkpoints'), intervalMs: INTERVAL_MS, maxConcurrent: 2 },
    jobName: 'stop-test',
    maxParallelism: 128,
    expectedAcks: 1,
    ids: new CheckpointIdCounter(0),
    transport: { trigger: (id) => triggered.push(id), notifyComplete: () => {} },
    log: () => {},
    stats: { completed: [], aborted: 0, abandoned: [] },
  });
  return { coordinator: made, triggered };
}

/** The one (stateless) task's acknowledgement. */
const ack = (checkpointId: number): CheckpointAck => ({
  type: 'ack',
  checkpointId,
  vertex: 0,
  subtaskIndex: 0,
  parallelism: 1,
  operatorIds: [],
  listStateOperatorIds: [],
  keyGroupStart: 0,
  keyGroupEnd: -1,
  file: { file: 'none', bytes: 0, crc32: 0 },
  alignmentMs: 0,
});

describe('CheckpointCoordinator: the savepoint of a stop', () => {
  it('is the last checkpoint: none is triggered from its request on', async () => {
    const { coordinator: c, triggered } = coordinator();
    c.start();
    await vi.advanceTimersByTimeAsync(INTERVAL_MS);
    expect(triggered).toEqual([1]);
    c.onAck(ack(1));
    await vi.waitFor(() => expect(c.stats.completed).toHaveLength(1), { interval: 1 });

    const folder = join(dir, 'savepoint-stop');
    const written = c.savepoint(folder, { stop: true });
    expect(triggered).toEqual([1, 2]);
    await vi.advanceTimersByTimeAsync(5 * INTERVAL_MS);
    expect(triggered).toEqual([1, 2]);
    c.onAck(ack(2));
    expect(await written).toBe(folder);
    expect(existsSync(join(folder, '_metadata'))).toBe(true);
    await vi.advanceTimersByTimeAsync(5 * INTERVAL_MS);
    expect(triggered).toEqual([1, 2]);
    await expect(c.savepoint(join(dir, 'another'))).rejects.toThrow(/stopping after a savepoint/);
    c.stop();
  });

  it('subsumes a checkpoint asked for just before it, which the sources skipped', async () => {
    const { coordinator: c, triggered } = coordinator();
    c.start();
    await vi.advanceTimersByTimeAsync(INTERVAL_MS);
    const folder = join(dir, 'savepoint-subsuming');
    const written = c.savepoint(folder, { stop: true });
    expect(triggered).toEqual([1, 2]);
    // The sources saw only the newest id: checkpoint 1 is never acknowledged.
    c.onAck(ack(2));
    expect(await written).toBe(folder);
    expect(c.stats.abandoned).toEqual([
      expect.objectContaining({ checkpointId: 1, reason: 'subsumed by checkpoint 2, which completed first' }),
    ]);
    c.stop();
  });

  it('that fails leaves the job checkpointing as before', async () => {
    const { coordinator: c, triggered } = coordinator();
    c.start();
    const written = c.savepoint(join(dir, 'savepoint-declined'), { stop: true });
    expect(triggered).toEqual([1]);
    await vi.advanceTimersByTimeAsync(3 * INTERVAL_MS);
    expect(triggered).toEqual([1]);
    c.onDecline({ type: 'decline', checkpointId: 1, vertex: 0, subtaskIndex: 0, reason: 'not now' });
    await expect(written).rejects.toThrow(/savepoint abandoned: task 0\/0: not now/);
    await vi.advanceTimersByTimeAsync(INTERVAL_MS);
    expect(triggered).toEqual([1, 2]);
    c.stop();
  });
});
