// The public surface of @sluice/core/testing: helpers for testing your own operators and jobs.

export {
  JobTestDriver,
  type JobTestDriverOptions,
  type SendOptions,
  type TestInput,
  type TestOutput,
} from './job-test-driver.ts';
export { createOperatorHarness, OperatorHarness, type OperatorHarnessOptions } from './operator-harness.ts';
export type { HarnessEvent, HarnessRecord } from './operator-harness-output.ts';
export type { OperatorHarnessSnapshot } from './operator-harness-state.ts';
