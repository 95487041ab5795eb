import type net from 'node:net';
import { Duplex } from 'node:stream';
import fc from 'fast-check';
import { afterEach, describe, expect, it } from 'vitest';
import { ChannelItem, type ChannelReceiver, type ChannelSender } from '../channel.ts';
import { DataConnection } from './data-connection.ts';
import { TransportError } from './errors.ts';
import {
  CuttingProxy,
  connectedPlanes,
  type PlanePair,
  pump,
  until,
  Wakeups,
} from './testing/tcp-test-helpers.ts';

type Item =
  | { kind: 'batch'; values: unknown[]; timestamps: number[] | null }
  | { kind: 'watermark'; watermark: number }
  | { kind: 'status'; idle: boolean }
  | { kind: 'barrier'; checkpointId: number }
  | { kind: 'end' };

function send(sender: ChannelSender, item: Item): boolean {
  switch (item.kind) {
    case 'batch':
      return sender.sendBatch(item.values.slice(), item.timestamps?.slice() ?? null, false);
    case 'watermark':
      return sender.sendWatermark(item.watermark);
    case 'status':
      return sender.sendWatermarkStatus(item.idle);
    case 'barrier':
      return sender.sendBarrier(item.checkpointId);
    case 'end':
      return sender.sendEndOfInput();
  }
}

/** The next item `receiver` has, as plain data, or undefined when none waits. */
function take(receiver: ChannelReceiver): Item | undefined {
  const kind = receiver.receive();
  switch (kind) {
    case ChannelItem.None:
      return undefined;
    case ChannelItem.Batch:
      return { kind: 'batch', values: receiver.values, timestamps: receiver.timestamps };
    case ChannelItem.Watermark:
      return { kind: 'watermark', watermark: receiver.watermark };
    case ChannelItem.WatermarkStatus:
      return { kind: 'status', idle: receiver.idle };
    case ChannelItem.Barrier:
      return { kind: 'barrier', checkpointId: receiver.checkpointId };
    case ChannelItem.EndOfInput:
      return { kind: 'end' };
    default:
      throw new Error(`receive() returned ${kind}`);
  }
}

/** Takes what `receiver` has into `got`, waking with `wakeups`, until the end of input. */
async function takeUntilEnd(wakeups: Wakeups, receiver: ChannelReceiver, got: Item[]): Promise<void> {
  await pump(
    wakeups,
    () => {
      let progressed = false;
      for (let item = take(receiver); item !== undefined; item = take(receiver)) {
        got.push(item);
        progressed = true;
      }
      return progressed;
    },
    () => got.at(-1)?.kind === 'end',
  );
}

function batchOf(channel: number, first: number, count: number, textBytes: number): unknown[] {
  const values: unknown[] = [];
  for (let i = first; i < first + count; i++) values.push({ channel, i, text: 'y'.repeat(textBytes) });
  return values;
}

let pair: PlanePair | undefined;
let proxy: CuttingProxy | undefined;
afterEach(async () => {
  await pair?.close();
  await proxy?.close();
  pair = undefined;
  proxy = undefined;
});

/** Both directions: `tm-a`'s connection to `tm-b` and the reverse. */
function connections(planes: PlanePair): { ab: DataConnection; ba: DataConnection } {
  return { ab: planes.a.connectionTo('tm-b')!, ba: planes.b.connectionTo('tm-a')! };
}

describe('TCP channels over one data connection', () => {
  it('deliver every item of many multiplexed channels in both directions, exactly and in order (fast-check)', async () => {
    pair = await connectedPlanes({ bufferBytes: 512, buffersPerChannel: 2 });
    const { ab, ba } = connections(pair);
    let nextChannelId = 0;
    const item = (channel: number): fc.Arbitrary<Item> =>
      fc.oneof(
        {
          weight: 4,
          arbitrary: fc
            .record({
              first: fc.nat(1000),
              count: fc.integer({ min: 1, max: 120 }),
              text: fc.nat(60),
              stamped: fc.boolean(),
            })
            .map(
              ({ first, count, text, stamped }): Item => ({
                kind: 'batch',
                values: batchOf(channel, first, count, text),
                timestamps: stamped ? Array.from({ length: count }, (_, i) => first + i) : null,
              }),
            ),
        },
        fc.double({ noNaN: true }).map((watermark): Item => ({ kind: 'watermark', watermark })),
        fc.boolean().map((idle): Item => ({ kind: 'status', idle })),
        fc.nat(1_000_000).map((checkpointId): Item => ({ kind: 'barrier', checkpointId })),
      );
    const scenario = fc.integer({ min: 1, max: 6 }).chain((channels) =>
      fc.record({
        channels: fc.constant(channels),
        // Which channel each send goes to, in order: the interleaving.
        sends: fc.array(
          fc.nat(channels - 1).chain((c) => item(c).map((it) => ({ channel: c, item: it }))),
          {
            maxLength: 40,
          },
        ),
      }),
    );

    await fc.assert(
      fc.asyncProperty(scenario, async ({ channels, sends }) => {
        const wakeups = new Wakeups();
        // Even channels go from tm-b to tm-a, odd ones from tm-a to tm-b.
        const ends = Array.from({ length: channels }, (_, c) => {
          const id = nextChannelId++;
          const [from, to] = c % 2 === 0 ? [ba, ab] : [ab, ba];
          return { receiver: to.receiver(id, wakeups.wake), sender: from.sender(id, wakeups.wake) };
        });
        const plan: Array<{ channel: number; item: Item }> = [
          ...sends,
          ...ends.map((_, channel) => ({ channel, item: { kind: 'end' } as Item })),
        ];
        const expected = ends.map((_, c) => plan.filter((s) => s.channel === c).map((s) => s.item));
        const received: Item[][] = ends.map(() => []);
        let next = 0;
        let ended = 0;
        await pump(
          wakeups,
          () => {
            let progressed = false;
            for (const { sender } of ends) if (sender.isBlocked && sender.flushPending()) progressed = true;
            // Send in the planned order, as a writer would: not past a blocked channel.
            while (next < plan.length && !ends[plan[next]!.channel]!.sender.isBlocked) {
              send(ends[plan[next]!.channel]!.sender, plan[next]!.item);
              next++;
              progressed = true;
            }
            for (const [c, { receiver }] of ends.entries()) {
              for (let got = take(receiver); got !== undefined; got = take(receiver)) {
                received[c]!.push(got);
                if (got.kind === 'end') ended++;
                progressed = true;
              }
            }
            return progressed;
          },
          () => ended === ends.length,
        );
        expect(received).toEqual(expected);
      }),
      { numRuns: 25, seed: 14 },
    );
  }, 120_000);

  it("packs small frames into buffers: credit bounds bytes, not frames (a paced source's small batches and their watermarks)", async () => {
    const buffersPerChannel = 2;
    pair = await connectedPlanes({ bufferBytes: 1024, buffersPerChannel });
    const { ab, ba } = connections(pair);
    const wakeups = new Wakeups();
    const receiver = ba.receiver(3, wakeups.wake);
    const sender = ab.sender(3, wakeups.wake);
    await until(wakeups, () => ab.outboundState(3)!.credit === buffersPerChannel * 1024);
    // 40 one-record batches, each followed by its watermark: 80 frames, ~20 bytes each.
    const expected: Item[] = [];
    for (let i = 0; i < 40; i++) {
      expect(sender.sendBatch([i], null, false)).toBe(true);
      expect(sender.sendWatermark(i)).toBe(true);
      expected.push({ kind: 'batch', values: [i], timestamps: null }, { kind: 'watermark', watermark: i });
    }
    // Taken, and blocked until its buffer has left (the open buffer goes at this turn's flush).
    expect(sender.sendEndOfInput()).toBe(false);
    expected.push({ kind: 'end' });
    const got: Item[] = [];
    await pump(
      wakeups,
      () => {
        let progressed = sender.isBlocked && sender.flushPending();
        for (let item = take(receiver); item !== undefined; item = take(receiver)) {
          got.push(item);
          progressed = true;
        }
        return progressed;
      },
      () => got.at(-1)?.kind === 'end',
    );
    expect(got).toEqual(expected);
    expect(sender.isBlocked).toBe(false);
    // All in the turn they were sent: a buffer or two for 81 frames.
    expect(ab.outboundState(3)!.buffersSent).toBeLessThanOrEqual(buffersPerChannel);
  });

  it('fails the connection with a protocol error on a data message whose frame overruns its buffer', async () => {
    // A raw peer: what it writes arrives as the connection's socket data.
    const socket = new Duplex({ read() {}, write: (_chunk, _encoding, done) => done() });
    const connection = new DataConnection(
      {
        socket: socket as unknown as net.Socket,
        peerId: 'raw',
        peer: "'raw' (test)",
        leftover: Buffer.alloc(0),
      },
      { bufferBytes: 1024, buffersPerChannel: 2 },
    );
    const closed = new Promise<TransportError | undefined>((resolve) => connection.onClose(resolve));
    connection.receiver(5, () => {});
    // data for channel 5: one frame that says it has 100 bytes and has 3.
    const message = Buffer.alloc(4 + 1 + 4 + 4 + 3);
    message.writeUInt32BE(message.byteLength - 4, 0);
    message[4] = 1;
    message.writeUInt32BE(5, 5);
    message.writeUInt32BE(100, 9);
    socket.push(message);
    const error = await closed;
    expect(error).toBeInstanceOf(TransportError);
    expect(error!.code).toBe('SLUICE_PROTOCOL');
    expect(error!.message).toMatch(/malformed data for channel 5: a frame overruns its buffer.*raw/);
  });

  it('backpressure: a receiver that stops consuming stops its sender at the credit granted; one buffer consumed lets one more go', async () => {
    const buffersPerChannel = 3;
    const window = buffersPerChannel * 1024;
    pair = await connectedPlanes({ bufferBytes: 1024, buffersPerChannel });
    const { ab, ba } = connections(pair);
    const wakeups = new Wakeups();
    const receiver = ba.receiver(7, wakeups.wake);
    const sender = ab.sender(7, wakeups.wake);
    // Before the receiver's announcement arrives there is no credit: a batch waits.
    expect(ab.outboundState(7)?.credit ?? 0).toBe(0);
    await until(wakeups, () => ab.outboundState(7)!.credit === window);
    expect(ab.outboundState(7)!.bufferBytes).toBe(1024);

    // Each batch fills most of a buffer, so a buffer carries one. Batches go while the credit
    // lasts, one more waits in the sender's open buffer, and then the sender is blocked.
    const batches = Array.from({ length: 8 }, (_, i) => batchOf(7, i * 10, 10, 50));
    const accepted = batches.map((b) => sender.sendBatch(b.slice(), null, false));
    const taken = accepted.indexOf(false);
    expect(taken).toBeGreaterThanOrEqual(buffersPerChannel + 1);
    expect(accepted.slice(taken).every((a) => !a)).toBe(true);
    expect(sender.isBlocked).toBe(true);
    const sent = ab.outboundState(7)!;
    expect(sent.buffersSent).toBe(taken - 1);
    await until(wakeups, () => ba.inboundState(7)!.queuedBuffers === sent.buffersSent);
    // Bounded on both sides: what the receiver holds and the credit left make the room it granted,
    // and the credit left is too little for another buffer; nothing else moves.
    const held = ba.inboundState(7)!;
    expect(held.queuedBytes + sent.credit).toBe(window);
    expect(held.outstandingCredit).toBe(sent.credit);
    expect(sent.credit).toBeLessThan(1024 / 2);
    expect(sender.flushPending()).toBe(false);
    expect(sender.isBlocked).toBe(true);

    // One consumed: its credit goes back, and exactly one more buffer goes out (the open one, at
    // the turn the credit arrives); the next batch takes its place in the open buffer.
    expect(take(receiver)).toEqual({ kind: 'batch', values: batches[0], timestamps: null });
    await until(wakeups, () => ab.outboundState(7)!.buffersSent === taken);
    expect(sender.flushPending()).toBe(true);
    expect(ab.outboundState(7)!.buffersSent).toBe(taken);

    // Consuming the rest lets everything through, in order, never beyond the room granted.
    const got: Item[] = [];
    await pump(
      wakeups,
      () => {
        let progressed = sender.isBlocked && sender.flushPending();
        for (let item = take(receiver); item !== undefined; item = take(receiver)) {
          got.push(item);
          progressed = true;
          const state = ba.inboundState(7)!;
          expect(state.queuedBytes + state.outstandingCredit).toBeLessThanOrEqual(window);
        }
        return progressed;
      },
      () => got.length === batches.length - 1,
    );
    expect(got).toEqual(batches.slice(1).map((values) => ({ kind: 'batch', values, timestamps: null })));
    expect(sender.isBlocked).toBe(false);
  });

  it('an end of input waiting for credit leaves its sender blocked until it has left, with a wake-up then; a close after that loses nothing', async () => {
    const buffersPerChannel = 2;
    pair = await connectedPlanes({ bufferBytes: 1024, buffersPerChannel });
    const { ab, ba } = connections(pair);
    const wakeups = new Wakeups();
    const receiver = ba.receiver(3, wakeups.wake);
    // Whether the sender was still blocked at each of its wake-ups: one must come once it is not.
    const blockedAtWake: boolean[] = [];
    const sender: ChannelSender = ab.sender(3, () => {
      blockedAtWake.push(sender.isBlocked);
      wakeups.wake();
    });
    await until(wakeups, () => ab.outboundState(3)!.credit === buffersPerChannel * 1024);
    // Batches of ~860 bytes: a buffer carries one, and two leave too little credit for a third.
    // The end of input joins the third in the open buffer, which has no credit to leave with:
    // taken, but the send says blocked (false), so the record writer counts the channel as blocked
    // and its task does not finish until the buffer has left. (Before, the send said true: the
    // task finished, its slot closed the connection, and the end never arrived.)
    const batches = Array.from({ length: buffersPerChannel + 1 }, (_, i) => batchOf(3, i * 10, 10, 80));
    for (const batch of batches) expect(sender.sendBatch(batch.slice(), null, false)).toBe(true);
    await until(wakeups, () => ab.outboundState(3)!.buffersSent === buffersPerChannel);
    expect(sender.sendEndOfInput()).toBe(false);
    expect(sender.isBlocked).toBe(true);
    await until(wakeups, () => ba.inboundState(3)!.buffersReceived === buffersPerChannel);
    expect(ab.outboundState(3)!.buffersSent).toBe(buffersPerChannel);
    expect(sender.isBlocked).toBe(true);

    // One buffer consumed: its credit lets the last buffer go, and the sender's task is woken
    // once it has gone (the credit's own wake-up comes before: the buffer leaves at the flush).
    const got: Item[] = [take(receiver)!];
    blockedAtWake.length = 0;
    await until(wakeups, () => blockedAtWake.includes(false));
    expect(sender.isBlocked).toBe(false);
    ab.close();
    await takeUntilEnd(wakeups, receiver, got);
    expect(got).toEqual([
      ...batches.map((values) => ({ kind: 'batch', values, timestamps: null })),
      { kind: 'end' },
    ]);
  });

  it('a peer that closes once the end of input has arrived fails no sender that has nothing left to send', async () => {
    pair = await connectedPlanes({ bufferBytes: 1024, buffersPerChannel: 2 });
    const { ab, ba } = connections(pair);
    const wakeups = new Wakeups();
    const receiver = ba.receiver(3, wakeups.wake);
    const sender = ab.sender(3, wakeups.wake);
    await until(wakeups, () => ab.outboundState(3)!.bufferBytes !== 0);
    expect(sender.sendBatch([1, 2, 3], null, false)).toBe(true);
    // The writer now counts the channel as blocked, until a drain finds it is not.
    expect(sender.sendEndOfInput()).toBe(false);
    const got: Item[] = [];
    await takeUntilEnd(wakeups, receiver, got);
    expect(got).toEqual([{ kind: 'batch', values: [1, 2, 3], timestamps: null }, { kind: 'end' }]);
    // The receiving slot is done and closes its side before the sending task drains again (its
    // slot loop may be busy elsewhere): that drain must find the channel finished, not failed.
    ba.close();
    await until(wakeups, () => ab.failure !== undefined);
    expect(sender.flushPending()).toBe(false);
    expect(sender.isBlocked).toBe(false);
  });

  it('a batch larger than a buffer travels as parts, a buffer each, and arrives whole', async () => {
    pair = await connectedPlanes({ bufferBytes: 256, buffersPerChannel: 2 });
    const { ab, ba } = connections(pair);
    const wakeups = new Wakeups();
    const receiver = ba.receiver(1, wakeups.wake);
    const sender = ab.sender(1, wakeups.wake);
    const huge = batchOf(1, 0, 100, 50);
    const keys = { keys: huge.map((_, i) => `k${i}`), keyGroups: huge.map((_, i) => i % 128) };
    sender.sendBatch(huge.slice(), null, false, keys);
    sender.sendBarrier(3);
    sender.sendEndOfInput();
    const got: Item[] = [];
    let gotKeys: unknown;
    await pump(
      wakeups,
      () => {
        let progressed = sender.isBlocked && sender.flushPending();
        for (let item = take(receiver); item !== undefined; item = take(receiver)) {
          if (item.kind === 'batch')
            gotKeys = { keys: receiver.keys!.keys, keyGroups: Array.from(receiver.keys!.keyGroups) };
          got.push(item);
          progressed = true;
        }
        return progressed;
      },
      () => got.length === 3,
    );
    expect(got).toEqual([
      { kind: 'batch', values: huge, timestamps: null },
      { kind: 'barrier', checkpointId: 3 },
      { kind: 'end' },
    ]);
    expect(gotKeys).toEqual(keys);
    // Many buffers of at most 256 bytes each: far more than the credit, so the sender waited.
    expect(ab.outboundState(1)!.buffersSent).toBeGreaterThan(20);
  });

  it('a connection cut mid-stream: both ends get a typed error, no hang', async () => {
    let proxyPort = 0;
    pair = await connectedPlanes({ bufferBytes: 1024, buffersPerChannel: 4 }, async (port) => {
      proxy = await CuttingProxy.start(port);
      proxyPort = proxy.port;
      return proxyPort;
    });
    const { ab, ba } = connections(pair);
    const closedA = new Promise<TransportError | undefined>((resolve) => ab.onClose(resolve));
    const closedB = new Promise<TransportError | undefined>((resolve) => ba.onClose(resolve));
    const wakeups = new Wakeups();
    // tm-b dialled through the proxy: its sender's data is what the proxy counts.
    const receiver = ab.receiver(5, wakeups.wake);
    const sender = ba.sender(5, wakeups.wake);
    const cut = proxy!.cutAfter(20_000);
    let sent = 0;
    let received = 0;
    let senderError: unknown;
    let receiverError: unknown;
    await pump(
      wakeups,
      () => {
        let progressed = false;
        if (senderError === undefined) {
          try {
            if (sender.isBlocked) progressed = sender.flushPending();
            else {
              sender.sendBatch(batchOf(5, sent, 10, 30), null, false);
              sent += 10;
              progressed = true;
            }
          } catch (error) {
            senderError = error;
          }
        }
        if (receiverError === undefined) {
          try {
            for (let item = take(receiver); item !== undefined; item = take(receiver)) {
              // What arrives before the cut arrives in order.
              expect((item as { values: Array<{ i: number }> }).values[0]!.i).toBe(received);
              received += 10;
              progressed = true;
            }
          } catch (error) {
            receiverError = error;
          }
        }
        return progressed;
      },
      () => senderError !== undefined && receiverError !== undefined,
    );
    await cut;
    for (const error of [senderError, receiverError, await closedA, await closedB]) {
      expect(error).toBeInstanceOf(TransportError);
      expect((error as TransportError).code).toBe('SLUICE_CONNECTION_LOST');
    }
    expect(received).toBeGreaterThan(0);
    expect(received).toBeLessThanOrEqual(sent);
  });
});
