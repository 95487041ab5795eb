import { collectSink, defineJob, type Source } from '@sluice/core';
import type { PageView } from './page-views.ts';

const neverEnding: Source<PageView> = {
  name: 'page views',
  boundedness: 'unbounded',
  createReader: () => ({ poll: () => 1 }),
};

/** Pages per view, keyed by user; a view of '/boom' makes the function throw. */
export default defineJob({ name: 'failing-views' }, (env) => {
  env
    .fromSource(neverEnding, { uid: 'views' })
    .keyBy((view) => view.user)
    .map((view) => {
      if (view.page === '/boom') throw new Error(`boom for ${view.user}`);
      return view.page;
    })
    .sinkTo(collectSink('pages'))
    .uid('pages');
});
