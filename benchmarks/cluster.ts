/**
 * Sluice across processes against Sluice in one process (issue 14): q1 with a rebalance and q5
 * at p=2 on a local cluster of 2 task-manager processes with one slot each (`runJob`'s `cluster`
 * option: the contestant's process is the job manager, the task managers its children, records
 * between the two slots over the TCP data plane) against the same job on 2 slots (worker
 * threads, rings between them) in one process, in the same run:
 *
 * - throughput: in-process and cluster run back to back, in alternating order for several rounds
 *   (the best run of each kind counts); target: cluster >= 0.7x in-process;
 * - end-to-end latency on the cluster at half its maximum rate (the best cluster rate above),
 *   measured as the suite measures latency (paced source, HDR histogram at the sink); target:
 *   p99 < 20 ms;
 * - peak RSS of each task-manager process (VmHWM, read from /proc every 100 ms) with the suite's
 *   slow sink (100x the plain loop's time per event, per record); target: < 300 MB.
 *
 * Part of the suite (`pnpm bench`, `pnpm bench --quick`); also alone, for rounds of its own:
 *
 *   node benchmarks/cluster.ts [--quick] [rounds] [q1-rebalance,q5]
 */
import { fileURLToPath } from 'node:url';
import type { ContestantResult, ContestantSpec } from './suite/contestant.ts';
import type { LatencySummary } from './suite/latency.ts';
import { millions, type Target } from './suite/report.ts';
import { runChild } from './suite/run-child.ts';

export const CLUSTER_QUERIES = ['q1-rebalance', 'q5'] as const;
export type ClusterQuery = (typeof CLUSTER_QUERIES)[number];
/** The plain loop whose time per event sets the slow sink's pace. */
export const LOOP_OF: Record<ClusterQuery, string> = { 'q1-rebalance': 'q1', q5: 'q5' };
/** 2 task managers x 1 slot: a slot is a process, the layout of one pod per slot. */
const CLUSTER = { taskManagers: 2, slotsPerTaskManager: 1 } as const;
const PARALLELISM = 2;
const MIN_RATIO = 0.7;
const MAX_P99_MS = 20;
const MAX_TASK_MANAGER_RSS_MB = 300;
const MB = 1024 * 1024;

export interface ClusterSettings {
  readonly quick: boolean;
  /** Throughput pairs (in-process, cluster) per query; their order alternates. */
  readonly rounds: number;
  /** The queries whose latency and slow-sink memory are measured (quick: q1-rebalance only). */
  readonly latencyAndMemoryQueries: readonly ClusterQuery[];
  /** Run a latency measurement again when its sources started late (full run only: it costs ~12 s). */
  readonly retryLateStart: boolean;
  readonly throughputEvents: Record<ClusterQuery, number>;
  readonly memoryEvents: Record<ClusterQuery, number>;
  readonly warmupShare: number;
  readonly latency: { readonly leadMs: number; readonly warmupMs: number; readonly measureMs: number };
  /** The slow sink's ns per record, per query (100x its plain loop's ns per event). */
  readonly slowNsPerRecord: Record<ClusterQuery, number>;
  /** The same query's in-process slow-sink peak RSS in this run (the suite's memory section), if measured. */
  readonly inProcessMemoryRssMB?: Partial<Record<ClusterQuery, number>>;
}

export function clusterSettings(
  quick: boolean,
  slowNsPerRecord: Record<ClusterQuery, number>,
): ClusterSettings {
  return {
    quick,
    rounds: quick ? 1 : 2,
    // Quick: a smoke run within ~45 s. Each cluster run starts two processes (3-6 s on a loaded
    // machine), and q5 emits one or two windows in a quick latency run: no figure to speak of.
    latencyAndMemoryQueries: quick ? ['q1-rebalance'] : CLUSTER_QUERIES,
    retryLateStart: !quick,
    throughputEvents: quick
      ? { 'q1-rebalance': 400_000, q5: 400_000 }
      : { 'q1-rebalance': 10_000_000, q5: 5_000_000 },
    memoryEvents: quick
      ? { 'q1-rebalance': 40_000, q5: 500_000 }
      : { 'q1-rebalance': 400_000, q5: 10_000_000 },
    warmupShare: quick ? 0.2 : 0.1,
    // The lead covers the task managers' start (a process each, registration, deployment, worker
    // start-up): 2 s, the suite's lead in one process, was too short on a loaded machine (the
    // source started behind its schedule and the catch-up counted as latency).
    latency: quick
      ? { leadMs: 4000, warmupMs: 1000, measureMs: 2000 }
      : { leadMs: 4000, warmupMs: 2000, measureMs: 10_000 },
    slowNsPerRecord,
  };
}

/** One run's figures, as the tables show them. */
export interface ClusterRun {
  readonly eventsPerSecond: number;
  readonly cpuUsPerEvent: number;
  /** In one process: that process; on the cluster: the job manager (the contestant's process). */
  readonly peakRssMB: number;
  /** On the cluster: each task manager's peak RSS. */
  readonly taskManagerRssMB: readonly number[];
}

export interface ClusterThroughputRow {
  readonly query: ClusterQuery;
  readonly events: number;
  /** Every round, in the order run. */
  readonly inProcess: readonly ClusterRun[];
  readonly cluster: readonly ClusterRun[];
  readonly bestInProcess: ClusterRun;
  readonly bestCluster: ClusterRun;
  /** Best cluster / best in-process. */
  readonly ratio: number;
}

export interface ClusterLatencyRow {
  readonly query: ClusterQuery;
  readonly ratePerSecond: number;
  readonly achievedPerSecond: number;
  /** The cluster's best rate in this run, which this is half of. */
  readonly maxSustainedPerSecond: number;
  readonly count: number;
  readonly p50Ms: number;
  readonly p95Ms: number;
  readonly p99Ms: number;
  readonly maxMs: number;
  /** The sources started this late after the first event was due (see {@link lateStart}). */
  readonly sourcesLateMs: number;
  /** Events due in the first `warmupMs` were not recorded. */
  readonly warmupMs: number;
  readonly taskManagerRssMB: readonly number[];
  /** Full run: the same input rate in one process right after, as a reference for the machine's state. */
  readonly inProcess?: LatencySummary;
}

export interface ClusterMemoryRow {
  readonly query: ClusterQuery;
  readonly events: number;
  readonly slowNsPerRecord: number;
  readonly outputs: number;
  readonly eventsPerSecond: number;
  /** Share of the measured time the sink subtasks slept (averaged over subtasks, capped at 100%). */
  readonly sinkSleepShare: number;
  readonly taskManagerRssMB: readonly number[];
  readonly jobManagerRssMB: number;
  /** The same job's peak RSS in one process with the same sink, in this run (the suite's memory section). */
  readonly inProcessRssMB: number | null;
}

export interface ClusterResults {
  readonly throughput: readonly ClusterThroughputRow[];
  readonly latency: readonly ClusterLatencyRow[];
  readonly memory: readonly ClusterMemoryRow[];
}

/**
 * Whether sources started so late that their catch-up may reach past the warm-up into the figures:
 * at half the maximum rate a backlog of `late` ms takes about as long again to clear.
 */
const lateStart = (sourcesLateMs: number, warmupMs: number): boolean => sourcesLateMs > warmupMs / 2;

const queryUrl = (name: string): string => new URL(`nexmark/queries/${name}.ts`, import.meta.url).href;

function spec(
  query: ClusterQuery,
  events: number,
  settings: ClusterSettings,
  onCluster: boolean,
): Extract<ContestantSpec, { kind: 'sluice' }> {
  return {
    kind: 'sluice',
    query,
    module: queryUrl(query),
    parallelism: PARALLELISM,
    events,
    warmupRecordsPerSubtask: Math.floor((events * settings.warmupShare) / PARALLELISM),
    output: 'discard',
    ...(onCluster ? { cluster: CLUSTER } : {}),
  };
}

function runOf(result: ContestantResult): ClusterRun {
  return {
    eventsPerSecond: result.eventsPerSecond,
    cpuUsPerEvent: (result.cpuSeconds * 1e6) / result.measuredEvents,
    peakRssMB: result.peakRssBytes / MB,
    taskManagerRssMB: (result.taskManagers ?? []).map((tm) => tm.peakRssBytes / MB),
  };
}

function taskManagerRss(result: ContestantResult): number[] {
  const tms = result.taskManagers ?? [];
  // Without /proc (not Linux) nothing is sampled, and the memory target reads as not measured.
  if (tms.length < CLUSTER.taskManagers && process.platform === 'linux') {
    throw new Error(`${tms.length} task managers sampled, ${CLUSTER.taskManagers} expected`);
  }
  return tms.map((tm) => tm.peakRssBytes / MB);
}

const best = (runs: readonly ClusterRun[]): ClusterRun =>
  runs.reduce((a, b) => (b.eventsPerSecond > a.eventsPerSecond ? b : a));

const rate = (n: number): string => Math.round(n).toLocaleString('en-US');
const mbs = (values: readonly number[]): string =>
  values.length === 0 ? '?' : values.map((v) => v.toFixed(0)).join(' + ');

/** Throughput pairs, then latency on the cluster, then memory on the cluster, query by query. */
export async function runClusterBenchmarks(
  settings: ClusterSettings,
  queries: readonly ClusterQuery[] = CLUSTER_QUERIES,
  print: (line: string) => void = console.log,
): Promise<ClusterResults> {
  const throughput: ClusterThroughputRow[] = [];
  const latency: ClusterLatencyRow[] = [];
  const memory: ClusterMemoryRow[] = [];
  const startedMs = performance.now();
  for (const query of queries) {
    const events = settings.throughputEvents[query];
    const inProcess: ClusterRun[] = [];
    const cluster: ClusterRun[] = [];
    let outputs: number | undefined;
    for (let round = 0; round < settings.rounds; round++) {
      // Alternating order: neither kind always runs first after another contestant.
      const order = round % 2 === 0 ? [false, true] : [true, false];
      for (const onCluster of order) {
        const result = await runChild(spec(query, events, settings, onCluster));
        if (outputs !== undefined && result.outputs !== outputs) {
          throw new Error(`${query}: ${result.outputs} outputs on one run, ${outputs} on another`);
        }
        outputs = result.outputs;
        if (onCluster) taskManagerRss(result);
        (onCluster ? cluster : inProcess).push(runOf(result));
      }
    }
    const row: ClusterThroughputRow = {
      query,
      events,
      inProcess,
      cluster,
      bestInProcess: best(inProcess),
      bestCluster: best(cluster),
      ratio: best(cluster).eventsPerSecond / best(inProcess).eventsPerSecond,
    };
    throughput.push(row);
    print(formatClusterThroughput(row));

    if (!settings.latencyAndMemoryQueries.includes(query)) continue;
    const ratePerSecond = Math.floor(row.bestCluster.eventsPerSecond / 2);
    const { leadMs, warmupMs, measureMs } = settings.latency;
    const latencyEvents = Math.floor((ratePerSecond * (warmupMs + measureMs)) / 1000);
    const pacedSpec = (onCluster: boolean, lead: number): ContestantSpec => ({
      ...spec(query, latencyEvents, settings, onCluster),
      // 'warm' at the first record: when each source subtask started (sourcesLateMs).
      warmupRecordsPerSubtask: 1,
      output: 'latency',
      latency: { ratePerSecond, leadMs: lead, warmupMs },
    });
    let paced = await runChild(pacedSpec(true, leadMs));
    // Sources that started after their first event was due (task managers slow to start on a
    // loaded machine) would count their catch-up as latency: once more, with the lead they needed.
    let lead = leadMs;
    if (settings.retryLateStart && lateStart(paced.latency!.sourcesLateMs, warmupMs)) {
      lead = leadMs + Math.ceil(paced.latency!.sourcesLateMs) + 2000;
      print(
        `  ${query.padEnd(13)} latency: the sources started ${paced.latency!.sourcesLateMs.toFixed(0)} ms late; again with a ${lead} ms lead`,
      );
      paced = await runChild(pacedSpec(true, lead));
    }
    const l = paced.latency!;
    const reference = settings.quick ? undefined : (await runChild(pacedSpec(false, lead))).latency;
    const latencyRow: ClusterLatencyRow = {
      query,
      ratePerSecond,
      achievedPerSecond: l.achievedPerSecond,
      maxSustainedPerSecond: row.bestCluster.eventsPerSecond,
      count: l.count,
      p50Ms: l.p50Ms,
      p95Ms: l.p95Ms,
      p99Ms: l.p99Ms,
      maxMs: l.maxMs,
      sourcesLateMs: l.sourcesLateMs,
      warmupMs,
      taskManagerRssMB: taskManagerRss(paced),
      ...(reference === undefined
        ? {}
        : {
            inProcess: {
              count: reference.count,
              p50Ms: reference.p50Ms,
              p95Ms: reference.p95Ms,
              p99Ms: reference.p99Ms,
              maxMs: reference.maxMs,
            },
          }),
    };
    latency.push(latencyRow);
    print(formatClusterLatency(latencyRow));

    const memoryEvents = settings.memoryEvents[query];
    const slowNsPerRecord = settings.slowNsPerRecord[query];
    const slow = await runChild(
      { ...spec(query, memoryEvents, settings, true), output: 'slow', slowNsPerRecord },
      60 * 60_000,
    );
    const memoryRow: ClusterMemoryRow = {
      query,
      events: memoryEvents,
      slowNsPerRecord,
      outputs: slow.outputs,
      eventsPerSecond: slow.eventsPerSecond,
      sinkSleepShare: Math.min(1, (slow.sinkSleptMs ?? 0) / PARALLELISM / 1000 / slow.measuredSeconds),
      taskManagerRssMB: taskManagerRss(slow),
      jobManagerRssMB: slow.peakRssBytes / MB,
      inProcessRssMB: settings.inProcessMemoryRssMB?.[query] ?? null,
    };
    memory.push(memoryRow);
    print(formatClusterMemory(memoryRow));
  }
  print(`  (${((performance.now() - startedMs) / 1000).toFixed(0)} s)`);
  return { throughput, latency, memory };
}

export function formatClusterThroughput(row: ClusterThroughputRow): string {
  const runs = (rs: readonly ClusterRun[]): string => rs.map((r) => rate(r.eventsPerSecond)).join(', ');
  return (
    `  ${row.query.padEnd(13)} throughput: 2 TMs x 1 slot ${rate(row.bestCluster.eventsPerSecond)} events/s, ` +
    `in one process ${rate(row.bestInProcess.eventsPerSecond)} (${row.ratio.toFixed(2)}x); ` +
    `cpu ${row.bestCluster.cpuUsPerEvent.toFixed(2)} against ${row.bestInProcess.cpuUsPerEvent.toFixed(2)} µs/event; ` +
    `rss TMs ${mbs(row.bestCluster.taskManagerRssMB)} MB + JM ${row.bestCluster.peakRssMB.toFixed(0)} MB, one process ${row.bestInProcess.peakRssMB.toFixed(0)} MB ` +
    `[rounds: cluster ${runs(row.cluster)}; in-process ${runs(row.inProcess)}]`
  );
}

export function formatClusterLatency(row: ClusterLatencyRow): string {
  return (
    `  ${row.query.padEnd(13)} latency on 2 TMs at ${rate(row.ratePerSecond)} events/s (achieved ${rate(row.achievedPerSecond)}): ` +
    `p50 ${row.p50Ms.toFixed(2)} ms  p95 ${row.p95Ms.toFixed(2)} ms  p99 ${row.p99Ms.toFixed(2)} ms  max ${row.maxMs.toFixed(2)} ms ` +
    `(${row.count.toLocaleString('en-US')} samples${lateStart(row.sourcesLateMs, row.warmupMs) ? `, sources ${row.sourcesLateMs.toFixed(0)} ms late` : ''}); rss TMs ${mbs(row.taskManagerRssMB)} MB` +
    (row.inProcess === undefined
      ? ''
      : `; in one process at the same rate: p50 ${row.inProcess.p50Ms.toFixed(2)} ms  p99 ${row.inProcess.p99Ms.toFixed(2)} ms`)
  );
}

export function formatClusterMemory(row: ClusterMemoryRow): string {
  return (
    `  ${row.query.padEnd(13)} slow sink on 2 TMs: ${row.events.toLocaleString('en-US')} events, ${row.outputs.toLocaleString('en-US')} outputs, ` +
    `${rate(row.eventsPerSecond)} events/s, sink asleep ${(row.sinkSleepShare * 100).toFixed(0)}%: ` +
    `peak RSS TMs ${mbs(row.taskManagerRssMB)} MB, JM ${row.jobManagerRssMB.toFixed(0)} MB` +
    (row.inProcessRssMB === null ? '' : ` (one process: ${row.inProcessRssMB.toFixed(0)} MB)`)
  );
}

export function clusterTargets(results: ClusterResults): Target[] {
  const targets: Target[] = [];
  for (const query of CLUSTER_QUERIES) {
    const t = results.throughput.find((r) => r.query === query);
    const l = results.latency.find((r) => r.query === query);
    const m = results.memory.find((r) => r.query === query);
    const throughputName = `${query} at p=2 on 2 task managers x 1 slot: throughput >= ${MIN_RATIO}x 2 slots in one process`;
    targets.push(
      t === undefined
        ? { name: throughputName, measured: 'not measured', pass: false }
        : {
            name: throughputName,
            measured: `${t.ratio.toFixed(2)}x (${millions(t.bestCluster.eventsPerSecond)} against ${millions(t.bestInProcess.eventsPerSecond)} events/s)`,
            pass: t.ratio >= MIN_RATIO,
          },
    );
    const latencyName = `${query} at p=2 on 2 task managers: p99 end-to-end latency < ${MAX_P99_MS} ms at half the max rate`;
    targets.push(
      l === undefined
        ? { name: latencyName, measured: 'not measured', pass: false }
        : {
            name: latencyName,
            measured: `p99 ${l.p99Ms.toFixed(2)} ms at ${millions(l.ratePerSecond)} events/s (${l.count.toLocaleString('en-US')} samples)`,
            pass: l.p99Ms < MAX_P99_MS,
            ...(lateStart(l.sourcesLateMs, l.warmupMs)
              ? {
                  note: `the sources started ${l.sourcesLateMs.toFixed(0)} ms late: their catch-up is in the figure`,
                }
              : {}),
          },
    );
    const memoryName = `${query} at p=2 on 2 task managers, sink 100x slower: peak RSS per task manager < ${MAX_TASK_MANAGER_RSS_MB} MB`;
    targets.push(
      m === undefined || m.taskManagerRssMB.length < CLUSTER.taskManagers
        ? { name: memoryName, measured: 'not measured', pass: false }
        : {
            name: memoryName,
            measured: `${mbs(m.taskManagerRssMB)} MB over ${millions(m.events)} events (sink asleep ${(m.sinkSleepShare * 100).toFixed(0)}%)`,
            pass: m.taskManagerRssMB.every((mb) => mb < MAX_TASK_MANAGER_RSS_MB),
          },
    );
  }
  return targets;
}

export function clusterTables(results: ClusterResults): string {
  const lines: string[] = [];
  if (results.throughput.length === 0) return 'Not measured.';
  lines.push(
    '| query | events | 2 TMs x 1 slot events/s | one process events/s | ratio | CPU µs/event, TMs + JM / one process | peak RSS MB, TMs / JM / one process | rounds (cluster; one process) |',
    '| --- | ---: | ---: | ---: | ---: | ---: | ---: | --- |',
    ...results.throughput.map(
      (r) =>
        `| ${r.query} | ${r.events.toLocaleString('en-US')} | ${rate(r.bestCluster.eventsPerSecond)} | ${rate(r.bestInProcess.eventsPerSecond)} | ${r.ratio.toFixed(2)}x | ` +
        `${r.bestCluster.cpuUsPerEvent.toFixed(2)} / ${r.bestInProcess.cpuUsPerEvent.toFixed(2)} | ${mbs(r.bestCluster.taskManagerRssMB)} / ${r.bestCluster.peakRssMB.toFixed(0)} / ${r.bestInProcess.peakRssMB.toFixed(0)} | ` +
        `${r.cluster.map((c) => rate(c.eventsPerSecond)).join(', ')}; ${r.inProcess.map((c) => rate(c.eventsPerSecond)).join(', ')} |`,
    ),
    '',
    'End-to-end latency on the cluster at half its maximum rate (default flush timeout, 5 ms):',
    '',
    '| query | input events/s (½ max) | achieved | samples (sources late ms) | p50 ms | p95 ms | p99 ms | max ms | peak RSS MB per TM | one process at the same rate: p50 / p99 ms |',
    '| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |',
    ...results.latency.map(
      (r) =>
        `| ${r.query} | ${rate(r.ratePerSecond)} (max ${rate(r.maxSustainedPerSecond)}) | ${rate(r.achievedPerSecond)} | ${r.count.toLocaleString('en-US')} (${r.sourcesLateMs.toFixed(0)}) | ` +
        `${r.p50Ms.toFixed(2)} | ${r.p95Ms.toFixed(2)} | ${r.p99Ms.toFixed(2)} | ${r.maxMs.toFixed(2)} | ${mbs(r.taskManagerRssMB)} | ` +
        `${r.inProcess === undefined ? '' : `${r.inProcess.p50Ms.toFixed(2)} / ${r.inProcess.p99Ms.toFixed(2)}`} |`,
    ),
    '',
    'Memory on the cluster with the slow sink (100x the plain loop per record):',
    '',
    '| query | events | sink ns/record | outputs | events/s | sink asleep | peak RSS MB per TM | JM MB | one process MB |',
    '| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |',
    ...results.memory.map(
      (r) =>
        `| ${r.query} | ${r.events.toLocaleString('en-US')} | ${rate(r.slowNsPerRecord)} | ${r.outputs.toLocaleString('en-US')} | ${rate(r.eventsPerSecond)} | ` +
        `${(r.sinkSleepShare * 100).toFixed(0)}% | ${mbs(r.taskManagerRssMB)} | ${r.jobManagerRssMB.toFixed(0)} | ${r.inProcessRssMB === null ? '' : r.inProcessRssMB.toFixed(0)} |`,
    ),
  );
  return lines.join('\n');
}

// Alone: the loops first (for the slow sink's pace), then the rounds; targets at the end.
if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const quick = process.argv.includes('--quick');
  const positional = process.argv.slice(2).filter((a) => !a.startsWith('--'));
  const rounds = positional[0] === undefined ? undefined : Number(positional[0]);
  const queries = (positional[1]?.split(',') ?? CLUSTER_QUERIES) as ClusterQuery[];
  const slowNsPerRecord = {} as Record<ClusterQuery, number>;
  for (const query of queries) {
    const loopQuery = LOOP_OF[query];
    const events = quick ? 200_000 : 2_000_000;
    const loop = await runChild({
      kind: 'loop',
      query: loopQuery,
      module: queryUrl(loopQuery),
      events,
      warmupEvents: Math.max(50_000, Math.floor(events / 10)),
    });
    slowNsPerRecord[query] = (100 * 1e9) / loop.eventsPerSecond;
  }
  const settings = {
    ...clusterSettings(quick, slowNsPerRecord),
    ...(rounds === undefined ? {} : { rounds }),
  };
  const results = await runClusterBenchmarks(settings, queries);
  console.log('\nTargets');
  for (const t of clusterTargets(results)) {
    if (t.measured !== 'not measured') console.log(`  ${t.pass ? 'PASS' : 'MISS'}  ${t.name}: ${t.measured}`);
  }
}
