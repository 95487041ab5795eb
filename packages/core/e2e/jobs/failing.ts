import { collectSink, defineJob, type Sink } from '@sluice/core';

export type FailingMode =
  | 'map-throws'
  | 'key-selector-object'
  | 'sink-flush-rejects'
  | 'source-open-rejects'
  | 'state-without-keyby'
  | 'stuck-close'
  | 'hoards-memory'
  | 'exits'
  | 'throws-later';

export interface FailingArgs {
  readonly mode: FailingMode;
  readonly poison: number;
  readonly count: number;
}

/** A sink whose close never settles: the job must still end when something else fails. */
const stuckSink: Sink<number> = {
  name: 'stuck',
  createWriter: () => ({
    write() {},
    close: () => new Promise<void>(() => {}),
  }),
};

const rejectingSink: Sink<number> = {
  name: 'rejecting',
  createWriter: () => ({
    write() {},
    flush: () => Promise.reject(new Error('disk full')),
  }),
};

/** What `hoards-memory` keeps: every record, with a string of 1 KB, for as long as the thread lives. */
const hoard: string[] = [];

/** Jobs whose user code fails in a known place, to check errors and cleanup. */
export default defineJob<FailingArgs>({ name: 'failing' }, (env, { mode, poison, count }) => {
  const numbers = env.fromSequence(0, count - 1);
  switch (mode) {
    case 'map-throws':
      numbers
        .rebalance()
        .map((n) => {
          if (n === poison) throw new Error(`boom at ${n}`);
          return n;
        })
        .keyBy((n) => n % 3)
        .reduce((a, b) => a + b)
        .sinkTo(collectSink('out'));
      return;
    case 'key-selector-object':
      numbers
        .keyBy((n) => ({ n }) as unknown as string)
        .reduce((a, b) => a + b)
        .sinkTo(collectSink('out'));
      return;
    case 'sink-flush-rejects':
      numbers.rebalance().sinkTo(rejectingSink);
      return;
    case 'stuck-close':
      numbers
        .rebalance()
        .map((n) => {
          if (n === poison) throw new Error(`boom at ${n}`);
          return n;
        })
        .sinkTo(stuckSink);
      return;
    case 'hoards-memory':
      // Live heap beyond the slot's old-generation limit: the thread dies out of memory.
      numbers
        .map((n) => {
          hoard.push(`${n}`.padEnd(1024, '.'));
          return n;
        })
        .sinkTo(collectSink('out'));
      return;
    case 'exits':
      // What a script's habit does in a slot: process.exit() ends the thread, not the process.
      numbers
        .rebalance()
        .map((n) => {
          if (n === poison) process.exit(3);
          return n;
        })
        .sinkTo(collectSink('out'));
      return;
    case 'throws-later':
      // An error thrown outside any record: a callback of the user's own, a turn later.
      numbers
        .rebalance()
        .map((n) => {
          if (n === poison)
            setImmediate(() => {
              throw new Error(`late boom after ${n}`);
            });
          return n;
        })
        .sinkTo(collectSink('out'));
      return;
    case 'state-without-keyby':
      // What plain JavaScript (or a cast) can do: a keyed function on a stream without keyBy.
      numbers
        .process({
          processElement(value, ctx, out) {
            (ctx as unknown as { getState(d: unknown): unknown }).getState('count');
            out.collect(value);
          },
        })
        .sinkTo(collectSink('out'));
      return;
    case 'source-open-rejects':
      env
        .fromSource({
          name: 'broken-source',
          boundedness: 'bounded',
          createReader: () => ({
            open: () => Promise.reject(new Error('connection refused')),
            poll: () => 2,
          }),
        })
        .sinkTo(collectSink('out'));
      return;
  }
});
