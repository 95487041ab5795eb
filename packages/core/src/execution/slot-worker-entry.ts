/**
 * What piscina loads in each worker thread. On Node 20 a `--import` loader passed in a worker's
 * execArgv does not apply inside the worker, so piscina loads this file through tsx's CommonJS
 * hook (`--require`), and this file registers tsx's ESM loader in the thread and imports the real
 * worker as ESM: the runtime and the job module then share one module graph.
 */
export default async function runSlotEntry(assignment: unknown): Promise<unknown> {
  const { register } = await import('tsx/esm/api');
  register();
  const worker = (await import(new URL('./slot-worker.ts', import.meta.url).href)) as {
    default: (assignment: unknown) => Promise<unknown>;
  };
  return worker.default(assignment);
}
