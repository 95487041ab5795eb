import { collectSink, defineJob, seconds, tumbling } from '@sluice/core';

export type InvalidMode =
  | 'window-without-timestamps'
  | 'parallelism-above-max'
  | 'forward-mismatch'
  | 'duplicate-uid'
  | 'no-sink'
  | 'bad-set-parallelism'
  | 'build-throws';

/** Graphs that must be rejected before anything runs. */
export default defineJob<{ mode: InvalidMode }>({ name: 'invalid' }, (env, { mode }) => {
  const numbers = env.fromCollection([1, 2, 3]);
  switch (mode) {
    case 'window-without-timestamps':
      numbers
        .keyBy((n) => n % 2)
        .window(tumbling(seconds(1)))
        .reduce((a, b) => a + b)
        .sinkTo(collectSink('out'));
      return;
    case 'parallelism-above-max':
      numbers
        .map((n) => n)
        .setParallelism(300)
        .sinkTo(collectSink('out'));
      return;
    case 'forward-mismatch':
      numbers
        .map((n) => n)
        .setParallelism(2)
        .forward()
        .map((n) => n)
        .setParallelism(3)
        .sinkTo(collectSink('out'));
      return;
    case 'duplicate-uid':
      numbers
        .map((n) => n)
        .uid('twice')
        .map((n) => n)
        .uid('twice')
        .sinkTo(collectSink('out'));
      return;
    case 'no-sink':
      numbers.map((n) => n);
      return;
    case 'bad-set-parallelism':
      numbers.map((n) => n).setParallelism(0);
      return;
    case 'build-throws':
      throw new Error('cannot build');
  }
});
