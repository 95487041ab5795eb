/**
 * Local pre-aggregation before the keyBy exchange, on against off (`runJob`'s
 * `localAggregation`), for the Nexmark queries whose windows are eligible (q5: a sliding-window
 * count; q7: a tumbling-window aggregate with `merge`), at parallelism 1 and 2.
 *
 *   node benchmarks/local-aggregation.ts [events] [rounds] [queries, comma-separated]
 *
 * Each measurement is a child process of its own (`suite/contestant.ts`, as in `pnpm bench`); in
 * each round the two settings run back to back, in alternating order, so that a change in the
 * machine's load falls on both. The ratio on/off is taken per round; the median and the range
 * over rounds are printed.
 */
import { fork } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { ContestantResult, ContestantSpec } from './suite/contestant.ts';

const here = new URL('.', import.meta.url);
const events = Number(process.argv[2] ?? 2_000_000);
const rounds = Number(process.argv[3] ?? 3);
const queries = (process.argv[4] ?? 'q5,q7').split(',');
if (!Number.isSafeInteger(events) || events < 10_000 || !Number.isSafeInteger(rounds) || rounds < 1) {
  throw new Error('usage: node benchmarks/local-aggregation.ts [events >= 10000] [rounds >= 1] [q5,q7]');
}

function measure(query: string, parallelism: number, localAggregation: boolean): Promise<ContestantResult> {
  const spec: ContestantSpec = {
    kind: 'sluice',
    query,
    module: new URL(`nexmark/queries/${query}.ts`, here).href,
    parallelism,
    events,
    warmupRecordsPerSubtask: Math.floor((events * 0.1) / parallelism),
    output: 'discard',
    localAggregation,
  };
  return new Promise((resolve, reject) => {
    const child = fork(
      fileURLToPath(new URL('suite/contestant.ts', here)),
      ['--contestant', JSON.stringify(spec)],
      {
        stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
      },
    );
    child.on('message', (message: { ok: boolean; result?: ContestantResult; error?: string }) => {
      if (message.ok) resolve(message.result!);
      else reject(new Error(`${query} p=${parallelism} failed:\n${message.error}`));
    });
    child.on('error', reject);
    child.on('exit', (code) =>
      reject(new Error(`${query} p=${parallelism}: exited (${code}) without a result`)),
    );
  });
}

const median = (xs: readonly number[]): number => {
  const sorted = [...xs].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
};
const k = (eventsPerSecond: number): string => `${(eventsPerSecond / 1000).toFixed(0)}k/s`;

for (const query of queries) {
  for (const parallelism of [1, 2]) {
    const on: number[] = [];
    const off: number[] = [];
    const ratios: number[] = [];
    for (let round = 0; round < rounds; round++) {
      const order = round % 2 === 0 ? [true, false] : [false, true];
      const figures = new Map<boolean, ContestantResult>();
      for (const local of order) figures.set(local, await measure(query, parallelism, local));
      const a = figures.get(true)!;
      const b = figures.get(false)!;
      if (a.outputs !== b.outputs) {
        throw new Error(
          `${query} p=${parallelism}: ${a.outputs} outputs with local aggregation, ${b.outputs} without`,
        );
      }
      on.push(a.eventsPerSecond);
      off.push(b.eventsPerSecond);
      ratios.push(a.eventsPerSecond / b.eventsPerSecond);
      console.log(
        `${query} p=${parallelism} round ${round + 1}: on ${k(a.eventsPerSecond)} (cpu ${((a.cpuSeconds / a.measuredEvents) * 1e9).toFixed(0)} ns/event), off ${k(b.eventsPerSecond)} (cpu ${((b.cpuSeconds / b.measuredEvents) * 1e9).toFixed(0)} ns/event), on/off ${(a.eventsPerSecond / b.eventsPerSecond).toFixed(2)}x`,
      );
    }
    console.log(
      `${query} p=${parallelism}: on ${k(median(on))}, off ${k(median(off))}; on/off median ${median(ratios).toFixed(2)}x (range ${Math.min(...ratios).toFixed(2)}-${Math.max(...ratios).toFixed(2)}x over ${rounds} rounds)`,
    );
  }
}
