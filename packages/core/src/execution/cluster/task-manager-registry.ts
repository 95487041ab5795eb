/**
 * The job manager's control port and the task managers registered at it (Flink's
 * ResourceManager, reduced to what one job needs): who is alive, how many slots each offers, and
 * the messages each sends. A task manager is alive while its control connection is: a reset, a
 * close, or heartbeats missing for longer than the heartbeat timeout (1.5 s by default) removes
 * it and tells the listeners, so a SIGKILLed task manager is noticed within 2 s.
 */

import {
  type ControlConnection,
  DEFAULT_HEARTBEAT_INTERVAL_MS,
  type HeartbeatClock,
  listenControl,
  systemHeartbeatClock,
} from '../../channels/tcp/control-connection.ts';
import type { AuthenticatedServer, TlsServerFiles } from '../../channels/tcp/endpoint.ts';
import type { TransportError } from '../../channels/tcp/errors.ts';
import type { Logger } from '../../contracts/logger.ts';
import { ConfigError } from '../../errors.ts';
import { type RegisterReply, type RegisterRequest, TO_JOB_MANAGER } from './protocol.ts';

export interface RegisteredTaskManager {
  readonly id: string;
  readonly slots: number;
  readonly dataHost: string;
  readonly pid: number;
  readonly connection: ControlConnection;
}

export interface TaskManagerRegistryOptions {
  readonly jobName: string;
  readonly secret: Uint8Array;
  /** Default 127.0.0.1. */
  readonly host?: string | undefined;
  /** Default 0: any free port. */
  readonly port?: number | undefined;
  readonly tls?: TlsServerFiles | undefined;
  readonly heartbeatIntervalMs?: number | undefined;
  readonly heartbeatTimeoutMs?: number | undefined;
  /** Where heartbeats take their time from (default the system's): a test's, to decide when time passes. */
  readonly clock?: HeartbeatClock | undefined;
  readonly logger: Logger;
}

export type TaskManagerMessageListener = (
  manager: RegisteredTaskManager,
  type: string,
  payload: unknown,
) => void;
export type TaskManagerLostListener = (
  manager: RegisteredTaskManager,
  error: TransportError | undefined,
) => void;

export class TaskManagerRegistry {
  readonly #options: TaskManagerRegistryOptions;
  #server: AuthenticatedServer | undefined;
  readonly #managers = new Map<string, RegisteredTaskManager>();
  readonly #messageListeners = new Set<TaskManagerMessageListener>();
  readonly #lostListeners = new Set<TaskManagerLostListener>();
  readonly #changed = new Set<() => void>();
  #closed = false;
  /** Why no slots will come (a local cluster whose task managers keep dying): waiting fails with it. */
  #broken: Error | undefined;

  private constructor(options: TaskManagerRegistryOptions) {
    this.#options = options;
  }

  /** Opens the control port; a {@link ConfigError} without a secret, or with bad options. */
  static async listen(options: TaskManagerRegistryOptions): Promise<TaskManagerRegistry> {
    const registry = new TaskManagerRegistry(options);
    registry.#server = await listenControl({
      id: 'jobmanager',
      secret: options.secret,
      host: options.host,
      port: options.port,
      tls: options.tls,
      heartbeatIntervalMs: options.heartbeatIntervalMs,
      heartbeatTimeoutMs: options.heartbeatTimeoutMs,
      clock: options.clock,
      onConnection: (connection) => registry.#adopt(connection),
      onRequest: (type, payload, connection) => registry.#onRequest(type, payload, connection),
      onMessage: (type, payload, connection) => registry.#onMessage(type, payload, connection),
      onRefused: (error) =>
        options.logger.warn({ event: 'control-refused', peer: error.peer }, `control port: ${error.message}`),
    });
    return registry;
  }

  get address(): { host: string; port: number } {
    if (this.#server === undefined) throw new Error('bug: the registry is not listening');
    return this.#server.address;
  }

  /** The task managers alive now, in the order they registered. */
  get managers(): readonly RegisteredTaskManager[] {
    return [...this.#managers.values()];
  }

  get totalSlots(): number {
    let total = 0;
    for (const manager of this.#managers.values()) total += manager.slots;
    return total;
  }

  onMessage(listener: TaskManagerMessageListener): () => void {
    this.#messageListeners.add(listener);
    return () => this.#messageListeners.delete(listener);
  }

  onLost(listener: TaskManagerLostListener): () => void {
    this.#lostListeners.add(listener);
    return () => this.#lostListeners.delete(listener);
  }

  /**
   * Resolves with the task managers alive once they offer at least `slots` slots; resolves
   * `undefined` if `stop` is called first (a cancelled job).
   */
  awaitSlots(
    slots: number,
    onWaiting: (registered: number) => void,
  ): {
    readonly ready: Promise<readonly RegisteredTaskManager[] | undefined>;
    stop(): void;
  } {
    let stop = (): void => {};
    const ready = new Promise<readonly RegisteredTaskManager[] | undefined>((resolve, reject) => {
      const check = (): void => {
        if (this.#broken !== undefined) {
          this.#changed.delete(check);
          reject(this.#broken);
          return;
        }
        if (this.totalSlots < slots) return;
        this.#changed.delete(check);
        resolve(this.managers);
      };
      stop = () => {
        this.#changed.delete(check);
        resolve(undefined);
      };
      this.#changed.add(check);
      if (this.totalSlots < slots) onWaiting(this.totalSlots);
      check();
    });
    return { ready, stop };
  }

  /** No more slots will register: whoever waits for them (and will wait) fails with `error`. */
  fail(error: Error): void {
    this.#broken ??= error;
    this.#notifyChanged();
  }

  /** Tells every task manager that the job ended (they exit), then closes the port and the connections. */
  async close(ended?: 'finished' | 'failed' | 'cancelled'): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    for (const manager of this.#managers.values()) {
      if (ended !== undefined) manager.connection.send('job-ended', { status: ended });
      manager.connection.close();
    }
    this.#managers.clear();
    await this.#server?.close();
  }

  #adopt(connection: ControlConnection): void {
    if (this.#closed) {
      connection.destroy();
      return;
    }
    connection.onClose((error) => {
      const manager = this.#managers.get(connection.peerId);
      if (manager?.connection !== connection) return;
      this.#managers.delete(connection.peerId);
      this.#options.logger.warn(
        { event: 'task-manager-lost', taskManager: manager.id },
        `task manager '${manager.id}' (pid ${manager.pid}) lost${error === undefined ? '' : `: ${error.message}`}`,
      );
      for (const listener of [...this.#lostListeners]) listener(manager, error);
      this.#notifyChanged();
    });
  }

  #onRequest(type: string, payload: unknown, connection: ControlConnection): RegisterReply {
    if (type !== TO_JOB_MANAGER.register) {
      throw new ConfigError(`the job manager answers no request '${type}'`);
    }
    const request = payload as RegisterRequest;
    if (!Number.isInteger(request.slots) || request.slots < 1) {
      throw new ConfigError(`task manager '${connection.peerId}' offers ${String(request.slots)} slots`);
    }
    // The same id again. Its old connection silent for more than a heartbeat interval: the same
    // task manager back after a cut the old connection has not noticed yet, so the new one wins.
    // Heard from just now: another live process under the same id, refused (ids must be unique;
    // taking over would make the two replace each other for ever).
    const previous = this.#managers.get(connection.peerId);
    if (previous !== undefined && previous.connection !== connection) {
      const clock = this.#options.clock ?? systemHeartbeatClock;
      const interval = this.#options.heartbeatIntervalMs ?? DEFAULT_HEARTBEAT_INTERVAL_MS;
      if (clock.now() - previous.connection.lastHeardMs <= interval) {
        setImmediate(() => connection.close());
        throw new ConfigError(
          `task manager id '${connection.peerId}' is in use by a live task manager (pid ${previous.pid}): every task manager needs its own --id`,
        );
      }
      previous.connection.destroy();
    }
    const manager: RegisteredTaskManager = {
      id: connection.peerId,
      slots: request.slots,
      dataHost: request.dataHost,
      pid: request.pid,
      connection,
    };
    this.#managers.set(manager.id, manager);
    this.#options.logger.debug(
      { event: 'task-manager-registered', taskManager: manager.id, slots: manager.slots },
      `task manager '${manager.id}' (pid ${manager.pid}) registered with ${manager.slots} slot${manager.slots > 1 ? 's' : ''}; ${this.totalSlots} in all`,
    );
    queueMicrotask(() => this.#notifyChanged());
    return { jobName: this.#options.jobName };
  }

  #onMessage(type: string, payload: unknown, connection: ControlConnection): void {
    const manager = this.#managers.get(connection.peerId);
    if (manager?.connection !== connection) return;
    for (const listener of [...this.#messageListeners]) listener(manager, type, payload);
  }

  #notifyChanged(): void {
    for (const check of [...this.#changed]) check();
  }
}
