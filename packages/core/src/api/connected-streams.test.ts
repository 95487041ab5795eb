import { describe, expect, it } from 'vitest';
import { collectSink } from '../connectors/collect-sink.ts';
import { ConfigError } from '../errors.ts';
import { buildExecutionPlan, describePlan } from '../plan/execution-plan.ts';
import { buildJobGraph } from '../plan/job-graph.ts';
import { resolveStreamGraph } from '../plan/stream-graph.ts';
import { mapState, valueState } from '../state/descriptors.ts';
import { StreamExecutionEnvironment } from './environment.ts';

const rules = mapState<string, number>('rules');

describe('connect() in the plan', () => {
  it('makes one node reading both inputs, each edge knowing its side and its own partitioning', () => {
    const env = new StreamExecutionEnvironment('connected', 2, 128);
    const numbers = env.fromCollection([1, 2, 3], { uid: 'numbers' });
    const words = env.fromCollection(['a'], { uid: 'words' });
    numbers
      .keyBy((n) => String(n))
      .connect(words.keyBy((w) => w))
      .process({ processElement1() {}, processElement2() {} })
      .uid('joined')
      .sinkTo(collectSink('out'));
    numbers
      .keyBy((n) => String(n))
      .connect(words.broadcast(rules))
      .process({ processElement() {}, processBroadcastElement() {} })
      .uid('ruled')
      .sinkTo(collectSink('ruled'));
    const graph = buildJobGraph(resolveStreamGraph(env));
    expect(describePlan(buildExecutionPlan(graph))).toMatchInlineSnapshot(`
      "job 'connected' (maxParallelism 128, 2 slots)
        task 0 [p=2] numbers  (collection)
        task 1 [p=2] words  (collection)
        task 2 [p=2] joined -> sink-3  (coProcess -> collect(out))
          <- task 0 (hash)
          <- task 1 (hash)
        task 3 [p=2] ruled -> sink-5  (broadcastProcess -> collect(ruled))
          <- task 0 (hash)
          <- task 1 (broadcast)"
    `);
    const joined = env.nodes.find((n) => n.uid === 'joined')!;
    expect(joined.twoInput).toEqual({ secondInputStart: 1, secondIsBroadcast: false });
    expect(joined.operator?.kind).toBe('keyedCoProcess');
    expect(graph.edges.filter((e) => e.targetNode === joined.index).map((e) => e.targetInput)).toEqual([
      0, 1,
    ]);
  });

  it('keeps a union on one side on that side', () => {
    const env = new StreamExecutionEnvironment('sides', 1, 128);
    const a = env.fromCollection([1]);
    const b = env.fromCollection([2]);
    const c = env.fromCollection(['c']);
    a.union(b)
      .connect(c)
      .map({ map1: (n) => n, map2: (s) => s.length })
      .sinkTo(collectSink('out'));
    const node = env.nodes.find((n) => n.kind === 'coMap')!;
    expect(node.inputs.map((i) => i.nodeIndex)).toEqual([0, 1, 2]);
    expect(node.twoInput).toEqual({ secondInputStart: 2, secondIsBroadcast: false });
  });

  it('keeps broadcast() without descriptors a partitioning', () => {
    const env = new StreamExecutionEnvironment('partitioning', 2, 128);
    const { node } = env
      .fromCollection([1])
      .broadcast()
      .map((n) => n);
    expect(node.inputs[0]!.partitioner).toEqual({ kind: 'broadcast' });
  });

  it('refuses what cannot work, naming it', () => {
    const env = new StreamExecutionEnvironment('bad', 1, 128);
    const other = new StreamExecutionEnvironment('other', 1, 128);
    const s = env.fromCollection([1]);
    expect(() => s.connect(null as never)).toThrow(ConfigError);
    expect(() => s.connect(other.fromCollection([1]))).toThrow(
      /connect: expected a DataStream of the same job/,
    );
    expect(() => s.connect(other.fromCollection([1]).broadcast(rules))).toThrow(
      /the broadcast stream belongs to another job/,
    );
    expect(() => s.connect(s).map({ map1: (n: number) => n } as never)).toThrow(
      /connect\(\.\.\.\)\.map: expected an object with map1\(\) and map2\(\); missing map2\(\)/,
    );
    expect(() => s.connect(s).process({} as never)).toThrow(
      /missing processElement1\(\), processElement2\(\)/,
    );
    expect(() => s.connect(s).keyBy((n) => n, 'x' as never)).toThrow(
      /expected a key selector function for the second input, got string/,
    );
    expect(() => s.broadcast(valueState('v') as never)).toThrow(
      /broadcast: argument 1 must be a map state descriptor made by mapState\(name\), got a 'value' descriptor/,
    );
    expect(() => s.broadcast(rules, mapState('rules'))).toThrow(/'rules' is declared twice/);
    expect(() => s.connect(s.broadcast(rules)).process({ processElement() {} } as never)).toThrow(
      /missing processBroadcastElement\(\)/,
    );
  });
});
