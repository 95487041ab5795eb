import type { StreamNode } from './stream-node.ts';

/**
 * Whether a window can be pre-aggregated before its keyBy exchange (two-phase, "local-global"
 * aggregation as Flink SQL's `TwoStageOptimizedAggregateRule` plans it): each producing subtask
 * folds the records of one input batch into a partial accumulator per key and window, and the
 * window operator merges partials instead of adding records. Results are the same when the
 * window's contents can be merged and nothing needs the original records:
 *
 * - a fixed-size window (tumbling or sliding): session windows merge windows, and a first version
 *   keeps them as they are;
 * - event time: a processing-time window is chosen by the receiver's clock when the record
 *   arrives, which the sender cannot know (Flink SQL does not split processing-time windows
 *   either);
 * - the default trigger and no evictor: triggers and evictors see single records;
 * - no side output for late data: it is made of the original records;
 * - `reduce` (a reduce merges with itself) or `aggregate` whose AggregateFunction has `merge`.
 */
export function isPreAggregatable(node: StreamNode): boolean {
  const spec = node.operator;
  if (spec?.kind !== 'window' || node.inputs.length === 0) return false;
  const { assigner, fn } = spec;
  if (assigner.kind !== 'tumbling' && assigner.kind !== 'sliding') return false;
  if (!assigner.isEventTime) return false;
  // Panes are gcd(size, slide) long: whole milliseconds.
  const slide = assigner.kind === 'sliding' ? assigner.slide : assigner.size;
  if (![assigner.size, slide, assigner.offset].every(Number.isSafeInteger)) return false;
  if (spec.trigger !== undefined || spec.evictor !== undefined || spec.lateTag !== undefined) return false;
  if (fn.kind === 'reduce') return true;
  return fn.kind === 'aggregate' && typeof fn.aggregate.merge === 'function';
}
