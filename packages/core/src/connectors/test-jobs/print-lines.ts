import { count, defineJob, tumbling } from '../../index.ts';

/**
 * Prints one line per key and 1-second window as the watermark passes it — throughout the run and
 * up to its very end, which is where lines on their way to stdout used to be lost: event i has key
 * `k${i % 7}` and time i × 10 ms; a line is `<key> <window start> <count> <width × 'x'>`.
 */
export default defineJob<{ events?: number; width?: number }>({ name: 'print-lines' }, (env, args) => {
  const events = args?.events ?? 6_000;
  const padding = 'x'.repeat(args?.width ?? 40);
  env
    .generate((i) => ({ key: `k${i % 7}`, ts: i * 10 }), { count: events })
    .assignTimestamps({ timestamp: (event) => event.ts })
    .keyBy((event) => event.key)
    .window(tumbling(1000))
    .aggregate(count(), (key, window, n) => `${key} ${window.start} ${n} ${padding}`)
    .print();
});
