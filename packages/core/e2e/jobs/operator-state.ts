import {
  type Collector,
  collectSink,
  defineJob,
  type ListState,
  type OperatorStateAccess,
  type ProcessFunction,
  type RuntimeContext,
} from '@sluice/core';

export interface OperatorStateArgs {
  readonly events: number;
  readonly ratePerSecond: number;
}

export interface Progress {
  /** Which counter this is: the subtask that created it, kept across restores. */
  readonly counter: number;
  readonly count: number;
}

/**
 * Counts records in operator (non-keyed) list state: one item per counter, created by the
 * subtask that first ran and carried through checkpoints and restores.
 */
class CountInOperatorState implements ProcessFunction<number, Progress> {
  #counters!: ListState<[counter: number, count: number]>;
  #subtask = 0;

  open(context: RuntimeContext & OperatorStateAccess): void {
    this.#subtask = context.subtaskIndex;
    this.#counters = context.getListState('counters');
    if (this.#counters.get().length === 0) this.#counters.add([context.subtaskIndex, 0]);
  }

  processElement(_value: number, _ctx: unknown, out: Collector<Progress>): void {
    const counters = this.#counters.get();
    const [counter, count] = counters[0]!;
    counters[0] = [counter, count + 1];
    this.#counters.update(counters);
    out.collect({ counter, count: count + 1 });
    void this.#subtask;
  }
}

export default defineJob<OperatorStateArgs>({ name: 'operator-state' }, (env, { events, ratePerSecond }) => {
  env
    .generate((i) => i, { count: events, ratePerSecond })
    .process(new CountInOperatorState())
    .uid('counter')
    .sinkTo(collectSink('progress'));
});
