/**
 * Sluice's micro-benchmarks (benchmark.js): the ring channel between threads against
 * `postMessage`, core's msgpackr batch encoding against JSON, and keyed value state on the heap
 * and LevelDB backends. See `README.md` beside this file for what each one measures.
 *
 *   node benchmarks/micro/index.ts [--quick] [--group ring-channel|codec|keyed-state]
 *
 * The suite's runner calls {@link runMicroBenchmarks}.
 */
import { pathToFileURL } from 'node:url';
import { runCodecBenchmarks } from './codec.ts';
import { runKeyedStateBenchmarks } from './keyed-state.ts';
import { runRingChannelBenchmarks } from './ring-channel.ts';

export interface MicroResult {
  readonly group: 'ring-channel' | 'codec' | 'keyed-state';
  readonly name: string; // e.g. 'ring channel, small records'
  readonly opsPerSec: number; // benchmark.js hz
  readonly unit: string; // what one op is, e.g. 'batch of 1,024 records'
  readonly recordsPerSec?: number;
  readonly mbPerSec?: number;
  readonly rmePercent: number; // benchmark.js stats.rme
  readonly samples: number;
  readonly baseline?: string; // name of the result in the same group it is compared to
  readonly ratioToBaseline?: number;
}

/**
 * Runs every micro-benchmark, one at a time. `quick` takes a few samples of each (to check that
 * everything runs; well under 30 s), otherwise up to ~2 s per benchmark (a few minutes in all).
 * Every thread and database it starts is closed before it resolves.
 */
export async function runMicroBenchmarks(options: {
  readonly quick: boolean;
  /** Only this group (default: all). */
  readonly group?: MicroResult['group'];
}): Promise<MicroResult[]> {
  const groups = {
    'ring-channel': runRingChannelBenchmarks,
    codec: runCodecBenchmarks,
    'keyed-state': runKeyedStateBenchmarks,
  } as const;
  const results: MicroResult[] = [];
  for (const [group, run] of Object.entries(groups)) {
    if (options.group === undefined || options.group === group) results.push(...(await run(options)));
  }
  return results;
}

const integer = (n: number): string => Math.round(n).toLocaleString('en-US');

/** The results as a plain-text table, one row per benchmark. */
export function formatMicroResults(results: readonly MicroResult[]): string {
  const header = ['group', 'benchmark', 'ops/s', '±%', 'samples', 'records/s', 'MB/s', 'vs baseline'];
  const rows = results.map((r) => [
    r.group,
    r.name,
    r.opsPerSec >= 100 ? integer(r.opsPerSec) : r.opsPerSec.toFixed(1),
    r.rmePercent.toFixed(1),
    String(r.samples),
    r.recordsPerSec === undefined ? '' : integer(r.recordsPerSec),
    r.mbPerSec === undefined ? '' : r.mbPerSec.toFixed(1),
    r.ratioToBaseline === undefined ? 'baseline' : `${r.ratioToBaseline.toFixed(2)}x`,
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((row) => row[i]!.length)));
  const numeric = new Set([2, 3, 4, 5, 6, 7]);
  const line = (cells: readonly string[]): string =>
    cells.map((c, i) => (numeric.has(i) ? c.padStart(widths[i]!) : c.padEnd(widths[i]!))).join('  ');
  const units = [...new Map(results.map((r) => [`${r.group}: ${r.unit}`, r])).keys()];
  return [
    line(header),
    line(widths.map((w) => '-'.repeat(w))),
    ...rows.map(line),
    '',
    'one op is:',
    ...units.map((u) => `  ${u}`),
  ].join('\n');
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const quick = process.argv.includes('--quick');
  const at = process.argv.indexOf('--group');
  const group = at < 0 ? undefined : process.argv[at + 1];
  if (group !== undefined && !['ring-channel', 'codec', 'keyed-state'].includes(group)) {
    throw new Error(`--group must be ring-channel, codec or keyed-state, got ${String(group)}`);
  }
  const started = performance.now();
  const results = await runMicroBenchmarks({ quick, group: group as MicroResult['group'] | undefined });
  console.log(formatMicroResults(results));
  console.log(
    `\n${quick ? 'quick' : 'full'} run, ${((performance.now() - started) / 1000).toFixed(1)} s; ` +
      `ratios are ops/s over the baseline's ops/s in the same group, same run`,
  );
}
