import { describe, expect, it } from 'vitest';
import { count } from '../api/aggregates.ts';
import { StreamExecutionEnvironment } from '../api/environment.ts';
import { collectSink } from '../connectors/collect-sink.ts';
import { tumbling } from '../time/windows.ts';
import { buildExecutionPlan, describePlan, inputChannelsOf, outputChannelsOf } from './execution-plan.ts';
import { buildJobGraph } from './job-graph.ts';
import { resolveStreamGraph } from './stream-graph.ts';

function clickPipeline(parallelism: number): StreamExecutionEnvironment {
  const env = new StreamExecutionEnvironment('clicks', parallelism, 128);
  const clicks = env.fromCollection([{ page: 'a', ts: 1 }]);
  clicks
    .assignTimestamps({ timestamp: (c) => c.ts })
    .keyBy((c) => c.page)
    .window(tumbling(10))
    .aggregate(count())
    .map((n) => n * 2)
    .sinkTo(collectSink('out'));
  clicks
    .rebalance()
    .map((c) => c.page)
    .setParallelism(1)
    .sinkTo(collectSink('pages'));
  return env;
}

describe('planning', () => {
  it('chains forward edges of equal parallelism and cuts at keyBy, rebalance and parallelism changes', () => {
    // Without local aggregation: its plan is in local-aggregation.test.ts.
    const graph = buildJobGraph(resolveStreamGraph(clickPipeline(2)), {
      chaining: true,
      localAggregation: false,
    });
    const plan = buildExecutionPlan(graph);
    expect(describePlan(plan)).toMatchInlineSnapshot(`
      "job 'clicks' (maxParallelism 128, 2 slots)
        task 0 [p=2] source-0 -> timestamps-1  (collection -> timestamps)
        task 1 [p=2] window-2 -> map-3 -> sink-4  (window(TumblingEventTimeWindows(size=10ms, offset=0ms)) -> map -> collect(out))
          <- task 0 (hash)
        task 2 [p=1] map-5  (map)
          <- task 0 (rebalance)
        task 3 [p=2] sink-6  (collect(pages))
          <- task 2 (rebalance)"
    `);
  });

  it('connects every producer to every consumer on hash edges and pairs subtasks on forward edges', () => {
    const env = new StreamExecutionEnvironment('edges', 3, 128);
    const source = env.fromCollection([1, 2, 3]);
    source
      .keyBy((n) => n)
      .reduce((a, b) => a + b)
      .sinkTo(collectSink('keyed'));
    source
      .map((n) => n)
      .setParallelism(3)
      .forward()
      .filter(() => true)
      .sinkTo(collectSink('forward'));
    const plan = buildExecutionPlan(buildJobGraph(resolveStreamGraph(env), { chaining: false }));
    const hashEdge = plan.jobGraph.edges.find((e) => e.partitioner === 'hash')!;
    for (let s = 0; s < 3; s++)
      expect(outputChannelsOf(plan, hashEdge.index, s).map((c) => c.targetSubtask)).toEqual([0, 1, 2]);
    const forwardEdges = plan.jobGraph.edges.filter((e) => e.partitioner === 'forward');
    for (const edge of forwardEdges) {
      for (let s = 0; s < 3; s++)
        expect(outputChannelsOf(plan, edge.index, s).map((c) => c.targetSubtask)).toEqual([s]);
    }
    const reduceVertex = plan.jobGraph.vertexOfNode[1]!;
    expect(inputChannelsOf(plan, reduceVertex, 1).map((c) => c.sourceSubtask)).toEqual([0, 1, 2]);
    expect(plan.slots.map((s) => s.subtasks.length)).toEqual([
      plan.jobGraph.vertices.length,
      plan.jobGraph.vertices.length,
      plan.jobGraph.vertices.length,
    ]);
  });

  it('places subtask i of every vertex in slot i, so a job needs as many threads as its highest parallelism', () => {
    const env = new StreamExecutionEnvironment('slots', 1, 128);
    env
      .fromCollection([1])
      .setParallelism(1)
      .rebalance()
      .map((n) => n)
      .setParallelism(4)
      .sinkTo(collectSink('x'));
    const plan = buildExecutionPlan(buildJobGraph(resolveStreamGraph(env)));
    expect(plan.slots.length).toBe(4);
    expect(plan.slots.map((s) => s.subtasks.map((t) => `${t.vertex}/${t.subtaskIndex}`))).toEqual([
      ['0/0', '1/0', '2/0'],
      ['1/1'],
      ['1/2'],
      ['1/3'],
    ]);
  });
});
