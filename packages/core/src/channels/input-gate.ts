import { type Clock, systemClock } from '../time/clock.ts';
import { StatusWatermarkValve } from '../time/status-watermark-valve.ts';
import type { BatchKeys } from './batch-keys.ts';
import { ChannelItem, type ChannelItemKind, type ChannelReceiver } from './channel.ts';

/** What the gate hands to its task. */
export interface InputHandler {
  /**
   * A batch of records; `timestamps` is null when none of them has one, `keys` when the channel
   * is not hash-partitioned (else: each record's key and key group, as its sender computed them).
   * `input` is the side of a two-input operator the batch's channel feeds (0 or 1); always 0 for
   * one input.
   */
  processBatch(
    values: readonly unknown[],
    timestamps: readonly number[] | null,
    keys: BatchKeys | null,
    input: number,
  ): void;
  processWatermark(watermark: number): void;
  processWatermarkStatus(idle: boolean): void;
  /** Every channel has ended. */
  endOfInput(): void;
  /** Barrier `checkpointId` has arrived on every channel that has not ended (aligned). */
  processBarrier(checkpointId: number): void;
  /** A newer barrier overtook an alignment in progress: that checkpoint is abandoned here. */
  abortCheckpoint(checkpointId: number): void;
}

class InputChannel {
  readonly receiver: ChannelReceiver;
  /** The operator input this channel feeds (0, or 1 for a two-input operator's second side). */
  readonly input: number;
  finished = false;
  /** Delivered the barrier being aligned: read no further until the others catch up. */
  blocked = false;

  constructor(receiver: ChannelReceiver, input: number) {
    this.receiver = receiver;
    this.input = input;
  }
}

/**
 * Reads a task's input channels round-robin, one item (a batch or a control element) at a time,
 * and combines the channels' watermarks (the minimum over active channels) and barriers
 * (alignment) before handing them on. A two-input operator's channels of both sides are read by
 * one gate: its watermark is the minimum over both inputs' active channels (Flink's two-input
 * watermark, idle channels left out), and a checkpoint's barriers are aligned across both. How a channel travels (decoded from a ring, handed over in
 * the thread) is its receiver's business (`channel.ts`).
 */
export class InputGate {
  readonly #channels: InputChannel[];
  readonly #valve: StatusWatermarkValve;
  #next = 0;
  #finished = 0;
  /** The checkpoint whose barriers are being aligned, and how many channels delivered it. */
  #aligning: number | undefined;
  #barriers = 0;
  /** When the first barrier of the current alignment arrived (ms), for the alignment-time metric. */
  alignmentStartedAtMs = 0;

  readonly #clock: Clock;

  /**
   * `clock` times barrier alignment (the alignment-time metric); `inputs[i]` is the operator input
   * receiver i feeds (all 0 when absent: a one-input operator).
   */
  constructor(receivers: readonly ChannelReceiver[], clock: Clock = systemClock, inputs?: readonly number[]) {
    this.#clock = clock;
    this.#channels = receivers.map((receiver, i) => new InputChannel(receiver, inputs?.[i] ?? 0));
    this.#valve = new StatusWatermarkValve(receivers.length);
  }

  get isFinished(): boolean {
    return this.#finished === this.#channels.length;
  }

  /**
   * Handles up to `maxItems` items (batches and control elements). Returns how many were read.
   * Stops early when `shouldStop` says so (the task's output is blocked), so that backpressure
   * is checked between items.
   */
  poll(handler: InputHandler, maxItems: number, shouldStop: () => boolean): number {
    const channels = this.#channels;
    const count = channels.length;
    let read = 0;
    let idleRounds = 0;
    while (read < maxItems && idleRounds < count && !shouldStop()) {
      const index = this.#next;
      this.#next = index + 1 === count ? 0 : index + 1;
      const channel = channels[index]!;
      if (channel.finished || channel.blocked) {
        idleRounds++;
        continue;
      }
      const receiver = channel.receiver;
      const kind = receiver.receive();
      if (kind === ChannelItem.None) {
        idleRounds++;
        continue;
      }
      idleRounds = 0;
      read++;
      if (kind === ChannelItem.Batch)
        handler.processBatch(receiver.values, receiver.timestamps, receiver.keys, channel.input);
      else this.#handleControl(channel, index, kind, handler);
    }
    return read;
  }

  #handleControl(channel: InputChannel, index: number, kind: ChannelItemKind, handler: InputHandler): void {
    const receiver = channel.receiver;
    switch (kind) {
      case ChannelItem.Watermark: {
        const advanced = this.#valve.inputWatermark(receiver.watermark, index);
        if (advanced !== undefined) handler.processWatermark(advanced);
        return;
      }
      case ChannelItem.WatermarkStatus: {
        const result = this.#valve.inputWatermarkStatus(receiver.idle, index);
        this.#applyValveOutput(result, handler);
        return;
      }
      case ChannelItem.EndOfInput: {
        channel.finished = true;
        this.#finished++;
        const result = this.#valve.channelFinished(index);
        this.#applyValveOutput(result, handler);
        // An ended channel counts as aligned for a checkpoint in progress.
        if (this.#aligning !== undefined) this.#completeAlignmentIfDone(handler);
        if (this.isFinished) handler.endOfInput();
        return;
      }
      case ChannelItem.Barrier: {
        this.#onBarrier(channel, receiver.checkpointId, handler);
        return;
      }
      default:
        throw new Error(`bug: input channel ${index} received item kind ${kind} as a control element`);
    }
  }

  /**
   * Aligned checkpoints: a channel that delivered barrier n is blocked until every channel that
   * has not ended delivered it too; then the task snapshots and forwards the barrier, and every
   * channel reads on. A newer barrier abandons an older alignment (that checkpoint timed out).
   */
  #onBarrier(channel: InputChannel, checkpointId: number, handler: InputHandler): void {
    const aligning = this.#aligning;
    if (aligning !== undefined && checkpointId < aligning) return;
    if (aligning !== undefined && checkpointId > aligning) {
      this.#unblockAll();
      handler.abortCheckpoint(aligning);
    }
    if (this.#aligning !== checkpointId) {
      this.#aligning = checkpointId;
      this.#barriers = 0;
      this.alignmentStartedAtMs = this.#clock();
    }
    channel.blocked = true;
    this.#barriers++;
    this.#completeAlignmentIfDone(handler);
  }

  #completeAlignmentIfDone(handler: InputHandler): void {
    if (this.#barriers < this.#channels.length - this.#finished) return;
    const checkpointId = this.#aligning!;
    this.#unblockAll();
    handler.processBarrier(checkpointId);
  }

  #unblockAll(): void {
    for (const channel of this.#channels) channel.blocked = false;
    this.#aligning = undefined;
    this.#barriers = 0;
  }

  #applyValveOutput(
    result: { watermark?: number; statusChanged?: 'idle' | 'active' },
    handler: InputHandler,
  ): void {
    if (result.statusChanged === 'active') handler.processWatermarkStatus(false);
    if (result.watermark !== undefined) handler.processWatermark(result.watermark);
    if (result.statusChanged === 'idle') handler.processWatermarkStatus(true);
  }

  close(): void {
    for (const channel of this.#channels) channel.receiver.close();
  }
}
