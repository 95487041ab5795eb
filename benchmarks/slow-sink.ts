/**
 * The suite's memory-under-backpressure case alone (`bench.ts`, "Memory with a slow sink"), run
 * by hand: a Nexmark query at p=2 whose sink sleeps `slowNsPerRecord` per record, in a fresh
 * child process (`suite/contestant.ts`, as the suite runs it), with the child's peak RSS, and
 * its RSS split (anonymous / file-backed) at the moment of the peak, sampled from
 * `/proc/<pid>/status` every 50 ms.
 *
 *   node benchmarks/slow-sink.ts [query=q5] [events=10000000] [executionConfig as JSON]
 *   node benchmarks/slow-sink.ts q5 10000000 '{"slotOldGenerationMaxMb":1024,"slotYoungGenerationMaxMb":48}'
 *
 * The sink sleeps 44,596 ns per record: 100x the q5 loop's time per event in the committed full
 * run (`results/latest.json`), so that runs compare across machines and with the suite's figure.
 * `SLOW_SINK_NODE_OPTIONS` passes Node/V8 flags to the child (e.g. `--max-semi-space-size=8`).
 */
import { fork } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { ExecutionConfig } from '@sluice/core';
import type { ContestantResult, ContestantSpec } from './suite/contestant.ts';

const query = process.argv[2] ?? 'q5';
const events = Number(process.argv[3] ?? 10_000_000);
const executionConfig = JSON.parse(process.argv[4] ?? '{}') as Partial<ExecutionConfig>;
const SLOW_NS_PER_RECORD = 44_596;

const spec: ContestantSpec = {
  kind: 'sluice',
  query,
  module: new URL(`./nexmark/queries/${query}.ts`, import.meta.url).href,
  parallelism: 2,
  events,
  warmupRecordsPerSubtask: Math.floor((events * 0.1) / 2),
  output: 'slow',
  slowNsPerRecord: SLOW_NS_PER_RECORD,
  executionConfig,
};

const child = fork(
  fileURLToPath(new URL('./suite/contestant.ts', import.meta.url)),
  ['--contestant', JSON.stringify(spec)],
  {
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    execArgv: process.env.SLOW_SINK_NODE_OPTIONS?.split(/\s+/).filter((flag) => flag !== '') ?? [],
  },
);

interface Sample {
  rssMB: number;
  anonMB: number;
  fileMB: number;
}
let peak: Sample = { rssMB: 0, anonMB: 0, fileMB: 0 };
const kB = (status: string, field: string): number =>
  Number(status.match(new RegExp(`${field}:\\s+(\\d+)`))?.[1] ?? 0) / 1024;
const sampler = setInterval(() => {
  try {
    const status = readFileSync(`/proc/${child.pid}/status`, 'utf8');
    const rssMB = kB(status, 'VmRSS');
    if (rssMB > peak.rssMB) peak = { rssMB, anonMB: kB(status, 'RssAnon'), fileMB: kB(status, 'RssFile') };
  } catch {
    // Not Linux, or the child is gone: the kernel's high-water mark below still holds.
  }
}, 50);

child.on('message', (message: { ok: boolean; result?: ContestantResult; error?: string }) => {
  clearInterval(sampler);
  if (!message.ok) {
    console.error(message.error);
    process.exitCode = 1;
    return;
  }
  const r = message.result!;
  const mb = (bytes: number): string => (bytes / 1024 / 1024).toFixed(0);
  console.log(
    `${query}, ${events.toLocaleString('en-US')} events, p=2, options ${JSON.stringify(executionConfig)}: ` +
      `peak RSS ${mb(r.peakRssBytes)} MB (sampled: ${peak.anonMB.toFixed(0)} anonymous, ${peak.fileMB.toFixed(0)} file-backed), ` +
      `heap ${mb(r.heapPeakBytes)} MB, CPU ${((r.cpuSeconds * 1e9) / r.measuredEvents).toFixed(0)} ns/event, ` +
      `${Math.round(r.eventsPerSecond).toLocaleString('en-US')} events/s, ${r.outputs} outputs`,
  );
});
child.on('exit', () => clearInterval(sampler));
