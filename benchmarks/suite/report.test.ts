import { describe, expect, it } from 'vitest';
import type { ContestantResult } from './contestant.ts';
import {
  evaluateTargets,
  keyedPathTargets,
  type LatencyRow,
  type MemoryRow,
  markdownReport,
  type SuiteResult,
  throughputRow,
} from './report.ts';

function result(eventsPerSecond: number, cpuSeconds = 1, peakRssBytes = 100 * 1024 * 1024): ContestantResult {
  return {
    events: 1_000_000,
    measuredEvents: 1_000_000,
    measuredSeconds: 1_000_000 / eventsPerSecond,
    eventsPerSecond,
    outputs: 10,
    cpuSeconds,
    peakRssBytes,
    heapPeakBytes: 10 * 1024 * 1024,
    heapNote: '',
    totalMs: 1,
  };
}

const latencyRow = (query: string, p99Ms: number): LatencyRow => ({
  query,
  parallelism: 2,
  ratePerSecond: 1e6,
  achievedPerSecond: 1e6,
  maxSustainedPerSecond: 2e6,
  events: 1,
  bufferTimeoutMs: 5,
  count: 1,
  p50Ms: 1,
  p95Ms: 1,
  p99Ms,
  maxMs: 20,
  peakRssMB: 1,
});

const memoryRow = (events: number, peakRssMB: number): MemoryRow => ({
  query: 'q5',
  parallelism: 2,
  events,
  slowNsPerRecord: 1,
  slowBasis: '',
  outputs: 1,
  seconds: 1,
  eventsPerSecond: 1,
  freeEventsPerSecond: 1,
  sinkSleepShare: 0,
  peakRssMB,
  rssRatioToLoop: null,
  heapPeakMB: 1,
});

describe('throughputRow', () => {
  it('gives ratios to the loop: rate (higher is better), CPU per event and RSS (lower is better)', () => {
    const loop = result(1_000_000, 1, 100 * 1024 * 1024);
    const row = throughputRow('q0', 'sluice p=2', result(2_000_000, 1.5, 250 * 1024 * 1024), loop);
    expect(row.ratioToLoop).toBe(2);
    expect(row.cpuUsPerEvent).toBe(1.5);
    expect(row.cpuRatioToLoop).toBe(1.5);
    expect(row.peakRssMB).toBe(250);
    expect(row.rssRatioToLoop).toBe(2.5);
  });
});

describe('evaluateTargets', () => {
  it('passes a target only when every condition holds, and names the measured figure', () => {
    const loop = result(1_000_000);
    const rows = [
      throughputRow('q0', 'sluice p=2', result(1_800_000), loop), // 1.8x: PASS
      throughputRow('q1', 'sluice p=2', result(1_600_000), loop), // 1.6x < 1.7x: MISS
      throughputRow('q2', 'sluice p=2', result(1_400_000), result(500_000)), // < 1.5M: MISS
      throughputRow('q5', 'sluice p=2', result(600_000), result(400_000)), // PASS
    ];
    const targets = evaluateTargets(
      rows,
      [latencyRow('q1-rebalance', 9.9), latencyRow('q2-rebalance', 10)],
      [memoryRow(9_000_000, 200)],
    );
    const status = Object.fromEntries(targets.map((t) => [t.name.split(' ')[0], t.pass]));
    expect(targets.map((t) => t.pass)).toEqual([true, false, false, true, false, true, false, false]);
    expect(status).toMatchObject({ q0: true, q1: false, q2: false, q7: false });
    expect(targets[0]?.measured).toBe('1.80M events/s, 1.80x loop');
    expect(targets[4]?.measured).toBe('not measured');
    expect(targets[7]?.note).toBe('fewer than 10M events in this run');
    expect(evaluateTargets([], [], [memoryRow(10_000_000, 299)]).at(-1)?.pass).toBe(true);
  });
});

describe('keyedPathTargets', () => {
  it("checks issue 13's ratios: keyed queries against their loop, p=2 against p=1, CPU, the generator, the ring", () => {
    const loop = result(4_000_000, 1);
    const rows = [
      throughputRow('q0', 'plain loop', result(5_100_000, 1), result(5_100_000, 1)),
      throughputRow('q0', 'sluice p=1', result(3_000_000), loop),
      throughputRow('q0', 'sluice p=2', result(6_000_000, 1.05), result(5_100_000, 1)), // CPU 1.05x: PASS
      throughputRow('q1', 'sluice p=2', result(6_000_000, 1.2), loop), // CPU 1.2x: MISS
      throughputRow('q5', 'sluice p=1', result(1_000_000), loop),
      throughputRow('q5', 'sluice p=2', result(1_500_000), result(900_000)), // 1.67x loop, 1.5x its p=1
      throughputRow('q9', 'sluice p=2', result(1_000_000), result(1_000_000)), // 1.0x loop
    ];
    const micro = [
      {
        group: 'ring-channel',
        name: 'ring channel, large records',
        opsPerSec: 1,
        unit: 'op',
        rmePercent: 1,
        samples: 40,
        ratioToBaseline: 1.3,
      },
    ];
    const targets = keyedPathTargets(rows, micro);
    const byName = (start: string) => targets.find((t) => t.name.startsWith(start))!;
    expect(byName('q5 at p=2 >= 1.5x').pass).toBe(true);
    expect(byName('q9 at p=2 >= 1.5x').pass).toBe(false);
    expect(byName('q4 at p=2 >= 1.5x').measured).toBe('not measured');
    expect(byName('every query').measured).toBe('below: q5 1.50x');
    expect(byName('every query').pass).toBe(false);
    expect(byName('q0 at p=2: CPU').pass).toBe(true);
    expect(byName('q1 at p=2: CPU').pass).toBe(false);
    expect(byName('q2 at p=2: CPU').measured).toBe('not measured');
    expect(byName('the plain loop of q0').measured).toBe('5.10M events/s');
    expect(byName('the plain loop of q0').pass).toBe(true);
    expect(byName('ring channel').pass).toBe(true);
    expect(keyedPathTargets([], []).every((t) => !t.pass)).toBe(true);
  });
});

describe('markdownReport', () => {
  it('renders every section with PASS/MISS', () => {
    const loop = result(1_000_000);
    const throughput = [
      throughputRow('q0', 'plain loop', loop, loop),
      throughputRow('q0', 'sluice p=2', result(2e6), loop),
    ];
    const suite: SuiteResult = {
      mode: 'quick',
      startedAt: '2026-11-27T00:00:00.000Z',
      durationSeconds: 1,
      machine: {
        commit: 'abc',
        node: 'v20',
        v8: '11',
        os: 'Linux',
        cpuModel: 'cpu',
        cpus: 2,
        totalMemoryMB: 1,
        loadAverageAtStart: [0, 0, 0],
        loadAverageAtEnd: [0, 0, 0],
      },
      method: { throughput: 'how' },
      throughput,
      latency: [latencyRow('q1-rebalance', 3)],
      memory: [memoryRow(10_000_000, 100)],
      micro: { unavailable: 'absent' },
      targets: evaluateTargets(throughput, [], []),
    };
    const md = markdownReport(suite);
    expect(md).toContain('| q0 | sluice p=2 | 2,000,000 | 2.00x |');
    expect(md).toContain(
      '| q0 at p=2 >= 1.50M events/s and >= 1.7x plain loop | 2.00M events/s, 2.00x loop | PASS |',
    );
    expect(md).toContain('MISS');
    expect(md).toContain('_not run: absent_');
    expect(md).toContain('- **throughput**: how');
    // Every table row has as many cells as its header.
    for (const block of md.split('\n\n').filter((b) => b.startsWith('| '))) {
      const cells = block.split('\n').map((line) => line.split(' | ').length);
      expect(new Set(cells).size).toBe(1);
    }
  });
});
