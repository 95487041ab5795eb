import { MessageChannel } from 'node:worker_threads';
import { describe, expect, it } from 'vitest';
import { deserializeError, type SerializedError, serializeError } from './errors.ts';

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
