import fc from 'fast-check';
import { afterEach, describe, expect, it } from 'vitest';
import { ChannelItem, type ChannelReceiver, type ChannelSender } from '../channel.ts';
import type { DataConnection } from './data-connection.ts';
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

  it('backpressure: a receiver that stops consuming stops its sender at the credit granted; one buffer consumed lets exactly one more go', async () => {
    const buffersPerChannel = 3;
    pair = await connectedPlanes({ bufferBytes: 1024, buffersPerChannel });
    const { ab, ba } = connections(pair);
    const wakeups = new Wakeups();
    const receiver = ba.receiver(7, wakeups.wake);
    const sender = ab.sender(7, wakeups.wake);
    // Before the receiver's announcement arrives there is no credit: a batch waits.
    expect(ab.outboundState(7)?.credit ?? 0).toBe(0);
    await until(wakeups, () => ab.outboundState(7)!.credit === buffersPerChannel);
    expect(ab.outboundState(7)!.bufferBytes).toBe(1024);

    // Each batch fits one buffer: three go at once, the fourth waits and the sender is blocked.
    const batches = Array.from({ length: 6 }, (_, i) => batchOf(7, i * 10, 10, 20));
    expect(batches.map((b) => sender.sendBatch(b.slice(), null, false))).toEqual([
      true,
      true,
      true,
      false,
      false,
      false,
    ]);
    expect(sender.isBlocked).toBe(true);
    expect(ab.outboundState(7)).toEqual({ credit: 0, bufferBytes: 1024, buffersSent: 3 });
    await until(wakeups, () => ba.inboundState(7)!.queuedBuffers === 3);
    // Bounded on both sides: the receiver holds its buffers and has no credit out; nothing else moves.
    expect(ba.inboundState(7)).toEqual({ queuedBuffers: 3, outstandingCredit: 0, buffersReceived: 3 });
    expect(sender.flushPending()).toBe(false);
    expect(sender.isBlocked).toBe(true);

    // One consumed: one credit goes back, and exactly one more buffer goes out.
    expect(take(receiver)).toEqual({ kind: 'batch', values: batches[0], timestamps: null });
    await until(wakeups, () => ab.outboundState(7)!.credit === 1);
    expect(sender.flushPending()).toBe(true);
    expect(ab.outboundState(7)).toEqual({ credit: 0, bufferBytes: 1024, buffersSent: 4 });
    expect(sender.isBlocked).toBe(true);

    // Consuming the rest lets everything through, in order.
    const got: Item[] = [];
    await pump(
      wakeups,
      () => {
        let progressed = sender.isBlocked && sender.flushPending();
        for (let item = take(receiver); item !== undefined; item = take(receiver)) {
          got.push(item);
          progressed = true;
          const state = ba.inboundState(7)!;
          expect(state.queuedBuffers + state.outstandingCredit).toBeLessThanOrEqual(buffersPerChannel);
        }
        return progressed;
      },
      () => got.length === 5,
    );
    expect(got).toEqual(batches.slice(1).map((values) => ({ kind: 'batch', values, timestamps: null })));
    expect(sender.isBlocked).toBe(false);
  });

  it('a batch larger than a buffer travels as parts, one credit each, and arrives whole', async () => {
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
