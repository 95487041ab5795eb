import { defineJob } from '../../index.ts';

/** Runs until stopped: a slow unbounded generator whose records are all dropped, so it prints nothing. */
export default defineJob({ name: 'unbounded' }, (env) => {
  env
    .generate((i) => i, { ratePerSecond: 100 })
    .filter(() => false)
    .print();
});
