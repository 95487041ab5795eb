/**
 * The data connection of a task manager with one slot, in the slot thread itself: the same wire
 * format as the shared connection of a task manager with several slots (`mux-protocol.ts`,
 * `mux-connection.ts`), but with no relay. The slot thread owns the socket, and each stream on it
 * (one per peer slot in the task manager at the other end) is a {@link DirectStream}: what a
 * `DataConnection` takes for a socket, written straight onto the real socket behind a segment
 * header and fed straight from its reads.
 *
 * Why the mux format rather than a bare `DataConnection` per socket: the peer may be a task
 * manager with several slots, whose one socket carries streams to all of them; speaking the same
 * segments whatever the peer's shape means a one-slot and a two-slot task manager interoperate
 * without knowing each other's shape, and the refusals at the port stay those of
 * `task-manager-data-plane.ts` (both read segments with `mux-protocol.ts`'s `SegmentReader`).
 * What it costs over a bare socket: a 9-byte header per flush of a
 * stream (a turn of the slot's event loop, or a buffer's worth), never per record; pieces of a read
 * are handed on as views into it, without a copy, since no thread is crossed.
 *
 * Failure: a socket error, a reset or a closed socket ends every stream on it that is not over,
 * as `mux-connection.ts` does; a segment for a stream this side does not have is a protocol
 * violation and fails the connection.
 */
import { EventEmitter } from 'node:events';
import type { DataSocket } from './data-connection.ts';
import type { AuthenticatedSocket } from './endpoint.ts';
import { TransportError, type TransportErrorCode } from './errors.ts';
import {
  fillSegmentHeader,
  MAX_SLOT_INDEX,
  SEGMENT_HEADER_BYTES,
  SegmentReader,
  type SegmentSink,
  SegmentType,
  segmentError,
  segmentMeaning,
} from './mux-protocol.ts';

function streamKey(localSlot: number, remoteSlot: number): number {
  return localSlot * (MAX_SLOT_INDEX + 1) + remoteSlot;
}

/**
 * One slot's stream to one peer slot over a {@link DirectMuxConnection}. It exists before the
 * connection (the slot learns its peers from the plan); `connected` settles when the connection
 * to the peer's task manager is up (with its name) or failed.
 */
export class DirectStream extends EventEmitter implements DataSocket {
  readonly localSlot: number;
  readonly remoteSlot: number;
  /** How to name the peer slot until a connection says where it is. */
  readonly #describe: string;
  #connection: DirectMuxConnection | undefined;
  /** Written and not yet on the socket (while corked). */
  readonly #pending: Uint8Array[] = [];
  #pendingBytes = 0;
  #corks = 0;
  #paused = true;
  /** Data that arrived before a `DataConnection` took the stream: bounded by the credit it granted. */
  readonly #held: Buffer[] = [];
  localEnded = false;
  remoteEnded = false;
  #closed = false;
  readonly connected: Promise<string>;
  #onConnected: (peer: string) => void = () => {};
  #onFailed: (error: TransportError) => void = () => {};

  constructor(localSlot: number, remoteSlot: number, describe: string) {
    super();
    if (localSlot > MAX_SLOT_INDEX || remoteSlot > MAX_SLOT_INDEX) {
      throw new Error(`bug: slot index beyond ${MAX_SLOT_INDEX}`);
    }
    this.localSlot = localSlot;
    this.remoteSlot = remoteSlot;
    this.#describe = describe;
    this.connected = new Promise<string>((resolve, reject) => {
      this.#onConnected = resolve;
      this.#onFailed = reject;
    });
    // Unobserved when the slot is cancelled before it asked.
    this.connected.catch(() => {});
  }

  get writableLength(): number {
    return this.#pendingBytes;
  }

  get destroyed(): boolean {
    return this.#closed;
  }

  write(chunk: Uint8Array): boolean {
    if (this.localEnded || this.#closed) return false;
    this.#pending.push(chunk);
    this.#pendingBytes += chunk.byteLength;
    if (this.#corks === 0) this.#flush();
    return true;
  }

  cork(): void {
    this.#corks++;
  }

  uncork(): void {
    if (this.#corks > 0) this.#corks--;
    if (this.#corks === 0) this.#flush();
  }

  resume(): this {
    if (!this.#paused) return this;
    this.#paused = false;
    for (const chunk of this.#held.splice(0)) this.emit('data', chunk);
    return this;
  }

  /** Writes what is pending and ends this side; closes once the peer has ended its side too. */
  end(): this {
    if (this.localEnded || this.#closed) return this;
    this.#corks = 0;
    this.#flush();
    this.localEnded = true;
    this.#connection?.writeControl(this, SegmentType.End);
    if (this.remoteEnded) this.#close();
    return this;
  }

  /** Drops what is pending and resets the stream: the peer slot sees it closed without an end. */
  destroy(): this {
    if (this.#closed) return this;
    this.#pending.length = 0;
    this.#pendingBytes = 0;
    if (!this.localEnded) {
      this.localEnded = true;
      this.#connection?.writeControl(this, SegmentType.Reset);
    }
    this.#close();
    return this;
  }

  /** Whether the stream is over: nothing more goes either way. */
  get over(): boolean {
    return this.#closed || (this.localEnded && this.remoteEnded);
  }

  #flush(): void {
    const bytes = this.#pendingBytes;
    if (bytes === 0 || this.#closed) return;
    this.#connection?.writeData(this, this.#pending, bytes);
    this.#pending.length = 0;
    this.#pendingBytes = 0;
  }

  // What the connection tells the stream.

  attach(connection: DirectMuxConnection): void {
    this.#connection = connection;
    this.#onConnected(connection.peer);
  }

  /** A piece of the peer slot's bytes: a view into the socket's read, handed on without a copy. */
  deliver(piece: Buffer): void {
    if (this.#closed) return;
    if (this.#paused) this.#held.push(piece);
    else this.emit('data', piece);
  }

  /** The peer slot ended its side: as a socket that does not allow half-open connections, ours ends too. */
  remoteEnd(): void {
    if (this.#closed) return;
    this.remoteEnded = true;
    this.resume();
    this.emit('end');
    this.end();
  }

  /** The stream is gone without an end (a reset, the socket closed), or failed (`code`). */
  fail(code: TransportErrorCode | undefined, message: string): void {
    if (this.#closed) return;
    this.remoteEnded = true;
    const error = new TransportError(code ?? 'SLUICE_CONNECTION_LOST', this.#describe, message);
    this.#onFailed(error);
    this.resume();
    // The `DataConnection` over the stream names the peer itself.
    if (code !== undefined && this.listenerCount('error') > 0) this.emit('error', new Error(message));
    this.localEnded = true;
    this.#close();
  }

  #close(): void {
    if (this.#closed) return;
    this.#closed = true;
    // As a socket: 'close' after the call that caused it has returned.
    process.nextTick(() => this.emit('close'));
  }
}

export class DirectMuxConnection {
  /** The peer's id and address, as it authenticated. */
  readonly peer: string;
  readonly peerId: string;
  readonly #socket: AuthenticatedSocket['socket'];
  readonly #streams = new Map<number, DirectStream>();
  readonly #onClosed: (error: TransportError | undefined) => void;
  readonly #reader = new SegmentReader<DirectStream>();
  readonly #sink: SegmentSink<DirectStream> = {
    segment: (payloadBytes, type, localSlot, remoteSlot) =>
      this.#onSegment(payloadBytes, type, localSlot, remoteSlot),
    // No thread to cross: each piece goes on at once, a view into the read.
    payload: (stream, piece) => stream.deliver(piece),
    failed: false,
  };
  #failure: TransportError | undefined;
  #closing = false;
  #closed = false;
  readonly closed: Promise<void>;
  #resolveClosed: () => void = () => {};

  constructor(
    authenticated: AuthenticatedSocket,
    streams: readonly DirectStream[],
    onClosed: (error: TransportError | undefined) => void,
  ) {
    this.peer = authenticated.peer;
    this.peerId = authenticated.peerId;
    this.#socket = authenticated.socket;
    this.#onClosed = onClosed;
    this.closed = new Promise<void>((resolve) => {
      this.#resolveClosed = resolve;
    });
    for (const stream of streams) this.#streams.set(streamKey(stream.localSlot, stream.remoteSlot), stream);
    const socket = this.#socket;
    socket.on('data', (chunk: Buffer) => this.#onData(chunk));
    socket.on('end', () => this.#endStreams(undefined, 'the data connection closed'));
    socket.on('error', (error: Error) =>
      this.#fail(
        new TransportError('SLUICE_CONNECTION_LOST', this.peer, `data connection failed: ${error.message}`, {
          cause: error,
        }),
      ),
    );
    socket.on('close', () => this.#onSocketClosed());
    for (const stream of streams) stream.attach(this);
    if (authenticated.leftover.byteLength > 0) this.#onData(authenticated.leftover);
    if (socket.destroyed) this.#onSocketClosed();
    else socket.resume();
  }

  get failure(): TransportError | undefined {
    return this.#failure;
  }

  /** A stream's pending bytes, as one data segment: one writev with its header. */
  writeData(stream: DirectStream, chunks: readonly Uint8Array[], bytes: number): void {
    const socket = this.#socket;
    if (!socket.writable) return;
    socket.cork();
    this.#writeHeader(SegmentType.Data, stream, bytes);
    for (let i = 0; i < chunks.length; i++) socket.write(chunks[i]!);
    socket.uncork();
  }

  /** A stream's end or reset. */
  writeControl(stream: DirectStream, type: number): void {
    if (!this.#socket.writable) return;
    this.#writeHeader(type, stream, 0);
  }

  /** Ends the socket in order once what was written has gone (every stream should be over). */
  close(): void {
    if (this.#closing || this.#closed) return;
    this.#closing = true;
    this.#socket.end();
  }

  /** Closes the socket at once: the streams still open see it closed. */
  destroy(error?: Error): void {
    const reason = `the data connection was destroyed${error === undefined ? '' : `: ${error.message}`}`;
    this.#fail(new TransportError('SLUICE_CONNECTION_LOST', this.peer, reason, { cause: error }));
  }

  #writeHeader(type: number, stream: DirectStream, payloadBytes: number): void {
    const header = Buffer.allocUnsafe(SEGMENT_HEADER_BYTES);
    fillSegmentHeader(header, type, stream.localSlot, stream.remoteSlot, payloadBytes);
    this.#socket.write(header);
  }

  #onData(chunk: Buffer): void {
    this.#reader.push(chunk, this.#sink);
  }

  /** A segment's header: the stream its payload goes to, or undefined when none follows. */
  #onSegment(
    payloadBytes: number,
    type: number,
    localSlot: number,
    remoteSlot: number,
  ): DirectStream | undefined {
    const stream = this.#streams.get(streamKey(localSlot, remoteSlot));
    if (stream === undefined) {
      this.#protocolError(segmentError(localSlot, remoteSlot));
      return undefined;
    }
    switch (segmentMeaning(type, payloadBytes, stream.remoteEnded)) {
      case 'data':
        return stream;
      case 'end':
        stream.remoteEnd();
        return undefined;
      case 'reset':
        stream.fail(undefined, 'the peer slot reset the stream');
        return undefined;
      case 'bad':
        this.#protocolError(segmentError(localSlot, remoteSlot, { type, payloadBytes }));
        return undefined;
    }
  }

  #protocolError(message: string): void {
    this.#fail(new TransportError('SLUICE_PROTOCOL', this.peer, message));
  }

  /** Fails the connection once; the streams' connections name the peer slot themselves. */
  #fail(error: TransportError): void {
    if (this.#failure !== undefined || this.#closed) return;
    this.#failure = error;
    this.#sink.failed = true;
    this.#endStreams(error.code, error.message);
    this.#socket.destroy();
  }

  /** Every stream not over yet learns that it never will be. */
  #endStreams(code: TransportErrorCode | undefined, message: string): void {
    for (const stream of this.#streams.values()) {
      if (stream.remoteEnded) continue;
      stream.fail(code, message);
    }
  }

  #onSocketClosed(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#endStreams(undefined, 'the data connection closed');
    this.#onClosed(this.#failure);
    this.#resolveClosed();
  }
}
