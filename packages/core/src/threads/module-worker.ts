import { Worker, type WorkerOptions } from 'node:worker_threads';

/**
 * The URL of the module `name` (without extension) in the folder of the module at `base`
 * (`import.meta.url`), with base's own extension. From the sources (`.ts`, run by Node's type
 * stripping, vitest or tsx) that is `.ts`; from the built package it is `.js` — a URL string is
 * not an import, so the compiler's extension rewriting never sees it.
 */
export function siblingModule(name: string, base: string): URL {
  const extension = /\.[cm]?ts$/.test(new URL(base).pathname) ? '.ts' : '.js';
  return new URL(`${name}${extension}`, base);
}

/**
 * Starts a worker thread running the ES module `entry`, with `data` as its `workerData`.
 * `transferList` moves ports listed in `data` into the thread. Node (22.18+) strips the types of
 * a `.ts` entry itself, so the same call serves the sources and the built package.
 */
export function startModuleWorker(
  entry: URL,
  data: object,
  options: Pick<WorkerOptions, 'transferList' | 'name'> = {},
): Worker {
  return new Worker(entry, { ...options, workerData: data });
}
