import { defineJob } from '../../index.ts';

/** A bounded job that succeeds: prints 2, 4, 6 (`--arg factor=n` multiplies by n instead). */
export default defineJob<{ factor?: number } | undefined>({ name: 'doubles' }, (env, args = {}) => {
  const factor = args.factor ?? 2;
  env
    .fromCollection([1, 2, 3])
    .map((n) => n * factor)
    .print();
});
