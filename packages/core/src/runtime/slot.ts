import type { Doorbell } from '../channels/doorbell.ts';
import type { Clock } from '../time/clock.ts';
import type { SlotControl } from './slot-control.ts';
import type { Task } from './task.ts';

export interface SlotLoopOptions {
  readonly tasks: readonly Task[];
  readonly doorbell: Doorbell;
  /** The attempt's shared signals: the loop stops at its next turn once they say cancelled. */
  readonly control: SlotControl;
  /** Processing time, as the tasks see it (timers, flush timeouts, rate limits). */
  readonly clock: Clock;
  /**
   * When processing time is simulated (the test driver): it moves only when the driver says, so
   * no deadline comes due by waiting. Instead, every time the slot runs out of work at the
   * current time, it says so with the doorbell sequence it last saw (see `job-test-driver.ts`).
   */
  readonly simulatedTime?: { readonly reportIdle: (doorbellSequence: number) => void };
  /** The longest the loop runs without giving the event loop a turn (async sources, sinks, messages). */
  readonly yieldEveryMs: number;
  readonly onTaskFinished?: (task: Task) => void;
  /** This slot's index: the loop beats its heartbeat in `control` and says which task it steps. */
  readonly slotIndex: number;
  /**
   * Samples what is too costly to keep current per batch (keyed state sizes), at most once per
   * `intervalMs` of real time, between steps.
   */
  readonly sampleGauges?: { readonly intervalMs: number; readonly sample: () => void };
}

export class SlotCancelledError extends Error {
  constructor() {
    super('slot cancelled');
    this.name = 'SlotCancelledError';
  }
}

/** A task threw; carries the task so the failure can be attributed to its operator. */
export class TaskFailedError extends Error {
  readonly task: Task;

  constructor(task: Task, cause: unknown) {
    super('task failed', { cause });
    this.name = 'TaskFailedError';
    this.task = task;
  }
}

const yieldToEventLoop = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

/**
 * A slot's thread runs this loop: step every task (records are the default action), and when
 * none can progress, sleep on the slot's doorbell until a channel changes or the next deadline
 * (timer, flush timeout, rate limit). Producers and consumers ring the doorbell per frame, so
 * an idle slot costs nothing and wakes within microseconds.
 */
export async function runSlotLoop(options: SlotLoopOptions): Promise<void> {
  const { doorbell, control, clock, simulatedTime } = options;
  let tasks = options.tasks.slice();
  // When to give the event loop a turn is a matter of real time, whatever the tasks' clock says.
  let lastYieldMs = performance.now();
  // The doorbell sequence at which the loop last waited a turn for async requests (see below).
  let yieldedAtSequence: number | undefined;
  const { slotIndex } = options;
  const gauges = options.sampleGauges;
  let gaugesSampledAtMs = Number.NEGATIVE_INFINITY;
  while (tasks.length > 0) {
    if (control.isCancelled) throw new SlotCancelledError();
    // The watchdog's evidence that this thread still runs (per turn, not per record).
    control.beat(slotIndex);
    const seen = doorbell.sequence;
    const nowMs = clock();
    let progressed = false;
    // Time is taken once per step (a batch), for the tasks' busy and back-pressured time.
    let stepStartMs = performance.now();
    for (const task of tasks) {
      let stepped: boolean;
      control.stepping(slotIndex, task.options.vertex, task.options.subtaskIndex);
      try {
        stepped = task.step(nowMs);
      } catch (error) {
        // One try per task step (a batch of input), not per record.
        throw new TaskFailedError(task, error);
      }
      const stepEndMs = performance.now();
      const times = task.options.times;
      if (stepped) {
        progressed = true;
        times.addBusy(stepEndMs - stepStartMs);
      }
      times.observeBackPressure(task.isBackPressured, stepEndMs);
      stepStartMs = stepEndMs;
    }
    if (gauges !== undefined && stepStartMs - gaugesSampledAtMs >= gauges.intervalMs) {
      gaugesSampledAtMs = stepStartMs;
      gauges.sample();
    }
    control.stepping(slotIndex, -1, 0);
    if (tasks.some((t) => t.isFinished)) {
      for (const task of tasks) if (task.isFinished) options.onTaskFinished?.(task);
      tasks = tasks.filter((t) => !t.isFinished);
    }
    if (tasks.length === 0) break;

    if (progressed) {
      if (performance.now() - lastYieldMs >= options.yieldEveryMs) {
        await yieldToEventLoop();
        lastYieldMs = performance.now();
      }
      continue;
    }
    // Nothing to do: wait for a doorbell, a deadline, or an async flush to settle.
    let deadline = Number.POSITIVE_INFINITY;
    const waiting: Promise<void>[] = [];
    for (const task of tasks) {
      const d = task.nextDeadlineMs();
      if (d < deadline) deadline = d;
      if (task.waiting !== undefined) waiting.push(task.waiting);
    }
    // Cap the sleep so a lost wake-up can only cost a little latency, never a hang.
    const timeoutMs = Math.max(0, Math.min(deadline - clock(), 50));
    if (simulatedTime !== undefined && timeoutMs > 0 && waiting.length === 0) {
      // Async requests in flight settle on the event loop, and ring the doorbell when they do:
      // give them one macrotask turn before saying the slot is idle, so that a request that
      // settles without time passing is not reported as pending work the driver never sees.
      if (yieldedAtSequence !== seen && tasks.some((t) => t.hasPendingWork)) {
        yieldedAtSequence = seen;
        await yieldToEventLoop();
        continue;
      }
      simulatedTime.reportIdle(seen);
    }
    if (timeoutMs === 0) {
      // A deadline already due that no task acted on: a macrotask turn, not an already-settled
      // promise, so that I/O callbacks (file writes, LevelDB) cannot starve behind the loop.
      await yieldToEventLoop();
    } else {
      const sleptAtMs = performance.now();
      const bell = doorbell.wait(seen, timeoutMs);
      await (waiting.length === 0 ? bell : Promise.race([bell, ...waiting]));
      const sleptMs = performance.now() - sleptAtMs;
      for (const task of tasks) task.options.times.addSleep(sleptMs);
    }
    lastYieldMs = performance.now();
  }
}
