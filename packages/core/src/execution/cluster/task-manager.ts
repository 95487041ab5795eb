/**
 * A task manager process (`sluice taskmanager`): registers its slots at the job manager, runs
 * the slots the job manager deploys to it on worker threads, and relays their messages. When the
 * job manager is lost (killed, restarted, a network cut) it cancels what runs, and dials again
 * until a job manager answers at the same address: a restarted job manager finds its task
 * managers without being told where they are. It returns when the job manager says the job ended.
 */
import { hostname } from 'node:os';
import { type ControlConnection, connectControl } from '../../channels/tcp/control-connection.ts';
import type { TlsClientFiles, TlsServerFiles } from '../../channels/tcp/endpoint.ts';
import type { Logger } from '../../contracts/logger.ts';
import { serializeError } from '../../errors.ts';
import { jobModuleUrl, loadJob } from '../job-loader.ts';
import { type PlannedJob, planJob } from '../planner.ts';
import {
  type AttemptMessage,
  type DeployMessage,
  type JobEndedMessage,
  type PeersMessage,
  type RegisterReply,
  type RegisterRequest,
  type TerminateSlotMessage,
  TO_JOB_MANAGER,
  TO_TASK_MANAGER,
  type ToSlotMessage,
  type TriggerCheckpointMessage,
} from './protocol.ts';
import { startTaskManagerAttempt, type TaskManagerAttempt } from './task-manager-attempt.ts';
import { TaskManagerDataPlane } from './task-manager-data-plane.ts';

export interface TaskManagerOptions {
  readonly jobManager: { readonly host: string; readonly port: number };
  /** Slots this task manager offers (worker threads). */
  readonly slots: number;
  readonly secret: Uint8Array;
  /** Default `tm-<hostname>-<pid>`. */
  readonly id?: string | undefined;
  /** The data port's listen address (default 127.0.0.1). */
  readonly bindHost?: string | undefined;
  /** The address peers dial (default: bindHost, or 127.0.0.1 when it is 0.0.0.0). */
  readonly advertiseHost?: string | undefined;
  /**
   * The one data port of this task manager (default 0: any free port): with several slots, its main
   * thread serves it for them all; with one, that slot serves it for each attempt (no relay).
   */
  readonly dataPort?: number | undefined;
  /** The job module, when it is not at the path the job manager names (another image layout). */
  readonly job?: string | undefined;
  /** TLS to the job manager; with a certificate (`certFile`, `keyFile`) the data connections between task managers use TLS too. */
  readonly tls?: TlsClientFiles | undefined;
  readonly logger: Logger;
  /** Between attempts to reach the job manager (default 500 ms). */
  readonly reconnectDelayMs?: number | undefined;
  readonly heartbeatIntervalMs?: number | undefined;
  readonly heartbeatTimeoutMs?: number | undefined;
  /**
   * Serve job after job (a session cluster): when a job ends, wait for the next job manager at
   * the same address instead of returning. Default false: a task manager belongs to one job.
   */
  readonly session?: boolean | undefined;
  /** Stops the task manager: what runs is cancelled, and `runTaskManager` resolves 'stopped'. */
  readonly signal?: AbortSignal | undefined;
  /** Told of state changes (for a health endpoint): connected to a job manager or not, running an attempt or not. */
  readonly onState?: ((state: TaskManagerState) => void) | undefined;
}

export interface TaskManagerState {
  readonly connected: boolean;
  readonly runningAttempt: number | undefined;
}

export type TaskManagerExit = 'finished' | 'failed' | 'cancelled' | 'stopped';

export async function runTaskManager(options: TaskManagerOptions): Promise<TaskManagerExit> {
  let closeDataPlane = async (): Promise<void> => {};
  try {
    return await serveJobManagers(options, (close) => {
      closeDataPlane = close;
    });
  } finally {
    await closeDataPlane();
  }
}

async function serveJobManagers(
  options: TaskManagerOptions,
  onDataPlane: (close: () => Promise<void>) => void,
): Promise<TaskManagerExit> {
  const id = options.id ?? `tm-${hostname()}-${process.pid}`;
  const bindHost = options.bindHost ?? '127.0.0.1';
  const advertiseHost =
    options.advertiseHost ?? (bindHost === '0.0.0.0' || bindHost === '::' ? '127.0.0.1' : bindHost);
  const { logger } = options;
  const reconnectDelayMs = options.reconnectDelayMs ?? 500;
  let current: TaskManagerAttempt | undefined;
  let previousDone: Promise<void> = Promise.resolve();
  const plans = new Map<string, Promise<PlannedJob>>();
  // With one slot, that slot serves the data port itself for each attempt: no relay through this
  // thread (the Kubernetes layout, `direct-slot-data-plane.ts`). With several, this thread's plane
  // serves it for them all, opened at the first deploy and kept for the life of the process.
  const direct = options.slots === 1;
  logger.debug(
    { event: 'data-plane', direct },
    direct
      ? `task manager '${id}': one slot, which serves the data port itself`
      : `task manager '${id}': ${options.slots} slots share the data port through the main thread`,
  );
  let dataPlane: Promise<TaskManagerDataPlane> | undefined;
  const dataPlaneOf = (): Promise<TaskManagerDataPlane> => {
    dataPlane ??= TaskManagerDataPlane.start({
      id,
      secret: options.secret,
      host: bindHost,
      port: options.dataPort ?? 0,
      tls: dataTls(options.tls),
      onRefused: (error) =>
        logger.warn(
          { event: 'data-connection-refused', peer: error.peer },
          `task manager '${id}': ${error.message}`,
        ),
    });
    // A port that cannot open fails this deploy (reported as the slots' failure); the next one tries again.
    dataPlane.catch(() => {
      dataPlane = undefined;
    });
    return dataPlane;
  };
  onDataPlane(async () => {
    const plane = await dataPlane?.catch(() => undefined);
    await plane?.close();
  });
  let connected = false;
  const report = (): void => options.onState?.({ connected, runningAttempt: current?.attempt });

  const planOf = (deploy: DeployMessage, jobUrl: string): Promise<PlannedJob> => {
    const key = `${jobUrl}\n${deploy.fingerprint}`;
    let planned = plans.get(key);
    if (planned === undefined) {
      planned = loadJob(jobUrl).then((job) =>
        planJob(job, deploy.args, {
          parallelism: deploy.parallelism,
          ...(deploy.maxParallelism === undefined ? {} : { maxParallelism: deploy.maxParallelism }),
          chaining: deploy.chaining,
          localAggregation: deploy.localAggregation,
        }),
      );
      plans.set(key, planned);
    }
    return planned;
  };

  const stopCurrent = async (): Promise<void> => {
    const running = current;
    if (running === undefined) return;
    running.cancel();
    await running.done;
    if (current === running) current = undefined;
    report();
  };

  const aborted = new Promise<'stopped'>((resolve) => {
    if (options.signal?.aborted) resolve('stopped');
    options.signal?.addEventListener('abort', () => resolve('stopped'), { once: true });
  });
  let lastFailureLogged = '';

  while (!options.signal?.aborted) {
    let connection: ControlConnection;
    try {
      connection = await connectControl({
        id,
        secret: options.secret,
        host: options.jobManager.host,
        port: options.jobManager.port,
        tls: options.tls,
        heartbeatIntervalMs: options.heartbeatIntervalMs,
        heartbeatTimeoutMs: options.heartbeatTimeoutMs,
        onMessage: (type, payload) => onMessage(type, payload),
      });
    } catch (error) {
      const message = (error as Error).message;
      // An authentication failure will not heal by itself; a job manager not up yet will.
      if ((error as { code?: unknown }).code === 'SLUICE_AUTH_FAILED') throw error;
      if (message !== lastFailureLogged) {
        logger.warn(
          { event: 'job-manager-unreachable', jobManager: options.jobManager },
          `task manager '${id}': job manager at ${options.jobManager.host}:${options.jobManager.port} unreachable (${message}); retrying every ${reconnectDelayMs} ms`,
        );
        lastFailureLogged = message;
      }
      if ((await Promise.race([delay(reconnectDelayMs), aborted])) === 'stopped') break;
      continue;
    }
    lastFailureLogged = '';
    const send = (type: string, payload: unknown): void => {
      if (connection.failure === undefined) connection.send(type, payload);
    };
    let jobEnded: JobEndedMessage['status'] | undefined;
    const closed = new Promise<void>((resolve) => connection.onClose(() => resolve()));

    function onMessage(type: string, payload: unknown): void {
      const attemptOf = (p: unknown): TaskManagerAttempt | undefined =>
        current !== undefined && current.attempt === (p as AttemptMessage).attempt ? current : undefined;
      switch (type) {
        case TO_TASK_MANAGER.deploy: {
          const deploy = payload as DeployMessage;
          const jobUrl = options.job === undefined ? deploy.jobUrl : jobModuleUrl(options.job);
          const before = current;
          before?.cancel();
          const waitFor = before?.done ?? previousDone;
          // Deployed at once (later messages find it), started once the previous attempt is gone.
          const starting = deferredAttempt(
            deploy.attempt,
            async (isCancelled) => {
              await waitFor;
              const planned = await planOf(deploy, jobUrl);
              if (isCancelled()) {
                for (const slotIndex of deploy.slots) {
                  send(TO_JOB_MANAGER.slotEnded, {
                    attempt: deploy.attempt,
                    slotIndex,
                    result: { slotIndex, status: 'cancelled' },
                    error: undefined,
                  });
                }
                return undefined;
              }
              return startTaskManagerAttempt(planned, jobUrl, deploy, {
                id,
                data: direct
                  ? {
                      kind: 'direct',
                      port: {
                        secret: options.secret,
                        bindHost,
                        advertiseHost,
                        port: options.dataPort ?? 0,
                        tls: dataTls(options.tls),
                      },
                    }
                  : { kind: 'shared', plane: await dataPlaneOf(), advertiseHost },
                logger,
                send,
              });
            },
            (error) => {
              logger.error(
                { event: 'deploy-failed', err: error },
                `task manager '${id}': deploy of attempt ${deploy.attempt} failed: ${error.message}`,
              );
              for (const slotIndex of deploy.slots) {
                send(TO_JOB_MANAGER.slotEnded, {
                  attempt: deploy.attempt,
                  slotIndex,
                  result: undefined,
                  error: serializeError(error),
                });
              }
            },
          );
          current = starting;
          previousDone = starting.done;
          report();
          return;
        }
        case TO_TASK_MANAGER.peers:
          attemptOf(payload)?.peers((payload as PeersMessage).addresses);
          return;
        case TO_TASK_MANAGER.trigger:
          attemptOf(payload)?.triggerCheckpoint((payload as TriggerCheckpointMessage).checkpointId);
          return;
        case TO_TASK_MANAGER.toSlot: {
          const { slotIndex, message } = payload as ToSlotMessage;
          attemptOf(payload)?.toSlot(slotIndex, message);
          return;
        }
        case TO_TASK_MANAGER.cancel:
          attemptOf(payload)?.cancel();
          return;
        case TO_TASK_MANAGER.terminateSlot:
          attemptOf(payload)?.terminateSlot((payload as TerminateSlotMessage).slotIndex);
          return;
        case TO_TASK_MANAGER.jobEnded:
          jobEnded = (payload as JobEndedMessage).status;
          return;
      }
    }

    try {
      const reply = (await connection.request(TO_JOB_MANAGER.register, {
        slots: options.slots,
        dataHost: advertiseHost,
        pid: process.pid,
      } satisfies RegisterRequest)) as RegisterReply;
      connected = true;
      report();
      logger.info(
        { event: 'registered', jobManager: options.jobManager, job: reply.jobName },
        `task manager '${id}' registered ${options.slots} slot${options.slots > 1 ? 's' : ''} at the job manager ${options.jobManager.host}:${options.jobManager.port} (job '${reply.jobName}')`,
      );
    } catch (error) {
      logger.warn(
        { event: 'register-failed' },
        `task manager '${id}': registration failed: ${(error as Error).message}`,
      );
    }
    const stopped = (await Promise.race([closed, aborted])) === 'stopped';
    connection.close();
    connected = false;
    await stopCurrent();
    if (stopped) break;
    if (jobEnded !== undefined && options.session !== true) {
      logger.info(
        { event: 'job-ended', status: jobEnded },
        `task manager '${id}': the job ${jobEnded}; exiting`,
      );
      return jobEnded;
    }
    // The next job (a session) is another module or build: what this one planned is not needed.
    if (jobEnded !== undefined) plans.clear();
    if (jobEnded === undefined) {
      logger.warn({ event: 'job-manager-lost' }, `task manager '${id}': job manager lost; reconnecting`);
    } else {
      logger.info(
        { event: 'job-ended', status: jobEnded },
        `task manager '${id}': the job ${jobEnded}; waiting for the next`,
      );
    }
    if ((await Promise.race([delay(reconnectDelayMs), aborted])) === 'stopped') break;
  }
  await stopCurrent();
  return 'stopped';
}

/** With a certificate, a task manager serves and dials its data connections over TLS, trusting the same CA. */
function dataTls(
  tls: TlsClientFiles | undefined,
): { server: TlsServerFiles; client: TlsClientFiles } | undefined {
  if (tls?.certFile === undefined || tls.keyFile === undefined) return undefined;
  return {
    server: { certFile: tls.certFile, keyFile: tls.keyFile, caFile: tls.caFile },
    client: { caFile: tls.caFile, certFile: tls.certFile, keyFile: tls.keyFile },
  };
}

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/**
 * An attempt whose start waits (for the previous one to be gone, for the job to be planned):
 * messages that arrive meanwhile are applied once it runs, a cancel before then means it never does.
 */
function deferredAttempt(
  attempt: number,
  start: (isCancelled: () => boolean) => Promise<TaskManagerAttempt | undefined>,
  onError: (error: Error) => void,
): TaskManagerAttempt {
  let running: TaskManagerAttempt | undefined;
  let cancelled = false;
  const queued: Array<(a: TaskManagerAttempt) => void> = [];
  const apply = (action: (a: TaskManagerAttempt) => void): void => {
    if (running !== undefined) action(running);
    else queued.push(action);
  };
  const done = (async (): Promise<void> => {
    let started: TaskManagerAttempt | undefined;
    try {
      started = await start(() => cancelled);
    } catch (error) {
      onError(error instanceof Error ? error : new Error(String(error)));
      return;
    }
    if (started === undefined) return;
    running = started;
    if (cancelled) started.cancel();
    for (const action of queued.splice(0)) action(started);
    await started.done;
  })();
  return {
    attempt,
    peers: (addresses) => apply((a) => a.peers(addresses)),
    triggerCheckpoint: (checkpointId) => apply((a) => a.triggerCheckpoint(checkpointId)),
    toSlot: (slotIndex, message) => apply((a) => a.toSlot(slotIndex, message)),
    cancel() {
      cancelled = true;
      running?.cancel();
    },
    terminateSlot: (slotIndex) => apply((a) => a.terminateSlot(slotIndex)),
    done,
  };
}
