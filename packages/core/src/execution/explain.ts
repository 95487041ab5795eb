import { describePlan } from '../plan/execution-plan.ts';
import { type JobModuleRef, jobModuleUrl, loadJob } from './job-loader.ts';
import { planJob } from './planner.ts';

/** The physical plan of a job as text: tasks (chains), parallelism, partitioning. Runs nothing. */
export async function explainJob(
  module: JobModuleRef,
  options: { parallelism?: number; maxParallelism?: number; args?: unknown; localAggregation?: boolean } = {},
): Promise<string> {
  const job = await loadJob(jobModuleUrl(module));
  const planned = planJob(job, options.args, {
    parallelism: options.parallelism ?? 1,
    ...(options.maxParallelism === undefined ? {} : { maxParallelism: options.maxParallelism }),
    ...(options.localAggregation === undefined ? {} : { localAggregation: options.localAggregation }),
  });
  return describePlan(planned.plan);
}
