import { describe, expect, it } from 'vitest';
import type { PlanData } from '../plan/plan-formats.ts';
import { explainJob } from './explain.ts';

const job = new URL('./test-jobs/plan-shapes.ts', import.meta.url);
const explain = (format: 'text' | 'json' | 'dot' | 'mermaid') => explainJob(job, { parallelism: 2, format });

/** The tasks and edges a reader of the text plan sees, parsed from it: the reference for the other formats. */
function fromText(text: string): { vertices: number[]; edges: string[] } {
  const vertices: number[] = [];
  const edges: string[] = [];
  let current = -1;
  for (const line of text.split('\n')) {
    const task = /^ {2}task (\d+) \[p=\d+\]/.exec(line);
    if (task !== null) {
      current = Number(task[1]);
      vertices.push(current);
      continue;
    }
    const input = /^ {4}<- task (\d+)(?: side output '([^']+)')? \((\w+)\)$/.exec(line);
    if (input !== null)
      edges.push(`${input[1]}->${current} ${input[3]}${input[2] ? ` side:${input[2]}` : ''}`);
  }
  return { vertices, edges: edges.sort() };
}

describe('sluice plan formats', () => {
  it('json: the plan as data, with chained operators, parallelism, partitioners, side outputs and uids', async () => {
    const data = JSON.parse(await explain('json')) as PlanData;
    const reference = fromText(await explain('text'));
    expect(data.vertices.map((v) => v.index)).toEqual(reference.vertices);
    expect(
      data.edges
        .map((e) => `${e.source}->${e.target} ${e.partitioner}${e.sideOutput ? ` side:${e.sideOutput}` : ''}`)
        .sort(),
    ).toEqual(reference.edges);
    // The union: two sources into one task; the keyBy: a hash edge into the window; the window's
    // late records: a side output read inside the chain and across an edge.
    expect(data.edges.filter((e) => e.target === 2).map((e) => e.partitioner)).toEqual([
      'forward',
      'rebalance',
    ]);
    const window = data.vertices.find((v) => v.operators.some((o) => o.id === 'shop-totals'))!;
    expect(window.operators[0]).toMatchObject({ uid: 'shop-totals', keyed: true, parallelism: 2 });
    expect(data.edges.find((e) => e.target === window.index)?.partitioner).toBe('hash');
    expect(data.vertices[0]!.operators[0]).toMatchObject({ id: 'online-sales', uid: 'online-sales' });
    expect(data.vertices[1]!.operators[0]).toMatchObject({ id: 'source-1', uid: null, parallelism: 1 });
    expect(window.operators.find((o) => o.id === 'sink-5')?.inputs).toEqual([
      { operator: 'shop-totals', sideOutput: 'late-sales', partitioner: 'forward' },
    ]);
    expect(data.edges.filter((e) => e.sideOutput === 'late-sales')).toHaveLength(1);
    expect(data).toMatchSnapshot();
  });

  it('dot: valid Graphviz with every task and every edge', async () => {
    const dot = await explain('dot');
    const reference = fromText(await explain('text'));
    const lines = dot.split('\n');
    expect(lines[0]).toMatch(/^digraph "[^"]*" \{$/);
    expect(lines.at(-1)).toBe('}');
    // Every statement ends with ';', and every quoted string is closed (escapes included).
    const string = /"(?:[^"\\]|\\.)*"/g;
    for (const line of lines.slice(1, -1)) {
      expect(line).toMatch(/;$/);
      expect(line.replace(string, '')).not.toMatch(/["{}]/);
    }
    const vertices = lines.flatMap((l) => /^ {2}v(\d+) \[label=/.exec(l)?.[1] ?? []).map(Number);
    expect(vertices).toEqual(reference.vertices);
    const edges = lines
      .flatMap((l) => {
        const m =
          /^ {2}v(\d+) -> v(\d+) \[label="(\w+)(?:, side output '([^']+)')?"(, style=dashed)?\];$/.exec(l);
        if (m === null) return [];
        expect(m[5] !== undefined).toBe(m[4] !== undefined);
        return [`${m[1]}->${m[2]} ${m[3]}${m[4] ? ` side:${m[4]}` : ''}`];
      })
      .sort();
    expect(edges).toEqual(reference.edges);
    expect(dot).toMatchSnapshot();
  });

  it('mermaid: a flowchart with every task and every edge, labels escaped', async () => {
    const mermaid = await explain('mermaid');
    const reference = fromText(await explain('text'));
    const [header, ...body] = mermaid.split('\n');
    expect(header).toBe('flowchart LR');
    const vertices: number[] = [];
    const edges: string[] = [];
    for (const line of body) {
      const node = /^ {2}v(\d+)\["([^"]*)"\]$/.exec(line);
      const edge = /^ {2}v(\d+) (-->|-\.->)\|"(\w+)(?:, side output '([^']+)')?"\| v(\d+)$/.exec(line);
      if (node !== null) {
        vertices.push(Number(node[1]));
        expect(node[2]!.replace(/<br\/>/g, '')).not.toMatch(/[<>"]/);
      } else if (edge !== null) {
        expect(edge[2] === '-.->').toBe(edge[4] !== undefined);
        edges.push(`${edge[1]}->${edge[5]} ${edge[3]}${edge[4] ? ` side:${edge[4]}` : ''}`);
      } else {
        throw new Error(`not a node or an edge: ${line}`);
      }
    }
    expect(vertices).toEqual(reference.vertices);
    expect(edges.sort()).toEqual(reference.edges);
    expect(mermaid).toMatchSnapshot();
  });

  it('text stays the default, and an unknown format is refused', async () => {
    expect(await explainJob(job, { parallelism: 2 })).toBe(await explain('text'));
    await expect(explainJob(job, { format: 'svg' as never })).rejects.toThrow(
      /plan format must be one of text, json, dot, mermaid, got "svg"/,
    );
  });
});
