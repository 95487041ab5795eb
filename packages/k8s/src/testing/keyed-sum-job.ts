/**
 * A job for the operator's tests that run a real job manager: unbounded, slow, with keyed state
 * in every key group range (a running sum per key), so that a savepoint holds state for every
 * slot and restoring it at another parallelism moves that state by key group. It prints nothing.
 */
import { defineJob } from '../../../core/src/index.ts';

export default defineJob({ name: 'keyed-sum' }, (env) => {
  env
    .generate((i) => ({ key: i % 64, value: i }), { ratePerSecond: 200 })
    .keyBy((r) => r.key)
    .reduce((a, b) => ({ key: a.key, value: a.value + b.value }))
    .filter(() => false)
    .print();
});
