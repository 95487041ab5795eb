import { defineJob, type Sink } from '@sluice/core';

export interface BackpressuredArgs {
  readonly count: number;
  /**
   * The sink's flush waits until Int32 0 of this is not 0: until then, what it does not take
   * backs up. Int32 1 counts the records the sink wrote.
   */
  readonly gate: SharedArrayBuffer;
  /** The one key every record gets: the test picks one whose key group sink subtask 1 owns. */
  readonly key: number;
}

function gatedSink(gate: SharedArrayBuffer): Sink<number> {
  const cells = new Int32Array(gate);
  return {
    name: 'gated',
    createWriter: () => ({
      write: () => {
        Atomics.add(cells, 1, 1);
      },
      flush: () =>
        new Promise<void>((resolve) => {
          const look = (): void => {
            if (Atomics.load(cells, 0) !== 0) resolve();
            else setTimeout(look, 5);
          };
          look();
        }),
    }),
  };
}

/**
 * A source (p1, in slot 0) that a slow sink holds back until the test opens the gate: every
 * record goes to sink subtask 1 (slot 1), through the one ring between the two threads.
 */
export default defineJob<BackpressuredArgs>({ name: 'backpressured' }, (env, args) => {
  env
    .generate((i) => i, { count: args.count, uid: 'numbers', parallelism: 1 })
    .keyBy(() => args.key)
    .sinkTo(gatedSink(args.gate))
    .uid('gated');
});
