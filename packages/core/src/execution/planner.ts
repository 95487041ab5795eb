import { createHash } from 'node:crypto';
import { StreamExecutionEnvironment } from '../api/environment.ts';
import type { JobDefinition } from '../api/job.ts';
import { ConfigError } from '../errors.ts';
import { buildExecutionPlan, describePlan, type ExecutionPlan } from '../plan/execution-plan.ts';
import { buildJobGraph } from '../plan/job-graph.ts';
import { resolveStreamGraph, type StreamGraph } from '../plan/stream-graph.ts';
import { DEFAULT_MAX_PARALLELISM } from '../state/key-groups.ts';

export interface PlannedJob {
  readonly env: StreamExecutionEnvironment;
  readonly streamGraph: StreamGraph;
  readonly plan: ExecutionPlan;
  /** Identifies the graph; every worker checks that it rebuilt the same one. */
  readonly fingerprint: string;
}

export interface PlanOptions {
  readonly parallelism: number;
  readonly maxParallelism?: number;
  readonly chaining?: boolean;
  /** Pre-aggregate eligible windows' input before their exchange (default true). */
  readonly localAggregation?: boolean;
}

/** Runs the job's build function and plans the result. Deterministic for the same job, args and options. */
export function planJob(job: JobDefinition<unknown>, args: unknown, options: PlanOptions): PlannedJob {
  const env = new StreamExecutionEnvironment(
    job.config.name,
    options.parallelism,
    options.maxParallelism ?? DEFAULT_MAX_PARALLELISM,
  );
  try {
    job.build(env, args);
  } catch (error) {
    if (error instanceof Error && 'code' in error) throw error;
    throw new ConfigError(
      `job '${job.config.name}': its build function threw: ${(error as Error)?.message ?? String(error)}`,
      {
        cause: error,
      },
    );
  }
  const streamGraph = resolveStreamGraph(env);
  const plan = buildExecutionPlan(
    buildJobGraph(streamGraph, {
      chaining: options.chaining ?? true,
      localAggregation: options.localAggregation ?? true,
    }),
  );
  const fingerprint = createHash('sha256')
    .update(describePlan(plan))
    .update(streamGraph.nodes.map((n) => `${n.id}|${n.kind}|${n.parallelism}`).join('\n'))
    .digest('hex')
    .slice(0, 16);
  return { env, streamGraph, plan, fingerprint };
}
