import { Worker } from 'node:worker_threads';

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
 * For tests: runs a TypeScript module in a worker thread with `data` as its `workerData`, and
 * resolves with the one message it posts, once it has exited cleanly.
 */
export function runTsWorker<T>(entry: URL, data: object, what = 'test worker'): Promise<T> {
  const worker = new Worker(bootstrap, {
    eval: true,
    workerData: { ...data, tsxApiUrl, entryUrl: entry.href },
  });
  return new Promise<T>((resolve, reject) => {
    let message: { value: T } | undefined;
    worker.once('message', (value: T) => {
      message = { value };
    });
    worker.once('error', reject);
    worker.once('exit', (code) => {
      if (code === 0 && message !== undefined) resolve(message.value);
      else
        reject(
          new Error(`${what} exited with code ${code}${message === undefined ? ' without a result' : ''}`),
        );
    });
  });
}
