import { defineJob } from '../../index.ts';

/**
 * Runs until stopped, then hangs: its map says so on stderr at its 100th record and never returns
 * (an infinite loop in user code), so that no checkpoint or savepoint can complete.
 */
export default defineJob({ name: 'hangs' }, (env) => {
  let seen = 0;
  env
    .generate((i) => i, { ratePerSecond: 1000 })
    .map((n) => {
      if (++seen === 100) {
        process.stderr.write('hangs: spinning\n');
        for (;;) {
          // An infinite loop the optimiser cannot remove: the clock is read at every turn.
          if (Date.now() < 0) break;
        }
      }
      return n;
    })
    .filter(() => false)
    .print();
});
