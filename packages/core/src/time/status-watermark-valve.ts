/**
 * Combines the watermarks and idleness of the N input channels of one input gate into the one
 * watermark (and idle/active status) of the task, in the manner of Flink's `StatusWatermarkValve`.
 *
 * Rules (Flink's, with the deviations marked):
 * - The output watermark is the minimum over the channels that are **active and aligned**, and it
 *   never goes back. A channel's watermark that is not above its own previous one is ignored.
 * - An **idle** channel does not hold the watermark back. When a channel goes idle the minimum
 *   may advance. Watermarks arriving on an idle channel are ignored (upstream marks the channel
 *   active before sending watermarks again).
 * - When **all** channels are idle the output becomes idle (`statusChanged: 'idle'`) and the
 *   watermark is flushed to the maximum over all channels, since none of them will advance it.
 *   (Flink only flushes when the last channel to go idle held the minimum; we always flush,
 *   which also covers a last channel that was not aligned and left the output behind the max.)
 * - A channel that becomes **active** again with a watermark behind the output is not aligned:
 *   it is left out of the minimum until its watermark catches up with the output, so its
 *   return never moves the output backwards. A channel that returns aligned may advance the
 *   output at once (Flink waits for the next watermark to look).
 * - A **finished** channel (end of partition; not in Flink's valve, where it is a final
 *   +Infinity watermark) is done: it never holds the watermark back again and does not count
 *   as active for the idle status, and its earlier watermark does not count for the all-idle
 *   flush. When every channel has finished the output is `+Infinity`, the final watermark (and
 *   the output is made active first if it was idle, so downstream does not ignore it).
 *
 * The minimum is recomputed by a linear scan: O(channels) per watermark that may move it.
 * Watermarks are periodic (not per record) and channel counts are at most the upstream
 * parallelism, so this is cheaper than keeping Flink's heap of aligned channels in sync.
 *
 * @example
 * ```ts
 * const valve = new StatusWatermarkValve(upstreamParallelism);
 * const advanced = valve.inputWatermark(wm, channel);
 * if (advanced !== undefined) timers.advanceWatermark(advanced, onTimer);
 * ```
 */

/** Result of a status change or of finishing a channel. */
export interface ValveOutput {
  /** The new combined watermark, if it advanced. */
  watermark?: number;
  /** The new status of the output, if it changed. */
  statusChanged?: 'idle' | 'active';
}

interface ChannelStatus {
  watermark: number;
  active: boolean;
  aligned: boolean;
  finished: boolean;
}

const NO_CHANGE: ValveOutput = Object.freeze({});

export class StatusWatermarkValve {
  readonly #channels: ChannelStatus[];
  #lastOutputWatermark = Number.NEGATIVE_INFINITY;
  #outputIdle = false;
  #numFinished = 0;

  constructor(numChannels: number) {
    if (!Number.isSafeInteger(numChannels) || numChannels < 1) {
      throw new RangeError(
        `StatusWatermarkValve: numChannels must be an integer >= 1, got ${String(numChannels)}`,
      );
    }
    this.#channels = Array.from({ length: numChannels }, () => ({
      watermark: Number.NEGATIVE_INFINITY,
      active: true,
      aligned: true,
      finished: false,
    }));
  }

  /** The last combined watermark emitted; `-Infinity` before the first. */
  get currentWatermark(): number {
    return this.#lastOutputWatermark;
  }

  /** True when every channel is idle (or finished, while some are not finished). */
  get isIdle(): boolean {
    return this.#outputIdle;
  }

  get numChannels(): number {
    return this.#channels.length;
  }

  /** The last watermark received on a channel (`Infinity` once finished), for metrics and tests. */
  channelWatermark(channelIndex: number): number {
    return this.#channel('channelWatermark', channelIndex).watermark;
  }

  /**
   * A watermark arrived on a channel. Returns the new combined watermark if it advanced,
   * otherwise undefined.
   */
  inputWatermark(watermark: number, channelIndex: number): number | undefined {
    const channel = this.#channel('inputWatermark', channelIndex);
    if (typeof watermark !== 'number' || Number.isNaN(watermark)) {
      throw new RangeError(
        `StatusWatermarkValve.inputWatermark: watermark must be a number, got ${String(watermark)}`,
      );
    }
    if (channel.finished || !channel.active || this.#outputIdle) return undefined;
    if (watermark <= channel.watermark) return undefined;
    const previous = channel.watermark;
    channel.watermark = watermark;
    if (!channel.aligned) {
      if (watermark < this.#lastOutputWatermark) return undefined;
      channel.aligned = true; // caught up with the output: counts for the minimum from now on
    } else if (previous > this.#lastOutputWatermark) {
      // An aligned channel strictly above the output was not the minimum; raising it changes nothing.
      return undefined;
    }
    return this.#advanceToMinOfAligned();
  }

  /**
   * A channel became idle (`idle: true`) or active again (`idle: false`). Repeating the current
   * status is a no-op. Status messages on a finished channel are ignored.
   */
  inputWatermarkStatus(idle: boolean, channelIndex: number): ValveOutput {
    const channel = this.#channel('inputWatermarkStatus', channelIndex);
    if (channel.finished || channel.active !== idle) return NO_CHANGE;
    if (idle) {
      channel.active = false;
      channel.aligned = false;
      return this.#afterChannelLeft(channel);
    }
    channel.active = true;
    // If its watermark from before it went idle is not behind the output, it is aligned already.
    channel.aligned = channel.watermark >= this.#lastOutputWatermark;
    const out: ValveOutput = {};
    if (this.#outputIdle) {
      this.#outputIdle = false;
      out.statusChanged = 'active';
    }
    // Recompute at once (Flink waits for the next watermark): if every other active channel is
    // unaligned, this channel alone may now set a higher minimum. Keeping "output = minimum of the
    // aligned channels" true after every call is also what lets inputWatermark skip the scan.
    const advanced = channel.aligned ? this.#advanceToMinOfAligned() : undefined;
    if (advanced !== undefined) out.watermark = advanced;
    return out.statusChanged === undefined && out.watermark === undefined ? NO_CHANGE : out;
  }

  /**
   * A channel reached its end: its watermark becomes `+Infinity` and it never holds the output
   * back again. Finishing an already finished channel is a no-op.
   */
  channelFinished(channelIndex: number): ValveOutput {
    const channel = this.#channel('channelFinished', channelIndex);
    if (channel.finished) return NO_CHANGE;
    const wasActive = channel.active;
    channel.finished = true;
    channel.active = false;
    channel.aligned = false;
    channel.watermark = Number.POSITIVE_INFINITY;
    this.#numFinished++;
    if (this.#numFinished === this.#channels.length) {
      const out: ValveOutput = {};
      if (this.#outputIdle) {
        this.#outputIdle = false;
        out.statusChanged = 'active';
      }
      if (this.#lastOutputWatermark < Number.POSITIVE_INFINITY) {
        this.#lastOutputWatermark = Number.POSITIVE_INFINITY;
        out.watermark = Number.POSITIVE_INFINITY;
      }
      return out;
    }
    // An idle channel that finishes was not counted anyway.
    return wasActive ? this.#afterChannelLeft(channel) : NO_CHANGE;
  }

  /** A channel stopped counting (went idle or finished). */
  #afterChannelLeft(channel: ChannelStatus): ValveOutput {
    if (!this.#hasActiveChannels()) {
      // Nothing will advance the watermark any more: flush to the highest watermark seen on a
      // channel that has not finished (finished ones are +Infinity and say nothing about the rest).
      let max = Number.NEGATIVE_INFINITY;
      for (const c of this.#channels) if (!c.finished && c.watermark > max) max = c.watermark;
      const out: ValveOutput = { statusChanged: 'idle' };
      this.#outputIdle = true;
      if (max > this.#lastOutputWatermark) {
        this.#lastOutputWatermark = max;
        out.watermark = max;
      }
      return out;
    }
    // Only a channel holding the minimum can release it. (A finished channel's old watermark is
    // gone, so just recompute; it is one scan.)
    if (channel.finished || channel.watermark <= this.#lastOutputWatermark) {
      const advanced = this.#advanceToMinOfAligned();
      return advanced === undefined ? NO_CHANGE : { watermark: advanced };
    }
    return NO_CHANGE;
  }

  #advanceToMinOfAligned(): number | undefined {
    let min = Number.POSITIVE_INFINITY;
    let any = false;
    for (const c of this.#channels) {
      if (c.active && c.aligned) {
        any = true;
        if (c.watermark < min) min = c.watermark;
      }
    }
    if (!any || min <= this.#lastOutputWatermark) return undefined;
    this.#lastOutputWatermark = min;
    return min;
  }

  #hasActiveChannels(): boolean {
    for (const c of this.#channels) if (c.active) return true;
    return false;
  }

  #channel(fn: string, channelIndex: number): ChannelStatus {
    const channel = Number.isInteger(channelIndex) ? this.#channels[channelIndex] : undefined;
    if (channel === undefined) {
      throw new RangeError(
        `StatusWatermarkValve.${fn}: channelIndex must be an integer in [0, ${this.#channels.length}), got ${String(channelIndex)}`,
      );
    }
    return channel;
  }
}
