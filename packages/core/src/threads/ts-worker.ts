import { Worker, type WorkerOptions } from 'node:worker_threads';

// Node 20 does not apply `--import tsx` from a Worker's execArgv to the worker's own modules, so
// the worker starts from a tiny CommonJS bootstrap that registers tsx and then imports the entry.
// (`require.resolve` would pick tsx's CommonJS build, whose register() fails to find its hooks.)
const tsxApiUrl = import.meta.resolve('tsx/esm/api');
const bootstrap = `
const { workerData } = require('node:worker_threads');
import(workerData.tsxApiUrl)
  .then((tsx) => { tsx.register(); return import(workerData.entryUrl); })
  .catch((error) => { process.nextTick(() => { throw error; }); });
`;

/**
 * Starts a worker thread running the TypeScript module `entry`, with `data` as its `workerData`
 * (plus two bootstrap fields). `transferList` moves ports listed in `data` into the thread.
 */
export function startTsWorker(
  entry: URL,
  data: object,
  options: Pick<WorkerOptions, 'transferList' | 'name'> = {},
): Worker {
  return new Worker(bootstrap, {
    ...options,
    eval: true,
    workerData: { ...data, tsxApiUrl, entryUrl: entry.href },
  });
}
