import { MessageChannel } from 'node:worker_threads';
import { describe, expect, it } from 'vitest';
import {
  deserializeError,
  type FailureLocation,
  JobExecutionError,
  type SerializedError,
  serializeError,
} from './errors.ts';

/** Posts through a real MessagePort: what crosses from a slot thread is a structured clone. */
async function acrossThreads(serialized: SerializedError): Promise<SerializedError> {
  const { port1, port2 } = new MessageChannel();
  const received = new Promise<SerializedError>((resolve) => port2.once('message', resolve));
  port1.postMessage(serialized);
  const message = await received;
  port1.close();
  return message;
}

describe('serializeError / deserializeError', () => {
  it('keeps the stack, the code and the whole cause chain', async () => {
    const inner = Object.assign(new RangeError('inner'), { code: 'E_INNER' });
    const outer = new Error('outer', { cause: inner });
    const rebuilt = deserializeError(await acrossThreads(serializeError(outer)));
    expect(rebuilt.message).toBe('outer');
    expect(rebuilt.stack).toBe(outer.stack);
    const cause = rebuilt.cause as Error & { code?: string };
    expect(cause.name).toBe('RangeError');
    expect(cause.stack).toBe(inner.stack);
    expect(cause.code).toBe('E_INNER');
    expect(cause.cause).toBeUndefined();
  });

  it('bounds a cause chain that loops', () => {
    const error = new Error('loop');
    (error as { cause?: unknown }).cause = error;
    let depth = 0;
    for (let e: SerializedError | undefined = serializeError(error); e !== undefined; e = e.cause) depth++;
    expect(depth).toBeLessThanOrEqual(9);
  });

  it('describes a thrown non-error, as a cause too', () => {
    const rebuilt = deserializeError(serializeError(new Error('wrapped', { cause: 'a string' })));
    expect((rebuilt.cause as Error).message).toBe('non-error thrown: a string');
  });
});

describe('JobExecutionError', () => {
  const at: FailureLocation = {
    jobName: 'clicks',
    operatorId: 'count-1',
    operatorName: 'process',
    subtaskIndex: 1,
    parallelism: 4,
    record: "{ page: '/' }",
  };

  it('names the operator, subtask, record and cause', () => {
    const error = new JobExecutionError(at, new Error('boom'));
    expect(error.message).toBe(
      "operator 'count-1' (process) subtask 2/4 of job 'clicks' failed while processing record { page: '/' }: boom",
    );
    expect(error.userFunction).toBeUndefined();
  });

  it('names a key selector by the keyBy it belongs to and the subtask that ran it', () => {
    const error = new JobExecutionError(
      { ...at, userFunction: 'key selector', ranIn: 'source-0' },
      new Error('no key'),
    );
    expect(error.message).toBe(
      "key selector of operator 'count-1' (process), run in subtask 2/4 of 'source-0' of job 'clicks', failed while processing record { page: '/' }: no key",
    );
    expect(error.ranIn).toBe('source-0');
  });

  it('names the timer a timer callback failed in', () => {
    const error = new JobExecutionError(
      { ...at, record: undefined, userFunction: "event-time timer at 999 for key '/'" },
      new Error('window function failed'),
    );
    expect(error.message).toBe(
      "operator 'count-1' (process) subtask 2/4 of job 'clicks', in its event-time timer at 999 for key '/', failed: window function failed",
    );
  });
});
