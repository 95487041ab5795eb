import { collectSink, count, defineJob, type Source, tumbling } from '@sluice/core';

export interface PageView {
  readonly user: string;
  readonly page: string;
}

/** Stands in for Kafka or any unbounded source: the tests replace it with driven input. */
const neverEnding: Source<PageView> = {
  name: 'page views',
  boundedness: 'unbounded',
  createReader: () => ({ poll: () => 1 }),
};

/** Views per user per processing-time minute. */
export default defineJob({ name: 'page-views' }, (env) => {
  env
    .fromSource(neverEnding, { uid: 'views' })
    .keyBy((view) => view.user)
    .window(tumbling(60_000, { time: 'processing' }))
    .aggregate(count(), (user, window, n) => ({ user, minute: window.start / 60_000, n }))
    .sinkTo(collectSink('per-minute'))
    .uid('per-minute');
});
