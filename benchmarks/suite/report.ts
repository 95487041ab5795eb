/**
 * The suite's results as data (`latest.json`), the targets of the issue evaluated on them, and
 * the same as markdown tables (`latest.md`) and console lines.
 */
import { type AsyncIoResult, formatAsyncIoResult } from '../async-io.ts';
import { type ClusterResults, clusterTables } from '../cluster.ts';
import { type ObservabilityRow, observabilityTable } from '../observability.ts';
import type { ContestantResult } from './contestant.ts';
import type { LatencySummary } from './latency.ts';

export type ContestantName = 'plain loop' | 'sluice p=1' | 'sluice p=2' | 'rxjs' | 'node stream';

/** One contestant's figures for one query, with ratios to the plain loop of the same query. */
export interface ThroughputRow {
  readonly query: string;
  readonly contestant: ContestantName;
  readonly events: number;
  readonly measuredEvents: number;
  readonly measuredSeconds: number;
  readonly eventsPerSecond: number;
  /** eventsPerSecond / the plain loop's (higher is better). */
  readonly ratioToLoop: number | null;
  readonly outputs: number;
  readonly cpuSeconds: number;
  /** CPU µs per event, all threads. */
  readonly cpuUsPerEvent: number;
  /** cpuUsPerEvent / the plain loop's (lower is better). */
  readonly cpuRatioToLoop: number | null;
  readonly peakRssMB: number;
  readonly rssRatioToLoop: number | null;
  readonly heapPeakMB: number;
  readonly heapRatioToLoop: number | null;
  readonly heapNote: string;
  readonly note?: string;
}

export interface LatencyRow extends LatencySummary {
  readonly query: string;
  readonly parallelism: number;
  /** The input rate the source released events at, and what it reached. */
  readonly ratePerSecond: number;
  readonly achievedPerSecond: number;
  /** The rate this is half of (the query's p=2 throughput in the same run). */
  readonly maxSustainedPerSecond: number;
  readonly events: number;
  readonly bufferTimeoutMs: number;
  readonly peakRssMB: number;
}

export interface MemoryRow {
  readonly query: string;
  /**
   * Options the run set besides the defaults (the slots' heap limits), as shown in the table;
   * absent for the run with the defaults, the one the target is checked on.
   */
  readonly options?: string;
  readonly parallelism: number;
  readonly events: number;
  readonly slowNsPerRecord: number;
  /** How the sink's slowness was chosen. */
  readonly slowBasis: string;
  readonly outputs: number;
  readonly seconds: number;
  readonly eventsPerSecond: number;
  /** The same query's p=2 rate with a sink that discards: how much the slow sink held it back. */
  readonly freeEventsPerSecond: number | null;
  /** Share of the run the sink subtasks spent asleep (averaged over subtasks). */
  readonly sinkSleepShare: number;
  readonly peakRssMB: number;
  /** Peak RSS over the plain loop's of the same query (from the throughput runs). */
  readonly rssRatioToLoop: number | null;
  readonly heapPeakMB: number;
}

export interface Target {
  readonly name: string;
  readonly measured: string;
  readonly pass: boolean;
  readonly note?: string;
}

export interface MicroRow {
  readonly group: string;
  readonly name: string;
  readonly opsPerSec: number;
  readonly unit: string;
  readonly recordsPerSec?: number;
  readonly mbPerSec?: number;
  readonly rmePercent: number;
  readonly samples: number;
  readonly baseline?: string;
  readonly ratioToBaseline?: number;
}

export interface SuiteResult {
  readonly mode: 'full' | 'quick';
  readonly startedAt: string;
  readonly durationSeconds: number;
  readonly machine: {
    /** The commit measured (`+changes`: with uncommitted changes). */
    readonly commit: string;
    readonly node: string;
    readonly v8: string;
    readonly os: string;
    readonly cpuModel: string;
    readonly cpus: number;
    readonly totalMemoryMB: number;
    readonly loadAverageAtStart: readonly number[];
    readonly loadAverageAtEnd: readonly number[];
  };
  readonly method: Record<string, string>;
  readonly throughput: readonly ThroughputRow[];
  readonly latency: readonly LatencyRow[];
  readonly memory: readonly MemoryRow[];
  readonly micro: readonly MicroRow[] | { readonly unavailable: string };
  /** mapAsync against an await-per-record loop (async-io.ts); absent in results from before it. */
  readonly asyncIo?: AsyncIoResult;
  /** The metrics and REST server off against on (observability.ts); absent in results from before it. */
  readonly observability?: readonly ObservabilityRow[];
  /** 2 task-manager processes against one process (cluster.ts); absent in results from before it. */
  readonly cluster?: ClusterResults;
  readonly targets: readonly Target[];
}

const MB = 1024 * 1024;

export function throughputRow(
  query: string,
  contestant: ContestantName,
  result: ContestantResult,
  loop: ContestantResult | undefined,
): ThroughputRow {
  const cpuUsPerEvent = (result.cpuSeconds * 1e6) / result.measuredEvents;
  const loopCpu = loop === undefined ? undefined : (loop.cpuSeconds * 1e6) / loop.measuredEvents;
  return {
    query,
    contestant,
    events: result.events,
    measuredEvents: result.measuredEvents,
    measuredSeconds: result.measuredSeconds,
    eventsPerSecond: result.eventsPerSecond,
    ratioToLoop: loop === undefined ? null : result.eventsPerSecond / loop.eventsPerSecond,
    outputs: result.outputs,
    cpuSeconds: result.cpuSeconds,
    cpuUsPerEvent,
    cpuRatioToLoop: loopCpu === undefined ? null : cpuUsPerEvent / loopCpu,
    peakRssMB: result.peakRssBytes / MB,
    rssRatioToLoop: loop === undefined ? null : result.peakRssBytes / loop.peakRssBytes,
    heapPeakMB: result.heapPeakBytes / MB,
    heapRatioToLoop: loop === undefined ? null : result.heapPeakBytes / loop.heapPeakBytes,
    heapNote: result.heapNote,
    ...(result.note === undefined ? {} : { note: result.note }),
  };
}

const find = (rows: readonly ThroughputRow[], query: string, contestant: ContestantName) =>
  rows.find((r) => r.query === query && r.contestant === contestant);

/** The issue's targets, evaluated on this run's figures. */
export function evaluateTargets(
  throughput: readonly ThroughputRow[],
  latency: readonly LatencyRow[],
  memory: readonly MemoryRow[],
): Target[] {
  const targets: Target[] = [];
  const rateTarget = (query: string, minRate: number, minRatio: number): void => {
    const row = find(throughput, query, 'sluice p=2');
    const name = `${query} at p=2 >= ${millions(minRate)} events/s and >= ${minRatio}x plain loop`;
    if (row === undefined) {
      targets.push({ name, measured: 'not measured', pass: false });
      return;
    }
    const ratio = row.ratioToLoop ?? 0;
    targets.push({
      name,
      measured: `${millions(row.eventsPerSecond)} events/s, ${ratio.toFixed(2)}x loop`,
      pass: row.eventsPerSecond >= minRate && ratio >= minRatio,
    });
  };
  for (const q of ['q0', 'q1', 'q2']) rateTarget(q, 1_500_000, 1.7);
  for (const q of ['q5', 'q7']) rateTarget(q, 500_000, 1.5);
  for (const q of ['q1-rebalance', 'q2-rebalance']) {
    const row = latency.find((r) => r.query === q);
    const name = `${q} p99 end-to-end latency < 10 ms at half the max sustained rate (p=2, default flush timeout)`;
    targets.push(
      row === undefined
        ? { name, measured: 'not measured', pass: false }
        : {
            name,
            measured: `p99 ${row.p99Ms.toFixed(2)} ms at ${millions(row.ratePerSecond)} events/s`,
            pass: row.p99Ms < 10,
          },
    );
  }
  const q5 = memory.find((r) => r.query === 'q5' && r.options === undefined);
  const memoryName = 'q5 with a sink 100x slower, >= 10M events: peak RSS < 300 MB';
  targets.push(
    q5 === undefined
      ? { name: memoryName, measured: 'not measured', pass: false }
      : {
          name: memoryName,
          measured: `${q5.peakRssMB.toFixed(0)} MB over ${millions(q5.events)} events`,
          pass: q5.peakRssMB < 300 && q5.events >= 10_000_000,
          ...(q5.events < 10_000_000 ? { note: 'fewer than 10M events in this run' } : {}),
        },
  );
  return targets;
}

/** The queries whose p=2 rate issue 13 asks to be >= 1.5x their plain loop (the keyed ones). */
export const KEYED_QUERIES = ['q4', 'q5', 'q7', 'q8', 'q9', 'q11'] as const;

/**
 * Issue 13's targets (the keyed path): the keyed queries at p=2 >= 1.5x their plain loop, every
 * query at p=2 >= 1.8x its own p=1, the chained q0-q2 within 10% of their loop's CPU per event,
 * the plain loop of q0 (the generator, one thread) >= 5M events/s, and the ring channel at least
 * as fast as structured-clone `postMessage` for ~1 KiB records.
 */
export function keyedPathTargets(throughput: readonly ThroughputRow[], micro: readonly MicroRow[]): Target[] {
  const targets: Target[] = [];
  for (const query of KEYED_QUERIES) {
    const row = find(throughput, query, 'sluice p=2');
    const name = `${query} at p=2 >= 1.5x plain loop`;
    targets.push(
      row?.ratioToLoop == null
        ? { name, measured: 'not measured', pass: false }
        : { name, measured: `${row.ratioToLoop.toFixed(2)}x loop`, pass: row.ratioToLoop >= 1.5 },
    );
  }
  const queries = [...new Set(throughput.map((r) => r.query))];
  const scaling = queries.flatMap((query) => {
    const one = find(throughput, query, 'sluice p=1');
    const two = find(throughput, query, 'sluice p=2');
    return one === undefined || two === undefined
      ? []
      : [{ query, ratio: two.eventsPerSecond / one.eventsPerSecond }];
  });
  const scalingName = 'every query at p=2 >= 1.8x its own p=1';
  const short = scaling.filter((s) => s.ratio < 1.8);
  targets.push(
    scaling.length === 0
      ? { name: scalingName, measured: 'not measured', pass: false }
      : {
          name: scalingName,
          measured:
            short.length === 0
              ? `lowest ${Math.min(...scaling.map((s) => s.ratio)).toFixed(2)}x`
              : `below: ${short.map((s) => `${s.query} ${s.ratio.toFixed(2)}x`).join(', ')}`,
          pass: short.length === 0,
        },
  );
  for (const query of ['q0', 'q1', 'q2']) {
    const row = find(throughput, query, 'sluice p=2');
    const name = `${query} at p=2: CPU per event <= 1.10x the plain loop's`;
    targets.push(
      row?.cpuRatioToLoop == null
        ? { name, measured: 'not measured', pass: false }
        : {
            name,
            measured: `${row.cpuUsPerEvent.toFixed(2)} µs/event, ${row.cpuRatioToLoop.toFixed(2)}x loop`,
            pass: row.cpuRatioToLoop <= 1.1,
          },
    );
  }
  const loop = find(throughput, 'q0', 'plain loop');
  const loopName = 'the plain loop of q0 (the Nexmark generator, one thread) >= 5M events/s';
  targets.push(
    loop === undefined
      ? { name: loopName, measured: 'not measured', pass: false }
      : {
          name: loopName,
          measured: `${millions(loop.eventsPerSecond)} events/s`,
          pass: loop.eventsPerSecond >= 5e6,
        },
  );
  const ring = micro.find((r) => r.group === 'ring-channel' && r.name === 'ring channel, large records');
  const ringName = 'ring channel >= 1x structured-clone postMessage, ~1 KiB records';
  targets.push(
    ring?.ratioToBaseline === undefined
      ? { name: ringName, measured: 'not measured', pass: false }
      : { name: ringName, measured: `${ring.ratioToBaseline.toFixed(2)}x`, pass: ring.ratioToBaseline >= 1 },
  );
  return targets;
}

export function millions(n: number): string {
  return n >= 1e5 ? `${(n / 1e6).toFixed(2)}M` : Math.round(n).toLocaleString('en-US');
}

const ratio = (r: number | null): string => (r === null ? '' : `${r.toFixed(2)}x`);
const table = (header: readonly string[], rows: ReadonlyArray<readonly string[]>): string =>
  [
    `| ${header.join(' | ')} |`,
    `| ${header.map(() => '---').join(' | ')} |`,
    ...rows.map((r) => `| ${r.join(' | ')} |`),
  ].join('\n');

export function throughputTable(rows: readonly ThroughputRow[]): string {
  return table(
    [
      'query',
      'contestant',
      'events/s',
      'x loop',
      'CPU µs/event',
      'CPU x loop',
      'peak RSS MB',
      'RSS x loop',
      'heap MB',
      'heap x loop',
    ],
    rows.map((r) => [
      r.query,
      r.contestant,
      Math.round(r.eventsPerSecond).toLocaleString('en-US'),
      ratio(r.ratioToLoop),
      r.cpuUsPerEvent.toFixed(2),
      ratio(r.cpuRatioToLoop),
      r.peakRssMB.toFixed(0),
      ratio(r.rssRatioToLoop),
      r.heapPeakMB.toFixed(0),
      ratio(r.heapRatioToLoop),
    ]),
  );
}

/** One row per query: each contestant's events/s with its ratio to the loop. */
export function throughputSummaryTable(rows: readonly ThroughputRow[]): string {
  const contestants: ContestantName[] = ['plain loop', 'sluice p=1', 'sluice p=2', 'rxjs', 'node stream'];
  const queries = [...new Set(rows.map((r) => r.query))];
  return table(
    ['query', ...contestants.map((c) => `${c} events/s`)],
    queries.map((q) => [
      q,
      ...contestants.map((c) => {
        const row = rows.find((r) => r.query === q && r.contestant === c);
        if (row === undefined) return '';
        const rate = Math.round(row.eventsPerSecond).toLocaleString('en-US');
        return c === 'plain loop' ? rate : `${rate} (${ratio(row.ratioToLoop)})`;
      }),
    ]),
  );
}

export function latencyTable(rows: readonly LatencyRow[]): string {
  return table(
    [
      'query',
      'p',
      'input events/s (½ max)',
      'achieved',
      'samples',
      'p50 ms',
      'p95 ms',
      'p99 ms',
      'max ms',
      'peak RSS MB',
    ],
    rows.map((r) => [
      r.query,
      String(r.parallelism),
      `${Math.round(r.ratePerSecond).toLocaleString('en-US')} (max ${Math.round(r.maxSustainedPerSecond).toLocaleString('en-US')})`,
      Math.round(r.achievedPerSecond).toLocaleString('en-US'),
      r.count.toLocaleString('en-US'),
      r.p50Ms.toFixed(2),
      r.p95Ms.toFixed(2),
      r.p99Ms.toFixed(2),
      r.maxMs.toFixed(2),
      r.peakRssMB.toFixed(0),
    ]),
  );
}

export function memoryTable(rows: readonly MemoryRow[]): string {
  return table(
    [
      'query',
      'p',
      'events',
      'sink ns/record',
      'outputs',
      'events/s (free-running)',
      'sink asleep',
      'peak RSS MB',
      'RSS x loop',
      'heap MB',
    ],
    rows.map((r) => [
      r.options === undefined ? r.query : `${r.query} (${r.options})`,
      String(r.parallelism),
      r.events.toLocaleString('en-US'),
      `${Math.round(r.slowNsPerRecord).toLocaleString('en-US')} (${r.slowBasis})`,
      r.outputs.toLocaleString('en-US'),
      `${Math.round(r.eventsPerSecond).toLocaleString('en-US')} (${r.freeEventsPerSecond === null ? '?' : Math.round(r.freeEventsPerSecond).toLocaleString('en-US')})`,
      `${(r.sinkSleepShare * 100).toFixed(0)}%`,
      r.peakRssMB.toFixed(0),
      ratio(r.rssRatioToLoop),
      r.heapPeakMB.toFixed(0),
    ]),
  );
}

export function targetsTable(targets: readonly Target[]): string {
  return table(
    ['target', 'measured', 'result'],
    targets.map((t) => [
      t.name,
      t.note === undefined ? t.measured : `${t.measured} (${t.note})`,
      t.pass ? 'PASS' : 'MISS',
    ]),
  );
}

export function microTable(micro: SuiteResult['micro']): string {
  if (!Array.isArray(micro)) return `_not run: ${(micro as { unavailable: string }).unavailable}_`;
  return table(
    ['group', 'benchmark', 'ops/s', '±%', 'records/s', 'MB/s', 'x baseline'],
    (micro as readonly MicroRow[]).map((m) => [
      m.group,
      m.name,
      Math.round(m.opsPerSec).toLocaleString('en-US'),
      m.rmePercent.toFixed(1),
      m.recordsPerSec === undefined ? '' : Math.round(m.recordsPerSec).toLocaleString('en-US'),
      m.mbPerSec === undefined ? '' : m.mbPerSec.toFixed(1),
      m.ratioToBaseline === undefined ? 'baseline' : `${m.ratioToBaseline.toFixed(2)}x`,
    ]),
  );
}

export function markdownReport(result: SuiteResult): string {
  const m = result.machine;
  return [
    `# Sluice benchmark results (${result.mode} run)`,
    '',
    `${result.startedAt}, ${result.durationSeconds.toFixed(0)} s, commit ${m.commit}. Node ${m.node} (V8 ${m.v8}), ${m.os}, ` +
      `${m.cpus} x ${m.cpuModel}, ${m.totalMemoryMB.toFixed(0)} MB; load average ${m.loadAverageAtStart
        .map((l) => l.toFixed(2))
        .join(' ')} at the start, ${m.loadAverageAtEnd.map((l) => l.toFixed(2)).join(' ')} at the end.`,
    '',
    '## Targets',
    '',
    targetsTable(result.targets),
    '',
    '## Throughput',
    '',
    throughputSummaryTable(result.throughput),
    '',
    'In detail (CPU: all threads, per event; RSS: peak of the whole process; ratios to the plain loop of the query):',
    '',
    throughputTable(result.throughput),
    '',
    ...(result.observability === undefined
      ? []
      : ['## Metrics and REST server off against on', '', observabilityTable(result.observability), '']),
    '## End-to-end latency',
    '',
    latencyTable(result.latency),
    '',
    '## Memory under backpressure',
    '',
    memoryTable(result.memory),
    '',
    ...(result.cluster === undefined
      ? []
      : [
          '## Across processes: 2 task managers x 1 slot against 2 slots in one process',
          '',
          clusterTables(result.cluster),
          '',
        ]),
    ...(result.asyncIo === undefined
      ? []
      : ['## Async I/O', '', '```', formatAsyncIoResult(result.asyncIo), '```', '']),
    '## Micro-benchmarks',
    '',
    microTable(result.micro),
    '',
    '## How',
    '',
    ...Object.entries(result.method).map(([k, v]) => `- **${k}**: ${v}`),
    '',
  ].join('\n');
}
