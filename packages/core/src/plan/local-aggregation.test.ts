import { describe, expect, it } from 'vitest';
import { count } from '../api/aggregates.ts';
import { StreamExecutionEnvironment } from '../api/environment.ts';
import type { WindowedStream } from '../api/windowed-stream.ts';
import { collectSink } from '../connectors/collect-sink.ts';
import type { AggregateFunction } from '../contracts/functions.ts';
import { outputTag } from '../contracts/output-tag.ts';
import { countEvictor } from '../contracts/window-evictor.ts';
import { countTrigger } from '../contracts/window-trigger.ts';
import { session, sliding, tumbling, type WindowAssigner } from '../time/windows.ts';
import { buildExecutionPlan, describePlan } from './execution-plan.ts';
import { buildJobGraph } from './job-graph.ts';
import { resolveStreamGraph } from './stream-graph.ts';

interface Click {
  readonly page: string;
  readonly ts: number;
}

/** A count without merge(): its accumulators cannot be combined. */
const countWithoutMerge: AggregateFunction<Click, number, number> = {
  createAccumulator: () => 0,
  add: (_c, acc) => acc + 1,
  getResult: (acc) => acc,
};

/** Builds a window on the keyed clicks and its sink. */
type WindowJob = (keyed: WindowedStream<string, Click>) => void;

function planOf(window: WindowJob, assigner: WindowAssigner, localAggregation: boolean): string {
  const env = new StreamExecutionEnvironment('clicks', 2, 128);
  const keyed = env
    .fromCollection<Click>([{ page: 'a', ts: 1 }])
    .assignTimestamps({ timestamp: (c) => c.ts })
    .keyBy((c) => c.page)
    .window(assigner);
  window(keyed);
  return describePlan(
    buildExecutionPlan(buildJobGraph(resolveStreamGraph(env), { chaining: true, localAggregation })),
  );
}

describe('local aggregation in the plan', () => {
  it('runs at the end of the producing chain, and the hash edge carries partial aggregates', () => {
    const counts: WindowJob = (w) => w.aggregate(count()).sinkTo(collectSink('out'));
    const plan = planOf(counts, sliding(10, 5), true);
    expect(plan).toMatchInlineSnapshot(`
      "job 'clicks' (maxParallelism 128, 2 slots)
        task 0 [p=2] source-0 -> timestamps-1 -> local-aggregate(window-2)  (collection -> timestamps)
        task 1 [p=2] window-2 -> sink-3  (window(SlidingEventTimeWindows(size=10ms, slide=5ms, offset=0ms)) -> collect(out))
          <- task 0 (hash, partial aggregates)"
    `);
    expect(planOf(counts, sliding(10, 5), false)).toMatchInlineSnapshot(`
      "job 'clicks' (maxParallelism 128, 2 slots)
        task 0 [p=2] source-0 -> timestamps-1  (collection -> timestamps)
        task 1 [p=2] window-2 -> sink-3  (window(SlidingEventTimeWindows(size=10ms, slide=5ms, offset=0ms)) -> collect(out))
          <- task 0 (hash)"
    `);
  });

  it('takes reduce and aggregate with merge, tumbling and sliding, event time', () => {
    const latest: WindowJob = (w) => w.reduce((a, b) => (a.ts > b.ts ? a : b)).sinkTo(collectSink('out'));
    const counts: WindowJob = (w) => w.aggregate(count()).sinkTo(collectSink('out'));
    for (const assigner of [tumbling(10), sliding(10, 5)]) {
      expect(planOf(latest, assigner, true)).toContain('partial aggregates');
      expect(planOf(counts, assigner, true)).toContain('partial aggregates');
    }
  });

  it('plans every other window exactly as without it', () => {
    const late = outputTag<Click>('late');
    const out = collectSink<unknown>('out');
    const cases: [string, WindowJob, WindowAssigner][] = [
      ['no merge()', (w) => w.aggregate(countWithoutMerge).sinkTo(out), tumbling(10)],
      ['an evictor', (w) => w.evictor(countEvictor(2)).aggregate(count()).sinkTo(out), tumbling(10)],
      ['a trigger', (w) => w.trigger(countTrigger(2)).aggregate(count()).sinkTo(out), tumbling(10)],
      [
        'late data to a side output',
        (w) => w.sideOutputLateData(late).aggregate(count()).sinkTo(out),
        tumbling(10),
      ],
      ['session windows', (w) => w.aggregate(count()).sinkTo(out), session(10)],
      ['processing time', (w) => w.aggregate(count()).sinkTo(out), tumbling(10, { time: 'processing' })],
      ['a process function', (w) => w.process({ process: () => {} }).sinkTo(out), tumbling(10)],
    ];
    for (const [what, window, assigner] of cases) {
      const on = planOf(window, assigner, true);
      expect(on, what).toBe(planOf(window, assigner, false));
      expect(on, what).not.toContain('local-aggregate');
    }
  });
});
