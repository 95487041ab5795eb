import type {
  BroadcastProcessFunction,
  CoFlatMapFunction,
  CoMapFunction,
  CoProcessFunction,
  KeyedBroadcastProcessFunction,
  KeyedCoProcessFunction,
} from '../contracts/co-functions.ts';
import type { MapStateDescriptor } from '../state/descriptors.ts';
import type { Key } from '../state/key-groups.ts';

/** A broadcast state descriptor of any key and value type (descriptors are invariant in them). */
export type AnyMapStateDescriptor = Pick<MapStateDescriptor<Key, unknown>, 'kind' | 'name'>;

/**
 * What a two-input operator does, as `connect(...)` recorded it (see `OperatorSpec`). The keyed
 * kinds get their first input's key selector from the node, as one-input keyed kinds do;
 * `keyedCoProcess` carries the second input's own.
 */
export type CoOperatorSpec =
  | { readonly kind: 'coMap'; readonly fn: CoMapFunction<unknown, unknown, unknown> }
  | { readonly kind: 'coFlatMap'; readonly fn: CoFlatMapFunction<unknown, unknown, unknown> }
  | { readonly kind: 'coProcess'; readonly fn: CoProcessFunction<unknown, unknown, unknown> }
  | {
      readonly kind: 'keyedCoProcess';
      readonly fn: KeyedCoProcessFunction<Key, unknown, unknown, unknown>;
      readonly keySelector2: (value: unknown) => Key;
    }
  | {
      readonly kind: 'broadcastProcess';
      readonly fn: BroadcastProcessFunction<unknown, unknown, unknown>;
      readonly descriptors: readonly AnyMapStateDescriptor[];
    }
  | {
      readonly kind: 'keyedBroadcastProcess';
      readonly fn: KeyedBroadcastProcessFunction<Key, unknown, unknown, unknown>;
      readonly descriptors: readonly AnyMapStateDescriptor[];
    };
