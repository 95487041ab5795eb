import { defineJob } from '../../index.ts';

// The CLI tests look for this file's name in stack frames: both errors are thrown here, in a
// worker thread, and must reach the main thread's --debug output with their stacks.
function toCents(text: string): number {
  const cents = Math.round(Number(text) * 100);
  if (!Number.isSafeInteger(cents)) throw new RangeError(`${JSON.stringify(text)} is not a number`);
  return cents;
}

function parsePrice(text: string): number {
  try {
    return toCents(text);
  } catch (error) {
    throw new Error(`not a price: '${text}'`, { cause: error });
  }
}

/** Fails on its third record. rebalance() puts the map in a task of its own, which knows the record it failed on. */
export default defineJob({ name: 'failing-map' }, (env) => {
  env.fromCollection(['1', '2', 'oops']).rebalance().map(parsePrice).uid('parse-price').print();
});
