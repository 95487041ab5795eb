import { defineJob } from '@sluice/core';

/** An unbounded generator the test does not drive: the job always has work. */
export default defineJob({ name: 'never-quiet' }, (env) => {
  env
    .generate((i) => i, { uid: 'numbers' })
    .filter(() => false)
    .print();
});
