/**
 * The one place that decides how a channel travels, and builds its ends: a slot asks for the
 * sender of each channel its tasks write and the receiver of each channel they read, and gets
 * the implementation that fits where the two ends run (`channel.ts` lists them).
 */
import type { ChannelReceiver, ChannelSender } from './channel.ts';
import type { Doorbell } from './doorbell.ts';
import { LocalChannel } from './local-channel.ts';
import { RingReceiver, RingSender } from './ring-channel.ts';

/**
 * What the factory needs to know of a channel: its index in the plan and the subtasks at its two
 * ends. Subtask i of every vertex runs in slot i, so these are also the two ends' slots. (The
 * plan's `ChannelSpec` has these fields.)
 */
export interface ChannelEnds {
  readonly index: number;
  readonly sourceSubtask: number;
  readonly targetSubtask: number;
}

/** The shared memory an attempt allocated for its channels, as one slot sees it. */
export interface ChannelResources {
  /** One ring per channel of the plan, by channel index (channels within a slot leave theirs unused). */
  readonly rings: readonly SharedArrayBuffer[];
  /** Every slot's doorbell, by slot index. */
  readonly doorbells: readonly Doorbell[];
}

export interface ChannelFactoryOptions {
  /** The slot whose tasks use the channels. */
  readonly slotIndex: number;
  readonly resources: ChannelResources;
  /** The configured capacity of a channel's ring (`channelCapacityBytes`). */
  readonly channelCapacityBytes: number;
  /** Records per batch (`batchSize`), to size the channels within a slot like the rings. */
  readonly batchSize: number;
  /**
   * Where the slots run when the job spans processes. Absent (the default), every slot is in this
   * process and no channel goes over TCP.
   */
  readonly placement?: ChannelPlacement | undefined;
}

/** The data connection to another process, as the factory uses it (`tcp/data-connection.ts`). */
export interface TcpChannelEndpoints {
  sender(channelId: number, wake: () => void): ChannelSender;
  receiver(channelId: number, wake: () => void): ChannelReceiver;
}

/** Which process runs each slot, and the connections to the other processes. */
export interface ChannelPlacement {
  /** The process (task manager id) of each slot, by slot index. */
  readonly processOfSlot: readonly string[];
  /**
   * The data-plane peer that serves each slot's channels, by slot index, when it is not the
   * slot's process: in a task manager each slot thread runs one connection per peer slot (over
   * its task manager's one socket to the peer's), so its peers are slots.
   */
  readonly peerOfSlot?: readonly string[] | undefined;
  /** The data connection to peer `peerId` (one per pair of peers, carrying all their channels). */
  connectionTo(peerId: string): TcpChannelEndpoints;
}

export type ChannelTransport = 'local' | 'ring' | 'tcp';

/**
 * How a channel travels: both ends in this slot hand over in the thread; ends in slots of
 * different processes go over TCP; otherwise a ring.
 */
export function transportOf(
  channel: ChannelEnds,
  slotIndex: number,
  placement?: ChannelPlacement,
): ChannelTransport {
  if (channel.sourceSubtask === slotIndex && channel.targetSubtask === slotIndex) return 'local';
  if (
    placement !== undefined &&
    processOf(placement, channel.sourceSubtask) !== processOf(placement, channel.targetSubtask)
  ) {
    return 'tcp';
  }
  return 'ring';
}

function processOf(placement: ChannelPlacement, slotIndex: number): string {
  const process = placement.processOfSlot[slotIndex];
  if (process === undefined) throw new Error(`bug: the placement names no process for slot ${slotIndex}`);
  return process;
}

/** Builds the ends of a slot's channels; both ends of a channel within the slot share one hand-over. */
export class ChannelFactory {
  readonly #options: ChannelFactoryOptions;
  readonly #localChannels = new Map<number, LocalChannel>();

  constructor(options: ChannelFactoryOptions) {
    this.#options = options;
  }

  /** The producing end of `channel`, for a task of this slot that writes it. */
  senderOf(channel: ChannelEnds): ChannelSender {
    const { slotIndex, resources, placement } = this.#options;
    const transport = transportOf(channel, slotIndex, placement);
    if (transport === 'local') return this.#local(channel).sender;
    if (transport === 'tcp') return this.#tcp(channel.targetSubtask).sender(channel.index, this.#wake());
    return new RingSender(this.#ring(channel), resources.doorbells[channel.targetSubtask]!);
  }

  /** The consuming end of `channel`, for a task of this slot that reads it. */
  receiverOf(channel: ChannelEnds): ChannelReceiver {
    const { slotIndex, resources, placement } = this.#options;
    const transport = transportOf(channel, slotIndex, placement);
    if (transport === 'local') return this.#local(channel).receiver;
    if (transport === 'tcp') return this.#tcp(channel.sourceSubtask).receiver(channel.index, this.#wake());
    return new RingReceiver(this.#ring(channel), resources.doorbells[channel.sourceSubtask]!);
  }

  /** The connection to the process of the slot at the channel's other end. */
  #tcp(otherSlot: number): TcpChannelEndpoints {
    const placement = this.#options.placement!;
    return placement.connectionTo(placement.peerOfSlot?.[otherSlot] ?? processOf(placement, otherSlot));
  }

  /** A TCP end wakes this slot (credit or data arrived, the connection failed): its own doorbell. */
  #wake(): () => void {
    const doorbell = this.#options.resources.doorbells[this.#options.slotIndex]!;
    return () => doorbell.ring();
  }

  #ring(channel: ChannelEnds): SharedArrayBuffer {
    const ring = this.#options.resources.rings[channel.index];
    if (ring === undefined) throw new Error(`bug: no ring for channel ${channel.index}`);
    return ring;
  }

  #local(channel: ChannelEnds): LocalChannel {
    let local = this.#localChannels.get(channel.index);
    if (local === undefined) {
      const { channelCapacityBytes, batchSize } = this.#options;
      // About as many records in flight as a ring of the configured size would hold (~16 B each).
      local = new LocalChannel(Math.ceil(channelCapacityBytes / (16 * batchSize)));
      this.#localChannels.set(channel.index, local);
    }
    return local;
  }
}
