import { computeKeyGroupRangeForOperatorIndex, type KeyGroupRange } from '../state/key-groups.ts';
import type { JobGraph } from './job-graph.ts';

/** One ring between a producing subtask and a consuming subtask. */
export interface ChannelSpec {
  readonly index: number;
  readonly edge: number;
  readonly sourceVertex: number;
  readonly sourceSubtask: number;
  readonly targetVertex: number;
  readonly targetSubtask: number;
}

export interface SubtaskRef {
  readonly vertex: number;
  readonly subtaskIndex: number;
  readonly parallelism: number;
  /**
   * The key groups this subtask owns: its keyed state, its share of a checkpoint on restore, the
   * range its snapshot covers. Computed here only, so that every part of the runtime agrees.
   */
  readonly keyGroups: KeyGroupRange;
}

/** A slot is one worker thread; it runs one subtask of each vertex whose parallelism reaches it. */
export interface SlotSpec {
  readonly index: number;
  readonly subtasks: readonly SubtaskRef[];
}

/** Where every subtask runs and which channels connect them: plain data. */
export interface ExecutionPlan {
  readonly jobGraph: JobGraph;
  readonly slots: readonly SlotSpec[];
  readonly channels: readonly ChannelSpec[];
}

/**
 * Places subtask i of every vertex in slot i (Flink's slot sharing), so the number of threads is
 * the highest parallelism in the job and a pipeline's subtasks with the same index share a thread.
 */
export function buildExecutionPlan(jobGraph: JobGraph): ExecutionPlan {
  const numSlots = Math.max(...jobGraph.vertices.map((v) => v.parallelism));
  const slots: SlotSpec[] = [];
  for (let s = 0; s < numSlots; s++) {
    slots.push({
      index: s,
      subtasks: jobGraph.vertices
        .filter((v) => v.parallelism > s)
        .map((v) => ({
          vertex: v.index,
          subtaskIndex: s,
          parallelism: v.parallelism,
          keyGroups: computeKeyGroupRangeForOperatorIndex(jobGraph.maxParallelism, v.parallelism, s),
        })),
    });
  }
  const channels: ChannelSpec[] = [];
  for (const edge of jobGraph.edges) {
    const source = jobGraph.vertices[edge.sourceVertex]!;
    const target = jobGraph.vertices[edge.targetVertex]!;
    for (let t = 0; t < target.parallelism; t++) {
      for (let s = 0; s < source.parallelism; s++) {
        if (edge.partitioner === 'forward' && s !== t) continue;
        channels.push({
          index: channels.length,
          edge: edge.index,
          sourceVertex: source.index,
          sourceSubtask: s,
          targetVertex: target.index,
          targetSubtask: t,
        });
      }
    }
  }
  return { jobGraph, slots, channels };
}

/** The subtask of `vertex` that runs in slot `subtaskIndex` (slot i runs subtask i of every vertex). */
export function subtaskOf(plan: ExecutionPlan, vertex: number, subtaskIndex: number): SubtaskRef {
  const subtask = plan.slots[subtaskIndex]?.subtasks.find((s) => s.vertex === vertex);
  if (subtask === undefined) throw new Error(`bug: no subtask ${subtaskIndex} of task ${vertex} in the plan`);
  return subtask;
}

/** The channels a subtask reads, in input-gate order (by edge, then by producing subtask). */
export function inputChannelsOf(plan: ExecutionPlan, vertex: number, subtaskIndex: number): ChannelSpec[] {
  return plan.channels.filter((c) => c.targetVertex === vertex && c.targetSubtask === subtaskIndex);
}

/** The channels a subtask writes for one edge, indexed by the consuming subtask (forward: one). */
export function outputChannelsOf(plan: ExecutionPlan, edge: number, subtaskIndex: number): ChannelSpec[] {
  return plan.channels
    .filter((c) => c.edge === edge && c.sourceSubtask === subtaskIndex)
    .sort((a, b) => a.targetSubtask - b.targetSubtask);
}

/** A printable description of the plan, for `sluice plan` and snapshot tests. */
export function describePlan(plan: ExecutionPlan): string {
  const { jobGraph } = plan;
  const lines = [
    `job '${jobGraph.jobName}' (maxParallelism ${jobGraph.maxParallelism}, ${plan.slots.length} slots)`,
  ];
  for (const v of jobGraph.vertices) {
    // A local aggregation runs at the end of its producer's chain, before the exchange.
    const local = jobGraph.edges
      .filter((e) => e.sourceVertex === v.index && e.localAggregation)
      .map((e) => ` -> local-aggregate(${jobGraph.vertices[e.targetVertex]!.operatorIds[0]})`)
      .join('');
    lines.push(`  task ${v.index} [p=${v.parallelism}] ${v.operatorIds.join(' -> ')}${local}  (${v.name})`);
    for (const e of jobGraph.edges.filter((x) => x.targetVertex === v.index)) {
      const side = e.sideOutput === undefined ? '' : ` side output '${e.sideOutput}'`;
      const partials = e.localAggregation ? ', partial aggregates' : '';
      lines.push(`    <- task ${e.sourceVertex}${side} (${e.partitioner}${partials})`);
    }
  }
  return lines.join('\n');
}

/** Tasks a slot description names before it only counts the rest. */
const TASKS_NAMED = 4;

/** A slot as failure messages name it: its number, and the tasks it runs a subtask of. */
export function describeSlot(plan: ExecutionPlan, slotIndex: number): string {
  const tasks = (plan.slots[slotIndex]?.subtasks ?? []).map(
    ({ vertex }) => `'${plan.jobGraph.vertices[vertex]?.name ?? vertex}'`,
  );
  const named =
    tasks.length > TASKS_NAMED
      ? [...tasks.slice(0, TASKS_NAMED), `${tasks.length - TASKS_NAMED} more`]
      : tasks;
  return `slot ${slotIndex + 1}/${plan.slots.length} (subtask ${slotIndex + 1} of ${named.join(', ')})`;
}
