import { type KeyedProcessFunction, listState, minutes } from '@sluice/core';

export interface PageView {
  readonly user: string;
  readonly page: string;
}

export interface ViewInSession {
  readonly user: string;
  readonly page: string;
  /** The pages the user viewed before this one, in this session. */
  readonly before: string[];
}

/**
 * A user's pages, forgotten 30 minutes (processing time) after their last view: with
 * 'onReadAndWrite', every read renews the pages it returns, so a session lasts while the user is
 * active.
 */
const sessionPages = listState<string>('session-pages', {
  ttl: { ttlMs: minutes(30), updateType: 'onReadAndWrite' },
});

export const pagesInSession: KeyedProcessFunction<string, PageView, ViewInSession> = {
  processElement(view, ctx, out) {
    const pages = ctx.getState(sessionPages);
    out.collect({ user: view.user, page: view.page, before: pages.get() });
    pages.add(view.page);
  },
};
