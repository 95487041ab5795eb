// Loads one job module in a plain worker thread — Node's own loader, not vitest's — and posts
// the job's name, or the error's class, code and message.
import { parentPort, workerData } from 'node:worker_threads';
import { loadJob } from './job-loader.ts';

const { url } = workerData as { url: string };
try {
  const job = await loadJob(url);
  parentPort!.postMessage({ name: job.config.name });
} catch (error) {
  const e = error as Error & { code?: string };
  parentPort!.postMessage({ error: { name: e.name, code: e.code, message: e.message } });
}
