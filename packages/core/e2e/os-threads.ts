import { readFileSync } from 'node:fs';

/** The OS threads of this process (Linux): worker threads included, whatever created them. */
export function osThreadCount(): number {
  const match = /Threads:\s+(\d+)/.exec(readFileSync('/proc/self/status', 'utf8'));
  if (match === null) throw new Error('cannot read the thread count from /proc/self/status');
  return Number(match[1]);
}

/** Waits until the thread count is back to `baseline` (threads end asynchronously after terminate). */
export async function expectThreadsBackTo(baseline: number, timeoutMs = 5_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (osThreadCount() > baseline) {
    if (Date.now() > deadline)
      throw new Error(`threads still alive: ${osThreadCount()} > baseline ${baseline}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

/**
 * The thread count once the process has run one job: libuv's thread pool and loader threads
 * start lazily on first use and stay, so they belong in the baseline.
 */
export async function warmThreadBaseline(stateBackend: 'heap' | 'leveldb' = 'heap'): Promise<number> {
  const { runJob } = await import('@sluice/core');
  // LevelDB starts one background (compaction) thread per process on first use, and keeps it.
  await runJob(new URL('./jobs/basic-pipeline.ts', import.meta.url), {
    parallelism: 2,
    args: { input: [1, 2, 3] },
    stateBackend: stateBackend === 'heap' ? 'heap' : { kind: 'leveldb' },
  });
  await new Promise((resolve) => setTimeout(resolve, 200));
  return osThreadCount();
}
