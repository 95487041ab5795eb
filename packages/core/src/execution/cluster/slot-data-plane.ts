/**
 * A task manager's slot thread, before it deploys its tasks: opens its own data plane, tells the
 * job manager where it listens, waits for every slot's address, and connects to each slot of
 * another process it shares a channel with. Channel ends live in the thread that owns their
 * connection, so each slot thread is its own data-plane peer: with one slot per task manager
 * (the Kubernetes layout) that is one connection per pair of task managers.
 */
import type { ChannelPlacement } from '../../channels/channel-factory.ts';
import { DataPlane } from '../../channels/tcp/data-plane.ts';
import type { ExecutionPlan } from '../../plan/execution-plan.ts';
import type { DataAddress, SlotClusterAssignment, SlotMessage } from '../messages.ts';

export interface SlotDataPlane {
  readonly placement: ChannelPlacement;
  close(): Promise<void>;
}

export interface OpenSlotDataPlaneOptions {
  readonly plan: ExecutionPlan;
  readonly slotIndex: number;
  readonly cluster: SlotClusterAssignment;
  readonly post: (message: SlotMessage) => void;
  /** Every slot's address, as the job manager sends it once all have reported. */
  readonly peers: Promise<readonly DataAddress[]>;
  /** Resolves when the attempt is cancelled while the slot waits (a peer never comes). */
  readonly cancelled: Promise<void>;
}

/** Thrown into a slot that is cancelled while it waits for its peers. */
export class PeersCancelledError extends Error {
  constructor() {
    super('cancelled while waiting for the peers of the data plane');
  }
}

/** The slots of other processes that `slotIndex` shares at least one channel with. */
export function remotePeersOf(
  plan: ExecutionPlan,
  slotIndex: number,
  processOfSlot: readonly string[],
): number[] {
  const own = processOfSlot[slotIndex];
  const peers = new Set<number>();
  for (const channel of plan.channels) {
    const { sourceSubtask, targetSubtask } = channel;
    if (sourceSubtask === slotIndex && processOfSlot[targetSubtask] !== own) peers.add(targetSubtask);
    if (targetSubtask === slotIndex && processOfSlot[sourceSubtask] !== own) peers.add(sourceSubtask);
  }
  return [...peers].sort((a, b) => a - b);
}

export async function openSlotDataPlane(options: OpenSlotDataPlaneOptions): Promise<SlotDataPlane> {
  const { plan, slotIndex, cluster, post } = options;
  const ownProcess = cluster.processOfSlot[slotIndex];
  // Slot i of a task manager listens on dataPort + (its position among the manager's slots).
  const position = cluster.processOfSlot.slice(0, slotIndex).filter((p) => p === ownProcess).length;
  const plane = await DataPlane.start({
    id: cluster.peerOfSlot[slotIndex]!,
    secret: cluster.secret,
    host: cluster.bindHost,
    port: cluster.dataPort === 0 ? 0 : cluster.dataPort + position,
    tls: cluster.tls,
  });
  try {
    post({ type: 'data-address', slotIndex, host: cluster.advertiseHost, port: plane.address.port });
    const cancelled = options.cancelled.then(() => {
      throw new PeersCancelledError();
    });
    const addresses = await Promise.race([options.peers, cancelled]);
    const bySlot = new Map(addresses.map((a) => [a.slotIndex, a]));
    // The lower slot dials, the higher waits: never both at once (the plane refuses a second connection).
    const connections = remotePeersOf(plan, slotIndex, cluster.processOfSlot).map((peer) => {
      const peerId = cluster.peerOfSlot[peer]!;
      if (slotIndex > peer) return plane.connection(peerId);
      const address = bySlot.get(peer);
      if (address === undefined) throw new Error(`bug: no data address for slot ${peer}`);
      return plane.connect(peerId, address.host, address.port);
    });
    await Promise.race([Promise.all(connections), cancelled]);
  } catch (error) {
    await plane.close();
    throw error;
  }
  return {
    placement: {
      processOfSlot: cluster.processOfSlot,
      peerOfSlot: cluster.peerOfSlot,
      connectionTo: (peerId) => {
        const connection = plane.connectionTo(peerId);
        if (connection === undefined) throw new Error(`bug: no data connection to '${peerId}'`);
        return connection;
      },
    },
    close: () => plane.close(),
  };
}
