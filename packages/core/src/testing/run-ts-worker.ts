import { startModuleWorker } from '../threads/module-worker.ts';

/**
 * For tests: runs a TypeScript module in a worker thread with `data` as its `workerData`, and
 * resolves with the one message it posts, once it has exited cleanly.
 */
export function runTsWorker<T>(entry: URL, data: object, what = 'test worker'): Promise<T> {
  const worker = startModuleWorker(entry, data);
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
