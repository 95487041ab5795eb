/**
 * A task manager's slot thread, before it deploys its tasks: takes the streams its task manager
 * made for it (one per slot of another task manager it shares a channel with), waits until the
 * task manager's connection to each peer is up, and runs a `DataConnection` over each stream.
 * The channel ends, their credit and their framing live here, in the thread that runs the tasks,
 * as they would over a socket of the slot's own; the task manager's main thread carries every
 * slot's streams to a peer task manager on one socket (`task-manager-data-plane.ts`). That is a
 * task manager of several slots; the slot of a task manager of one serves the data port itself
 * instead (`direct-slot-data-plane.ts`).
 */
import type { ChannelPlacement } from '../../channels/channel-factory.ts';
import { DataConnection, type DataConnectionOptions } from '../../channels/tcp/data-connection.ts';
import { PortStream } from '../../channels/tcp/port-stream.ts';
import type { ExecutionPlan } from '../../plan/execution-plan.ts';
import type { SlotClusterAssignment } from '../messages.ts';

export interface SlotDataPlane {
  readonly placement: ChannelPlacement;
  close(): Promise<void>;
}

export interface OpenSlotDataPlaneOptions {
  readonly slotIndex: number;
  readonly cluster: SlotClusterAssignment;
  /** Resolves when the attempt is cancelled while the slot waits (a peer never comes). */
  readonly cancelled: Promise<void>;
  /**
   * The receivers' buffers (default: `DataConnection`'s). Measured on q1-rebalance across two task
   * managers once credit counted bytes: 32 buffers instead of 8 (to cover the credit round trip's
   * two extra thread hops) gave no more throughput nor less CPU per event, so the default stands.
   */
  readonly flowControl?: DataConnectionOptions | undefined;
}

/** Thrown into a slot that is cancelled while it waits for its peers. */
export class PeersCancelledError extends Error {
  constructor() {
    super('cancelled while waiting for the peers of the data plane');
  }
}

/** The slots of other processes that `slotIndex` shares at least one channel with. */
export function remotePeersOf(
  plan: Pick<ExecutionPlan, 'channels'>,
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

const NO_BYTES = Buffer.alloc(0);

export async function openSlotDataPlane(options: OpenSlotDataPlaneOptions): Promise<SlotDataPlane> {
  const { cluster } = options;
  const streams = cluster.streams.map(({ peerSlot, port }) => {
    const peerId = cluster.peerOfSlot[peerSlot]!;
    return { peerId, stream: new PortStream(port, peerId) };
  });
  let peers: string[];
  try {
    const cancelled = options.cancelled.then(() => {
      throw new PeersCancelledError();
    });
    peers = await Promise.race([Promise.all(streams.map((s) => s.stream.connected)), cancelled]);
  } catch (error) {
    for (const { stream } of streams) stream.end();
    throw error;
  }
  const connections = new Map<string, DataConnection>();
  streams.forEach(({ peerId, stream }, i) => {
    connections.set(
      peerId,
      new DataConnection(
        { socket: stream, peerId, peer: `${peerId} via ${peers[i]}`, leftover: NO_BYTES },
        options.flowControl,
      ),
    );
  });
  return {
    placement: {
      processOfSlot: cluster.processOfSlot,
      peerOfSlot: cluster.peerOfSlot,
      connectionTo: (peerId) => {
        const connection = connections.get(peerId);
        if (connection === undefined) throw new Error(`bug: no data connection to '${peerId}'`);
        return connection;
      },
    },
    close: async () => {
      for (const connection of connections.values()) connection.close();
    },
  };
}
