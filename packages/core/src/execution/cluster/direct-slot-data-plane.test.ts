import { randomBytes } from 'node:crypto';
import { afterEach, describe, expect, it } from 'vitest';
import { ChannelItem, type ChannelReceiver, type ChannelSender } from '../../channels/channel.ts';
import { connectAuthenticated } from '../../channels/tcp/endpoint.ts';
import { TransportError } from '../../channels/tcp/errors.ts';
import { CuttingProxy, pump, until, Wakeups } from '../../channels/tcp/testing/tcp-test-helpers.ts';
import type { DataAddress, SlotMessage } from '../messages.ts';
import { openDirectSlotDataPlane } from './direct-slot-data-plane.ts';
import { openSlotDataPlane, type SlotDataPlane } from './slot-data-plane.ts';
import { sessionIdOf, TaskManagerDataPlane } from './task-manager-data-plane.ts';

/**
 * Task managers of both kinds in this process: `tm-a` and `tm-c` have one slot each, which serves
 * its task manager's data port itself (`openDirectSlotDataPlane`, as the slot thread runs it);
 * `tm-b` has two, which share its main thread's port and one socket per peer
 * (`TaskManagerDataPlane` + `openSlotDataPlane`). Slot 0 on tm-a, slots 1 and 2 on tm-b, slot 3 on tm-c.
 */
const PROCESS_OF_SLOT = ['tm-a', 'tm-b', 'tm-b', 'tm-c'];
const ATTEMPT = 3;
const PEER_OF_SLOT = PROCESS_OF_SLOT.map((p, slot) => `${sessionIdOf(p, ATTEMPT)}/s${slot}`);

interface Channel {
  readonly index: number;
  readonly sourceSubtask: number;
  readonly targetSubtask: number;
}

const ALL_TO_ALL: Channel[] = [];
for (let source = 0; source < 4; source++)
  for (let target = 0; target < 4; target++)
    if (source !== target)
      ALL_TO_ALL.push({ index: ALL_TO_ALL.length, sourceSubtask: source, targetSubtask: target });
const ACROSS = ALL_TO_ALL.filter(
  (c) => PROCESS_OF_SLOT[c.sourceSubtask] !== PROCESS_OF_SLOT[c.targetSubtask],
);

interface Mixed {
  readonly secret: Buffer;
  readonly b: TaskManagerDataPlane;
  readonly slots: SlotDataPlane[];
  /** What each direct slot reported as its data address. */
  readonly reported: SlotMessage[];
  /** In front of tm-c's port (its slot's own): counts the connections it accepts. */
  readonly proxy: CuttingProxy;
  readonly refused: TransportError[];
  readonly addresses: DataAddress[];
}

let open: Mixed | undefined;
afterEach(async () => {
  if (open === undefined) return;
  await Promise.all(open.slots.map((s) => s.close()));
  await open.proxy.close();
  await open.b.close();
  open = undefined;
});

const never = new Promise<void>(() => {});

async function startMixed(): Promise<Mixed> {
  const secret = randomBytes(32);
  const refused: TransportError[] = [];
  const plan = { channels: ALL_TO_ALL.map((c) => ({ ...c, edge: 0, sourceVertex: 0, targetVertex: 1 })) };
  const b = await TaskManagerDataPlane.start({ id: 'tm-b', secret, onRefused: (e) => refused.push(e) });
  const attemptB = b.openAttempt({
    attempt: ATTEMPT,
    plan,
    processOfSlot: PROCESS_OF_SLOT,
    localSlots: [1, 2],
  });
  const reported: SlotMessage[] = [];
  let tellPeers: (addresses: readonly DataAddress[]) => void = () => {};
  const peers = new Promise<readonly DataAddress[]>((resolve) => {
    tellPeers = resolve;
  });
  const addressReported = new Map<number, () => void>();
  const direct = (slotIndex: number) => {
    const reportedHere = new Promise<void>((resolve) => addressReported.set(slotIndex, resolve));
    const opening = openDirectSlotDataPlane({
      plan,
      slotIndex,
      cluster: { processOfSlot: PROCESS_OF_SLOT, peerOfSlot: PEER_OF_SLOT, streams: [] },
      port: {
        taskManagerId: PROCESS_OF_SLOT[slotIndex]!,
        attempt: ATTEMPT,
        secret,
        bindHost: '127.0.0.1',
        advertiseHost: '127.0.0.1',
        port: 0,
      },
      post: (message) => {
        reported.push(message);
        addressReported.get(slotIndex)?.();
      },
      peers,
      cancelled: never,
      onRefused: (e) => refused.push(e),
    });
    return { opening, reportedHere };
  };
  const a = direct(0);
  const c = direct(3);
  const shared = [1, 2].map((slotIndex) =>
    openSlotDataPlane({
      slotIndex,
      cluster: {
        processOfSlot: PROCESS_OF_SLOT,
        peerOfSlot: PEER_OF_SLOT,
        streams: attemptB.streamsOf(slotIndex),
      },
      cancelled: never,
    }),
  );
  await Promise.all([a.reportedHere, c.reportedHere]);
  const portOf = (slotIndex: number): number =>
    (reported.find((m) => m.type === 'data-address' && m.slotIndex === slotIndex) as DataAddress).port;
  const proxy = await CuttingProxy.start(portOf(3));
  // What the job manager tells everyone: tm-c's slot at the proxy in front of its port.
  const addresses: DataAddress[] = [0, 1, 2, 3].map((slotIndex) => ({
    slotIndex,
    host: '127.0.0.1',
    port: slotIndex === 0 ? portOf(0) : slotIndex === 3 ? proxy.port : b.address.port,
  }));
  tellPeers(addresses);
  attemptB.connect(addresses);
  const [slot0, slot3, slot1, slot2] = await Promise.all([a.opening, c.opening, ...shared]);
  open = { secret, b, slots: [slot0!, slot1!, slot2!, slot3!], reported, proxy, refused, addresses };
  expect(attemptB.connectionCount).toBe(2);
  return open;
}

function senderOf(mixed: Mixed, channel: Channel, wake: () => void): ChannelSender {
  return mixed.slots[channel.sourceSubtask]!.placement.connectionTo(
    PEER_OF_SLOT[channel.targetSubtask]!,
  ).sender(channel.index, wake);
}

function receiverOf(mixed: Mixed, channel: Channel, wake: () => void): ChannelReceiver {
  return mixed.slots[channel.targetSubtask]!.placement.connectionTo(
    PEER_OF_SLOT[channel.sourceSubtask]!,
  ).receiver(channel.index, wake);
}

describe('a one-slot task manager: its slot serves the data port itself', () => {
  it('with a one-slot and a two-slot peer, all-to-all: one socket per pair of task managers, the one-slot ones accepted by the slot itself; every record in order per channel', async () => {
    const mixed = await startMixed();
    // tm-c's port is its slot's own: tm-a and tm-b each dialled it once, and nothing else did.
    expect(mixed.proxy.accepted).toBe(2);
    expect(mixed.reported.map((m) => m.type)).toEqual(['data-address', 'data-address']);
    expect(mixed.refused).toEqual([]);

    const wakeups = new Wakeups();
    const batches = 30;
    const perBatch = 20;
    const ends = ACROSS.map((channel) => ({
      channel,
      sender: senderOf(mixed, channel, wakeups.wake),
      receiver: receiverOf(mixed, channel, wakeups.wake),
      sent: 0,
      got: [] as string[],
      ended: false,
    }));
    const itemsOf = (c: number): Array<(s: ChannelSender) => boolean> => {
      const items: Array<(s: ChannelSender) => boolean> = [];
      for (let b = 0; b < batches; b++) {
        const values = Array.from({ length: perBatch }, (_, i) => ({
          c,
          n: b * perBatch + i,
          pad: 'x'.repeat(b * 300),
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
    expect(mixed.proxy.accepted).toBe(2);
    // The direct slots close in order: their sockets end, their ports close.
    await Promise.all(mixed.slots.map((s) => s.close()));
  });

  it('a cut socket to a one-slot task manager fails every channel on it, in both task managers, naming the peer slot', async () => {
    const mixed = await startMixed();
    const wakeups = new Wakeups();
    const toC = ACROSS.filter((c) => c.targetSubtask === 3);
    const ends = toC.map((channel) => ({
      channel,
      sender: senderOf(mixed, channel, wakeups.wake),
      receiver: receiverOf(mixed, channel, wakeups.wake),
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
    mixed.proxy.cut();
    for (const { channel, receiver } of ends) {
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
      expect(failure).toBeInstanceOf(TransportError);
      expect((failure as TransportError).code).toBe('SLUICE_CONNECTION_LOST');
      expect((failure as TransportError).peer).toContain(PEER_OF_SLOT[channel.sourceSubtask]!);
    }
    // The senders, in tm-a (its slot's own socket) and tm-b (through its main thread), learn it too.
    for (const { sender } of ends) {
      let failure: unknown;
      await until(wakeups, () => {
        try {
          sender.sendBatch([4], null, false);
          return false;
        } catch (error) {
          failure = error;
          return true;
        }
      });
      expect(failure).toBeInstanceOf(TransportError);
    }
  });

  it("refuses at the slot's own port what the main thread's port refuses: another attempt, a second connection, no shared channel, the side that should wait", async () => {
    const mixed = await startMixed();
    const port = mixed.addresses[3]!.port;
    const realPort = (
      mixed.reported.find((m) => m.type === 'data-address' && m.slotIndex === 3) as DataAddress
    ).port;
    expect(realPort).not.toBe(port);
    await expect(
      connectAuthenticated({
        secret: randomBytes(32),
        label: 'data',
        id: sessionIdOf('tm-a', ATTEMPT),
        host: '127.0.0.1',
        port: realPort,
      }),
    ).rejects.toMatchObject({ code: 'SLUICE_AUTH_FAILED' });
    // A late dialler of another attempt, a second tm-a, a task manager of no channel here; tm-c
    // itself dials nobody sorting before it, and a 'tm-d' (sorting after) would be dialled by tm-c.
    for (const id of [
      sessionIdOf('tm-a', ATTEMPT - 1),
      sessionIdOf('tm-a', ATTEMPT),
      sessionIdOf('tm-x', ATTEMPT),
      'tm-a',
    ]) {
      const authenticated = await connectAuthenticated({
        secret: mixed.secret,
        label: 'data',
        id,
        host: '127.0.0.1',
        port: realPort,
      });
      authenticated.socket.resume();
      await new Promise<void>((resolve) => authenticated.socket.on('close', () => resolve()));
    }
    const reasons = mixed.refused.map((e) => e.message);
    expect(reasons.some((r) => /does not hold the cluster secret/.test(r))).toBe(true);
    expect(reasons.filter((r) => /no such attempt runs here/.test(r))).toHaveLength(2);
    expect(reasons.some((r) => /a data connection to 'tm-a' exists/.test(r))).toBe(true);
    expect(reasons.some((r) => /'tm-x' shares no channel/.test(r))).toBe(true);
    // The real connections are untouched: one more channel still crosses each.
    const wakeups = new Wakeups();
    for (const source of [0, 1]) {
      const channel = ACROSS.find((c) => c.sourceSubtask === source && c.targetSubtask === 3)!;
      const sender = senderOf(mixed, channel, wakeups.wake);
      const receiver = receiverOf(mixed, channel, wakeups.wake);
      sender.sendEndOfInput();
      await until(wakeups, () => {
        if (sender.isBlocked) sender.flushPending();
        return receiver.receive() === ChannelItem.EndOfInput;
      });
    }
  });
});
