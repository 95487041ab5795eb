import { describe, expect, it } from 'vitest';
import { allocateDoorbell, Doorbell } from '../channels/doorbell.ts';
import { TaskTimes } from '../metrics/task-times.ts';
import { SharedManualClock } from '../time/clock.ts';
import { runSlotLoop, SlotCancelledError, TaskFailedError } from './slot.ts';
import { SlotControl } from './slot-control.ts';
import type { Task } from './task.ts';

/** A stand-in for a Task: `steps` units of work, one per step, then finished. */
class FakeTask {
  readonly options = { vertex: 0, subtaskIndex: 0, times: TaskTimes.detached() };
  steps: number;
  stepsTaken = 0;
  deadline = Number.POSITIVE_INFINITY;
  waiting: Promise<void> | undefined;
  seenTimes: number[] = [];
  failAt: number | undefined;

  readonly isBackPressured = false;

  constructor(steps: number) {
    this.steps = steps;
  }

  /** Finished once its steps are done, unless it is one that waits for more (a source with no data yet). */
  waitsForMore = false;

  get isFinished(): boolean {
    return this.steps === 0 && !this.waitsForMore;
  }

  step(nowMs: number): boolean {
    this.seenTimes.push(nowMs);
    if (this.stepsTaken === this.failAt) throw new Error('user code failed');
    if (this.steps === 0) return false;
    this.steps--;
    this.stepsTaken++;
    return true;
  }

  nextDeadlineMs(): number {
    return this.deadline;
  }
}

function slot(tasks: FakeTask[], clock = new SharedManualClock(0)) {
  const doorbell = new Doorbell(allocateDoorbell());
  const control = SlotControl.allocate([doorbell]);
  const finished: FakeTask[] = [];
  const idle: number[] = [];
  const run = runSlotLoop({
    tasks: tasks as unknown as Task[],
    doorbell,
    control,
    clock: clock.now,
    simulatedTime: { reportIdle: (sequence) => idle.push(sequence) },
    yieldEveryMs: 20,
    onTaskFinished: (task) => finished.push(task as unknown as FakeTask),
    slotIndex: 0,
  });
  return { run, doorbell, control, finished, idle, clock };
}

describe('runSlotLoop', () => {
  it('steps every task until each has finished, and reports each once', async () => {
    const a = new FakeTask(3);
    const b = new FakeTask(1);
    const s = slot([a, b]);
    await s.run;
    expect([a.stepsTaken, b.stepsTaken]).toEqual([3, 1]);
    expect(s.finished).toEqual([b, a]);
  });

  it('stops at its next turn once the slot control says cancelled', async () => {
    const stuck = new FakeTask(0);
    stuck.waitsForMore = true;
    const s = slot([stuck]);
    await new Promise((resolve) => setImmediate(resolve));
    s.control.cancelAll();
    await expect(s.run).rejects.toBeInstanceOf(SlotCancelledError);
  });

  it('hands a failing step to the caller with its task', async () => {
    const failing = new FakeTask(5);
    failing.failAt = 2;
    const s = slot([failing]);
    const error = await s.run.catch((e: unknown) => e);
    expect(error).toBeInstanceOf(TaskFailedError);
    expect((error as TaskFailedError).task).toBe(failing);
    expect(((error as TaskFailedError).cause as Error).message).toBe('user code failed');
  });

  it('under simulated time, reports idle with its doorbell sequence, and wakes when rung', async () => {
    const task = new FakeTask(0);
    task.waitsForMore = true;
    task.deadline = 1_000; // a timer at 1 s of simulated time: waiting cannot bring it
    const s = slot([task]);
    await until(() => s.idle.length > 0);
    expect(s.idle[0]).toBe(s.doorbell.sequence);
    // Time moves and the doorbell rings: the task sees the new time at its next step.
    s.clock.set(1_000);
    task.steps = 1;
    task.waitsForMore = false;
    s.doorbell.ring();
    await s.run;
    expect(task.seenTimes.at(-1)).toBe(1_000);
  });
});

/** Waits for a condition over event-loop turns (no wall-clock bound: the test's timeout is the limit). */
async function until(condition: () => boolean): Promise<void> {
  while (!condition()) await new Promise((resolve) => setImmediate(resolve));
}
