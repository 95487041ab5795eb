import { describe, expect, it } from 'vitest';
import { SendPipeline } from './send-pipeline.ts';

/** A send whose requests the test completes by hand, recording what each request held. */
function manualSend() {
  const requests: Array<{ records: number[]; resolve: () => void; reject: (e: Error) => void }> = [];
  const send = (records: number[]) =>
    new Promise<void>((resolve, reject) => {
      requests.push({ records, resolve, reject });
    });
  return { requests, send };
}

const tick = () => new Promise((resolve) => setImmediate(resolve));

describe('SendPipeline', () => {
  it('sends one request at a time, joining what arrives meanwhile, in order', async () => {
    const { requests, send } = manualSend();
    const pipeline = new SendPipeline<number>(send, 100);
    expect(pipeline.add([1, 2])).toBeUndefined();
    expect(pipeline.add([3])).toBeUndefined();
    expect(pipeline.add([4, 5])).toBeUndefined();
    expect(requests.map((r) => r.records)).toEqual([[1, 2]]);
    requests[0]!.resolve();
    await tick();
    expect(requests.map((r) => r.records)).toEqual([
      [1, 2],
      [3, 4, 5],
    ]);
    const drained = pipeline.drain();
    let done = false;
    void drained.then(() => (done = true));
    await tick();
    expect(done).toBe(false);
    requests[1]!.resolve();
    await drained;
    expect(requests).toHaveLength(2);
  });

  it('makes the caller wait for the request on the wire once maxPending records wait', async () => {
    const { requests, send } = manualSend();
    const pipeline = new SendPipeline<number>(send, 3);
    expect(pipeline.add([1])).toBeUndefined();
    expect(pipeline.add([2, 3])).toBeUndefined();
    const wait = pipeline.add([4]);
    expect(wait).toBeInstanceOf(Promise);
    let released = false;
    void wait!.then(() => (released = true));
    await tick();
    expect(released).toBe(false);
    requests[0]!.resolve();
    await wait;
    await tick();
    expect(requests.map((r) => r.records)).toEqual([[1], [2, 3, 4]]);
    requests[1]!.resolve();
    await pipeline.drain();
  });

  it('fails every later call with the first failure, and never leaves a rejection unhandled', async () => {
    const { requests, send } = manualSend();
    const pipeline = new SendPipeline<number>(send, 100);
    pipeline.add([1]);
    pipeline.add([2]);
    requests[0]!.reject(new Error('broker says no'));
    await tick();
    expect(requests).toHaveLength(1);
    expect(() => pipeline.add([3])).toThrow('broker says no');
    await expect(pipeline.drain()).rejects.toThrow('broker says no');
  });

  it('ignores empty hand-overs and drains at once when idle', async () => {
    const { requests, send } = manualSend();
    const pipeline = new SendPipeline<number>(send, 1);
    expect(pipeline.add([])).toBeUndefined();
    await pipeline.drain();
    expect(requests).toHaveLength(0);
  });
});
