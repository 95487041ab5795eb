/**
 * The benchmark suite: Nexmark queries as Sluice jobs at parallelism 1 and 2 against the same
 * computation as a plain single-threaded loop (and, for q0, q1, q2, q5 and q7, as RxJS and Node
 * stream pipelines), end-to-end latency through a rebalance at half the maximum sustained rate,
 * peak memory with a slow sink, the same jobs on 2 task-manager processes against one process
 * (cluster.ts), and the micro-benchmarks. Every figure comes with its ratio to
 * the plain loop of the same query measured in the same run; the issue's targets are printed as
 * PASS or MISS with the measured figure (they never fail the run: a thrown error does).
 *
 *   pnpm bench            full run (~8 min on 2 cores): benchmarks/results/latest.{json,md}, throughput.svg
 *   pnpm bench --quick    smoke run (~2 min): the same into benchmarks/results/quick/ (not committed)
 *
 * Each measurement runs in a child process of its own; see suite/contestant.ts.
 */
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { cpus, loadavg, type as osType, release, totalmem } from 'node:os';
import { fileURLToPath } from 'node:url';
import type { ExecutionConfig } from '@sluice/core';
import { type AsyncIoResult, asyncIoTarget, formatAsyncIoResult } from './async-io.ts';
import {
  CLUSTER_QUERIES,
  type ClusterQuery,
  type ClusterResults,
  clusterSettings,
  clusterTargets,
  LOOP_OF,
  runClusterBenchmarks,
} from './cluster.ts';
import {
  formatObservabilityRow,
  OBSERVED_QUERIES,
  type ObservabilityRow,
  observabilityRow,
  observabilityTargets,
  SCRAPE_EVERY_MS,
} from './observability.ts';
import { renderThroughputSvg } from './suite/chart.ts';
import type { ContestantResult, ContestantSpec } from './suite/contestant.ts';
import {
  type ContestantName,
  evaluateTargets,
  keyedPathTargets,
  type LatencyRow,
  type MemoryRow,
  type MicroRow,
  markdownReport,
  millions,
  type SuiteResult,
  type ThroughputRow,
  throughputRow,
} from './suite/report.ts';
import { runChild } from './suite/run-child.ts';

const quick = process.argv.includes('--quick');
const here = new URL('.', import.meta.url);
const outDir = new URL(quick ? 'results/quick/' : 'results/', here);
const queryUrl = (name: string): string => new URL(`nexmark/queries/${name}.ts`, here).href;

/** Events per run of each query (full mode): each run lasts several seconds on 2 cores. */
const FULL_EVENTS: Record<string, number> = {
  q0: 20_000_000,
  q1: 20_000_000,
  q2: 20_000_000,
  q3: 10_000_000,
  q4: 5_000_000,
  q5: 5_000_000,
  q7: 10_000_000,
  q8: 10_000_000,
  q9: 4_000_000,
  q11: 2_000_000,
};
const QUICK_EVENTS = 200_000;
/** Share of each run's events that is warm-up, not measured. */
const WARMUP_SHARE = quick ? 0.2 : 0.1;
const PEER_QUERIES = new Set(['q0', 'q1', 'q2', 'q5', 'q7']);
const REBALANCE = ['q1-rebalance', 'q2-rebalance'] as const;
const LATENCY = quick
  ? { leadMs: 2000, warmupMs: 1000, measureMs: 2000 }
  : { leadMs: 2000, warmupMs: 2000, measureMs: 10_000 };
/** The slow sink costs this many times the plain loop's time per event, per record. */
const SLOWDOWN = 100;
const MEMORY_EVENTS = quick ? { q5: 500_000, rebalance: 40_000 } : { q5: 10_000_000, rebalance: 400_000 };

const queries = Object.keys(FULL_EVENTS).filter((q) => existsSync(fileURLToPath(queryUrl(q))));
const eventsOf = (query: string): number => (quick ? QUICK_EVENTS : (FULL_EVENTS[query] ?? 2_000_000));

/** The commit measured, with `+changes` when the working tree differs from it. */
function gitCommit(): string {
  try {
    const options = { cwd: fileURLToPath(here), encoding: 'utf8' } as const;
    const commit = execFileSync('git', ['rev-parse', '--short', 'HEAD'], options).trim();
    const dirty = execFileSync('git', ['status', '--porcelain', '--untracked-files=no'], options).trim();
    return dirty === '' ? commit : `${commit}+changes`;
  } catch {
    return 'unknown';
  }
}

function sluiceSpec(query: string, parallelism: number, events: number): ContestantSpec {
  return {
    kind: 'sluice',
    query,
    module: queryUrl(query),
    parallelism,
    events,
    warmupRecordsPerSubtask: Math.floor((events * WARMUP_SHARE) / parallelism),
    output: 'discard',
  };
}

function baselineSpec(kind: 'loop' | 'rxjs' | 'node-stream', query: string, events: number): ContestantSpec {
  return {
    kind,
    query,
    module: queryUrl(query),
    events,
    warmupEvents: Math.max(50_000, Math.floor(events * WARMUP_SHARE)),
  };
}

function line(row: ThroughputRow): string {
  const x = (r: number | null): string => (r === null ? '' : ` (${r.toFixed(2)}x)`);
  const ratio = row.ratioToLoop === null ? '' : `${row.ratioToLoop.toFixed(2)}x loop`;
  return (
    `  ${row.query.padEnd(13)} ${row.contestant.padEnd(12)} ${Math.round(row.eventsPerSecond).toLocaleString('en-US').padStart(11)} events/s ${ratio.padStart(11)}` +
    `  cpu ${row.cpuUsPerEvent.toFixed(2)} µs/event${x(row.cpuRatioToLoop)}  rss ${row.peakRssMB.toFixed(0)} MB${x(row.rssRatioToLoop)}` +
    `  heap ${row.heapPeakMB.toFixed(0)} MB${x(row.heapRatioToLoop)}  (${millions(row.measuredEvents)} events in ${row.measuredSeconds.toFixed(2)} s)`
  );
}

const startedAt = new Date();
const t0 = performance.now();
const loadAverageAtStart = loadavg();
console.log(
  `Sluice benchmark suite, ${quick ? 'quick' : 'full'} run: node ${process.version}, ${cpus().length} cpus, load ${loadAverageAtStart.map((l) => l.toFixed(2)).join(' ')}`,
);
console.log(`queries: ${queries.join(' ')}`);

// ---------------------------------------------------------------------------------------------
// Throughput.
console.log('\nThroughput (events/s over the measured events; ratios to the plain loop of the same query)');
const throughput: ThroughputRow[] = [];
const loops = new Map<string, ContestantResult>();
for (const query of queries) {
  const events = eventsOf(query);
  const contestants: Array<[ContestantName, ContestantSpec]> = [
    ['sluice p=1', sluiceSpec(query, 1, events)],
    ['sluice p=2', sluiceSpec(query, 2, events)],
  ];
  if (PEER_QUERIES.has(query)) {
    contestants.push(['rxjs', baselineSpec('rxjs', query, events)]);
    contestants.push(['node stream', baselineSpec('node-stream', query, events)]);
  }
  // The loop runs before the others and (full run) again after them; the faster of the two is
  // the baseline, so that a moment of contention on a shared machine cannot flatter the ratios.
  const loopRuns = [await runChild(baselineSpec('loop', query, events))];
  const results: Array<[ContestantName, ContestantResult]> = [];
  for (const [name, spec] of contestants) {
    const result = await runChild(spec);
    if (result.outputs !== loopRuns[0]!.outputs) {
      throw new Error(`${query} ${name}: ${result.outputs} outputs, the plain loop ${loopRuns[0]!.outputs}`);
    }
    results.push([name, result]);
  }
  if (!quick) loopRuns.push(await runChild(baselineSpec('loop', query, events)));
  const loop = loopRuns.reduce((a, b) => (b.eventsPerSecond > a.eventsPerSecond ? b : a));
  loops.set(query, loop);
  const loopRow = throughputRow(query, 'plain loop', loop, loop);
  const loopNote = loopRuns.map((r) => Math.round(r.eventsPerSecond).toLocaleString('en-US')).join(' and ');
  throughput.push(
    loopRuns.length > 1 ? { ...loopRow, note: `faster of two runs: ${loopNote} events/s` } : loopRow,
  );
  console.log(`${line(loopRow)}${loopRuns.length > 1 ? `  [runs: ${loopNote}]` : ''}`);
  for (const [name, result] of results) {
    const row = throughputRow(query, name, result, loop);
    throughput.push(row);
    console.log(line(row));
  }
}
// The rebalance variants (the same results as q1 and q2; their loops are q1's and q2's): their
// p=2 rate is the maximum sustained rate the latency runs take half of.
const rebalanceRates = new Map<string, number>();
for (const variant of REBALANCE) {
  const base = variant.replace('-rebalance', '');
  if (!existsSync(fileURLToPath(queryUrl(variant))) || !loops.has(base)) continue;
  const events = quick ? QUICK_EVENTS : 10_000_000;
  const result = await runChild(sluiceSpec(variant, 2, events));
  const row = throughputRow(variant, 'sluice p=2', result, loops.get(base));
  throughput.push(row);
  rebalanceRates.set(variant, result.eventsPerSecond);
  console.log(line(row));
}

// ---------------------------------------------------------------------------------------------
// Observability: the metrics and REST server off against on, back to back (observability.ts).
console.log(
  `\nMetrics and REST server off against on (p=2, scraped every ${SCRAPE_EVERY_MS} ms; ${quick ? 'one pair' : 'best of two pairs'} per query)`,
);
const observability: ObservabilityRow[] = [];
for (const query of OBSERVED_QUERIES) {
  if (!queries.includes(query)) continue;
  const events = eventsOf(query);
  let best: { off?: ContestantResult; on?: ContestantResult } = {};
  for (let pair = 0; pair < (quick ? 1 : 2); pair++) {
    const off = await runChild(sluiceSpec(query, 2, events));
    const on = await runChild({
      ...sluiceSpec(query, 2, events),
      web: { scrapeEveryMs: SCRAPE_EVERY_MS },
    } as ContestantSpec);
    if (on.outputs !== off.outputs)
      throw new Error(`${query}: ${on.outputs} outputs with the server on, ${off.outputs} off`);
    best = {
      off: best.off === undefined || off.eventsPerSecond > best.off.eventsPerSecond ? off : best.off,
      on: best.on === undefined || on.eventsPerSecond > best.on.eventsPerSecond ? on : best.on,
    };
  }
  const row = observabilityRow(query, best.off!, best.on!);
  observability.push(row);
  console.log(formatObservabilityRow(row));
}

// ---------------------------------------------------------------------------------------------
// Latency: the source releases each event at its event time; the sink records now - event time.
console.log('\nEnd-to-end latency at half the maximum sustained rate (p=2, default flush timeout)');
const latency: LatencyRow[] = [];
for (const [variant, maxRate] of rebalanceRates) {
  const ratePerSecond = Math.floor(maxRate / 2);
  const events = Math.floor((ratePerSecond * (LATENCY.warmupMs + LATENCY.measureMs)) / 1000);
  const result = await runChild({
    kind: 'sluice',
    query: variant,
    module: queryUrl(variant),
    parallelism: 2,
    events,
    warmupRecordsPerSubtask: Math.floor(events / 10),
    output: 'latency',
    latency: { ratePerSecond, leadMs: LATENCY.leadMs, warmupMs: LATENCY.warmupMs },
  });
  const l = result.latency!;
  const row: LatencyRow = {
    query: variant,
    parallelism: 2,
    ratePerSecond,
    achievedPerSecond: l.achievedPerSecond,
    maxSustainedPerSecond: maxRate,
    events,
    bufferTimeoutMs: 5,
    count: l.count,
    p50Ms: l.p50Ms,
    p95Ms: l.p95Ms,
    p99Ms: l.p99Ms,
    maxMs: l.maxMs,
    peakRssMB: result.peakRssBytes / 1024 / 1024,
  };
  latency.push(row);
  console.log(
    `  ${variant.padEnd(13)} ${Math.round(ratePerSecond).toLocaleString('en-US')} events/s (achieved ${Math.round(l.achievedPerSecond).toLocaleString('en-US')}): ` +
      `p50 ${l.p50Ms.toFixed(2)} ms  p95 ${l.p95Ms.toFixed(2)} ms  p99 ${l.p99Ms.toFixed(2)} ms  max ${l.maxMs.toFixed(2)} ms  (${l.count.toLocaleString('en-US')} samples)`,
  );
}

// ---------------------------------------------------------------------------------------------
// Memory under backpressure: a sink that sleeps 100x the plain loop's time per event per record.
console.log(`\nMemory with a slow sink (${SLOWDOWN}x the plain loop's time per event, per record)`);
const memory: MemoryRow[] = [];
/** The slots' heap limits the second q5 run sets (see `docs/configuration.md`). */
const SLOT_HEAP_LIMITS = { slotOldGenerationMaxMb: 1024 } as const;
const memoryRuns: Array<
  [query: string, loopOf: string, events: number, executionConfig?: Partial<ExecutionConfig>]
> = [
  ['q5', 'q5', MEMORY_EVENTS.q5],
  ['q5', 'q5', MEMORY_EVENTS.q5, SLOT_HEAP_LIMITS],
  ['q1-rebalance', 'q1', MEMORY_EVENTS.rebalance],
];
for (const [query, loopOf, events, executionConfig] of memoryRuns) {
  const loop = loops.get(loopOf);
  if (loop === undefined || !existsSync(fileURLToPath(queryUrl(query)))) continue;
  const slowNsPerRecord = (SLOWDOWN * 1e9) / loop.eventsPerSecond;
  const result = await runChild(
    {
      ...sluiceSpec(query, 2, events),
      output: 'slow',
      slowNsPerRecord,
      ...(executionConfig === undefined ? {} : { executionConfig }),
    } as ContestantSpec,
    60 * 60_000,
  );
  const free = throughput.find((r) => r.query === query && r.contestant === 'sluice p=2');
  const row: MemoryRow = {
    query,
    ...(executionConfig === undefined
      ? {}
      : {
          options: Object.entries(executionConfig)
            .map(([option, value]) => `${option} ${value}`)
            .join(', '),
        }),
    parallelism: 2,
    events,
    slowNsPerRecord,
    slowBasis: `${SLOWDOWN}x the ${loopOf} loop's ns/event`,
    outputs: result.outputs,
    seconds: result.measuredSeconds,
    eventsPerSecond: result.eventsPerSecond,
    freeEventsPerSecond: free?.eventsPerSecond ?? null,
    // Sleep counted over the whole run, time over the measured part: capped at 100%.
    sinkSleepShare: Math.min(1, (result.sinkSleptMs ?? 0) / 2 / 1000 / result.measuredSeconds),
    peakRssMB: result.peakRssBytes / 1024 / 1024,
    rssRatioToLoop: result.peakRssBytes / loop.peakRssBytes,
    heapPeakMB: result.heapPeakBytes / 1024 / 1024,
  };
  memory.push(row);
  console.log(
    `  ${(row.options === undefined ? query : `${query} (${row.options})`).padEnd(13)} ${events.toLocaleString('en-US')} events, ${row.outputs.toLocaleString('en-US')} outputs, ` +
      `${Math.round(row.eventsPerSecond).toLocaleString('en-US')} events/s (free-running ${free === undefined ? '?' : Math.round(free.eventsPerSecond).toLocaleString('en-US')}), ` +
      `sink asleep ${(row.sinkSleepShare * 100).toFixed(0)}% of the time: peak RSS ${row.peakRssMB.toFixed(0)} MB (${row.rssRatioToLoop?.toFixed(2)}x loop)`,
  );
}

// ---------------------------------------------------------------------------------------------
// Across processes (cluster.ts): 2 task managers x 1 slot against 2 slots in one process.
console.log(
  '\nAcross processes: p=2 on 2 task-manager processes x 1 slot against 2 slots in one process (same run)',
);
let cluster: ClusterResults | undefined;
const clusterQueries = CLUSTER_QUERIES.filter((q) => loops.has(LOOP_OF[q]));
if (clusterQueries.length > 0) {
  const slowNsPerRecord = {} as Record<ClusterQuery, number>;
  const inProcessMemoryRssMB: Partial<Record<ClusterQuery, number>> = {};
  for (const query of clusterQueries) {
    slowNsPerRecord[query] = (SLOWDOWN * 1e9) / loops.get(LOOP_OF[query])!.eventsPerSecond;
    const row = memory.find((r) => r.query === query);
    if (row !== undefined) inProcessMemoryRssMB[query] = row.peakRssMB;
  }
  cluster = await runClusterBenchmarks(
    { ...clusterSettings(quick, slowNsPerRecord), inProcessMemoryRssMB },
    clusterQueries,
  );
}

// ---------------------------------------------------------------------------------------------
// Async I/O (async-io.ts), in a child process of its own: mapAsync against an await-per-record loop.
console.log(
  '\nAsync I/O (lookups from a local HTTP service answering after 1-20 ms; ratios to an await-per-record loop in this run)',
);
const ASYNC_IO = quick ? { records: 3_000, loopRecords: 100 } : { records: 20_000, loopRecords: 300 };
const asyncIo = JSON.parse(
  execFileSync(
    process.execPath,
    [fileURLToPath(new URL('async-io.ts', here)), String(ASYNC_IO.records), '2', '100', '--json'],
    {
      encoding: 'utf8',
      env: { ...process.env, SLUICE_BENCH_LOOP_RECORDS: String(ASYNC_IO.loopRecords) },
      timeout: 10 * 60_000,
    },
  )
    .trim()
    .split('\n')
    .at(-1)!,
) as AsyncIoResult;
console.log(formatAsyncIoResult(asyncIo));

// ---------------------------------------------------------------------------------------------
// Micro-benchmarks (benchmarks/micro), in this process.
console.log('\nMicro-benchmarks');
let micro: SuiteResult['micro'];
const microUrl = new URL('micro/index.ts', here);
if (existsSync(fileURLToPath(microUrl))) {
  const module = (await import(microUrl.href)) as {
    runMicroBenchmarks(options: { quick: boolean }): Promise<MicroRow[]>;
    formatMicroResults?(results: readonly MicroRow[]): string;
  };
  micro = await module.runMicroBenchmarks({ quick });
  console.log(module.formatMicroResults?.(micro) ?? JSON.stringify(micro, null, 2));
} else {
  micro = { unavailable: 'benchmarks/micro/index.ts does not exist' };
  console.log(`  not run: ${micro.unavailable}`);
}

// ---------------------------------------------------------------------------------------------
const targets = evaluateTargets(throughput, latency, memory);
targets.push(...keyedPathTargets(throughput, Array.isArray(micro) ? micro : []));
targets.push(asyncIoTarget(asyncIo));
targets.push(...observabilityTargets(observability));
if (cluster !== undefined) targets.push(...clusterTargets(cluster));
const result: SuiteResult = {
  mode: quick ? 'quick' : 'full',
  startedAt: startedAt.toISOString(),
  durationSeconds: (performance.now() - t0) / 1000,
  machine: {
    commit: gitCommit(),
    node: process.version,
    v8: process.versions.v8,
    os: `${osType()} ${release()}`,
    cpuModel: cpus()[0]?.model ?? 'unknown',
    cpus: cpus().length,
    totalMemoryMB: totalmem() / 1024 / 1024,
    loadAverageAtStart,
    loadAverageAtEnd: loadavg(),
  },
  method: {
    processes:
      'every measurement runs in a fresh child process (node, running the TypeScript sources with its own type stripping), one after another; Sluice jobs run there with runJob on worker threads',
    throughput:
      `a fixed event count per query (${quick ? `${QUICK_EVENTS.toLocaleString('en-US')} each` : 'see events'}); Sluice (sink discards): from the moment the last source subtask has emitted its warm-up share ` +
      `(${WARMUP_SHARE * 100}% of its events) to the moment the last sink subtask closed, over the events emitted in between (each subtask's count at the start interpolated from its progress reports every ~100 ms), ` +
      'so worker start-up and JIT warm-up are excluded, the drain and final window firings included; loop and peers: a warm-up run of the same share, then a timed run over all events; ' +
      "in a full run the loop runs before and after the others and the faster run is the baseline. Output counts are checked against the loop's",
    cpu: 'process.cpuUsage() (user + system, all threads of the child process) over the same interval, per event',
    rss: 'process.resourceUsage().maxRSS of the child process: the kernel high-water mark over its whole life (Node and job start-up included)',
    heap: "V8 used heap: Sluice = sum of each worker isolate's peak (sampled from the source poll every 50 ms) + the coordinator thread's peak; loop and peers = one isolate, sampled every 4096 outputs and at the end",
    latency:
      `the generator's base time is a wall-clock start ${LATENCY.leadMs} ms ahead (worker start-up), its event rate the input rate, and the source releases each event only once the clock reaches its event time; ` +
      `each sink subtask records now - event time (performance.timeOrigin + performance.now(), µs) into an HDR histogram for events after the first ${LATENCY.warmupMs} ms; the histograms are encoded, sent at close and merged. ` +
      `Input rate = half the p=2 throughput of the same query in this run; ${LATENCY.measureMs / 1000} s measured`,
    asyncIo:
      `ids 0..${ASYNC_IO.records - 1} through mapAsync (p=2, capacity 100 per subtask, ordered and unordered) to a node:http service on 127.0.0.1 answering each after a pseudo-random 1-20 ms, ` +
      `timed at the service, from the first request it receives to the last answer it sends (so without the job's worker start-up); baseline: the same lookups one at a time with await, ${ASYNC_IO.loopRecords} records after 20 for warm-up, in the same child process, timed the same way; ` +
      'every run checks each id once with its value, and in ordered mode that each subtask emitted its ids in increasing order',
    observability: `q0-q2 and q5 at p=2 with the sink discarding, the metrics and REST server off then on (web: { port: 0 }), run back to back (${quick ? 'one pair' : 'two pairs, the faster run of each kind'}); with it on, the contestant's main thread fetches /metrics and /api/overview in turn every ${SCRAPE_EVERY_MS} ms while the job runs, timing each answer from the request to the last byte`,
    cluster:
      `q1-rebalance and q5 at p=2 on a local cluster (runJob's cluster option: this contestant process the job manager, 2 task-manager child processes x 1 slot, records between them over TCP) against 2 slots in one process; ` +
      `${quick ? 'one pair; latency and memory of q1-rebalance only' : 'two pairs in alternating order, the best run of each kind'}; throughput measured as above, CPU = the job manager's process + the task managers' (/proc/PID/stat); ` +
      'latency as above on the cluster at half its best rate; peak RSS per task manager = VmHWM from /proc/PID/status, read every 100 ms while it ran, with the slow sink below',
    memory: `a sink that sleeps (an I/O-bound sink: flush() returns a timer promise) ${SLOWDOWN}x the plain loop's time per event for each record it receives, at p=2; peak RSS as above`,
  },
  throughput,
  latency,
  memory,
  micro,
  asyncIo,
  observability,
  ...(cluster === undefined ? {} : { cluster }),
  targets,
};

await mkdir(outDir, { recursive: true });
const svg = await renderThroughputSvg(
  throughput.filter((r) => !r.query.includes('-')),
  `Nexmark throughput, ${result.machine.cpus} cores, Node ${process.version}${quick ? ' (quick run)' : ''}`,
);
await writeFile(new URL('latest.json', outDir), `${JSON.stringify(result, null, 2)}\n`);
await writeFile(new URL('latest.md', outDir), markdownReport(result));
await writeFile(new URL('throughput.svg', outDir), svg);

console.log('\nTargets');
for (const t of targets) {
  console.log(
    `  ${t.pass ? 'PASS' : 'MISS'}  ${t.name}: ${t.measured}${t.note === undefined ? '' : ` (${t.note})`}`,
  );
}
if (quick) console.log("  (quick run: small inputs, figures are not the targets' conditions)");
console.log(
  `\nwrote ${fileURLToPath(outDir)}latest.json, latest.md, throughput.svg in ${result.durationSeconds.toFixed(0)} s`,
);
