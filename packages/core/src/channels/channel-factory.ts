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
}

export type ChannelTransport = 'local' | 'ring';

/** How a channel travels: both ends in this slot hand over in the thread; otherwise a ring. */
export function transportOf(channel: ChannelEnds, slotIndex: number): ChannelTransport {
  return channel.sourceSubtask === slotIndex && channel.targetSubtask === slotIndex ? 'local' : 'ring';
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
    const { slotIndex, resources } = this.#options;
    if (transportOf(channel, slotIndex) === 'local') return this.#local(channel).sender;
    return new RingSender(this.#ring(channel), resources.doorbells[channel.targetSubtask]!);
  }

  /** The consuming end of `channel`, for a task of this slot that reads it. */
  receiverOf(channel: ChannelEnds): ChannelReceiver {
    const { slotIndex, resources } = this.#options;
    if (transportOf(channel, slotIndex) === 'local') return this.#local(channel).receiver;
    return new RingReceiver(this.#ring(channel), resources.doorbells[channel.sourceSubtask]!);
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
