import { collectSink, defineJob, type Source } from '@sluice/core';
// Registers the e2e.Money class at the top level, in every thread that loads this job.
import './records.ts';

export interface Tagged {
  readonly id: number;
  readonly key: number;
  readonly value: unknown;
}

/** Stands in for an unbounded source: the tests drive it with JobTestDriver. */
const values: Source<Tagged> = {
  name: 'values',
  boundedness: 'unbounded',
  createReader: () => ({ poll: () => 1 }),
};

/** Every value through a keyBy and through a rebalance, each followed by a map that adds a field. */
export default defineJob({ name: 'record-shuffle' }, (env) => {
  const input = env.fromSource(values, { uid: 'values' });
  input
    .keyBy((tagged) => tagged.key)
    .map((tagged) => ({ ...tagged, route: 'keyed' }))
    .sinkTo(collectSink('keyed'))
    .uid('keyed');
  input
    .rebalance()
    .map((tagged) => ({ ...tagged, route: 'rebalanced' }))
    .sinkTo(collectSink('rebalanced'))
    .uid('rebalanced');
});
