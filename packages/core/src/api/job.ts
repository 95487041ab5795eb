import { ConfigError } from '../errors.ts';
import type { StreamExecutionEnvironment } from './environment.ts';

export interface JobConfig {
  /** Shown in logs, errors and metrics. */
  readonly name: string;
}

/**
 * Builds the job's graph. Called once in the process that runs the job and once in every worker,
 * so it must be deterministic: the same `args` must build the same graph.
 */
export type JobBuilder<A> = (env: StreamExecutionEnvironment, args: A) => void;

export interface JobDefinition<A = undefined> {
  readonly kind: 'sluice.job';
  readonly config: JobConfig;
  readonly build: JobBuilder<A>;
}

/**
 * Declares a job; make it the default export of its module. `args` are plain data
 * (structured-cloneable) given to `runJob` or on the command line.
 */
export function defineJob<A = undefined>(config: JobConfig, build: JobBuilder<A>): JobDefinition<A> {
  if (
    config === null ||
    typeof config !== 'object' ||
    typeof config.name !== 'string' ||
    config.name.length === 0
  ) {
    throw new ConfigError('defineJob: config.name must be a non-empty string');
  }
  if (typeof build !== 'function') {
    throw new ConfigError(
      `defineJob '${config.name}': the second argument must be the function that builds the graph`,
    );
  }
  return { kind: 'sluice.job', config: { ...config }, build };
}

export function isJobDefinition(value: unknown): value is JobDefinition<unknown> {
  return (
    value !== null &&
    typeof value === 'object' &&
    (value as { kind?: unknown }).kind === 'sluice.job' &&
    typeof (value as { build?: unknown }).build === 'function'
  );
}
