import { randomBytes } from 'node:crypto';
import * as net from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { ChannelItem, type ChannelReceiver, type ChannelSender } from '../../channels/channel.ts';
import type { DataConnectionOptions } from '../../channels/tcp/data-connection.ts';
import { connectAuthenticated } from '../../channels/tcp/endpoint.ts';
import { TransportError } from '../../channels/tcp/errors.ts';
import { CuttingProxy, pump, until, Wakeups } from '../../channels/tcp/testing/tcp-test-helpers.ts';
import type { DataAddress } from '../messages.ts';
import { openSlotDataPlane, type SlotDataPlane } from './slot-data-plane.ts';
import {
  type AttemptDataPlane,
  sessionIdOf,
  TaskManagerDataPlane,
  type TaskManagerDataPlaneOptions,
} from './task-manager-data-plane.ts';

/**
 * Two task managers of two slots each, in this process: each task manager's data plane as its
 * main thread runs it, and each slot's side (`openSlotDataPlane`) as its slot thread would. The
 * streams' ports work within one thread as across threads.
 */
const PROCESS_OF_SLOT = ['tm-a', 'tm-a', 'tm-b', 'tm-b'];
const ATTEMPT = 1;
const PEER_OF_SLOT = PROCESS_OF_SLOT.map((p, slot) => `${sessionIdOf(p, ATTEMPT)}/s${slot}`);

interface Channel {
  readonly index: number;
  readonly sourceSubtask: number;
  readonly targetSubtask: number;
}

/** Every slot to every other slot: 12 channels, 8 of them between the two task managers. */
const ALL_TO_ALL: Channel[] = [];
for (let source = 0; source < 4; source++)
  for (let target = 0; target < 4; target++)
    if (source !== target)
      ALL_TO_ALL.push({ index: ALL_TO_ALL.length, sourceSubtask: source, targetSubtask: target });
const ACROSS = ALL_TO_ALL.filter(
  (c) => PROCESS_OF_SLOT[c.sourceSubtask] !== PROCESS_OF_SLOT[c.targetSubtask],
);

interface Cluster {
  readonly secret: Buffer;
  readonly a: TaskManagerDataPlane;
  readonly b: TaskManagerDataPlane;
  readonly attemptA: AttemptDataPlane;
  readonly attemptB: AttemptDataPlane;
  /** Slot i's side, by slot index. */
  readonly slots: SlotDataPlane[];
  readonly refused: TransportError[];
  /** Between `tm-a` (which dials) and `tm-b`: counts and cuts the connections. */
  readonly proxy: CuttingProxy;
}

let open: Cluster | undefined;
afterEach(async () => {
  if (open === undefined) return;
  await Promise.all(open.slots.map((s) => s.close()));
  await open.proxy.close();
  await Promise.all([open.a.close(), open.b.close()]);
  open = undefined;
});

const never = new Promise<void>(() => {});

async function startCluster(
  channels: readonly Channel[],
  flowControl?: DataConnectionOptions,
): Promise<Cluster> {
  const secret = randomBytes(32);
  const refused: TransportError[] = [];
  const options = (id: string): TaskManagerDataPlaneOptions => ({
    id,
    secret,
    onRefused: (error) => refused.push(error),
  });
  const a = await TaskManagerDataPlane.start(options('tm-a'));
  const b = await TaskManagerDataPlane.start(options('tm-b'));
  const proxy = await CuttingProxy.start(b.address.port);
  const plan = { channels: channels.map((c) => ({ ...c, edge: 0, sourceVertex: 0, targetVertex: 1 })) };
  const attemptA = a.openAttempt({
    attempt: ATTEMPT,
    plan,
    processOfSlot: PROCESS_OF_SLOT,
    localSlots: [0, 1],
  });
  const attemptB = b.openAttempt({
    attempt: ATTEMPT,
    plan,
    processOfSlot: PROCESS_OF_SLOT,
    localSlots: [2, 3],
  });
  const slotsOpening = [0, 1, 2, 3].map((slotIndex) =>
    openSlotDataPlane({
      slotIndex,
      cluster: {
        processOfSlot: PROCESS_OF_SLOT,
        peerOfSlot: PEER_OF_SLOT,
        streams: (slotIndex < 2 ? attemptA : attemptB).streamsOf(slotIndex),
      },
      cancelled: never,
      flowControl,
    }),
  );
  // What the job manager tells both: tm-b's slots at the proxy in front of its port.
  const addresses: DataAddress[] = [0, 1, 2, 3].map((slotIndex) => ({
    slotIndex,
    host: '127.0.0.1',
    port: slotIndex < 2 ? a.address.port : proxy.port,
  }));
  attemptA.connect(addresses);
  attemptB.connect(addresses);
  const slots = await Promise.all(slotsOpening);
  open = { secret, a, b, attemptA, attemptB, slots, refused, proxy };
  return open;
}

function senderOf(cluster: Cluster, channel: Channel, wake: () => void): ChannelSender {
  return cluster.slots[channel.sourceSubtask]!.placement.connectionTo(
    PEER_OF_SLOT[channel.targetSubtask]!,
  ).sender(channel.index, wake);
}

function receiverOf(cluster: Cluster, channel: Channel, wake: () => void): ChannelReceiver {
  return cluster.slots[channel.targetSubtask]!.placement.connectionTo(
    PEER_OF_SLOT[channel.sourceSubtask]!,
  ).receiver(channel.index, wake);
}

describe("a task manager's data plane: one connection per pair of task managers", () => {
  it.each([
    ['small buffers, frames copied between threads', { bufferBytes: 1024, buffersPerChannel: 2 }, 1],
    ['default buffers, large frames transferred between threads without a copy', {}, 400],
  ])(
    '2 task managers x 2 slots, all-to-all: one socket between them, every record in order per channel, in band with watermarks and barriers (%s)',
    async (_, flowControl: DataConnectionOptions, padBytes: number) => {
      const cluster = await startCluster(ALL_TO_ALL, flowControl);
      expect(cluster.proxy.accepted).toBe(1);
      expect(cluster.attemptA.connectionCount).toBe(1);
      expect(cluster.attemptB.connectionCount).toBe(1);
      expect(cluster.refused).toEqual([]);

      const wakeups = new Wakeups();
      const batches = 40;
      const perBatch = 25;
      const ends = ACROSS.map((channel) => ({
        channel,
        sender: senderOf(cluster, channel, wakeups.wake),
        receiver: receiverOf(cluster, channel, wakeups.wake),
        sent: 0,
        got: [] as string[],
        ended: false,
      }));
      // Each channel: batches with a watermark after each and a barrier every 10th, then its end.
      const itemsOf = (c: number): Array<(s: ChannelSender) => boolean> => {
        const items: Array<(s: ChannelSender) => boolean> = [];
        for (let b = 0; b < batches; b++) {
          const values = Array.from({ length: perBatch }, (_, i) => ({
            c,
            n: b * perBatch + i,
            pad: 'x'.repeat(b * padBytes),
          }));
          items.push((s) => s.sendBatch(values, null, false));
          items.push((s) => s.sendWatermark(b));
          if (b % 10 === 9) items.push((s) => s.sendBarrier(b));
        }
        items.push((s) => s.sendEndOfInput());
        return items;
      };
      const plans = ends.map((e) => itemsOf(e.channel.index));
      await pump(
        wakeups,
        () => {
          let progressed = false;
          ends.forEach((end, i) => {
            if (end.sender.isBlocked) progressed = end.sender.flushPending() || progressed;
            while (!end.sender.isBlocked && end.sent < plans[i]!.length) {
              plans[i]![end.sent++]!(end.sender);
              progressed = true;
            }
            for (;;) {
              const kind = end.receiver.receive();
              if (kind === ChannelItem.None) break;
              progressed = true;
              if (kind === ChannelItem.Batch) {
                for (const v of end.receiver.values as Array<{ c: number; n: number }>)
                  end.got.push(`${v.c}:${v.n}`);
              } else if (kind === ChannelItem.Watermark) end.got.push(`w${end.receiver.watermark}`);
              else if (kind === ChannelItem.Barrier) end.got.push(`b${end.receiver.checkpointId}`);
              else if (kind === ChannelItem.EndOfInput) end.ended = true;
            }
          });
          return progressed;
        },
        () => ends.every((e) => e.ended),
      );
      for (const end of ends) {
        const expected: string[] = [];
        for (let b = 0; b < batches; b++) {
          for (let i = 0; i < perBatch; i++) expected.push(`${end.channel.index}:${b * perBatch + i}`);
          expected.push(`w${b}`);
          if (b % 10 === 9) expected.push(`b${b}`);
        }
        expect(end.got).toEqual(expected);
      }
      // Still the one socket, whatever travelled.
      expect(cluster.proxy.accepted).toBe(1);
    },
  );

  it('credit across the shared socket: a consumer that does not read stops its producer at the room it granted, memory bounded on both sides; another channel on the socket keeps moving', async () => {
    const bufferBytes = 1024;
    const buffersPerChannel = 3;
    const window = bufferBytes * buffersPerChannel;
    const cluster = await startCluster(ALL_TO_ALL, { bufferBytes, buffersPerChannel });
    const channel = ACROSS.find((c) => c.sourceSubtask === 0 && c.targetSubtask === 3)!;
    const other = ACROSS.find((c) => c.sourceSubtask === 1 && c.targetSubtask === 2)!;
    const wakeups = new Wakeups();
    const sender = senderOf(cluster, channel, wakeups.wake);
    const receiver = receiverOf(cluster, channel, wakeups.wake);
    type States = {
      outboundState(id: number): { credit: number; buffersSent: number; bufferBytes: number } | undefined;
      inboundState(
        id: number,
      ): { queuedBuffers: number; queuedBytes: number; outstandingCredit: number } | undefined;
    };
    const fromA = cluster.slots[0]!.placement.connectionTo(PEER_OF_SLOT[3]!) as unknown as States;
    const atB = cluster.slots[3]!.placement.connectionTo(PEER_OF_SLOT[0]!) as unknown as States;
    await until(wakeups, () => fromA.outboundState(channel.index)?.credit === window);
    // Each batch fills most of a buffer: the producer offers far more than the room granted.
    const batch = (): unknown[] => Array.from({ length: 10 }, () => 'y'.repeat(80));
    let offered = 0;
    while (sender.sendBatch(batch(), null, false) && offered < 1000) offered++;
    expect(offered).toBeLessThan(buffersPerChannel + 2);
    expect(sender.isBlocked).toBe(true);
    const sent = fromA.outboundState(channel.index)!;
    expect(sent.buffersSent).toBeGreaterThan(0);
    expect(sent.buffersSent).toBeLessThanOrEqual(buffersPerChannel);
    // Everything sent arrives and waits at the consumer, which does not read: what it holds and
    // the credit left make the room it granted, and nothing more moves.
    await until(wakeups, () => atB.inboundState(channel.index)!.queuedBuffers === sent.buffersSent);
    const held = atB.inboundState(channel.index)!;
    expect(held.queuedBytes + sent.credit).toBe(window);
    expect(held.outstandingCredit).toBe(sent.credit);
    expect(sender.flushPending()).toBe(false);
    expect(fromA.outboundState(channel.index)!.buffersSent).toBe(sent.buffersSent);

    // Another channel on the same socket is not held up by the blocked one.
    const otherSender = senderOf(cluster, other, wakeups.wake);
    const otherReceiver = receiverOf(cluster, other, wakeups.wake);
    otherSender.sendEndOfInput();
    await until(wakeups, () => {
      if (otherSender.isBlocked) otherSender.flushPending();
      return otherReceiver.receive() === ChannelItem.EndOfInput;
    });

    // One buffer consumed: its room goes back, and one more buffer goes; still never beyond the room.
    expect(receiver.receive()).toBe(ChannelItem.Batch);
    await until(wakeups, () => {
      if (sender.isBlocked) sender.flushPending();
      return fromA.outboundState(channel.index)!.buffersSent === sent.buffersSent + 1;
    });
    const after = atB.inboundState(channel.index)!;
    expect(after.queuedBytes + after.outstandingCredit).toBeLessThanOrEqual(window);
  });

  it('the shared socket reset: every channel on it, both ways and in both task managers, fails with a TransportError naming the peer', async () => {
    const cluster = await startCluster(ALL_TO_ALL);
    const wakeups = new Wakeups();
    const ends = ACROSS.map((channel) => ({
      channel,
      sender: senderOf(cluster, channel, wakeups.wake),
      receiver: receiverOf(cluster, channel, wakeups.wake),
    }));
    for (const end of ends) end.sender.sendBatch([1, 2, 3], null, false);
    const arrived = new Set<number>();
    await until(wakeups, () => {
      for (const e of ends) {
        if (e.sender.isBlocked) e.sender.flushPending();
        if (e.receiver.receive() === ChannelItem.Batch) arrived.add(e.channel.index);
      }
      return arrived.size === ends.length;
    });
    cluster.proxy.cut();
    const failures = await Promise.all(
      ends.map(async ({ channel, receiver }) => {
        let failure: unknown;
        await until(wakeups, () => {
          try {
            receiver.receive();
            return false;
          } catch (error) {
            failure = error;
            return true;
          }
        });
        return { channel, failure };
      }),
    );
    for (const { channel, failure } of failures) {
      expect(failure).toBeInstanceOf(TransportError);
      const error = failure as TransportError;
      expect(error.code).toBe('SLUICE_CONNECTION_LOST');
      const peerProcess = PROCESS_OF_SLOT[channel.sourceSubtask]!;
      expect(error.peer).toContain(`${peerProcess}/a1/s${channel.sourceSubtask}`);
    }
    // The senders learn it too.
    for (const { sender } of ends) expect(() => sender.sendBatch([4], null, false)).toThrow(TransportError);
  });

  it('a peer task manager gone (its data plane destroyed, as when its process dies): the channels in this one fail with a TransportError naming it', async () => {
    const cluster = await startCluster(ALL_TO_ALL);
    const wakeups = new Wakeups();
    const intoA = ACROSS.filter((c) => PROCESS_OF_SLOT[c.targetSubtask] === 'tm-a');
    const receivers = intoA.map((c) => receiverOf(cluster, c, wakeups.wake));
    const senders = ACROSS.filter((c) => PROCESS_OF_SLOT[c.sourceSubtask] === 'tm-a').map((c) =>
      senderOf(cluster, c, wakeups.wake),
    );
    await cluster.b.close();
    const failures = await Promise.all(
      receivers.map(async (receiver) => {
        let failure: unknown;
        await until(wakeups, () => {
          try {
            receiver.receive();
            return false;
          } catch (error) {
            failure = error;
            return true;
          }
        });
        return failure as TransportError;
      }),
    );
    for (const failure of failures) {
      expect(failure).toBeInstanceOf(TransportError);
      expect(failure.peer).toMatch(/tm-b\/a1\/s[23] via tm-b at /);
    }
    for (const sender of senders) expect(() => sender.sendBatch([1], null, false)).toThrow(TransportError);
  });

  it('refuses peers before they authenticate, connections for an attempt it does not run, and a second connection from the same peer', async () => {
    const cluster = await startCluster(ALL_TO_ALL);
    const port = cluster.b.address.port;
    // Not a Sluice peer: garbage, then closed by the port.
    const raw = net.connect(port, '127.0.0.1');
    raw.on('error', () => {});
    const rawClosed = new Promise<void>((resolve) => raw.on('close', () => resolve()));
    raw.on('data', () => raw.write(Buffer.alloc(400, 7)));
    await rawClosed;
    // The wrong secret: the handshake fails.
    await expect(
      connectAuthenticated({
        secret: randomBytes(32),
        label: 'data',
        id: sessionIdOf('tm-a', 1),
        host: '127.0.0.1',
        port,
      }),
    ).rejects.toMatchObject({ code: 'SLUICE_AUTH_FAILED' });
    // Authenticated, but for attempt 2 (a late peer of another attempt), or a second connection of attempt 1.
    for (const id of [sessionIdOf('tm-a', 2), sessionIdOf('tm-a', 1), sessionIdOf('tm-c', 1)]) {
      const authenticated = await connectAuthenticated({
        secret: cluster.secret,
        label: 'data',
        id,
        host: '127.0.0.1',
        port,
      });
      authenticated.socket.resume();
      await new Promise<void>((resolve) => authenticated.socket.on('close', () => resolve()));
    }
    const reasons = cluster.refused.map((e) => e.message);
    expect(reasons.some((r) => /handshake refused|handshake|not a Sluice/.test(r))).toBe(true);
    expect(reasons.some((r) => /does not hold the cluster secret/.test(r))).toBe(true);
    expect(reasons.some((r) => /no such attempt runs here/.test(r))).toBe(true);
    expect(reasons.some((r) => /a data connection to 'tm-a' exists/.test(r))).toBe(true);
    expect(reasons.some((r) => /'tm-c' shares no channel/.test(r))).toBe(true);
    // The one real connection is untouched.
    expect(cluster.attemptB.connectionCount).toBe(1);
  });

  it('opens no port without the cluster secret', async () => {
    await expect(TaskManagerDataPlane.start({ id: 'tm', secret: Buffer.from('short') })).rejects.toThrow(
      /at least 16/,
    );
  });
});
