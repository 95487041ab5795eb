import { describe, expect, it } from 'vitest';
import type { ExecutionPlan } from '../../plan/execution-plan.ts';
import { remotePeersOf } from './slot-data-plane.ts';

/** Only the channels matter to which peers a slot dials. */
function planWith(channels: ReadonlyArray<[number, number]>): ExecutionPlan {
  return {
    channels: channels.map(([sourceSubtask, targetSubtask], index) => ({
      index,
      edge: 0,
      sourceVertex: 0,
      sourceSubtask,
      targetVertex: 1,
      targetSubtask,
    })),
  } as unknown as ExecutionPlan;
}

describe('which slots of other processes a slot connects to', () => {
  const processOfSlot = ['a', 'a', 'b', 'b'];

  it('every slot of another process it shares a channel with, in either direction', () => {
    const plan = planWith([
      [0, 2],
      [3, 0],
      [0, 1],
      [1, 1],
    ]);
    expect(remotePeersOf(plan, 0, processOfSlot)).toEqual([2, 3]);
    expect(remotePeersOf(plan, 1, processOfSlot)).toEqual([]);
    expect(remotePeersOf(plan, 2, processOfSlot)).toEqual([0]);
    expect(remotePeersOf(plan, 3, processOfSlot)).toEqual([0]);
  });

  it('none within one process, and none without channels (a forward-only job)', () => {
    expect(remotePeersOf(planWith([[0, 1]]), 0, processOfSlot)).toEqual([]);
    expect(remotePeersOf(planWith([]), 2, processOfSlot)).toEqual([]);
  });
});
