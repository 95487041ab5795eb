/**
 * A query with V8's sampling heap profiler on in every slot thread, run by hand to see what
 * becomes old-generation garbage (not a query of the suite):
 *
 *   HEAP_PROFILE_QUERY=q5 node benchmarks/slow-sink.ts heap-profiled 10000000
 *
 * Each slot thread samples allocations (one per 16 KiB) from when it imports the job, keeping
 * the samples of objects collected by full (mark-compact) collections as well as live ones, and
 * drops those collected young: what it writes is what was promoted, live or dead. After
 * `HEAP_PROFILE_MS` (default 6000) it writes `<HEAP_PROFILE_DIR or tmpdir>/heap-<threadId>.heapprofile`,
 * which Chrome DevTools opens (Memory tab, load profile).
 */
import { writeFileSync } from 'node:fs';
import { Session } from 'node:inspector';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { isMainThread, threadId } from 'node:worker_threads';

const query = process.env.HEAP_PROFILE_QUERY ?? 'q5';
const job = ((await import(`./${query}.ts`)) as { default: unknown }).default;

if (!isMainThread) {
  const session = new Session();
  session.connect();
  session.post('HeapProfiler.enable');
  session.post('HeapProfiler.startSampling', {
    samplingInterval: 16_384,
    includeObjectsCollectedByMajorGC: true,
    includeObjectsCollectedByMinorGC: false,
  } as never);
  setTimeout(
    () => {
      session.post('HeapProfiler.stopSampling', (error, result) => {
        if (error !== null) throw error;
        const file = join(process.env.HEAP_PROFILE_DIR ?? tmpdir(), `heap-${threadId}.heapprofile`);
        writeFileSync(file, JSON.stringify(result.profile));
        console.error(`heap profile of slot thread ${threadId}: ${file}`);
      });
    },
    Number(process.env.HEAP_PROFILE_MS ?? 6000),
  ).unref();
}

export default job;
