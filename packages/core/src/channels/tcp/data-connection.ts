/**
 * The channels between two peers, in both directions, over one authenticated byte stream: in a
 * task manager, a slot thread's stream to one slot of another task manager, which the task
 * manager's main thread carries with every other such stream on its one socket to that task
 * manager (`port-stream.ts`, `mux-connection.ts`; Flink: one `PartitionRequestClient` per pair of
 * task managers); or a socket of its own (`data-plane.ts`). Each message is length-prefixed
 * (`frame-reader.ts`) and names its channel:
 *
 * | message | bytes after the length                                    | direction         |
 * |---------|-----------------------------------------------------------|-------------------|
 * | data    | `01` u32 channel, then frames (`frames.ts`), each behind its u32 length | sender → receiver |
 * | open    | `02` u32 channel, u32 buffer bytes, u32 initial credit (bytes) | receiver → sender |
 * | credit  | `03` u32 channel, u32 credit added (bytes)                | receiver → sender |
 *
 * (All integers big endian.) Credit-based flow control, as Flink's since 1.5: a receiver grants
 * `buffersPerChannel` x `bufferBytes` of room for its channel and announces it when it is created
 * (`open`, Flink's initial credit in the partition request); a sender packs frames into a buffer
 * of at most `bufferBytes` (`tcp-channel.ts` says why) and sends it only against credit; the room
 * each buffer took is announced back once the receiver's task has consumed it (`credit`, Flink's
 * `AddCredit`). So a receiver never holds more than the room it granted, a sender never has more
 * than its credit on the wire, and a slow consumer stops its producer with memory bounded on both
 * sides, exactly as a full ring does. A data message beyond the credit granted is a protocol
 * violation and fails the connection.
 *
 * Credit counts bytes, where Flink's counts buffers: Flink's buffers are fixed segments of a
 * pool, while a buffer here is a copy of exactly the bytes that arrived, so bytes are what the
 * receiver's memory is made of. Counted in buffers, a turn's few small frames took as much credit
 * as a full buffer, and a paced source across processes ran out of it at a fraction of the
 * throughput the same job reached unpaced.
 *
 * Writes are coalesced: the socket is corked at the first write of a turn of the event loop and
 * uncorked (one `writev`) when the slot loop next gives the event loop a turn, after the open
 * buffers with credit have been sent and the credit consumed in the meantime has been announced,
 * one message per channel; or earlier, as soon as a buffer's worth (`bufferBytes`) waits, so that
 * a busy slot loop does not hold full batches back.
 *
 * Channel ids are the caller's (the plan's channel index) and must be unique for the life of the
 * connection: data still in flight for an id belongs to whoever used it first. A new attempt of a
 * job therefore uses new connections (a task manager's sockets end with their attempt), as Flink
 * gives every input channel of every attempt its own id.
 *
 * Failure: a socket error, a reset, the peer closing while a channel still needs the connection,
 * or a protocol violation fails the connection once; every end then throws the
 * {@link TransportError} at its next use (a receiver after handing on what had arrived), every
 * end's `wake` is called so that a sleeping slot sees it, and `onClose` listeners hear it.
 */
import { ConfigError } from '../../errors.ts';
import type { ChannelReceiver, ChannelSender } from '../channel.ts';
import { CONTROL_MARKER, ControlType } from '../frames.ts';
import { TransportError } from './errors.ts';
import { FRAME_LENGTH_BYTES, FrameReader } from './frame-reader.ts';
import {
  type DataLink,
  FRAME_PREFIX_BYTES,
  InboundChannel,
  OutboundChannel,
  TcpReceiver,
  TcpSender,
} from './tcp-channel.ts';

const MessageType = { Data: 1, Open: 2, Credit: 3 } as const;

const DATA_HEADER_BYTES = 1 + 4;
const OPEN_BYTES = 1 + 4 + 4 + 4;
const CREDIT_BYTES = 1 + 4 + 4;

/**
 * Default size of a receiver's buffer: a frame larger travels in parts. A batch of 512 Nexmark
 * events encodes to ~90 KiB: in 32 KiB buffers it was three parts (two more copies each way).
 */
export const DEFAULT_BUFFER_BYTES = 64 * 1024;
/**
 * Default buffers per channel (its credit is this many times `bufferBytes`): with the default
 * size, 512 KiB in flight per channel at most. A busy slot reads its socket and announces consumed credit only when its loop gives the
 * event loop a turn, so the credit must cover the data produced in between: with 4 x 32 KiB
 * (128 KiB, ~1.4 such batches) the two slots of q1-rebalance across processes waited for credit
 * in turns (29-40% of each slot thread idle in CPU profiles) and spent ~1.45 µs of CPU per event;
 * with 8 x 64 KiB, ~1.2 (benchmarks/README.md, "Across processes").
 */
export const DEFAULT_BUFFERS_PER_CHANNEL = 8;
/** Smallest buffer accepted, from either side: a part's header and some bytes of batch must fit. */
export const MIN_BUFFER_BYTES = 256;
/** Largest buffer accepted, from either side. */
export const MAX_BUFFER_BYTES = 64 * 1024 * 1024;
const MAX_BUFFERS_PER_CHANNEL = 65_536;
const MAX_CREDIT_BYTES = 0xffff_ffff;

export interface DataConnectionOptions {
  /** Bytes of one buffer this side's receivers grant; default {@link DEFAULT_BUFFER_BYTES}. */
  readonly bufferBytes?: number | undefined;
  /** Buffers each of this side's receivers grants; default {@link DEFAULT_BUFFERS_PER_CHANNEL}. */
  readonly buffersPerChannel?: number | undefined;
}

/** Checks the flow-control options, naming the bad one. */
export function checkDataConnectionOptions(options: DataConnectionOptions): {
  bufferBytes: number;
  buffersPerChannel: number;
} {
  const bufferBytes = options.bufferBytes ?? DEFAULT_BUFFER_BYTES;
  if (!Number.isInteger(bufferBytes) || bufferBytes < MIN_BUFFER_BYTES || bufferBytes > MAX_BUFFER_BYTES) {
    throw new ConfigError(
      `bufferBytes must be an integer from ${MIN_BUFFER_BYTES} to ${MAX_BUFFER_BYTES}, got ${String(options.bufferBytes)}`,
    );
  }
  const buffersPerChannel = options.buffersPerChannel ?? DEFAULT_BUFFERS_PER_CHANNEL;
  if (
    !Number.isInteger(buffersPerChannel) ||
    buffersPerChannel < 1 ||
    buffersPerChannel > MAX_BUFFERS_PER_CHANNEL
  ) {
    throw new ConfigError(
      `buffersPerChannel must be an integer from 1 to ${MAX_BUFFERS_PER_CHANNEL}, got ${String(options.buffersPerChannel)}`,
    );
  }
  // Credit travels as a u32 of bytes.
  if (bufferBytes * buffersPerChannel > MAX_CREDIT_BYTES) {
    throw new ConfigError(
      `bufferBytes x buffersPerChannel must be at most ${MAX_CREDIT_BYTES} bytes, got ${bufferBytes} x ${buffersPerChannel}`,
    );
  }
  return { bufferBytes, buffersPerChannel };
}

/** A sending end's flow-control state, for tests and metrics. */
export interface OutboundState {
  /** Bytes the receiver granted that the sender has not used. */
  readonly credit: number;
  /** The receiver's buffer size (0 until it announced itself). */
  readonly bufferBytes: number;
  readonly buffersSent: number;
}

/** A receiving end's flow-control state, for tests and metrics. */
export interface InboundState {
  /** Buffers that arrived and wait for the task. */
  readonly queuedBuffers: number;
  /** Their bytes. */
  readonly queuedBytes: number;
  /** Credit (bytes) announced and not yet used by the sender. */
  readonly outstandingCredit: number;
  readonly buffersReceived: number;
}

export type DataConnectionCloseListener = (error: TransportError | undefined) => void;

/**
 * What a connection needs of its byte stream: a `net.Socket` (`data-plane.ts`), or a task
 * manager's virtual stream to one peer slot over its one shared socket (`port-stream.ts`). Its
 * events are a socket's: `data`, `end` (the peer ended), `error`, `close` (after `end` or a reset).
 */
export interface DataSocket {
  on(event: 'data', listener: (chunk: Buffer) => void): unknown;
  on(event: 'end' | 'close', listener: () => void): unknown;
  on(event: 'error', listener: (error: Error) => void): unknown;
  write(chunk: Uint8Array): unknown;
  cork(): void;
  uncork(): void;
  readonly writableLength: number;
  end(): unknown;
  destroy(): unknown;
  resume(): unknown;
  readonly destroyed: boolean;
}

/** An authenticated byte stream to a peer: a socket after the handshake, or a stream over one. */
export interface DataStream {
  readonly socket: DataSocket;
  /** The id the peer authenticated with (or the peer slot's id on a shared socket). */
  readonly peerId: string;
  /** How to name the peer in messages: its id and address. */
  readonly peer: string;
  /** Bytes that arrived before the connection took the stream over. */
  readonly leftover: Buffer;
}

export class DataConnection implements DataLink {
  /** The peer's id, as it authenticated. */
  readonly peerId: string;
  /** The peer's id and address, for messages. */
  readonly peer: string;
  readonly bufferBytes: number;
  readonly buffersPerChannel: number;

  readonly #socket: DataSocket;
  readonly #reader: FrameReader;
  readonly #outbound = new Map<number, OutboundChannel>();
  readonly #inbound = new Map<number, InboundChannel>();
  /** Receivers whose consumed buffers are to be announced at the next flush. */
  readonly #creditToAnnounce: InboundChannel[] = [];
  /** Senders whose open buffer is to go at the next flush, if they have credit by then. */
  readonly #openToSend: OutboundChannel[] = [];
  /** Ends that got something during the chunk being read: woken once it has been read. */
  readonly #toWake = new Set<() => void>();
  readonly #closeListeners: DataConnectionCloseListener[] = [];
  #failure: TransportError | undefined;
  #closedLocally = false;
  #ended = false;
  #corked = false;

  constructor(authenticated: DataStream, options: DataConnectionOptions = {}) {
    const { bufferBytes, buffersPerChannel } = checkDataConnectionOptions(options);
    this.bufferBytes = bufferBytes;
    this.buffersPerChannel = buffersPerChannel;
    this.peerId = authenticated.peerId;
    this.peer = authenticated.peer;
    const socket = authenticated.socket;
    this.#socket = socket;
    // The largest message a peer may send us: a data message of one of our buffers.
    this.#reader = new FrameReader(
      DATA_HEADER_BYTES + bufferBytes,
      (frame) => this.#onMessage(frame),
      (frameBytes) =>
        this.#fail(
          new TransportError(
            'SLUICE_PROTOCOL',
            this.peer,
            `message of ${frameBytes} bytes exceeds the largest allowed (${DATA_HEADER_BYTES + bufferBytes})`,
          ),
        ),
    );
    socket.on('data', (chunk: Buffer) => this.#onData(chunk));
    socket.on('end', () => {
      this.#ended = true;
    });
    socket.on('error', (error: Error) => {
      // A stream of a task manager's shared connection fails with that connection's loss, which
      // says so already.
      const lost = (error as { code?: unknown }).code === 'SLUICE_CONNECTION_LOST';
      this.#fail(
        new TransportError(
          'SLUICE_CONNECTION_LOST',
          this.peer,
          lost ? error.message : `data connection failed: ${error.message}`,
          { cause: error },
        ),
      );
    });
    socket.on('close', () => this.#onSocketClosed());
    if (authenticated.leftover.byteLength > 0) this.#onData(authenticated.leftover);
    // Reset between the handshake and now: 'close' has been emitted already.
    if (socket.destroyed) this.#onSocketClosed();
    else socket.resume();
  }

  /** Why the connection is unusable, once it is. */
  get failure(): TransportError | undefined {
    return this.#failure;
  }

  /**
   * The sending end of channel `channelId` (the plan's channel index; the receiver uses the same).
   * `wake` is called when credit arrives or the connection fails: ring the producing slot's doorbell.
   */
  sender(channelId: number, wake: () => void): ChannelSender {
    const channel = this.#outboundChannel(channelId);
    if (channel.hasSender) throw new Error(`bug: channel ${channelId} already has a sender on ${this.peer}`);
    channel.hasSender = true;
    channel.wake = wake;
    return new TcpSender(this, channel);
  }

  /**
   * The receiving end of channel `channelId`; announces its buffers to the sender at once.
   * `wake` is called when data arrives or the connection fails: ring the consuming slot's doorbell.
   */
  receiver(channelId: number, wake: () => void): ChannelReceiver {
    if (this.#inbound.has(channelId))
      throw new Error(`bug: channel ${channelId} already has a receiver on ${this.peer}`);
    const channel = new InboundChannel(channelId, this.buffersPerChannel);
    channel.wake = wake;
    channel.outstanding = this.buffersPerChannel * this.bufferBytes;
    this.#inbound.set(channelId, channel);
    if (this.#failure === undefined) {
      const message = Buffer.allocUnsafe(FRAME_LENGTH_BYTES + OPEN_BYTES);
      message.writeUInt32BE(OPEN_BYTES, 0);
      message[4] = MessageType.Open;
      message.writeUInt32BE(channelId, 5);
      message.writeUInt32BE(this.bufferBytes, 9);
      message.writeUInt32BE(channel.outstanding, 13);
      this.#write(message);
    }
    return new TcpReceiver(this, channel);
  }

  /** `listener(undefined)` on an orderly close, `listener(error)` when the connection failed. Called once. */
  onClose(listener: DataConnectionCloseListener): void {
    this.#closeListeners.push(listener);
  }

  outboundState(channelId: number): OutboundState | undefined {
    const channel = this.#outbound.get(channelId);
    if (channel === undefined) return undefined;
    return { credit: channel.credit, bufferBytes: channel.bufferBytes, buffersSent: channel.buffersSent };
  }

  inboundState(channelId: number): InboundState | undefined {
    const channel = this.#inbound.get(channelId);
    if (channel === undefined) return undefined;
    return {
      queuedBuffers: channel.size,
      queuedBytes: channel.queue.reduce((bytes, buffer) => bytes + (buffer?.byteLength ?? 0), 0),
      outstandingCredit: channel.outstanding,
      buffersReceived: channel.buffersReceived,
    };
  }

  /** Sends what is corked and closes the connection in order; ends used afterwards throw. */
  close(): void {
    if (this.#closedLocally) return;
    this.#closedLocally = true;
    if (this.#failure === undefined) {
      this.#flush();
      this.#failure = new TransportError('SLUICE_CONNECTION_LOST', this.peer, 'data connection closed');
      this.#socket.end();
    }
  }

  /** Closes the connection at once, with `error` for its ends (a reset, for tests and teardown). */
  destroy(error?: Error): void {
    this.#fail(
      new TransportError(
        'SLUICE_CONNECTION_LOST',
        this.peer,
        `data connection destroyed${error ? `: ${error.message}` : ''}`,
        {
          cause: error,
        },
      ),
    );
  }

  append(channel: OutboundChannel, frame: Uint8Array): boolean {
    if (channel.packedBytes + FRAME_PREFIX_BYTES + frame.byteLength > channel.bufferBytes) {
      if (channel.packedBytes === 0 || channel.credit < channel.packedBytes) return false;
      this.#send(channel);
    }
    channel.open ??= Buffer.allocUnsafe(FRAME_LENGTH_BYTES + DATA_HEADER_BYTES + channel.bufferBytes);
    const open = channel.open;
    const at = FRAME_LENGTH_BYTES + DATA_HEADER_BYTES + channel.packedBytes;
    open.writeUInt32BE(frame.byteLength, at);
    open.set(frame, at + FRAME_PREFIX_BYTES);
    channel.packedBytes += FRAME_PREFIX_BYTES + frame.byteLength;
    if (!channel.scheduled) {
      channel.scheduled = true;
      this.#openToSend.push(channel);
      this.#cork();
    }
    return true;
  }

  /** Sends `channel`'s open buffer, using its bytes of credit; the caller checked there are enough. */
  #send(channel: OutboundChannel): void {
    channel.credit -= channel.packedBytes;
    channel.buffersSent++;
    const messageBytes = FRAME_LENGTH_BYTES + DATA_HEADER_BYTES + channel.packedBytes;
    // One allocation and one copy per buffer: the socket keeps the message until it is written,
    // while the open buffer is filled again at once.
    const message = Buffer.allocUnsafe(messageBytes);
    channel.open!.copy(message, 0, 0, messageBytes);
    message.writeUInt32BE(messageBytes - FRAME_LENGTH_BYTES, 0);
    message[4] = MessageType.Data;
    message.writeUInt32BE(channel.channelId, 5);
    channel.packedBytes = 0;
    this.#write(message);
    // A sender blocked on its end of input's buffer (`TcpSender.isBlocked`) learns it has left.
    if (channel.finished) channel.wake();
  }

  returnCredit(channel: InboundChannel, bytes: number): void {
    if (channel.closed) return;
    channel.unannounced += bytes;
    if (!channel.creditDirty) {
      channel.creditDirty = true;
      this.#creditToAnnounce.push(channel);
      this.#cork();
    }
  }

  #outboundChannel(channelId: number): OutboundChannel {
    let channel = this.#outbound.get(channelId);
    if (channel === undefined) {
      channel = new OutboundChannel(channelId);
      this.#outbound.set(channelId, channel);
    }
    return channel;
  }

  #write(message: Buffer): void {
    if (this.#failure !== undefined) return;
    this.#cork();
    const socket = this.#socket;
    socket.write(message);
    // A buffer's worth waiting goes now, not when the slot loop next yields (up to its yield
    // interval later): large batches leave at once, small frames and credits still coalesce.
    if (socket.writableLength >= this.bufferBytes) {
      socket.uncork();
      socket.cork();
    }
  }

  /** Corks the socket until the event loop's next turn: what is written meanwhile goes in one writev. */
  #cork(): void {
    if (this.#corked || this.#failure !== undefined) return;
    this.#corked = true;
    this.#socket.cork();
    process.nextTick(this.#flush);
  }

  readonly #flush = (): void => {
    const open = this.#openToSend;
    if (this.#failure === undefined) {
      // An open buffer without credit stays open: the credit's arrival schedules it again.
      for (const channel of open) {
        channel.scheduled = false;
        if (channel.packedBytes > 0 && channel.credit >= channel.packedBytes) this.#send(channel);
      }
    }
    open.length = 0;
    const channels = this.#creditToAnnounce;
    if (this.#failure === undefined) {
      for (const channel of channels) {
        channel.creditDirty = false;
        if (channel.unannounced === 0 || channel.closed) continue;
        const message = Buffer.allocUnsafe(FRAME_LENGTH_BYTES + CREDIT_BYTES);
        message.writeUInt32BE(CREDIT_BYTES, 0);
        message[4] = MessageType.Credit;
        message.writeUInt32BE(channel.channelId, 5);
        message.writeUInt32BE(channel.unannounced, 9);
        channel.outstanding += channel.unannounced;
        channel.unannounced = 0;
        this.#socket.write(message);
      }
    }
    channels.length = 0;
    if (this.#corked) {
      this.#corked = false;
      this.#socket.uncork();
    }
  };

  #onData(chunk: Buffer): void {
    this.#reader.push(chunk);
    if (this.#toWake.size === 0) return;
    // Once per chunk, not per message: a doorbell ring costs far more than a queue push.
    for (const wake of this.#toWake) wake();
    this.#toWake.clear();
  }

  #onMessage(message: Buffer): void {
    if (this.#failure !== undefined) return;
    const type = message[0];
    if (type === MessageType.Data && message.byteLength > DATA_HEADER_BYTES) {
      const channelId = message.readUInt32BE(1);
      const channel = this.#inbound.get(channelId);
      const payloadBytes = message.byteLength - DATA_HEADER_BYTES;
      if (channel === undefined || channel.outstanding < payloadBytes) {
        this.#protocolError(
          channel === undefined
            ? `data for channel ${channelId}, which has no receiver here`
            : `data for channel ${channelId} beyond the credit granted`,
        );
        return;
      }
      // Every frame's length checked once here, so that the receiver can trust them.
      let offset = DATA_HEADER_BYTES;
      let endOfInput = false;
      while (offset < message.byteLength) {
        const start = offset + FRAME_PREFIX_BYTES;
        const end = start + (start <= message.byteLength ? message.readUInt32BE(offset) : 0);
        if (start >= message.byteLength || end > message.byteLength || end === start) {
          this.#protocolError(`malformed data for channel ${channelId}: a frame overruns its buffer`);
          return;
        }
        endOfInput = message[start] === CONTROL_MARKER && message[start + 1] === ControlType.EndOfInput;
        offset = end;
      }
      channel.outstanding -= payloadBytes;
      channel.buffersReceived++;
      if (channel.closed) return;
      if (endOfInput) channel.endArrived = true;
      // A copy: the chunk the view points into may hold many messages of other channels.
      channel.enqueue(Uint8Array.prototype.slice.call(message, DATA_HEADER_BYTES));
      this.#toWake.add(channel.wake);
      return;
    }
    if (
      (type === MessageType.Open && message.byteLength === OPEN_BYTES) ||
      (type === MessageType.Credit && message.byteLength === CREDIT_BYTES)
    ) {
      const channelId = message.readUInt32BE(1);
      const channel = this.#outboundChannel(channelId);
      if (type === MessageType.Open) {
        const bufferBytes = message.readUInt32BE(5);
        if (channel.bufferBytes !== 0 || bufferBytes < MIN_BUFFER_BYTES || bufferBytes > MAX_BUFFER_BYTES) {
          this.#protocolError(`bad open for channel ${channelId} (buffer of ${bufferBytes} bytes)`);
          return;
        }
        channel.bufferBytes = bufferBytes;
        channel.credit += message.readUInt32BE(9);
      } else {
        if (channel.bufferBytes === 0) {
          this.#protocolError(`credit for channel ${channelId} before it was opened`);
          return;
        }
        channel.credit += message.readUInt32BE(5);
      }
      // An open buffer that waited for credit goes at this turn's flush.
      if (channel.packedBytes > 0 && !channel.scheduled) {
        channel.scheduled = true;
        this.#openToSend.push(channel);
        this.#cork();
      }
      this.#toWake.add(channel.wake);
      return;
    }
    this.#protocolError(`unknown message (type ${type}, ${message.byteLength} bytes)`);
  }

  #protocolError(message: string): void {
    this.#fail(new TransportError('SLUICE_PROTOCOL', this.peer, message));
  }

  /**
   * The first end that still needs the connection (a receiver before its end of input, a sender
   * before it sent its own), as an error message names it; undefined: none.
   */
  #stillNeeding(): string | undefined {
    for (const channel of this.#inbound.values())
      if (!channel.closed && !channel.endArrived)
        return `channel ${channel.channelId} still expected input (${channel.buffersReceived} buffers received)`;
    for (const channel of this.#outbound.values())
      if (channel.hasSender && !channel.closed && (!channel.finished || channel.packedBytes > 0))
        return channel.finished
          ? `channel ${channel.channelId} still had its last ${channel.packedBytes} bytes to send`
          : `channel ${channel.channelId} still had a sender`;
    return undefined;
  }

  #fail(error: TransportError): void {
    if (this.#failure !== undefined) return;
    this.#failure = error;
    this.#reader.stop();
    this.#socket.destroy();
    this.#wakeAll();
    this.#notifyClosed(error);
  }

  #onSocketClosed(): void {
    if (this.#failure !== undefined && !this.#closedLocally) return; // failed: already reported
    if (this.#closedLocally) {
      this.#notifyClosed(undefined);
      return;
    }
    const needing = this.#stillNeeding();
    this.#failure = new TransportError(
      'SLUICE_CONNECTION_LOST',
      this.peer,
      `${this.#ended ? 'the peer closed the data connection' : 'the data connection was reset'}${
        needing === undefined ? '' : ` while ${needing}`
      }`,
    );
    this.#reader.stop();
    this.#wakeAll();
    this.#notifyClosed(needing === undefined ? undefined : this.#failure);
  }

  #wakeAll(): void {
    for (const channel of this.#inbound.values()) channel.wake();
    for (const channel of this.#outbound.values()) channel.wake();
  }

  #notifyClosed(error: TransportError | undefined): void {
    const listeners = this.#closeListeners.splice(0);
    for (const listener of listeners) listener(error);
  }
}
