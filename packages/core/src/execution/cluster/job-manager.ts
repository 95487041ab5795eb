/**
 * The job manager's side of a cluster for one job run: the control port task managers register
 * at and, for a local cluster, the task-manager child processes. `execution/run-job.ts` runs its
 * attempts on the slots registered here instead of on threads of its own.
 */
import { randomBytes } from 'node:crypto';
import { checkClusterSecret } from '../../channels/tcp/secret.ts';
import type { Logger } from '../../contracts/logger.ts';
import { ConfigError } from '../../errors.ts';
import type { ClusterOptions } from '../job-options.ts';
import { LocalCluster } from './local-cluster.ts';
import { TaskManagerRegistry } from './task-manager-registry.ts';

export interface JobManagerCluster {
  readonly registry: TaskManagerRegistry;
  /** Where task managers register. */
  readonly address: { readonly host: string; readonly port: number };
  /** A local cluster's task managers, running now. */
  taskManagerPids(): readonly number[];
  /** Tells the task managers the job ended, closes the port, stops a local cluster's children. */
  close(ended: 'finished' | 'failed' | 'cancelled'): Promise<void>;
}

export async function startJobManagerCluster(
  spec: ClusterOptions,
  job: { readonly jobName: string; readonly slotsNeeded: number; readonly logger: Logger },
): Promise<JobManagerCluster> {
  const { jobName, slotsNeeded, logger } = job;
  if ('listen' in spec) {
    if (spec.expectedSlots !== undefined && spec.expectedSlots < slotsNeeded) {
      throw new ConfigError(
        `job '${jobName}' needs ${slotsNeeded} slots (its highest parallelism), and its task managers offer ${spec.expectedSlots} (--expected-slots; for sluice run: --task-managers × --slots-per-task-manager)`,
      );
    }
    const registry = await TaskManagerRegistry.listen({
      jobName,
      secret: checkClusterSecret(spec.secret),
      host: spec.listen.host,
      port: spec.listen.port,
      tls: spec.tls,
      logger,
    });
    return {
      registry,
      address: registry.address,
      taskManagerPids: () => [],
      close: (ended) => registry.close(ended),
    };
  }
  // By default as few slots per process as hold the job: one when there are enough processes.
  const slotsPerTaskManager = spec.slotsPerTaskManager ?? Math.ceil(slotsNeeded / spec.taskManagers);
  if (spec.taskManagers * slotsPerTaskManager < slotsNeeded) {
    throw new ConfigError(
      `option "cluster": ${spec.taskManagers} task manager${spec.taskManagers > 1 ? 's' : ''} × ${slotsPerTaskManager} slot${slotsPerTaskManager > 1 ? 's' : ''} cannot run job '${jobName}', which needs ${slotsNeeded} slots (its highest parallelism)`,
    );
  }
  // A secret of this run only: the children get it in their environment.
  const secret = Buffer.from(randomBytes(32).toString('hex'));
  const registry = await TaskManagerRegistry.listen({ jobName, secret, host: '127.0.0.1', port: 0, logger });
  const local = new LocalCluster({
    taskManagers: spec.taskManagers,
    slotsPerTaskManager,
    jobManager: registry.address,
    secret,
    logger,
    logLevel: 'warn',
    onCrashLoop: (error) => registry.fail(new ConfigError(error.message)),
  });
  return {
    registry,
    address: registry.address,
    taskManagerPids: () => local.pids,
    async close(ended) {
      // Told the job ended, the task managers exit by themselves: not a crash to restart them from.
      local.ending();
      await registry.close(ended);
      await local.stop();
    },
  };
}
