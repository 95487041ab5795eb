import { describe, expect, it } from 'vitest';
import { type PlanData, planToDot, planToMermaid } from './plan-formats.ts';

const awkward = 'say "hi" <b> \\ # 1\nnext';
const data: PlanData = {
  job: awkward,
  maxParallelism: 4,
  slots: 1,
  vertices: [0, 1].map((index) => ({
    index,
    id: `op-${index}`,
    name: awkward,
    parallelism: 1,
    isSource: index === 0,
    operators: [
      {
        id: `op-${index}`,
        uid: null,
        name: awkward,
        kind: 'map',
        role: 'operator',
        parallelism: 1,
        keyed: false,
        inputs: [],
      },
    ],
  })),
  edges: [
    {
      index: 0,
      source: 0,
      target: 1,
      sourceOperator: 'op-0',
      targetOperator: 'op-1',
      partitioner: 'rebalance',
      sideOutput: 'a"b',
      targetInput: 0,
    },
  ],
};

describe('plan pictures escape what users name', () => {
  it('dot: quotes and backslashes escaped, newlines flattened, every string closed', () => {
    const dot = planToDot(data);
    expect(dot).toContain('say \\"hi\\" <b> \\\\ # 1 next');
    for (const line of dot.split('\n').slice(1, -1)) {
      expect(line.replace(/"(?:[^"\\]|\\.)*"/g, '')).not.toMatch(/"/);
    }
  });

  it('mermaid: quotes, angle brackets and # as entities, so labels stay one quoted string', () => {
    const mermaid = planToMermaid(data);
    expect(mermaid).toContain('say #quot;hi#quot; #lt;b#gt; \\ #35; 1 next');
    expect(mermaid).toContain('-.->|"rebalance, side output \'a#quot;b\'"| v1');
    for (const line of mermaid.split('\n').slice(1)) {
      expect(line.replace(/<br\/>/g, '')).toMatch(/^ {2}v\d+(\["[^"<>]*"\]| -\.->\|"[^"<>]*"\| v\d+)$/);
    }
  });
});
