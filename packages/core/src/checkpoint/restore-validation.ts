import { ConfigError } from '../errors.ts';
import type { CheckpointMetadata } from './metadata.ts';

/**
 * Before a job resumes from a checkpoint or savepoint: the key groups must mean the same thing
 * (same maxParallelism), and every piece of state must find its operator (by id: set `uid`s on
 * stateful operators so that code changes keep them) unless dropping it was allowed.
 */
export function validateRestore(
  metadata: CheckpointMetadata,
  job: { readonly maxParallelism: number; readonly operatorIds: ReadonlySet<string> },
  options: { readonly allowNonRestoredState: boolean; readonly folder: string },
): void {
  if (metadata.maxParallelism !== job.maxParallelism) {
    throw new ConfigError(
      `cannot restore ${options.folder}: it was taken with maxParallelism ${metadata.maxParallelism}, the job now has ${job.maxParallelism}; keyed state is stored by key group, so set maxParallelism to ${metadata.maxParallelism}`,
    );
  }
  const unclaimed = Object.keys(metadata.operators).filter((id) => !job.operatorIds.has(id));
  if (unclaimed.length > 0 && !options.allowNonRestoredState) {
    throw new ConfigError(
      `cannot restore ${options.folder}: it holds state of operator${unclaimed.length > 1 ? 's' : ''} ${unclaimed.map((id) => `'${id}'`).join(', ')} that the job no longer has (give stateful operators a uid() so that edits keep their ids), or pass allowNonRestoredState to drop that state`,
    );
  }
}
