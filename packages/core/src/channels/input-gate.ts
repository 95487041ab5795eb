import { StatusWatermarkValve } from '../time/status-watermark-valve.ts';
import type { Doorbell } from './doorbell.ts';
import { CONTROL_MARKER, ControlType, decodeControlNumber, decodeWatermark } from './frames.ts';
import type { LocalChannel } from './local-channel.ts';
import { RecordDecoder } from './record-codec.ts';
import { RingReader } from './ring-buffer.ts';

/** A ring from a producer in another thread, or a local channel from one in this thread. */
export type ChannelSource =
  | {
      readonly ring: SharedArrayBuffer;
      /** Rung after reading, so a producer waiting for room wakes up. */
      readonly producerDoorbell: Doorbell;
    }
  | { readonly local: LocalChannel };

/** What the gate hands to its task. */
export interface InputHandler {
  /** A batch of records; `timestamps` is null when none of them has one. */
  processBatch(values: readonly unknown[], timestamps: readonly number[] | null): void;
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
  readonly ring: RingReader | undefined;
  readonly doorbell: Doorbell | undefined;
  readonly local: LocalChannel | undefined;
  readonly decoder: RecordDecoder | undefined;
  /** Pieces of a data frame too large for the ring, until its last piece arrives. */
  parts: Uint8Array[] | undefined;
  finished = false;
  /** Delivered the barrier being aligned: read no further until the others catch up. */
  blocked = false;

  constructor(source: ChannelSource) {
    if ('local' in source) {
      this.local = source.local;
    } else {
      this.ring = new RingReader(source.ring);
      this.doorbell = source.producerDoorbell;
      this.decoder = new RecordDecoder();
    }
  }
}

/**
 * Reads a task's input channels round-robin, one frame at a time, decodes batches and combines
 * the channels' watermarks (the minimum over active channels) before handing them on.
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

  constructor(sources: readonly ChannelSource[]) {
    this.#channels = sources.map((s) => new InputChannel(s));
    this.#valve = new StatusWatermarkValve(sources.length);
  }

  get isFinished(): boolean {
    return this.#finished === this.#channels.length;
  }

  /**
   * Handles up to `maxFrames` frames. Returns how many were read. Stops early when `shouldStop`
   * says so (the task's output is blocked), so that backpressure is checked between frames.
   */
  poll(handler: InputHandler, maxFrames: number, shouldStop: () => boolean): number {
    const channels = this.#channels;
    const count = channels.length;
    let read = 0;
    let idleRounds = 0;
    while (read < maxFrames && idleRounds < count && !shouldStop()) {
      const index = this.#next;
      this.#next = index + 1 === count ? 0 : index + 1;
      const channel = channels[index]!;
      if (channel.finished || channel.blocked) {
        idleRounds++;
        continue;
      }
      const local = channel.local;
      if (local !== undefined) {
        const item = local.shift();
        if (item === undefined) {
          idleRounds++;
          continue;
        }
        idleRounds = 0;
        read++;
        if (item instanceof Uint8Array) this.#handleFrame(channel, index, item, handler);
        else handler.processBatch(item.values, item.timestamps);
        continue;
      }
      const ring = channel.ring!;
      const frame = ring.tryRead();
      if (frame === null) {
        idleRounds++;
        continue;
      }
      idleRounds = 0;
      read++;
      this.#handleFrame(channel, index, frame, handler);
      ring.release();
      channel.doorbell!.ring();
    }
    return read;
  }

  #handleFrame(channel: InputChannel, index: number, frame: Uint8Array, handler: InputHandler): void {
    if (frame[0] !== CONTROL_MARKER) {
      const batch = channel.decoder!.decodeBatch(frame);
      handler.processBatch(batch[0], batch[1]);
      return;
    }
    switch (frame[1]) {
      case ControlType.Watermark: {
        const advanced = this.#valve.inputWatermark(decodeWatermark(frame), index);
        if (advanced !== undefined) handler.processWatermark(advanced);
        return;
      }
      case ControlType.Status: {
        const result = this.#valve.inputWatermarkStatus(frame[2] === 1, index);
        this.#applyValveOutput(result, handler);
        return;
      }
      case ControlType.EndOfInput: {
        channel.finished = true;
        this.#finished++;
        const result = this.#valve.channelFinished(index);
        this.#applyValveOutput(result, handler);
        // An ended channel counts as aligned for a checkpoint in progress.
        if (this.#aligning !== undefined) this.#completeAlignmentIfDone(handler);
        if (this.isFinished) handler.endOfInput();
        return;
      }
      case ControlType.Barrier: {
        this.#onBarrier(channel, decodeControlNumber(frame), handler);
        return;
      }
      case ControlType.Part: {
        if (channel.parts === undefined) channel.parts = [];
        const parts = channel.parts;
        parts.push(frame.slice(3));
        if (frame[2] === 1) {
          channel.parts = undefined;
          const whole = new Uint8Array(parts.reduce((n, p) => n + p.byteLength, 0));
          let offset = 0;
          for (const p of parts) {
            whole.set(p, offset);
            offset += p.byteLength;
          }
          this.#handleFrame(channel, index, whole, handler);
        }
        return;
      }
      default:
        throw new Error(`bug: unknown control frame type ${frame[1]} on input channel ${index}`);
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
      this.alignmentStartedAtMs = Date.now();
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
    for (const channel of this.#channels) channel.ring?.close();
  }
}
