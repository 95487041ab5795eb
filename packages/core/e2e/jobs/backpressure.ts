import { collectSink, defineJob, type Sink } from '@sluice/core';

export interface BackpressureArgs {
  readonly count: number;
  /** [0]: records generated, [1]: records the slow sink has taken. Shared with the test. */
  readonly counters: SharedArrayBuffer;
  /** Sink cost per record, in microseconds (it sleeps per batch). */
  readonly sinkMicrosPerRecord: number;
}

interface Payload {
  readonly seq: number;
  readonly padding: string;
}

function slowSink(counters: Int32Array, microsPerRecord: number): Sink<Payload> {
  return {
    name: 'slow',
    createWriter: (context) => {
      let batch = 0;
      const inner = collectSink<number>('seen').createWriter(context);
      return {
        write(value: Payload) {
          batch++;
          inner.write(value.seq, undefined);
        },
        flush() {
          const waitMs = (batch * microsPerRecord) / 1000;
          Atomics.add(counters, 1, batch);
          batch = 0;
          return new Promise<void>((resolve) => setTimeout(resolve, waitMs));
        },
        close: () => inner.close?.(),
      };
    },
  };
}

/** A source as fast as it can go, a sink about 100 times slower, a network channel between them. */
export default defineJob<BackpressureArgs>(
  { name: 'backpressure' },
  (env, { count, counters, sinkMicrosPerRecord }) => {
    const shared = new Int32Array(counters);
    env
      .generate(
        (seq): Payload => {
          Atomics.add(shared, 0, 1);
          return { seq, padding: 'x'.repeat(64) };
        },
        { count },
      )
      .rebalance()
      .sinkTo(slowSink(shared, sinkMicrosPerRecord));
  },
);
