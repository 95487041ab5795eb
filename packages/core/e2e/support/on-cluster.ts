/**
 * Setup of the `e2e-cluster-*` test projects (vitest.config.ts): the same end-to-end tests, with
 * every `runJob`/`startJob` of parallelism 2 or more run on task-manager processes instead of
 * threads of the test's process — a session cluster of `SLUICE_E2E_CLUSTER` (e.g. `4x1`: four
 * task managers of one slot, `2x2`), started once per test file. The tests and their plain-loop
 * answers are unchanged: the point is that the answers are the same across processes.
 * Jobs of parallelism 1 (one slot, nothing crosses a process) and jobs that need more slots than
 * the cluster has stay on threads; so do jobs whose arguments share memory with the test (crash
 * counters in a SharedArrayBuffer) and tests on the JobTestDriver (simulated time is shared
 * memory of one process).
 */
import { afterAll, vi } from 'vitest';
import { checkPortableArgs } from '../../src/execution/cluster/portable-args.ts';
import {
  type SessionCluster,
  startSessionCluster,
} from '../../src/execution/cluster/testing/session-cluster.ts';

/** Arguments that share memory with the test (crash counters) cannot go to another process. */
function portable(args: unknown): boolean {
  try {
    checkPortableArgs(args);
    return true;
  } catch {
    return false;
  }
}

const shape = /^(\d+)x(\d+)$/.exec(process.env.SLUICE_E2E_CLUSTER ?? '');
if (shape === null)
  throw new Error(
    `SLUICE_E2E_CLUSTER must be <task managers>x<slots>, got '${process.env.SLUICE_E2E_CLUSTER}'`,
  );
const taskManagers = Number(shape[1]);
const slotsPerTaskManager = Number(shape[2]);
const slots = taskManagers * slotsPerTaskManager;

let session: Promise<SessionCluster> | undefined;
let runsOnCluster = 0;
afterAll(async () => {
  await (await session)?.close();
  // A file in the cluster projects that ran nothing on processes tests nothing there: say so.
  if (runsOnCluster === 0) {
    throw new Error('no job of this file ran on the cluster: take it out of ON_CLUSTERS (vitest.config.ts)');
  }
});

vi.mock('@sluice/core', async (importOriginal) => {
  const core = await importOriginal<typeof import('@sluice/core')>();
  type Options = NonNullable<Parameters<typeof core.startJob>[1]>;
  const onCluster = async (options: Options | undefined): Promise<Options> => {
    const parallelism = options?.parallelism ?? 1;
    if (
      options?.cluster !== undefined ||
      parallelism < 2 ||
      parallelism > slots ||
      !portable(options?.args)
    ) {
      return options ?? {};
    }
    session ??= startSessionCluster({ taskManagers, slotsPerTaskManager });
    runsOnCluster++;
    return { ...options, cluster: (await session).cluster };
  };
  return {
    ...core,
    runJob: async (job: Parameters<typeof core.runJob>[0], options?: Options) =>
      core.runJob(job, await onCluster(options)),
    startJob: async (job: Parameters<typeof core.startJob>[0], options?: Options) =>
      core.startJob(job, await onCluster(options)),
  };
});
