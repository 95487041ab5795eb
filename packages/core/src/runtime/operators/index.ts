import {
  eventTimeTrigger,
  neverTrigger,
  processingTimeTrigger,
  type Trigger,
} from '../../contracts/window-trigger.ts';
import type { OperatorSpec } from '../../plan/stream-node.ts';
import type { Key } from '../../state/key-groups.ts';
import type { WindowAssigner } from '../../time/windows.ts';
import type { StreamOperator } from '../operator.ts';
import { AsyncWaitOperator } from './async-wait.ts';
import { BroadcastProcessOperator, KeyedBroadcastProcessOperator } from './broadcast-process.ts';
import { CoFlatMapOperator, CoMapOperator, CoProcessOperator, KeyedCoProcessOperator } from './co-process.ts';
import { IntervalJoinOperator } from './interval-join.ts';
import { KeyedProcessOperator } from './keyed-process.ts';
import { KeyedReduceOperator } from './keyed-reduce.ts';
import { ProcessOperator } from './process.ts';
import { SinkOperator } from './sink.ts';
import { FilterOperator, FlatMapOperator, MapOperator } from './stateless.ts';
import { TimestampsAndWatermarksOperator } from './timestamps.ts';
import { TriggeredWindowOperator } from './triggered-window.ts';
import { WindowOperator } from './window.ts';

/**
 * Builds the operator a node's spec asks for: the one place that maps a kind to its class. A slot
 * calls it once per operator and subtask when it deploys (the operator harness of
 * `@sluice/core/testing` once per harness), never per record. Keyed kinds get the key selector
 * their input is partitioned by.
 */
export function createOperator(
  spec: OperatorSpec,
  keySelector: ((value: unknown) => Key) | undefined,
  options: { readonly mergesPartials: boolean } = { mergesPartials: false },
): StreamOperator<unknown, unknown> {
  switch (spec.kind) {
    case 'map':
      return new MapOperator(spec.fn);
    case 'flatMap':
      return new FlatMapOperator(spec.fn);
    case 'filter':
      return new FilterOperator(spec.fn);
    case 'process':
      return new ProcessOperator(spec.fn);
    case 'keyedProcess':
      return new KeyedProcessOperator(spec.fn, keyed(spec, keySelector));
    case 'reduce':
      return new KeyedReduceOperator(spec.fn, keyed(spec, keySelector));
    case 'window':
      if (spec.trigger !== undefined || spec.evictor !== undefined || spec.assigner.kind === 'global') {
        return new TriggeredWindowOperator({
          assigner: spec.assigner,
          trigger: spec.trigger ?? defaultTrigger(spec.assigner),
          evictor: spec.evictor,
          allowedLatenessMs: spec.allowedLatenessMs,
          lateTag: spec.lateTag,
          keySelector: keyed(spec, keySelector),
          fn: spec.fn,
        });
      }
      return new WindowOperator({
        assigner: spec.assigner,
        allowedLatenessMs: spec.allowedLatenessMs,
        lateTag: spec.lateTag,
        keySelector: keyed(spec, keySelector),
        fn: spec.fn,
        mergesPartials: options.mergesPartials,
      });
    case 'timestamps':
      return new TimestampsAndWatermarksOperator(spec.options);
    case 'sink':
      return new SinkOperator(spec.sink);
    case 'coMap':
      return new CoMapOperator(spec.fn);
    case 'coFlatMap':
      return new CoFlatMapOperator(spec.fn);
    case 'coProcess':
      return new CoProcessOperator(spec.fn);
    case 'keyedCoProcess':
      return new KeyedCoProcessOperator(spec.fn, keyed(spec, keySelector), spec.keySelector2);
    case 'broadcastProcess':
      return new BroadcastProcessOperator(spec.fn, spec.descriptors);
    case 'keyedBroadcastProcess':
      return new KeyedBroadcastProcessOperator(spec.fn, keyed(spec, keySelector), spec.descriptors);
    case 'intervalJoin':
      return new IntervalJoinOperator(spec.fn, spec.bounds, keyed(spec, keySelector), [
        spec.leftLateTag,
        spec.rightLateTag,
      ]);
    case 'async':
      return new AsyncWaitOperator(spec.fn, spec.options, spec.flat);
    default: {
      const unknownSpec: never = spec;
      throw new Error(`bug: no operator for kind '${(unknownSpec as OperatorSpec).kind}'`);
    }
  }
}

function keyed(
  spec: OperatorSpec,
  keySelector: ((value: unknown) => Key) | undefined,
): (value: unknown) => Key {
  if (keySelector === undefined) throw new Error(`bug: a '${spec.kind}' operator needs a keyed input`);
  return keySelector;
}

/** Flink's defaults: event-time windows fire by the watermark, processing-time ones by the clock, the global window never. */
function defaultTrigger(assigner: WindowAssigner): Trigger<unknown> {
  if (assigner.kind === 'global') return neverTrigger();
  return assigner.isEventTime ? eventTimeTrigger() : processingTimeTrigger();
}
