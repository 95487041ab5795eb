/**
 * One measurement, run in a child process of its own (`fork`ed by `bench.ts`), so that every
 * contestant starts from the same empty process: its peak RSS is the kernel's high-water mark of
 * that process alone, its CPU time covers all its threads, and no JIT or GC state leaks from one
 * contestant into the next. The result goes back over the IPC channel.
 */
import { getHeapStatistics } from 'node:v8';
import { type ExecutionConfig, startJob } from '@sluice/core';
import type { NexmarkConfig } from '../nexmark/generator.ts';
import { type QueryArgs, queryConfig } from '../nexmark/queries/query-io.ts';
import {
  LATENCY_CHANNEL,
  type LatencyReport,
  type LatencySummary,
  mergeHistograms,
  summarize,
} from './latency.ts';
import { nodeStreamPeers } from './peers/node-stream.ts';
import { rxjsPeers } from './peers/rxjs.ts';
import { epochMs, measuredInterval, ProbeListener, type ProbeMessage } from './probe.ts';
import { ProcessSampler, type SampledProcess } from './process-stats.ts';

/** A query's computation outside Sluice: events 0..events-1, each output to `emit`. */
export type PlainQuery = (config: NexmarkConfig, events: number, emit: (out: unknown) => void) => void;
export type PeerQuery = (
  config: NexmarkConfig,
  events: number,
  emit: (out: unknown) => void,
) => Promise<void>;

export type ContestantSpec =
  | {
      readonly kind: 'sluice';
      readonly query: string;
      /** File URL of the job module. */
      readonly module: string;
      readonly parallelism: number;
      readonly events: number;
      /** Records each source subtask emits before the measured interval starts. */
      readonly warmupRecordsPerSubtask: number;
      readonly output: 'discard' | 'slow' | 'latency';
      readonly latency?: {
        readonly ratePerSecond: number;
        readonly leadMs: number;
        readonly warmupMs: number;
      };
      readonly slowNsPerRecord?: number;
      /**
       * Run with the metrics and REST server on (`web: { port: 0 }`) and scrape it while the job
       * runs, as a monitoring system would (more often: every `scrapeEveryMs`).
       */
      readonly web?: { readonly scrapeEveryMs: number };
      /** `runJob`'s option; undefined: its default. */
      readonly localAggregation?: boolean;
      /**
       * Run the slots on a local cluster (`runJob`'s `cluster` option): task-manager child
       * processes, this process the job manager. CPU time then includes theirs (from /proc).
       */
      readonly cluster?: { readonly taskManagers: number; readonly slotsPerTaskManager: number };
      /** `runJob`'s data-plane options (e.g. the slots' heap limits); undefined: the defaults. */
      readonly executionConfig?: Partial<ExecutionConfig>;
    }
  | {
      readonly kind: 'loop' | 'rxjs' | 'node-stream';
      readonly query: string;
      /** File URL of the query module (for `loop`: its `qNPlain` export). */
      readonly module: string;
      readonly events: number;
      /** Events run (and thrown away) before the measured run, to warm up the JIT. */
      readonly warmupEvents: number;
    };

export interface ContestantResult {
  readonly events: number;
  /** Events in the measured interval (after the warm-up). */
  readonly measuredEvents: number;
  readonly measuredSeconds: number;
  readonly eventsPerSecond: number;
  readonly outputs: number;
  /** User + system CPU time of the whole process (all threads) over the measured interval. */
  readonly cpuSeconds: number;
  /** Kernel high-water mark of the contestant's process (`process.resourceUsage().maxRSS`). */
  readonly peakRssBytes: number;
  /**
   * With `cluster`: each task-manager process's peak RSS (VmHWM, read every 100 ms and at each
   * probe message while it ran) and CPU seconds over its whole life.
   */
  readonly taskManagers?: readonly SampledProcess[];
  /** Peak V8 used heap; see `heapNote`. */
  readonly heapPeakBytes: number;
  readonly heapNote: string;
  /** Wall time of the whole contestant run including start-up, ms. */
  readonly totalMs: number;
  /** For the slow sink: ms its subtasks slept, summed. */
  readonly sinkSleptMs?: number;
  readonly latency?: LatencySummary & {
    readonly ratePerSecond: number;
    readonly achievedPerSecond: number;
    /**
     * How long after the first event was due the last source subtask passed its warm-up count
     * (with a warm-up of 1 record: started emitting); > 0 means the sources started behind their
     * schedule, and the catch-up may count as latency.
     */
    readonly sourcesLateMs: number;
  };
  /** With `web`: how long `/metrics` and `/api/overview` took to answer while the job ran (ms). */
  readonly scrapes?: { readonly metricsMs: readonly number[]; readonly overviewMs: readonly number[] };
  readonly note?: string;
}

/** Scrapes `/metrics` and `/api/overview` in turn, every `everyMs`, until stopped; times each answer. */
function scrapeWhileRunning(url: string, everyMs: number) {
  const metricsMs: number[] = [];
  const overviewMs: number[] = [];
  let stopped = false;
  const loop = (async () => {
    for (let i = 0; !stopped; i++) {
      const path = i % 2 === 0 ? '/metrics' : '/api/overview';
      const t0 = performance.now();
      try {
        const response = await fetch(`${url}${path}`);
        await response.text();
        if (!response.ok) throw new Error(`${path}: HTTP ${response.status}`);
      } catch (error) {
        if (stopped) break; // the job ended, and its server with it
        throw error;
      }
      (path === '/metrics' ? metricsMs : overviewMs).push(performance.now() - t0);
      await new Promise((resolve) => setTimeout(resolve, everyMs));
    }
  })();
  return {
    async stop() {
      stopped = true;
      await loop;
      return { metricsMs, overviewMs };
    },
  };
}

const cpuSecondsNow = (): number => {
  const { user, system } = process.cpuUsage();
  return (user + system) / 1e6;
};

/** The main thread's heap, sampled while it is idle (it only awaits the job). */
function sampleMainHeap(): { stop(): number } {
  let peak = getHeapStatistics().used_heap_size;
  const timer = setInterval(() => {
    peak = Math.max(peak, getHeapStatistics().used_heap_size);
  }, 50);
  return {
    stop() {
      clearInterval(timer);
      return Math.max(peak, getHeapStatistics().used_heap_size);
    },
  };
}

async function runSluice(spec: Extract<ContestantSpec, { kind: 'sluice' }>): Promise<ContestantResult> {
  const startedAt = performance.now();
  const channel = `sluice-bench-${process.pid}-${Math.random().toString(36).slice(2)}`;
  const cpuAt = new Map<ProbeMessage, number>();
  // On a cluster the work is in the task managers: their CPU time is added (read from /proc).
  let taskManagers: ProcessSampler | undefined;
  const cpuNow = (): number => cpuSecondsNow() + (taskManagers?.sample() ?? 0);
  const listener = new ProbeListener(channel, (message) => cpuAt.set(message, cpuNow()));
  const udpPort = spec.cluster === undefined ? undefined : await listener.listenUdp();
  const heap = sampleMainHeap();
  const cpuAtStart = cpuNow();
  let latencyArgs: QueryArgs['latency'];
  if (spec.latency !== undefined) {
    latencyArgs = {
      // Worker start-up happens in the lead; the first events are due when it is over.
      startEpochMs: Math.ceil(epochMs() + spec.latency.leadMs),
      ratePerSecond: spec.latency.ratePerSecond,
      warmupMs: spec.latency.warmupMs,
    };
  }
  const args: QueryArgs = {
    events: spec.events,
    output: spec.output,
    probe: {
      channel,
      warmupRecordsPerSubtask: spec.warmupRecordsPerSubtask,
      ...(udpPort === undefined ? {} : { udpPort }),
    },
    ...(latencyArgs === undefined ? {} : { latency: latencyArgs }),
    ...(spec.slowNsPerRecord === undefined ? {} : { slowNsPerRecord: spec.slowNsPerRecord }),
  };
  const reports: LatencyReport[] = [];
  const handle = await startJob<QueryArgs>(new URL(spec.module), {
    parallelism: spec.parallelism,
    args,
    ...(spec.localAggregation === undefined ? {} : { localAggregation: spec.localAggregation }),
    ...spec.executionConfig,
    onSinkData: (name, payload) => {
      if (name === LATENCY_CHANNEL) reports.push(...(payload as LatencyReport[]));
    },
    ...(spec.web === undefined ? {} : { web: { port: 0 }, log: () => {} }),
    ...(spec.cluster === undefined ? {} : { cluster: spec.cluster }),
  });
  if (spec.cluster !== undefined) {
    const cluster = handle.cluster!;
    taskManagers = new ProcessSampler(() => cluster.taskManagerPids());
  }
  const scraper =
    spec.web === undefined ? undefined : scrapeWhileRunning(handle.web!.url, spec.web.scrapeEveryMs);
  const result = await handle.result;
  const scrapes = await scraper?.stop();
  await listener.settled();
  listener.close();
  const cpuAtEnd = cpuNow();
  const taskManagerStats = taskManagers?.stop();
  const mainHeapPeak = heap.stop();
  if (result.sourceRecords !== spec.events) {
    throw new Error(`${spec.query}: the sources read ${result.sourceRecords} of ${spec.events} events`);
  }
  const messages = listener.messages;
  const closed = messages.filter((m) => m.type === 'sink-closed');
  const ends = messages.filter((m) => m.type === 'source-end');
  const outputs = closed.reduce((n, m) => n + m.records, 0);
  const workerHeap = ends.reduce((n, m) => n + m.heapPeakBytes, 0);
  const heapNote = `sum of ${ends.length} worker isolates' peaks (sampled at the source) + the coordinator thread's`;
  let measuredEvents = spec.events;
  let measuredSeconds = result.durationMs / 1000;
  let cpuSeconds = cpuAtEnd - cpuAtStart;
  let note: string | undefined;
  const interval = measuredInterval(messages, spec.events);
  if (interval !== undefined) {
    measuredEvents = interval.events;
    measuredSeconds = (interval.toMs - interval.fromMs) / 1000;
    cpuSeconds = (cpuAt.get(interval.to) ?? cpuAtEnd) - (cpuAt.get(interval.from) ?? cpuAtStart);
  } else {
    note = 'no warm-up report: whole job measured, start-up included';
  }
  let latency: ContestantResult['latency'];
  if (spec.latency !== undefined) {
    const summary = summarize(mergeHistograms(reports.map((r) => r.histogram)));
    const eventSpanS = spec.events / spec.latency.ratePerSecond;
    const sourceEnd = Math.max(...ends.map((m) => m.atMs));
    latency = {
      ...summary,
      ratePerSecond: spec.latency.ratePerSecond,
      // Events over the wall time from the first event's due time to the last source's end.
      achievedPerSecond: spec.events / ((sourceEnd - latencyArgs!.startEpochMs) / 1000 || eventSpanS),
      sourcesLateMs: Math.max(
        0,
        ...messages.filter((m) => m.type === 'warm').map((m) => m.atMs - latencyArgs!.startEpochMs),
      ),
    };
  }
  return {
    events: spec.events,
    measuredEvents,
    measuredSeconds,
    eventsPerSecond: measuredEvents / measuredSeconds,
    outputs,
    cpuSeconds,
    peakRssBytes: process.resourceUsage().maxRSS * 1024,
    ...(taskManagerStats === undefined ? {} : { taskManagers: taskManagerStats }),
    heapPeakBytes: workerHeap + mainHeapPeak,
    heapNote,
    totalMs: performance.now() - startedAt,
    ...(spec.output === 'slow' ? { sinkSleptMs: closed.reduce((n, m) => n + (m.sleptMs ?? 0), 0) } : {}),
    ...(latency === undefined ? {} : { latency }),
    ...(scrapes === undefined ? {} : { scrapes }),
    ...(note === undefined ? {} : { note }),
  };
}

async function runBaseline(spec: Extract<ContestantSpec, { kind: 'loop' | 'rxjs' | 'node-stream' }>) {
  const startedAt = performance.now();
  const config = queryConfig({ events: spec.events });
  let run: PeerQuery;
  if (spec.kind === 'loop') {
    const module = (await import(spec.module)) as Record<string, unknown>;
    const plain = module[`${spec.query}Plain`] as PlainQuery | undefined;
    if (typeof plain !== 'function') throw new Error(`${spec.module} has no ${spec.query}Plain`);
    run = async (c, n, emit) => plain(c, n, emit);
  } else {
    const peers = spec.kind === 'rxjs' ? rxjsPeers : nodeStreamPeers;
    const peer = peers[spec.query];
    if (peer === undefined) throw new Error(`no ${spec.kind} peer of ${spec.query}`);
    run = peer;
  }
  // The heap is sampled every 4096 outputs and at the end: the loop leaves no idle moment to
  // sample from a timer, so for queries with few outputs this is close to the heap at the end.
  let outputs = 0;
  let heapPeak = 0;
  const emit = (_out: unknown): void => {
    if ((++outputs & 4095) === 0) heapPeak = Math.max(heapPeak, getHeapStatistics().used_heap_size);
  };
  await run(config, spec.warmupEvents, emit);
  outputs = 0;
  heapPeak = 0;
  const cpu0 = cpuSecondsNow();
  const t0 = performance.now();
  await run(config, spec.events, emit);
  const seconds = (performance.now() - t0) / 1000;
  const cpuSeconds = cpuSecondsNow() - cpu0;
  heapPeak = Math.max(heapPeak, getHeapStatistics().used_heap_size);
  const result: ContestantResult = {
    events: spec.events,
    measuredEvents: spec.events,
    measuredSeconds: seconds,
    eventsPerSecond: spec.events / seconds,
    outputs,
    cpuSeconds,
    peakRssBytes: process.resourceUsage().maxRSS * 1024,
    heapPeakBytes: heapPeak,
    heapNote: 'one thread; sampled every 4096 outputs and at the end',
    totalMs: performance.now() - startedAt,
  };
  return result;
}

export async function runContestant(spec: ContestantSpec): Promise<ContestantResult> {
  return spec.kind === 'sluice' ? runSluice(spec) : runBaseline(spec);
}

// As a child process: the spec comes in argv, the result goes back over IPC.
if (process.argv[2] === '--contestant') {
  const spec = JSON.parse(process.argv[3]!) as ContestantSpec;
  try {
    const result = await runContestant(spec);
    process.send!({ ok: true, result });
  } catch (error) {
    // A failed run may leave its probe listener open: exit once the error is on its way.
    process.send!(
      { ok: false, error: error instanceof Error ? (error.stack ?? error.message) : String(error) },
      () => process.exit(1),
    );
  }
  process.disconnect?.();
}
