import { cp, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { type Clock, systemClock } from '../time/clock.ts';
import type { CheckpointIdCounter } from './checkpoint-id-counter.ts';
import { type CheckpointMetadata, METADATA_FILE_NAME, type OperatorStateMetadata } from './metadata.ts';
import type { CheckpointAck, CheckpointDecline, CheckpointTransport } from './protocol.ts';
import { CheckpointStorage } from './storage.ts';

export interface CheckpointingOptions {
  /** Where checkpoints are written: one folder per checkpoint, `chk-<id>`. */
  readonly directory: string;
  /** How often a checkpoint starts (ms). */
  readonly intervalMs: number;
  /** A checkpoint not complete after this many ms is abandoned (default 60 s). */
  readonly timeoutMs?: number;
  /** Checkpoints in flight at once (default 1). */
  readonly maxConcurrent?: number;
  /** Complete checkpoints kept on disk (default 3). */
  readonly retain?: number;
}

/** What the job result reports about one completed checkpoint. */
export interface CompletedCheckpointStats {
  readonly checkpointId: number;
  /** A savepoint is a checkpoint copied to a folder of the user's (`folder` is the checkpoint's). */
  readonly kind: 'checkpoint' | 'savepoint';
  readonly folder: string;
  /** When the coordinator triggered it (the job's clock, ms since the epoch). */
  readonly triggeredAtMs: number;
  /** From the trigger to the durable metadata (ms). */
  readonly durationMs: number;
  /** State written, all subtasks (bytes). */
  readonly bytes: number;
  /** The longest barrier alignment of any task (ms). */
  readonly maxAlignmentMs: number;
}

/** A checkpoint that was triggered but never completed (declined, timed out, not committed). */
export interface AbandonedCheckpointStats {
  readonly checkpointId: number;
  readonly kind: 'checkpoint' | 'savepoint';
  readonly triggeredAtMs: number;
  /** How long it ran before it was given up (ms). */
  readonly durationMs: number;
  readonly reason: string;
}

/** How a savepoint is taken. */
export interface SavepointOptions {
  /**
   * The savepoint of a stop (Flink's stop-with-savepoint): no checkpoint is triggered from the
   * moment it is asked for, and — once it is written — none ever again in this attempt, whose
   * job master stops it right after. So no checkpoint completes after the savepoint, and no
   * two-phase-commit sink commits anything the savepoint does not cover: a job restored from it
   * produces exactly what comes after. Should the savepoint fail, periodic checkpoints resume.
   */
  readonly stop?: boolean;
}

/** How many abandoned checkpoints the stats keep (the newest; `aborted` counts them all). */
export const ABANDONED_CHECKPOINTS_KEPT = 100;

export interface CheckpointStats {
  readonly completed: CompletedCheckpointStats[];
  aborted: number;
  /** The newest abandoned checkpoints (at most 100), oldest first. */
  readonly abandoned?: AbandonedCheckpointStats[];
}

interface Pending {
  /** The job's clock at the trigger (ms since the epoch, or simulated). */
  readonly startedAtMs: number;
  readonly acks: Map<string, CheckpointAck>;
  readonly timer: ReturnType<typeof setTimeout>;
  /** Set for a savepoint: where to put it, and who waits for it. */
  readonly savepoint?: {
    readonly folder: string;
    readonly resolve: (folder: string) => void;
    readonly reject: (error: Error) => void;
  };
}

/**
 * The coordinator's side of aligned checkpoints (Flink's CheckpointCoordinator): triggers
 * checkpoint n at every source through its transport, collects one acknowledgement per task,
 * and when all are in, writes the metadata — last and atomically — then tells the tasks, so that
 * two-phase-commit sinks commit. Late, declined or timed-out checkpoints are abandoned and their
 * folders removed. Once a task has finished (bounded input), no new checkpoint starts: a
 * finished task cannot take part in one.
 */
export class CheckpointCoordinator {
  readonly #storage: CheckpointStorage;
  readonly #options: Required<Omit<CheckpointingOptions, 'retain' | 'directory'>>;
  readonly #jobName: string;
  readonly #maxParallelism: number;
  readonly #expectedAcks: number;
  readonly #transport: CheckpointTransport;
  readonly #log: (message: string) => void;
  readonly #pending = new Map<number, Pending>();
  readonly stats: CheckpointStats;
  readonly #ids: CheckpointIdCounter;
  readonly #clock: Clock;
  #interval: ReturnType<typeof setInterval> | undefined;
  #taskFinished = false;
  #stopped = false;
  /** Stop savepoints in flight; once one is written, `#final`: no checkpoint starts any more. */
  #stopSavepoints = 0;
  #final = false;

  constructor(options: {
    readonly storage: CheckpointStorage;
    readonly checkpointing: CheckpointingOptions;
    readonly jobName: string;
    readonly maxParallelism: number;
    readonly expectedAcks: number;
    /** The job's counter, shared by its attempts. */
    readonly ids: CheckpointIdCounter;
    /** For the checkpoints' start and completion times (default: the system clock). */
    readonly clock?: Clock;
    readonly transport: CheckpointTransport;
    readonly log: (message: string) => void;
    readonly stats: CheckpointStats;
  }) {
    this.#storage = options.storage;
    this.#options = {
      intervalMs: options.checkpointing.intervalMs,
      timeoutMs: options.checkpointing.timeoutMs ?? 60_000,
      maxConcurrent: options.checkpointing.maxConcurrent ?? 1,
    };
    this.#jobName = options.jobName;
    this.#maxParallelism = options.maxParallelism;
    this.#expectedAcks = options.expectedAcks;
    this.#transport = options.transport;
    this.#log = options.log;
    this.#ids = options.ids;
    this.#clock = options.clock ?? systemClock;
    this.stats = options.stats;
  }

  start(): void {
    this.#interval = setInterval(() => this.#tick(), this.#options.intervalMs);
  }

  /**
   * Stops triggering; checkpoints in progress are dropped, and a savepoint that waits for one is
   * rejected (with `reason`, the job's failure when it failed), so that nobody waits for ever.
   */
  stop(reason?: Error): void {
    this.#stopped = true;
    clearInterval(this.#interval);
    for (const [id, pending] of this.#pending) {
      clearTimeout(pending.timer);
      this.#pending.delete(id);
      pending.savepoint?.reject(
        new Error(`savepoint abandoned: ${reason?.message ?? 'the job stopped before it completed'}`, {
          cause: reason,
        }),
      );
    }
  }

  taskFinished(): void {
    this.#taskFinished = true;
  }

  #tick(): void {
    if (
      this.#stopped ||
      this.#taskFinished ||
      this.#final ||
      this.#stopSavepoints > 0 ||
      this.#pending.size >= this.#options.maxConcurrent
    )
      return;
    this.#start(undefined);
  }

  #start(savepoint: Pending['savepoint']): void {
    const checkpointId = this.#ids.next();
    const timer = setTimeout(
      () => this.#abort(checkpointId, `timed out after ${this.#options.timeoutMs} ms`),
      this.#options.timeoutMs,
    );
    this.#pending.set(checkpointId, {
      startedAtMs: this.#clock(),
      acks: new Map(),
      timer,
      ...(savepoint === undefined ? {} : { savepoint }),
    });
    this.#transport.trigger(checkpointId);
  }

  /**
   * Takes a savepoint now: a checkpoint like any other, then copied with its metadata (kind
   * 'savepoint') into `folder`, which belongs to the user and is never pruned. With `stop`, the
   * last checkpoint of the attempt (see {@link SavepointOptions}).
   */
  savepoint(folder: string, options: SavepointOptions = {}): Promise<string> {
    if (this.#stopped) return Promise.reject(new Error('the job is not running'));
    if (this.#final) return Promise.reject(new Error('the job is stopping after a savepoint'));
    if (this.#taskFinished) {
      return Promise.reject(
        new Error('part of the job has already finished (bounded input); no savepoint can be taken'),
      );
    }
    if (options.stop !== true) {
      return new Promise<string>((resolve, reject) => this.#start({ folder, resolve, reject }));
    }
    this.#stopSavepoints++;
    return new Promise<string>((resolve, reject) =>
      this.#start({
        folder,
        resolve: (written) => {
          this.#stopSavepoints--;
          this.#final = true;
          resolve(written);
        },
        reject: (error) => {
          this.#stopSavepoints--;
          reject(error);
        },
      }),
    );
  }

  onAck(ack: CheckpointAck): void {
    const pending = this.#pending.get(ack.checkpointId);
    if (pending === undefined) return;
    pending.acks.set(`${ack.vertex}/${ack.subtaskIndex}`, ack);
    if (pending.acks.size === this.#expectedAcks) void this.#complete(ack.checkpointId, pending);
  }

  onDecline(decline: CheckpointDecline): void {
    this.#abort(decline.checkpointId, `task ${decline.vertex}/${decline.subtaskIndex}: ${decline.reason}`);
  }

  #abort(checkpointId: number, reason: string): void {
    const pending = this.#pending.get(checkpointId);
    if (pending === undefined) return;
    clearTimeout(pending.timer);
    this.#pending.delete(checkpointId);
    this.#recordAbandoned(checkpointId, pending, reason);
    pending.savepoint?.reject(new Error(`savepoint abandoned: ${reason}`));
    this.#log(`checkpoint ${checkpointId} of job '${this.#jobName}' abandoned: ${reason}`);
    void this.#storage.discard(checkpointId).catch(() => undefined);
  }

  #recordAbandoned(checkpointId: number, pending: Pending, reason: string): void {
    this.stats.aborted++;
    const abandoned = this.stats.abandoned;
    if (abandoned === undefined) return;
    abandoned.push({
      checkpointId,
      kind: pending.savepoint === undefined ? 'checkpoint' : 'savepoint',
      triggeredAtMs: pending.startedAtMs,
      durationMs: this.#clock() - pending.startedAtMs,
      reason,
    });
    if (abandoned.length > ABANDONED_CHECKPOINTS_KEPT) abandoned.shift();
  }

  async #complete(checkpointId: number, pending: Pending): Promise<void> {
    clearTimeout(pending.timer);
    const operators: Record<string, OperatorStateMetadata> = {};
    let bytes = 0;
    let maxAlignmentMs = 0;
    const listStateOperators = new Set<string>();
    for (const ack of pending.acks.values()) {
      for (const id of ack.listStateOperatorIds) listStateOperators.add(id);
      bytes += ack.file.bytes;
      maxAlignmentMs = Math.max(maxAlignmentMs, ack.alignmentMs);
      for (const operatorId of ack.operatorIds) {
        let operator = operators[operatorId];
        if (operator === undefined) {
          operator = { parallelism: ack.parallelism, subtasks: [] };
          operators[operatorId] = operator;
        }
        operator.subtasks.push({
          subtaskIndex: ack.subtaskIndex,
          keyGroupStart: ack.keyGroupStart,
          keyGroupEnd: ack.keyGroupEnd,
          files: [ack.file],
        });
      }
    }
    for (const operator of Object.values(operators))
      operator.subtasks.sort((a, b) => a.subtaskIndex - b.subtaskIndex);
    const metadata: CheckpointMetadata = {
      version: 1,
      jobName: this.#jobName,
      checkpointId,
      kind: 'checkpoint',
      createdAtMs: this.#clock(),
      maxParallelism: this.#maxParallelism,
      operators,
      extra: { listStateOperators: [...listStateOperators].sort() },
    };
    try {
      const folder = await this.#storage.commit(metadata);
      this.#pending.delete(checkpointId);
      // Older checkpoints still pending never complete: the sources read only the newest id asked
      // for (slot-control.ts), so one asked for just before this one was skipped. Abandoned now
      // (Flink: subsumed), they no longer hold back the next trigger until their timeout.
      for (const id of [...this.#pending.keys()]) {
        if (id < checkpointId)
          this.#abort(id, `subsumed by checkpoint ${checkpointId}, which completed first`);
      }
      this.stats.completed.push({
        checkpointId,
        kind: pending.savepoint === undefined ? 'checkpoint' : 'savepoint',
        folder,
        triggeredAtMs: pending.startedAtMs,
        durationMs: this.#clock() - pending.startedAtMs,
        bytes,
        maxAlignmentMs,
      });
      if (!this.#stopped) this.#transport.notifyComplete(checkpointId);
      if (pending.savepoint !== undefined) {
        await cp(folder, pending.savepoint.folder, { recursive: true, errorOnExist: true, force: false });
        await rm(join(pending.savepoint.folder, METADATA_FILE_NAME), { force: true });
        await CheckpointStorage.commitTo(pending.savepoint.folder, { ...metadata, kind: 'savepoint' });
        pending.savepoint.resolve(pending.savepoint.folder);
      }
    } catch (error) {
      this.#pending.delete(checkpointId);
      pending.savepoint?.reject(error as Error);
      this.#recordAbandoned(checkpointId, pending, `not committed: ${(error as Error).message}`);
      this.#log(
        `checkpoint ${checkpointId} of job '${this.#jobName}' could not be committed: ${(error as Error).message}`,
      );
    }
  }
}
