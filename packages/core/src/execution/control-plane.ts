import type { MessagePort } from 'node:worker_threads';
import { decodeRecords } from '../channels/record-codec.ts';
import type { CheckpointCoordinator } from '../checkpoint/checkpoint-coordinator.ts';
import type { Logger } from '../contracts/logger.ts';
import { deserializeError, JobExecutionError } from '../errors.ts';
import { COMMIT_AT_END } from '../runtime/operators/sink.ts';
import { replay } from './logging/line-logger.ts';
import type { CoordinatorMessage, DataAddress, SlotMessage } from './messages.ts';
import type { PlannedJob } from './planner.ts';
import type { ProgressMessage } from './progress.ts';

type DataMessage = Extract<SlotMessage, { type: 'data' }>;
type IdleReport = Extract<SlotMessage, { type: 'idle' }>;

/** What the control plane hands on: the job master's sinks of data, failures and idleness. */
export interface ControlPlaneHandlers {
  /** Sink data: collect-sink batches and committables, decoded, by channel. */
  readonly deliver: (channel: string, records: unknown[]) => void;
  /** Where the slots' log lines go (the attempt's logger). */
  readonly logger: Logger;
  /** The slots' latest progress samples (bounded jobs' progress). */
  readonly onProgress?: (message: ProgressMessage) => void;
  /** Commit keys taken so far in this job (over all attempts): a committable re-sent after a restore is taken once. */
  readonly committed: Set<string>;
  /** The first failure a slot reports; the attempt stops all slots. */
  readonly onFailure: (error: JobExecutionError) => void;
  /** A slot has nothing to do at simulated time (test driver runs only). */
  readonly onIdle?: (report: IdleReport) => void;
  /** Across processes: a slot's data plane listens at this address. */
  readonly onDataAddress?: (address: DataAddress) => void;
}

/**
 * The coordinator's end of the slots' message ports in one attempt: sink data, checkpoint acks
 * and declines, finished tasks and failures in; checkpoint completions out. Records never pass
 * here (only what sinks send to the coordinator, in batches).
 */
export class ControlPlane {
  readonly #planned: PlannedJob;
  readonly #handlers: ControlPlaneHandlers;
  readonly #ports: MessagePort[] = [];
  #coordinator: CheckpointCoordinator | undefined;
  /** End-of-input leftovers of exactly-once sinks: taken only if the attempt finishes. */
  readonly #onSuccess: DataMessage[] = [];

  constructor(planned: PlannedJob, handlers: ControlPlaneHandlers) {
    this.#planned = planned;
    this.#handlers = handlers;
  }

  /** Acks, declines and finished tasks go to this coordinator from now on. */
  attachCoordinator(coordinator: CheckpointCoordinator | undefined): void {
    this.#coordinator = coordinator;
  }

  /** Listens to one slot's port; resolves `closed` once the slot has closed it (after its last message). */
  connect(port: MessagePort): { readonly closed: Promise<void> } {
    this.#ports.push(port);
    port.on('message', (message: SlotMessage) => this.#onMessage(message));
    return { closed: new Promise<void>((resolve) => port.once('close', () => resolve())) };
  }

  broadcast(message: CoordinatorMessage): void {
    for (const port of this.#ports) port.postMessage(message);
  }

  /** Sends a message to one slot. */
  send(slotIndex: number, message: CoordinatorMessage): void {
    this.#ports[slotIndex]?.postMessage(message);
  }

  #onMessage(message: SlotMessage): void {
    switch (message.type) {
      case 'data': {
        if (message.onSuccess) {
          this.#onSuccess.push(message);
          return;
        }
        if (message.commitKey !== undefined) {
          if (this.#handlers.committed.has(message.commitKey)) return;
          this.#handlers.committed.add(message.commitKey);
        }
        this.#handlers.deliver(message.channel, decodeRecords(message.payload));
        return;
      }
      case 'ack':
        this.#coordinator?.onAck(message);
        return;
      case 'decline':
        this.#coordinator?.onDecline(message);
        return;
      case 'task-finished':
        this.#coordinator?.taskFinished();
        return;
      case 'idle':
        this.#handlers.onIdle?.(message);
        return;
      case 'data-address':
        this.#handlers.onDataAddress?.({
          slotIndex: message.slotIndex,
          host: message.host,
          port: message.port,
        });
        return;
      case 'log':
        replay(this.#handlers.logger, message.line);
        return;
      case 'progress':
        this.#handlers.onProgress?.(message);
        return;
      case 'failed':
        this.#handlers.onFailure(
          new JobExecutionError(
            {
              jobName: this.#planned.streamGraph.jobName,
              operatorId: message.operatorId,
              operatorName: message.operatorName,
              subtaskIndex: message.subtaskIndex,
              parallelism: message.parallelism,
              record: message.record,
              userFunction: message.userFunction,
              ranIn: message.ranIn,
            },
            deserializeError(message.error),
          ),
        );
        return;
    }
  }

  /**
   * The attempt finished: take what sinks held back for success — collect-sink leftovers, and
   * committables for `Sink.commitAtEnd`, called here once per sink with all its subtasks' items.
   */
  async commitAtEnd(): Promise<void> {
    const bySink = new Map<string, unknown[]>();
    for (const message of this.#onSuccess) {
      const records = decodeRecords(message.payload);
      if (!message.channel.startsWith(COMMIT_AT_END)) {
        this.#handlers.deliver(message.channel, records);
        continue;
      }
      const operatorId = message.channel.slice(COMMIT_AT_END.length);
      const items = bySink.get(operatorId) ?? [];
      items.push(...records);
      bySink.set(operatorId, items);
    }
    for (const [operatorId, items] of bySink) {
      const index = this.#planned.streamGraph.nodes.findIndex((n) => n.id === operatorId);
      const sink = this.#planned.env.nodes[index]?.sink;
      if (sink?.commitAtEnd === undefined)
        throw new Error(`bug: committables for '${operatorId}', which has no commitAtEnd`);
      await sink.commitAtEnd(items, { logger: this.#handlers.logger.child({ operator: operatorId }) });
    }
  }
}
