import { describe, expect, it } from 'vitest';
import { allocateDoorbell, Doorbell } from '../channels/doorbell.ts';
import { SlotControl } from '../runtime/slot-control.ts';
import { TaskHungError, TaskWatchdog } from './task-watchdog.ts';

/** Three slots' control array as a slot thread sees it, and a watchdog over it on a clock the test moves. */
function setup(ended = new Set<number>()) {
  const doorbells = [0, 1, 2].map(() => new Doorbell(allocateDoorbell()));
  const coordinator = SlotControl.allocate(doorbells);
  const slots = SlotControl.from(coordinator.buffer, doorbells);
  let now = 1_000;
  const hung: Array<{ error: TaskHungError; threadId: number }> = [];
  const watchdog = new TaskWatchdog({
    control: coordinator,
    slots: 3,
    timeoutMs: 500,
    clock: () => now,
    ended,
    describe: ({ vertex, subtaskIndex }) => `task ${vertex} subtask ${subtaskIndex + 1}/3`,
    onHung: (error, threadId) => hung.push({ error, threadId }),
  });
  return {
    slots,
    watchdog,
    hung,
    advance: (ms: number) => {
      now += ms;
    },
  };
}

describe('TaskWatchdog', () => {
  it('reports a slot whose heartbeat has not moved for the timeout, naming the task it was stepping', () => {
    const { slots, watchdog, hung, advance } = setup();
    for (const slot of [0, 1, 2]) slots.startedOn(slot, 40 + slot);
    slots.stepping(1, 4, 1);
    for (let step = 0; step < 10; step++) {
      // Slots 0 and 2 beat between looks; slot 1 is stuck in task 4.
      slots.beat(0);
      slots.beat(2);
      watchdog.check();
      expect(hung).toEqual([]);
      advance(49);
    }
    // 490 ms without a beat from slot 1: not yet.
    slots.beat(0);
    slots.beat(2);
    watchdog.check();
    expect(hung).toEqual([]);
    advance(10);
    slots.beat(0);
    slots.beat(2);
    watchdog.check();
    expect(hung).toHaveLength(1);
    expect(hung[0]!.threadId).toBe(41);
    expect(hung[0]!.error).toBeInstanceOf(TaskHungError);
    expect(hung[0]!.error).toMatchObject({ code: 'SLUICE_TASK_HUNG', slotIndex: 1, timeoutMs: 500 });
    expect(hung[0]!.error.message).toMatch(
      /^task 4 subtask 2\/3 made no progress for 500 ms \(taskHeartbeatTimeoutMs\)/,
    );
    // Once it has fired, the attempt is failing: no more reports.
    advance(10_000);
    watchdog.check();
    expect(hung).toHaveLength(1);
  });

  it('never reports a slot whose run has ended, nor time that passed without a look', () => {
    const { slots, watchdog, hung, advance } = setup(new Set([0]));
    slots.ended(2);
    slots.beat(1);
    watchdog.check();
    advance(400);
    slots.beat(1);
    watchdog.check();
    advance(400);
    slots.beat(1);
    watchdog.check();
    // Slot 0 is known to have returned, slot 2 says so itself: neither beats, neither is hung.
    expect(hung).toEqual([]);
    expect(slots.heartbeat(2)).toMatchObject({ ended: true, stepping: undefined });
  });

  it('reports a slot that never started (no thread id) as the slot, not a task', () => {
    const { watchdog, hung, advance, slots } = setup();
    slots.beat(0);
    slots.beat(2);
    advance(500);
    slots.beat(0);
    slots.beat(2);
    watchdog.check();
    expect(hung.map((h) => [h.error.slotIndex, h.threadId])).toEqual([[1, 0]]);
    expect(hung[0]!.error.message).toMatch(/^worker thread of slot 1 made no progress for 500 ms/);
  });
});
