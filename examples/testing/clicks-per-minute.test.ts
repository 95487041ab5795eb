import { createOperatorHarness } from '@sluice/core/testing';
import { expect, test } from 'vitest';
import { clicksPerMinute } from './clicks-per-minute.ts';

test('reports a user’s clicks one minute after the first', async () => {
  const harness = await createOperatorHarness<string, string>((users) =>
    users.keyBy((user) => user).process(clicksPerMinute),
  );
  harness.processElement('ann');
  harness.setProcessingTime(59_999);
  harness.processElement('ann'); // a click at 59.999 s still counts: the timer has not fired
  harness.setProcessingTime(60_000);
  expect(harness.output()).toEqual([{ value: 'ann: 2 clicks', timestamp: 60_000 }]);
});
