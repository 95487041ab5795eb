import type { ReduceFunction } from '../../contracts/functions.ts';
import { valueState } from '../../state/descriptors.ts';
import type { Key } from '../../state/key-groups.ts';
import type { ValueState } from '../../state/state.ts';
import { AbstractKeyedOperator } from './keyed.ts';

const REDUCE_STATE = valueState<unknown>('__reduce');

/** Flink's rolling reduce: for each record, emits the reduction of its key's records so far. */
export class KeyedReduceOperator extends AbstractKeyedOperator<unknown, unknown> {
  readonly #reduce: ReduceFunction<unknown>;
  #state!: ValueState<unknown>;

  constructor(reduce: ReduceFunction<unknown>, keySelector: (value: unknown) => Key) {
    super(keySelector);
    this.#reduce = reduce;
  }

  override open(): void {
    this.#state = this.backend.getState(REDUCE_STATE);
  }

  processKeyedElement(value: unknown, timestamp: number, key: Key, keyGroup: number): void {
    this.backend.setCurrentKey(key, keyGroup);
    const current = this.#state.value();
    const next = current === undefined ? value : this.#reduce(current, value);
    this.#state.update(next);
    this.output.collect(next, timestamp);
  }

  protected onEventTime(): void {}
  protected onProcessingTime(): void {}
}
