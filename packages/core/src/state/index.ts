/**
 * Keyed state: key groups, state descriptors, state interfaces, and the heap backend.
 *
 * The user-facing part (descriptors, `ValueState`, ...) is re-exported by the package's public
 * entry point; the `Internal*` interfaces and the backend are for operators and the runtime.
 */

export type {
  AggregateFunction,
  AggregatingStateDescriptor,
  ListStateDescriptor,
  MapStateDescriptor,
  ReducingStateDescriptor,
  StateDescriptor,
  StateKind,
  ValueStateDescriptor,
} from './descriptors.ts';
export { aggregatingState, listState, mapState, reducingState, valueState } from './descriptors.ts';
export type { StateErrorCode } from './errors.ts';
export { StateArgumentError, StateError } from './errors.ts';
export type { HeapKeyedStateBackendOptions, KeyGroupSnapshotEntry } from './heap-keyed-state-backend.ts';
export { HeapKeyedStateBackend } from './heap-keyed-state-backend.ts';
export type { Key } from './key-groups.ts';
export {
  assignToKeyGroup,
  computeKeyGroupRangeForOperatorIndex,
  computeOperatorIndexForKeyGroup,
  DEFAULT_MAX_PARALLELISM,
  hashKey,
  KeyGroupRange,
  MAX_MAX_PARALLELISM,
  validateMaxParallelism,
} from './key-groups.ts';
export type {
  AggregatingState,
  InternalAggregatingState,
  InternalKvState,
  InternalListState,
  InternalMapState,
  InternalMergingState,
  InternalReducingState,
  InternalState,
  InternalValueState,
  ListState,
  MapState,
  ReducingState,
  ValueState,
} from './state.ts';
export { DEFAULT_NAMESPACE } from './state.ts';
