import {
  type Collector,
  collectSink,
  defineJob,
  type KeyedProcessContext,
  type KeyedProcessFunction,
  listState,
  mapState,
  type Source,
  valueState,
} from '@sluice/core';

export const TTL_MS = 1_000;

export interface Visit {
  readonly user: string;
  readonly page: string;
  /** Which step of the test sent it, to sort the output. */
  readonly step: number;
}

export interface Seen {
  readonly user: string;
  readonly step: number;
  /** The user's previous page, if visited less than TTL_MS ago (value state, onCreateAndWrite). */
  readonly previous: string | null;
  /** Pages of the user's recent visits (list state, onReadAndWrite: each read renews them). */
  readonly recent: string[];
  /** Visits of this page by this user (map state, per entry): counted again once it expired. */
  readonly visitsOfPage: number;
}

/** Stands in for an unbounded source: the tests feed the job through the driver. */
const visits: Source<Visit> = {
  name: 'visits',
  boundedness: 'unbounded',
  createReader: () => ({ poll: () => 1 }),
};

const previous = valueState<string>('previous', { ttl: { ttlMs: TTL_MS } });
const recent = listState<string>('recent', { ttl: { ttlMs: TTL_MS, updateType: 'onReadAndWrite' } });
const pages = mapState<string, number>('pages', {
  ttl: { ttlMs: TTL_MS, cleanup: { incremental: { entriesPerAccess: 2, entriesPerBatch: 10 } } },
});

class Sessions implements KeyedProcessFunction<string, Visit, Seen> {
  processElement(visit: Visit, ctx: KeyedProcessContext<string>, out: Collector<Seen>): void {
    const last = ctx.getState(previous);
    const list = ctx.getState(recent);
    const perPage = ctx.getState(pages);
    const visitsOfPage = (perPage.get(visit.page) ?? 0) + 1;
    out.collect({
      user: visit.user,
      step: visit.step,
      previous: last.value() ?? null,
      recent: list.get(),
      visitsOfPage,
    });
    last.update(visit.page);
    list.add(visit.page);
    perPage.put(visit.page, visitsOfPage);
  }
}

/** Remembers each user's recent pages for TTL_MS of processing time. */
export default defineJob({ name: 'ttl-state' }, (env) => {
  env
    .fromSource(visits, { uid: 'visits' })
    .keyBy((visit) => visit.user)
    .process(new Sessions())
    .uid('sessions')
    .sinkTo(collectSink('seen'))
    .uid('seen');
});
