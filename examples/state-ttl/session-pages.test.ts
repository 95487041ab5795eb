import { type DataStream, minutes } from '@sluice/core';
import { createOperatorHarness } from '@sluice/core/testing';
import { expect, test } from 'vitest';
import { type PageView, pagesInSession, type ViewInSession } from './session-pages.ts';

const build = (views: DataStream<PageView>) => views.keyBy((view) => view.user).process(pagesInSession);

test('forgets a user’s pages 30 minutes after their last view', async () => {
  const harness = await createOperatorHarness<PageView, ViewInSession>(build);
  harness.processElement({ user: 'ann', page: '/a' });
  harness.setProcessingTime(minutes(29));
  harness.processElement({ user: 'ann', page: '/b' }); // reads '/a' and renews it
  harness.setProcessingTime(minutes(59) - 1);
  harness.processElement({ user: 'ann', page: '/c' });
  harness.setProcessingTime(minutes(89) - 1); // 30 minutes after the last view: all expired
  harness.processElement({ user: 'ann', page: '/d' });
  expect(harness.outputValues().map((v) => v.before)).toEqual([[], ['/a'], ['/a', '/b'], []]);
});

test('keeps the time of each page through a snapshot: what expired meanwhile is gone after a restore', async () => {
  const harness = await createOperatorHarness<PageView, ViewInSession>(build);
  harness.processElement({ user: 'ann', page: '/a' });
  harness.processElement({ user: 'bo', page: '/b' });
  harness.setProcessingTime(minutes(20));
  harness.processElement({ user: 'bo', page: '/c' }); // renews '/b'
  const snapshot = await harness.snapshot();
  const restored = await createOperatorHarness<PageView, ViewInSession>(build, {
    restore: snapshot,
    processingTimeMs: minutes(35),
  });
  restored.processElement({ user: 'ann', page: '/x' }); // '/a' is 35 minutes old
  restored.processElement({ user: 'bo', page: '/y' }); // '/b' and '/c' are 15 minutes old
  expect(restored.outputValues()).toEqual([
    { user: 'ann', page: '/x', before: [] },
    { user: 'bo', page: '/y', before: ['/b', '/c'] },
  ]);
});
