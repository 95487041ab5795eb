import { describe, expect, it } from 'vitest';
import { type ClusterResults, type ClusterRun, clusterTables, clusterTargets } from './cluster.ts';

const run = (eventsPerSecond: number, taskManagerRssMB: number[] = []): ClusterRun => ({
  eventsPerSecond,
  cpuUsPerEvent: 1,
  peakRssMB: 100,
  taskManagerRssMB,
});

const results = (ratioOf: number, p99Ms: number, sourcesLateMs: number, rssMB: number[]): ClusterResults => ({
  throughput: [
    {
      query: 'q1-rebalance',
      events: 1000,
      inProcess: [run(1000)],
      cluster: [run(1000 * ratioOf, rssMB)],
      bestInProcess: run(1000),
      bestCluster: run(1000 * ratioOf, rssMB),
      ratio: ratioOf,
    },
  ],
  latency: [
    {
      query: 'q1-rebalance',
      ratePerSecond: 500,
      achievedPerSecond: 500,
      maxSustainedPerSecond: 1000,
      count: 100,
      p50Ms: 1,
      p95Ms: 2,
      p99Ms,
      maxMs: p99Ms,
      sourcesLateMs,
      warmupMs: 2000,
      taskManagerRssMB: rssMB,
    },
  ],
  memory: [
    {
      query: 'q1-rebalance',
      events: 1000,
      slowNsPerRecord: 1,
      outputs: 10,
      eventsPerSecond: 100,
      sinkSleepShare: 1,
      taskManagerRssMB: rssMB,
      jobManagerRssMB: 100,
      inProcessRssMB: null,
    },
  ],
});

describe('clusterTargets', () => {
  it('passes at 0.7x, p99 under 20 ms and every task manager under 300 MB; q5 unmeasured is a miss', () => {
    const targets = clusterTargets(results(0.7, 19.9, 10, [299, 120]));
    expect(targets.filter((t) => t.name.startsWith('q1-rebalance')).map((t) => t.pass)).toEqual([
      true,
      true,
      true,
    ]);
    expect(targets.filter((t) => t.name.startsWith('q5')).map((t) => t.measured)).toEqual([
      'not measured',
      'not measured',
      'not measured',
    ]);
  });

  it('misses below 0.7x, at 20 ms, with one task manager at 300 MB; flags sources that started late', () => {
    const targets = clusterTargets(results(0.69, 20, 1500, [300, 120])).filter((t) =>
      t.name.startsWith('q1-rebalance'),
    );
    expect(targets.map((t) => t.pass)).toEqual([false, false, false]);
    expect(targets[1]?.note).toContain('1500 ms late');
  });

  it('renders the tables', () => {
    expect(clusterTables(results(1, 5, 0, [200, 210]))).toContain(
      '| q1-rebalance | 1,000 | 1,000 | 1,000 | 1.00x |',
    );
  });
});
