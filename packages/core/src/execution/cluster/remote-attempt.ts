/**
 * One attempt of a job whose slots run in task-manager processes: the job manager's side. It
 * waits until the registered task managers offer enough slots, deploys each slot to one of them,
 * introduces the slots' data planes to each other, and runs the same control plane and checkpoint
 * coordinator as an attempt in one process — the slots' messages arrive over the task managers'
 * control connections instead of message ports. A task manager lost mid-attempt fails it (every
 * other slot is cancelled) and the restart strategy takes over, as a crashed thread would.
 */
import { MessageChannel, type MessagePort } from 'node:worker_threads';
import { CAUSE_DEPTH_MAX, deserializeError } from '../../errors.ts';
import type { MetricsLayout } from '../../metrics/metrics-layout.ts';
import {
  type Attempt,
  type AttemptOutcome,
  checkpointCoordinatorOf,
  type JobContext,
  savepointWith,
  slotDiedError,
} from '../attempt.ts';
import { ControlPlane } from '../control-plane.ts';
import { metricsLayoutOf } from '../deploy.ts';
import { levelOf } from '../logging/line-logger.ts';
import type { CoordinatorMessage, DataAddress, SlotResult, StateBackendAssignment } from '../messages.ts';
import { DEFAULT_TASK_HEARTBEAT_TIMEOUT_MS } from '../task-watchdog.ts';
import {
  type DeployMessage,
  type MetricsMessage,
  type SlotEndedMessage,
  type SlotEnvelope,
  TO_JOB_MANAGER,
  TO_TASK_MANAGER,
} from './protocol.ts';
import type { RegisteredTaskManager, TaskManagerRegistry } from './task-manager-registry.ts';

/**
 * How long the job manager waits for the slots of a stopping attempt to report their end before
 * it takes them for ended: the task managers terminate their threads after their own grace
 * period (5 s), so this only matters for a task manager that stopped answering.
 */
const STOP_GRACE_MS = 10_000;

/** Which task manager runs each slot: the first registered fill their slots first. */
export function assignSlots(
  managers: readonly RegisteredTaskManager[],
  slots: number,
): RegisteredTaskManager[] {
  const owners: RegisteredTaskManager[] = [];
  for (const manager of managers) {
    for (let i = 0; i < manager.slots && owners.length < slots; i++) owners.push(manager);
  }
  if (owners.length < slots) throw new Error(`bug: ${owners.length} slots for ${slots}`);
  return owners;
}

export function runRemoteAttempt(
  context: JobContext,
  registry: TaskManagerRegistry,
  restoreFrom: string | undefined,
  stateBackend: StateBackendAssignment,
  attemptNumber: number,
): Attempt {
  const { planned, config, options } = context;
  const logger = context.logger.child({ attempt: attemptNumber });
  context.progress.reset();
  const { plan } = planned;
  const jobName = planned.streamGraph.jobName;
  const numSlots = plan.slots.length;
  const metricsLayout = metricsLayoutOf(plan);
  const metricsCells = metricsLayout.allocate();
  const endedSlots = new Set<number>();
  const cleanups: Array<() => void> = [];

  let failure: Error | undefined;
  let failureIsConsequence = false;
  /**
   * Keeps the attempt's first failure, unless that was a connection that broke in use and a
   * failure that is not comes after it: a slot thread that dies takes its data connections with
   * it, and its peers may report the reset before its own task manager reports the death.
   * `lossOnly`: the failure may be such a consequence (a slot's report); a lost task manager or a
   * slot that never started is a cause whatever its error says.
   */
  const noteFailure = (error: Error, lossOnly: boolean): void => {
    const consequence = lossOnly && isConnectionLoss(error);
    if (failure !== undefined && !(failureIsConsequence && !consequence)) return;
    failure = error;
    failureIsConsequence = consequence;
  };
  let cancelled = false;
  let owners: RegisteredTaskManager[] = [];
  const slotPorts: MessagePort[] = [];
  /** Per slot: settles once the control plane has taken every message the slot's port carried. */
  const slotPortsDrained: Promise<void>[] = [];
  const slotEnded: Array<(result: SlotResult | undefined) => void> = [];
  const addresses = new Map<number, DataAddress>();
  let forcedStop: ReturnType<typeof setTimeout> | undefined;
  let waiting: ReturnType<TaskManagerRegistry['awaitSlots']> | undefined;

  const sendTo = (manager: RegisteredTaskManager, type: string, payload: unknown): void => {
    // A manager whose connection failed is being reported lost: nothing more to tell it.
    if (manager.connection.failure === undefined) manager.connection.send(type, payload);
  };
  const deployedManagers = (): RegisteredTaskManager[] => [...new Set(owners)];
  const endSlot = (slotIndex: number, result: SlotResult | undefined): void => {
    if (endedSlots.has(slotIndex)) return;
    endedSlots.add(slotIndex);
    // Closed here too (a forced stop): the control plane's end of the port then closes as well.
    slotPorts[slotIndex]?.close();
    slotEnded[slotIndex]?.(result);
  };

  const controlPlane = new ControlPlane(planned, {
    deliver: context.deliver,
    logger,
    onProgress: (message) => context.progress.onMessage(message),
    committed: context.committed,
    onFailure: (error) => {
      noteFailure(error, true);
      stopAll();
    },
    onDataAddress: (address) => {
      addresses.set(address.slotIndex, address);
      if (addresses.size < numSlots) return;
      const all = [...addresses.values()];
      for (const manager of deployedManagers()) {
        sendTo(manager, TO_TASK_MANAGER.peers, { attempt: attemptNumber, addresses: all });
      }
    },
  });
  const coordinator = checkpointCoordinatorOf(context, controlPlane, (checkpointId) => {
    for (const manager of deployedManagers()) {
      sendTo(manager, TO_TASK_MANAGER.trigger, { attempt: attemptNumber, checkpointId });
    }
  });
  controlPlane.attachCoordinator(coordinator);

  const stopAll = (): void => {
    coordinator?.stop(failure);
    waiting?.stop();
    for (const manager of deployedManagers())
      sendTo(manager, TO_TASK_MANAGER.cancel, { attempt: attemptNumber });
    forcedStop ??= setTimeout(() => {
      for (let slot = 0; slot < numSlots; slot++) endSlot(slot, undefined);
    }, STOP_GRACE_MS);
  };

  cleanups.push(
    registry.onMessage((manager, type, payload) => {
      const attempt = (payload as { attempt?: number } | undefined)?.attempt;
      if (attempt !== attemptNumber) return;
      switch (type) {
        case TO_JOB_MANAGER.slotMessage: {
          const { slotIndex, message } = payload as SlotEnvelope;
          if (owners[slotIndex] === manager) slotPorts[slotIndex]?.postMessage(message);
          return;
        }
        case TO_JOB_MANAGER.slotEnded: {
          const ended = payload as SlotEndedMessage;
          if (owners[ended.slotIndex] !== manager) return;
          if (ended.error !== undefined && !cancelled) {
            noteFailure(slotDiedError(jobName, ended.slotIndex, deserializeError(ended.error)), true);
            stopAll();
          }
          // After the slot's last messages (its commit-at-end committables among them): the
          // control plane's end of the port takes them before it closes, a turn or more later.
          // Ended before then, the attempt would commit at end without them.
          slotPorts[ended.slotIndex]?.close();
          const drained = slotPortsDrained[ended.slotIndex] ?? Promise.resolve();
          void drained.then(() => endSlot(ended.slotIndex, ended.result));
          return;
        }
        case TO_JOB_MANAGER.metrics:
          copyMetrics(
            metricsLayout,
            plan.slots,
            owners,
            manager,
            (payload as MetricsMessage).cells,
            metricsCells,
          );
          return;
      }
    }),
    registry.onLost((manager, error) => {
      const lostSlots = owners.flatMap((owner, slot) => (owner === manager ? [slot] : []));
      if (lostSlots.length === 0) return;
      if (!cancelled) {
        noteFailure(
          slotDiedError(
            jobName,
            lostSlots[0]!,
            new Error(
              `task manager '${manager.id}' (pid ${manager.pid}, slot${lostSlots.length > 1 ? 's' : ''} ${lostSlots.map((slot) => `${slot + 1}/${numSlots}`).join(', ')}) was lost: ${error?.message ?? 'its connection closed'}`,
              { cause: error },
            ),
          ),
          false,
        );
      }
      for (const slot of lostSlots) {
        slotPorts[slot]?.close();
        endSlot(slot, undefined);
      }
      stopAll();
    }),
  );

  const outcome = (async (): Promise<AttemptOutcome> => {
    try {
      waiting = registry.awaitSlots(numSlots, (registered) =>
        logger.debug(
          { event: 'waiting-for-slots', needed: numSlots, registered },
          `job '${jobName}' attempt ${attemptNumber}: waiting for ${numSlots} task slots (${registered} registered)`,
        ),
      );
      let managers: readonly RegisteredTaskManager[] | undefined;
      try {
        managers = await waiting.ready;
      } catch (error) {
        return { status: 'failed', error: slotDiedError(jobName, 0, error) };
      } finally {
        waiting = undefined;
      }
      if (managers === undefined || cancelled) return { status: 'cancelled' };
      if (failure !== undefined) return { status: 'failed', error: failure };
      owners = assignSlots(managers, numSlots);
      const drained: Promise<void>[] = [];
      const slotRuns = plan.slots.map((slot) => {
        const { port1, port2 } = new MessageChannel();
        const closed = controlPlane.connect(port1).closed;
        slotPortsDrained[slot.index] = closed;
        // The control plane's end closes once every message posted to the slot's port before it
        // was closed has been delivered: a macrotask after the slot's end is known.
        drained.push(closed);
        slotPorts[slot.index] = port2;
        // What the control plane sends a slot (checkpoint completions) goes to its task manager.
        port2.on('message', (message: CoordinatorMessage) => {
          sendTo(owners[slot.index]!, TO_TASK_MANAGER.toSlot, {
            attempt: attemptNumber,
            slotIndex: slot.index,
            message,
          });
        });
        return new Promise<SlotResult | undefined>((resolve) => {
          slotEnded[slot.index] = resolve;
        });
      });
      const processOfSlot = owners.map((owner) => owner.id);
      for (const manager of deployedManagers()) {
        const deploy: DeployMessage = {
          attempt: attemptNumber,
          jobUrl: context.url,
          args: options.args,
          parallelism: context.parallelism,
          maxParallelism: context.maxParallelism,
          chaining: options.chaining ?? true,
          localAggregation: options.localAggregation ?? true,
          config,
          fingerprint: planned.fingerprint,
          slots: owners.flatMap((owner, slot) => (owner === manager ? [slot] : [])),
          processOfSlot,
          checkpointDirectory: context.storage?.dir,
          restoreFrom,
          stateBackend,
          logLevel: levelOf(context.logger),
          taskHeartbeatTimeoutMs: options.taskHeartbeatTimeoutMs ?? DEFAULT_TASK_HEARTBEAT_TIMEOUT_MS,
        };
        sendTo(manager, TO_TASK_MANAGER.deploy, deploy);
      }
      logger.debug(
        { event: 'attempt-deployed', taskManagers: deployedManagers().map((m) => m.id) },
        `job '${jobName}' attempt ${attemptNumber}: ${numSlots} slots deployed to ${deployedManagers().length} task manager${deployedManagers().length > 1 ? 's' : ''}`,
      );
      // A manager lost between the wait and the deploy: its slots never start.
      for (const [slot, owner] of owners.entries()) {
        if (owner.connection.failure !== undefined && !endedSlots.has(slot)) {
          noteFailure(slotDiedError(jobName, slot, owner.connection.failure), false);
          endSlot(slot, undefined);
          stopAll();
        }
      }
      coordinator?.start();
      const results = await Promise.all(slotRuns);
      // A slot's last messages (a failure report, its sinks' data on success) were relayed just
      // before its end: they must reach the control plane before the outcome is decided.
      await Promise.all(drained);
      if (failure !== undefined) return { status: 'failed', error: failure };
      if (cancelled) return { status: 'cancelled' };
      await controlPlane.commitAtEnd();
      return { status: 'finished', results };
    } finally {
      coordinator?.stop();
      clearTimeout(forcedStop);
      for (const cleanup of cleanups) cleanup();
      for (const port of slotPorts) port.close();
    }
  })();

  const attempt: Attempt = {
    outcome,
    stop(): void {
      cancelled = true;
      stopAll();
    },
    savepoint: (folder, options) => savepointWith(coordinator, folder, options),
    async terminateWorker(index: number): Promise<boolean> {
      const owner = owners[index % Math.max(1, owners.length)];
      if (owner === undefined) return false;
      sendTo(owner, TO_TASK_MANAGER.terminateSlot, {
        attempt: attemptNumber,
        slotIndex: index % owners.length,
      });
      return true;
    },
    send: (slotIndex, message) => controlPlane.send(slotIndex, message),
    broadcast: (message) => controlPlane.broadcast(message),
    doorbells: [],
    endedSlots,
    get failure() {
      return failure;
    },
    metrics: { layout: metricsLayout, cells: metricsCells },
    rings: [],
  };
  return attempt;
}

/** Copies the counters of `manager`'s slots from its report into the job manager's array. */
function copyMetrics(
  layout: MetricsLayout,
  slots: readonly {
    readonly index: number;
    readonly subtasks: readonly { vertex: number; subtaskIndex: number }[];
  }[],
  owners: readonly RegisteredTaskManager[],
  manager: RegisteredTaskManager,
  bytes: Uint8Array,
  into: Float64Array,
): void {
  if (bytes.byteLength !== into.byteLength) return;
  const cells = new Float64Array(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength));
  for (const slot of slots) {
    if (owners[slot.index] !== manager) continue;
    for (const { vertex, subtaskIndex } of slot.subtasks) {
      const start = layout.taskBase(vertex, subtaskIndex);
      const end = start + layout.subtaskCells(vertex);
      into.set(cells.subarray(start, end), start);
    }
  }
}

/** An authenticated connection that closed or broke while in use (`SLUICE_CONNECTION_LOST`), anywhere in the causes. */
function isConnectionLoss(error: unknown): boolean {
  let current: unknown = error;
  for (let depth = 0; current instanceof Error && depth < CAUSE_DEPTH_MAX; depth++) {
    if ((current as { code?: unknown }).code === 'SLUICE_CONNECTION_LOST') return true;
    current = current.cause;
  }
  return false;
}
