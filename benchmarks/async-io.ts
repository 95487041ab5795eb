/**
 * Async I/O: a job enriching each record from a local HTTP service (127.0.0.1 only) that answers
 * after a random 1–20 ms, against an await-per-record loop over the same service, in the same run.
 * The output is checked inside the benchmark: every id exactly once with the service's value, and
 * in ordered mode each subtask's results in input order.
 *
 *   pnpm --filter @sluice/benchmarks async-io [records] [parallelism] [capacity]
 *
 * `bench.ts` runs it in a child process (`--json` prints the result as the last line).
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { runJob } from '@sluice/core';
import { type AsyncEnrichArgs, type Enriched, lookup } from './jobs/async-enrich.ts';

export interface AsyncIoRun {
  readonly mode: 'ordered' | 'unordered';
  readonly records: number;
  readonly parallelism: number;
  readonly capacity: number;
  readonly seconds: number;
  readonly recordsPerSecond: number;
  readonly ratioToLoop: number;
}

export interface AsyncIoResult {
  readonly loop: { readonly records: number; readonly seconds: number; readonly recordsPerSecond: number };
  readonly runs: readonly AsyncIoRun[];
  readonly latencyMs: { readonly min: number; readonly max: number };
}

const MIN_LATENCY_MS = 1;
const MAX_LATENCY_MS = 20;

/** The service's value for an id (what the output is checked against). */
const serviceValue = (id: number): number => (Math.imul(id, 2654435761) >>> 0) % 1_000_003;

/** A pseudo-random latency per request, 1–20 ms, from a seeded generator. */
function latencies(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (Math.imul(state ^ (state >>> 15), 0x2c1b3c6d) + 0x9e3779b9) >>> 0;
    return MIN_LATENCY_MS + (state % (MAX_LATENCY_MS - MIN_LATENCY_MS + 1));
  };
}

/** When the service saw the first request and sent the last answer of a run (performance.now() ms). */
interface Window {
  first: number;
  last: number;
}

/**
 * The lookup service: GET /lookup?id=N answers serviceValue(N) as text after a random 1–20 ms.
 * It also times each run: from the first request it receives to the last answer it sends, so
 * the figures cover the lookups of the loop and of the job alike, and not the job's worker
 * start-up (which a long-running job pays once).
 */
async function startService(): Promise<{ server: Server; port: number; window: Window }> {
  const nextLatency = latencies(42);
  const window: Window = { first: Number.NaN, last: Number.NaN };
  const server = createServer((request, response) => {
    if (Number.isNaN(window.first)) window.first = performance.now();
    const id = Number(new URL(request.url ?? '/', 'http://127.0.0.1').searchParams.get('id'));
    if (!Number.isInteger(id)) {
      response.writeHead(400).end('bad id');
      return;
    }
    setTimeout(() => {
      response.end(String(serviceValue(id)));
      window.last = performance.now();
    }, nextLatency());
  });
  server.keepAliveTimeout = 60_000;
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { server, port: (server.address() as AddressInfo).port, window };
}

/** The baseline: one record at a time, awaiting each lookup before the next. */
async function awaitPerRecordLoop(
  port: number,
  window: Window,
  records: number,
): Promise<AsyncIoResult['loop']> {
  const out: { id: number; value: number }[] = [];
  for (let id = 0; id < 20; id++) await lookup(port, id); // warm-up: connection, JIT
  window.first = Number.NaN;
  for (let id = 0; id < records; id++) out.push({ id, value: await lookup(port, id) });
  const seconds = (window.last - window.first) / 1000;
  for (const { id, value } of out)
    if (value !== serviceValue(id)) throw new Error(`loop: wrong value for id ${id}`);
  return { records, seconds, recordsPerSecond: records / seconds };
}

/** Checks the job's output against the service: every id once, its value, and the order per subtask. */
function checkOutput(output: readonly Enriched[], records: number, ordered: boolean): void {
  if (output.length !== records)
    throw new Error(`async I/O: ${output.length} results for ${records} records`);
  const seen = new Uint8Array(records);
  const lastIdOf = new Map<number, number>();
  for (const { id, value, subtask } of output) {
    if (!(id >= 0 && id < records) || seen[id] === 1) throw new Error(`async I/O: id ${id} missing or twice`);
    seen[id] = 1;
    if (value !== serviceValue(id)) throw new Error(`async I/O: wrong value for id ${id}`);
    if (ordered) {
      const last = lastIdOf.get(subtask) ?? -1;
      if (id <= last)
        throw new Error(`async I/O, ordered: subtask ${subtask} emitted id ${id} after ${last}`);
      lastIdOf.set(subtask, id);
    }
  }
}

export async function runAsyncIoBenchmark(options: {
  readonly records: number;
  readonly loopRecords: number;
  readonly parallelism: number;
  readonly capacity: number;
}): Promise<AsyncIoResult> {
  const { server, port, window } = await startService();
  try {
    const loop = await awaitPerRecordLoop(port, window, options.loopRecords);
    const runs: AsyncIoRun[] = [];
    for (const ordered of [true, false]) {
      const args: AsyncEnrichArgs = { port, records: options.records, ordered, capacity: options.capacity };
      window.first = Number.NaN;
      const result = await runJob<AsyncEnrichArgs>(new URL('./jobs/async-enrich.ts', import.meta.url), {
        parallelism: options.parallelism,
        args,
      });
      const seconds = (window.last - window.first) / 1000;
      checkOutput(result.collected<Enriched>('enriched'), options.records, ordered);
      const recordsPerSecond = options.records / seconds;
      runs.push({
        mode: ordered ? 'ordered' : 'unordered',
        records: options.records,
        parallelism: options.parallelism,
        capacity: options.capacity,
        seconds,
        recordsPerSecond,
        ratioToLoop: recordsPerSecond / loop.recordsPerSecond,
      });
    }
    return { loop, runs, latencyMs: { min: MIN_LATENCY_MS, max: MAX_LATENCY_MS } };
  } finally {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  }
}

export function formatAsyncIoResult(result: AsyncIoResult): string {
  const rate = (n: number) => Math.round(n).toLocaleString('en-US');
  const lines = [
    `  await-per-record loop: ${result.loop.records} records in ${result.loop.seconds.toFixed(2)} s, ${rate(result.loop.recordsPerSecond)} records/s`,
  ];
  for (const r of result.runs) {
    lines.push(
      `  mapAsync ${r.mode.padEnd(9)} p=${r.parallelism} capacity ${r.capacity}: ${r.records.toLocaleString('en-US')} records in ${r.seconds.toFixed(2)} s, ` +
        `${rate(r.recordsPerSecond)} records/s, ${r.ratioToLoop.toFixed(1)}x loop (output exact${r.mode === 'ordered' ? ', order kept' : ''})`,
    );
  }
  return lines.join('\n');
}

/** The target: at least 10x the await-per-record loop, in both modes, output exact. */
export function asyncIoTarget(result: AsyncIoResult | undefined): {
  name: string;
  measured: string;
  pass: boolean;
} {
  const name =
    'async I/O enrichment (local HTTP, 1-20 ms) at p=2 >= 10x an await-per-record loop, output exact, order kept (ordered)';
  if (result === undefined || result.runs.length === 0)
    return { name, measured: 'not measured', pass: false };
  return {
    name,
    measured: result.runs.map((r) => `${r.mode} ${r.ratioToLoop.toFixed(1)}x`).join(', '),
    pass: result.runs.every((r) => r.ratioToLoop >= 10),
  };
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const positional = process.argv.slice(2).filter((a) => !a.startsWith('--'));
  const result = await runAsyncIoBenchmark({
    records: Number(positional[0] ?? 20_000),
    loopRecords: Number(process.env.SLUICE_BENCH_LOOP_RECORDS ?? 300),
    parallelism: Number(positional[1] ?? 2),
    capacity: Number(positional[2] ?? 100),
  });
  console.log(
    `async I/O: lookups from a local HTTP service answering after ${result.latencyMs.min}-${result.latencyMs.max} ms, node ${process.version}`,
  );
  console.log(formatAsyncIoResult(result));
  // For bench.ts, which runs this in a child process: the result as the last line.
  if (process.argv.includes('--json')) console.log(JSON.stringify(result));
}
