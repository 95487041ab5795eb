/**
 * A real second process as the other end: the relay in `testing/relay.test-process.ts`, run by
 * the same Node binary. Records make a round trip through it, exact and in order, with their
 * control elements; a relay killed with SIGKILL mid-stream leaves this side with typed errors.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { ChannelItem } from '../channel.ts';
import { DataPlane } from './data-plane.ts';
import { TransportError } from './errors.ts';
import { Wakeups } from './testing/tcp-test-helpers.ts';

const relayEntry = fileURLToPath(new URL('./testing/relay.test-process.ts', import.meta.url));

const children: ChildProcess[] = [];
const planes: DataPlane[] = [];
afterEach(async () => {
  for (const child of children.splice(0)) if (child.exitCode === null) child.kill('SIGKILL');
  for (const plane of planes.splice(0)) await plane.close();
});

async function startRelay(
  secret: Buffer,
): Promise<{ child: ChildProcess; port: number; exited: Promise<number | null> }> {
  const child = spawn(process.execPath, [relayEntry], {
    env: { ...process.env, SLUICE_CLUSTER_SECRET: secret.toString('utf8') },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  children.push(child);
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const lines = createInterface({ input: child.stdout! });
  const first = await new Promise<string>((resolve, reject) => {
    lines.once('line', resolve);
    child.once('exit', (code) => reject(new Error(`relay exited with ${code} before printing its port`)));
  });
  return { child, port: (JSON.parse(first) as { port: number }).port, exited };
}

describe('a task manager in another process', () => {
  it('relays records back exactly and in order, with barriers, watermarks and end of input in band', async () => {
    const secret = Buffer.from(randomBytes(32).toString('hex'));
    const relay = await startRelay(secret);
    const plane = await DataPlane.start({ id: 'tm-parent', secret, bufferBytes: 1024, buffersPerChannel: 2 });
    planes.push(plane);
    const connection = await plane.connect('tm-child', '127.0.0.1', relay.port);
    const wakeups = new Wakeups();
    const sender = connection.sender(0, wakeups.wake);
    const receiver = connection.receiver(1, wakeups.wake);

    const batches = 200;
    const events: Array<number | string> = [];
    let next = 0;
    let ended = false;
    let sawBlocked = false;
    while (!ended) {
      const seen = wakeups.count;
      let progressed = sender.isBlocked && sender.flushPending();
      while (!sender.isBlocked && next <= batches) {
        if (next === batches) sender.sendEndOfInput();
        else {
          sender.sendBatch(
            Array.from({ length: 25 }, (_, i) => next * 25 + i),
            null,
            false,
          );
          if (next % 50 === 49) sender.sendBarrier(next);
          if (next % 20 === 19) sender.sendWatermark(next);
        }
        next++;
        progressed = true;
      }
      if (sender.isBlocked) sawBlocked = true;
      for (let kind = receiver.receive(); kind !== ChannelItem.None; kind = receiver.receive()) {
        progressed = true;
        if (kind === ChannelItem.Batch) events.push(...(receiver.values as number[]));
        else if (kind === ChannelItem.Barrier) events.push(`barrier ${receiver.checkpointId}`);
        else if (kind === ChannelItem.Watermark) events.push(`watermark ${receiver.watermark}`);
        else if (kind === ChannelItem.EndOfInput) ended = true;
      }
      if (!progressed) await wakeups.after(seen);
    }
    // The independent answer: the same sequence built with a plain loop.
    const expected: Array<number | string> = [];
    for (let b = 0; b < batches; b++) {
      for (let i = 0; i < 25; i++) expected.push((b * 25 + i) * 2);
      if (b % 50 === 49) expected.push(`barrier ${b}`);
      if (b % 20 === 19) expected.push(`watermark ${b}`);
    }
    expect(events).toEqual(expected);
    // 200 batches against 2 buffers of credit: the sender must have waited for the relay.
    expect(sawBlocked).toBe(true);
    connection.close();
    expect(await relay.exited).toBe(0);
  }, 60_000);

  it('a relay killed with SIGKILL mid-stream: this side gets typed errors, no hang', async () => {
    const secret = Buffer.from(randomBytes(32).toString('hex'));
    const relay = await startRelay(secret);
    const plane = await DataPlane.start({ id: 'tm-parent', secret, bufferBytes: 1024, buffersPerChannel: 2 });
    planes.push(plane);
    const connection = await plane.connect('tm-child', '127.0.0.1', relay.port);
    const closed = new Promise<TransportError | undefined>((resolve) => connection.onClose(resolve));
    const wakeups = new Wakeups();
    const sender = connection.sender(0, wakeups.wake);
    const receiver = connection.receiver(1, wakeups.wake);
    let received = 0;
    let killed = false;
    let senderError: unknown;
    let receiverError: unknown;
    let next = 0;
    while (senderError === undefined || receiverError === undefined) {
      const seen = wakeups.count;
      let progressed = false;
      try {
        if (senderError === undefined) {
          if (sender.isBlocked) progressed = sender.flushPending();
          else {
            sender.sendBatch([next++], null, false);
            progressed = true;
          }
        }
      } catch (error) {
        senderError = error;
      }
      try {
        if (receiverError === undefined) {
          for (let kind = receiver.receive(); kind !== ChannelItem.None; kind = receiver.receive()) {
            expect(receiver.values).toEqual([received * 2]);
            received++;
            progressed = true;
          }
        }
      } catch (error) {
        receiverError = error;
      }
      if (received >= 100 && !killed) {
        killed = true;
        relay.child.kill('SIGKILL');
      }
      const done = senderError !== undefined && receiverError !== undefined;
      if (!progressed && !done) await wakeups.after(seen);
    }
    for (const error of [senderError, receiverError, await closed]) {
      expect(error).toBeInstanceOf(TransportError);
      expect((error as TransportError).code).toBe('SLUICE_CONNECTION_LOST');
    }
    expect(await relay.exited).toBeNull();
  }, 60_000);
});
