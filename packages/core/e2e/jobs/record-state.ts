import {
  type Collector,
  collectSink,
  defineJob,
  type KeyedProcessContext,
  type KeyedProcessFunction,
  listState,
  registerType,
  type Source,
  valueState,
} from '@sluice/core';
import { LedgerError } from './records.ts';

/** One update of a key's state: the value to keep, of any type the record contract carries. */
export interface Update {
  readonly key: number;
  readonly value: unknown;
}

/** What a key held before an update (`undefined` for the first), and every value it was given. */
export interface Held {
  readonly key: number;
  readonly previous: unknown;
  readonly history: unknown[];
}

/** Stands in for an unbounded source: the tests drive it with JobTestDriver. */
const updates: Source<Update> = {
  name: 'updates',
  boundedness: 'unbounded',
  createReader: () => ({ poll: () => 1 }),
};

/**
 * Keeps each key's latest value in value state and every value in list state, and emits what
 * the key held before each update: what state gives back, after checkpoints, restores at another
 * parallelism and (LevelDB) evictions to disk, must be exactly what was put in.
 */
class Keep implements KeyedProcessFunction<number, Update, Held> {
  readonly latest = valueState<unknown>('latest');
  readonly all = listState<unknown>('all');
  readonly #keepsFunction: number | undefined;

  constructor(keepsFunction: number | undefined) {
    this.#keepsFunction = keepsFunction;
  }

  processElement(update: Update, ctx: KeyedProcessContext<number>, out: Collector<Held>): void {
    const latest = ctx.getState(this.latest);
    const all = ctx.getState(this.all);
    out.collect({ key: update.key, previous: latest.value(), history: [...all.get()] });
    // What no record may hold, kept in state: refused when the state is written or checkpointed.
    const value =
      update.key === this.#keepsFunction ? { handler: { onEvent: () => update.key } } : update.value;
    latest.update(value);
    all.add(update.value);
  }
}

export interface RecordStateArgs {
  /** The key whose value state gets a function instead of its value. */
  readonly keepsFunction?: number;
}

export default defineJob<RecordStateArgs>({ name: 'record-state' }, (env, args) => {
  registerType(LedgerError, { name: 'e2e.LedgerError' });
  env
    .fromSource(updates, { uid: 'updates' })
    .keyBy((update) => update.key)
    .process(new Keep(args?.keepsFunction))
    .uid('keep')
    .sinkTo(collectSink('held'))
    .uid('held');
});
