import { ConfigError } from '../errors.ts';
import { describePlan } from '../plan/execution-plan.ts';
import { planData, planToDot, planToMermaid } from '../plan/plan-formats.ts';
import { type JobModuleRef, jobModuleUrl, loadJob } from './job-loader.ts';
import { type PlannedJob, planJob } from './planner.ts';

/** How `explainJob` prints a plan: text for people, JSON for tools, DOT (Graphviz) or Mermaid to draw it. */
export type PlanFormat = 'text' | 'json' | 'dot' | 'mermaid';

export const PLAN_FORMATS: readonly PlanFormat[] = ['text', 'json', 'dot', 'mermaid'];

/** The physical plan of a job: tasks (chains), parallelism, partitioning, in `format` (default text). Runs nothing. */
export async function explainJob(
  module: JobModuleRef,
  options: {
    parallelism?: number;
    maxParallelism?: number;
    args?: unknown;
    format?: PlanFormat;
    localAggregation?: boolean;
  } = {},
): Promise<string> {
  const format = options.format ?? 'text';
  if (!PLAN_FORMATS.includes(format)) {
    throw new ConfigError(`plan format must be one of ${PLAN_FORMATS.join(', ')}, got "${String(format)}"`);
  }
  const job = await loadJob(jobModuleUrl(module));
  const planned = planJob(job, options.args, {
    parallelism: options.parallelism ?? 1,
    ...(options.maxParallelism === undefined ? {} : { maxParallelism: options.maxParallelism }),
    ...(options.localAggregation === undefined ? {} : { localAggregation: options.localAggregation }),
  });
  return formatPlan(planned, format);
}

/** A planned job in one of the plan formats. */
export function formatPlan(planned: PlannedJob, format: PlanFormat): string {
  if (format === 'text') return describePlan(planned.plan);
  const data = planData(
    planned.streamGraph,
    planned.plan,
    planned.env.nodes.map((n) => n.uid),
  );
  switch (format) {
    case 'json':
      return JSON.stringify(data, null, 2);
    case 'dot':
      return planToDot(data);
    case 'mermaid':
      return planToMermaid(data);
  }
}
