import type { ExecutionPlan } from './execution-plan.ts';
import type { PartitionerKind, StreamGraph } from './stream-graph.ts';

/**
 * The physical plan as data and as pictures: for `sluice plan --format json|dot|mermaid`, for
 * tools, and for the REST API that serves the plan. The data form holds what a reader of the
 * plan asks about — tasks (chains of operators), their parallelism, the edges between tasks and
 * how records are partitioned on them, and the operator ids checkpoints are keyed by — and the
 * two pictures are drawn from it alone, so that all three always agree.
 */

export interface PlanOperatorData {
  /** The id state is stored under: the uid when set, else derived from the position. */
  readonly id: string;
  /** The uid set with `.uid(...)`, or null when the id is derived. */
  readonly uid: string | null;
  readonly name: string;
  readonly kind: string;
  readonly role: string;
  readonly parallelism: number;
  readonly keyed: boolean;
  /** What the operator reads, in the logical graph: inside its chain or across an edge. */
  readonly inputs: readonly PlanInputData[];
}

export interface PlanInputData {
  /** The upstream operator's id. */
  readonly operator: string;
  readonly sideOutput: string | null;
  readonly partitioner: PartitionerKind;
}

export interface PlanVertexData {
  readonly index: number;
  /** The id of the chain's head operator. */
  readonly id: string;
  readonly name: string;
  readonly parallelism: number;
  readonly isSource: boolean;
  /** The chained operators, head first, in the order records reach them. */
  readonly operators: readonly PlanOperatorData[];
}

export interface PlanEdgeData {
  readonly index: number;
  /** Vertex indices. */
  readonly source: number;
  readonly target: number;
  /** Operator ids: the producing operator in the source task and the reading one in the target. */
  readonly sourceOperator: string;
  readonly targetOperator: string;
  readonly partitioner: PartitionerKind;
  /** The side output the edge carries, or null for the main output. */
  readonly sideOutput: string | null;
  /** Which input of the target operator (0, or 1 for a two-input operator's second). */
  readonly targetInput: number;
}

export interface PlanData {
  readonly job: string;
  readonly maxParallelism: number;
  /** Worker threads (slots) the plan runs on. */
  readonly slots: number;
  readonly vertices: readonly PlanVertexData[];
  readonly edges: readonly PlanEdgeData[];
}

/** The plan as plain data; `uids[i]` is the uid the user set on stream node `i`, if any. */
export function planData(
  streamGraph: StreamGraph,
  plan: ExecutionPlan,
  uids: readonly (string | undefined)[],
): PlanData {
  const { jobGraph } = plan;
  const nodes = streamGraph.nodes;
  return {
    job: jobGraph.jobName,
    maxParallelism: jobGraph.maxParallelism,
    slots: plan.slots.length,
    vertices: jobGraph.vertices.map((v) => ({
      index: v.index,
      id: v.id,
      name: v.name,
      parallelism: v.parallelism,
      isSource: v.isSource,
      operators: v.nodes.map((n) => {
        const node = nodes[n]!;
        return {
          id: node.id,
          uid: uids[n] ?? null,
          name: node.name,
          kind: node.kind,
          role: node.role,
          parallelism: node.parallelism,
          keyed: node.keyed,
          inputs: node.inputs.map((i) => ({
            operator: nodes[i.nodeIndex]!.id,
            sideOutput: i.sideOutput ?? null,
            partitioner: i.partitioner,
          })),
        };
      }),
    })),
    edges: jobGraph.edges.map((e) => ({
      index: e.index,
      source: e.sourceVertex,
      target: e.targetVertex,
      sourceOperator: nodes[e.sourceNode]!.id,
      targetOperator: nodes[e.targetNode]!.id,
      partitioner: e.partitioner,
      sideOutput: e.sideOutput ?? null,
      targetInput: e.targetInput,
    })),
  };
}

function edgeLabel(edge: PlanEdgeData): string {
  return edge.sideOutput === null
    ? edge.partitioner
    : `${edge.partitioner}, side output '${edge.sideOutput}'`;
}

/** One chained operator; one that reads a side output inside the chain says which. */
function operatorLine(op: PlanOperatorData, chain: readonly PlanOperatorData[]): string {
  const line = op.name === op.id ? op.id : `${op.id}: ${op.name}`;
  const side = op.inputs.find((i) => i.sideOutput !== null && chain.some((c) => c.id === i.operator));
  return side === undefined ? line : `${line} (side output '${side.sideOutput}')`;
}

/** A DOT string literal: backslashes and quotes escaped, lines joined by DOT's `\n`. */
function dotString(lines: readonly string[]): string {
  return `"${lines
    .map((l) =>
      l
        .replace(/\\/g, '\\\\')
        .replace(/"/g, '\\"')
        .replace(/[\r\n]+/g, ' '),
    )
    .join('\\n')}"`;
}

/** Graphviz: one box per task listing its chained operators; edges labelled with their partitioning. */
export function planToDot(data: PlanData): string {
  const lines = [
    `digraph ${dotString([data.job])} {`,
    '  rankdir=LR;',
    '  node [shape=box, style=rounded, fontname="Helvetica"];',
    '  edge [fontname="Helvetica", fontsize=10];',
    `  label=${dotString([`job '${data.job}' (maxParallelism ${data.maxParallelism}, ${data.slots} slots)`])};`,
  ];
  for (const v of data.vertices) {
    lines.push(
      `  v${v.index} [label=${dotString([`task ${v.index} [p=${v.parallelism}]`, ...v.operators.map((op) => operatorLine(op, v.operators))])}];`,
    );
  }
  for (const e of data.edges) {
    const style = e.sideOutput === null ? '' : ', style=dashed';
    lines.push(`  v${e.source} -> v${e.target} [label=${dotString([edgeLabel(e)])}${style}];`);
  }
  lines.push('}');
  return lines.join('\n');
}

/** Mermaid escapes by entity: `#quot;` inside a quoted label; `<` and `>` would read as HTML. */
function mermaidText(text: string): string {
  return text
    .replace(/#/g, '#35;')
    .replace(/"/g, '#quot;')
    .replace(/</g, '#lt;')
    .replace(/>/g, '#gt;')
    .replace(/[\r\n]+/g, ' ');
}

/** A Mermaid flowchart: one node per task, dashed arrows for side outputs. */
export function planToMermaid(data: PlanData): string {
  const lines = ['flowchart LR'];
  for (const v of data.vertices) {
    const label = [
      `task ${v.index} [p=${v.parallelism}]`,
      ...v.operators.map((op) => operatorLine(op, v.operators)),
    ]
      .map(mermaidText)
      .join('<br/>');
    lines.push(`  v${v.index}["${label}"]`);
  }
  for (const e of data.edges) {
    const arrow = e.sideOutput === null ? '-->' : '-.->';
    lines.push(`  v${e.source} ${arrow}|"${mermaidText(edgeLabel(e))}"| v${e.target}`);
  }
  return lines.join('\n');
}
