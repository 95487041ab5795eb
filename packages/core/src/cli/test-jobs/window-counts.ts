import { count, defineJob, tumbling } from '../../index.ts';

/** A bounded job with an event-time window whose input is pre-aggregated: prints a count per key. */
export default defineJob({ name: 'window-counts' }, (env) => {
  env
    .fromCollection([
      { key: 'a', ts: 1 },
      { key: 'b', ts: 2 },
      { key: 'a', ts: 3 },
    ])
    .assignTimestamps({ timestamp: (e) => e.ts })
    .keyBy((e) => e.key)
    .window(tumbling(10))
    .aggregate(count(), (key, _window, n) => `${key}=${n}`)
    .print();
});
