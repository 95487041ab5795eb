import { pathToFileURL } from 'node:url';
import { isJobDefinition, type JobDefinition } from '../api/job.ts';
import { ConfigError } from '../errors.ts';

/** A job module given as a URL, a file URL string, or a path. */
export type JobModuleRef = URL | string;

export function jobModuleUrl(ref: JobModuleRef): string {
  if (ref instanceof URL) return ref.href;
  if (typeof ref !== 'string' || ref.length === 0)
    throw new ConfigError('job module: expected a URL or a path');
  return /^[a-z][a-z0-9+.-]*:/i.test(ref) && !/^[a-z]:[\\/]/i.test(ref) ? ref : pathToFileURL(ref).href;
}

let typeScriptLoaderRegistered = false;

/** TypeScript jobs run without a build step: tsx's loader is registered once per thread. */
async function ensureTypeScriptLoader(): Promise<void> {
  if (typeScriptLoaderRegistered) return;
  const { register } = await import('tsx/esm/api');
  register();
  typeScriptLoaderRegistered = true;
}

export async function loadJob(url: string): Promise<JobDefinition<unknown>> {
  if (/\.[cm]?tsx?$/.test(new URL(url).pathname)) await ensureTypeScriptLoader();
  let module: { default?: unknown };
  try {
    module = (await import(url)) as { default?: unknown };
  } catch (error) {
    throw new ConfigError(`cannot load job module ${url}: ${(error as Error).message}`, { cause: error });
  }
  if (!isJobDefinition(module.default)) {
    throw new ConfigError(
      `job module ${url} must export a job as its default export: export default defineJob({ name }, (env) => { ... })`,
    );
  }
  return module.default;
}
