/**
 * The one data connection between two task managers, in the task manager's main thread (Flink's
 * netty thread): it carries every stream between their slots (`mux-protocol.ts`) on one
 * authenticated socket, framing what each slot thread posts with the stream's slots, and handing
 * what arrives to the slot thread of the stream it names.
 *
 * It understands no channel: credit, batches, watermarks and barriers belong to the
 * `DataConnection` each slot thread runs over its stream (`port-stream.ts`). So it holds no queue
 * of its own. What it writes is what slots sent against credit their peers granted; what it hands
 * on is what peers sent against credit this side's slots granted; both are bounded by credit end
 * to end, as they were when each slot had a socket of its own. Its cost is per posted buffer (a
 * slot's flush, a socket read), never per record; large buffers cross between threads without a
 * copy (their `ArrayBuffer`s are transferred).
 *
 * Failure: a socket error, a reset or a closed socket ends every stream on it that is not over
 * yet, as a failed socket would have (`error` or `closed` to the slot thread); a segment for a
 * stream this side does not have is a protocol violation and fails the connection.
 */
import type { MessagePort } from 'node:worker_threads';
import type { AuthenticatedSocket } from './endpoint.ts';
import { TransportError } from './errors.ts';
import {
  type FromSlotStream,
  fillSegmentHeader,
  MAX_SLOT_INDEX,
  SEGMENT_HEADER_BYTES,
  SegmentReader,
  type SegmentSink,
  SegmentType,
  segmentError,
  segmentMeaning,
  type ToSlotStream,
  transferable,
} from './mux-protocol.ts';

function streamKey(localSlot: number, remoteSlot: number): number {
  return localSlot * (MAX_SLOT_INDEX + 1) + remoteSlot;
}

/**
 * The main thread's side of one stream: the port to the slot thread, and how far each side got.
 * It exists before the connection (the slot thread gets its port when it starts) and listens from
 * the start, so that a slot that ends before the connection is up is remembered.
 */
export class MuxStream {
  readonly localSlot: number;
  readonly remoteSlot: number;
  readonly port: MessagePort;
  /** The slot thread ended or reset its side (or its thread is gone). */
  localEnded = false;
  /** The peer slot ended its side. */
  remoteEnded = false;
  /** Nothing more is handed to the slot thread (reset, failed, or over). */
  closed = false;
  /** Pieces that arrived during the socket read being handled, posted together after it. */
  readonly pieces: Buffer[] = [];
  piecesBytes = 0;
  connection: MuxConnection | undefined;
  readonly #onLocalEnd: () => void;

  constructor(localSlot: number, remoteSlot: number, port: MessagePort, onLocalEnd: () => void) {
    if (localSlot > MAX_SLOT_INDEX || remoteSlot > MAX_SLOT_INDEX) {
      throw new Error(`bug: slot index beyond ${MAX_SLOT_INDEX}`);
    }
    this.localSlot = localSlot;
    this.remoteSlot = remoteSlot;
    this.port = port;
    this.#onLocalEnd = onLocalEnd;
    port.on('message', (message: FromSlotStream) => {
      if (this.connection !== undefined) this.connection.fromSlot(this, message);
      else if (typeof message === 'string') this.endLocally();
    });
    // The slot's thread is gone (terminated, or the port closed at teardown): nothing more comes.
    port.on('close', () => this.endLocally());
  }

  /** Posts `message` to the slot thread unless the stream is closed for it. */
  post(message: ToSlotStream): void {
    if (this.closed) return;
    if (message instanceof Uint8Array) this.port.postMessage(message, [message.buffer as ArrayBuffer]);
    else this.port.postMessage(message);
  }

  /**
   * Posts `message` (the stream is over: reset, failed, closed) and closes the stream both ways:
   * nothing the slot sends on it any more can matter.
   */
  finish(message: ToSlotStream): void {
    this.post(message);
    this.closed = true;
    this.endLocally();
  }

  endLocally(): void {
    if (this.localEnded) return;
    this.localEnded = true;
    this.#onLocalEnd();
  }
}

export class MuxConnection {
  /** The peer's id and address, as it authenticated. */
  readonly peer: string;
  readonly peerId: string;
  readonly #socket: AuthenticatedSocket['socket'];
  readonly #streams = new Map<number, MuxStream>();
  readonly #onClosed: (error: TransportError | undefined) => void;
  readonly #reader = new SegmentReader<MuxStream>();
  readonly #sink: SegmentSink<MuxStream> = {
    segment: (payloadBytes, type, localSlot, remoteSlot) =>
      this.#onSegment(payloadBytes, type, localSlot, remoteSlot),
    payload: (stream, piece) => this.#deliver(stream, piece),
    failed: false,
  };
  /** Streams with pieces to post at the end of the read being handled. */
  readonly #dirty: MuxStream[] = [];
  #failure: TransportError | undefined;
  #closing = false;
  #closed = false;

  constructor(
    authenticated: AuthenticatedSocket,
    streams: readonly MuxStream[],
    onClosed: (error: TransportError | undefined) => void,
  ) {
    this.peer = authenticated.peer;
    this.peerId = authenticated.peerId;
    this.#socket = authenticated.socket;
    this.#onClosed = onClosed;
    for (const stream of streams) {
      this.#streams.set(streamKey(stream.localSlot, stream.remoteSlot), stream);
      stream.connection = this;
    }
    const socket = this.#socket;
    socket.on('data', (chunk: Buffer) => this.#onData(chunk));
    socket.on('end', () => this.#endStreams({ type: 'closed' }));
    socket.on('error', (error: Error) =>
      this.#fail(
        new TransportError('SLUICE_CONNECTION_LOST', this.peer, `data connection failed: ${error.message}`, {
          cause: error,
        }),
        error.message,
      ),
    );
    socket.on('close', () => this.#onSocketClosed());
    if (authenticated.leftover.byteLength > 0) this.#onData(authenticated.leftover);
    if (socket.destroyed) this.#onSocketClosed();
    else socket.resume();
    for (const stream of streams) {
      // A slot that ended while the connection was being made: its end goes out now.
      if (stream.localEnded) this.#writeHeader(SegmentType.End, stream, 0);
      stream.post({ type: 'connected', peer: this.peer });
    }
  }

  get failure(): TransportError | undefined {
    return this.#failure;
  }

  /** What a slot thread posted on `stream`: bytes to send, or its end or reset. */
  fromSlot(stream: MuxStream, message: FromSlotStream): void {
    if (message instanceof ArrayBuffer) {
      if (stream.localEnded || !this.#socket.writable) return;
      // The slot left the header's bytes free: one write, no copy.
      const segment = Buffer.from(message);
      this.#fillHeader(segment, SegmentType.Data, stream, message.byteLength - SEGMENT_HEADER_BYTES);
      this.#socket.write(segment);
      return;
    }
    if (message instanceof Uint8Array) {
      if (stream.localEnded || !this.#socket.writable) return;
      // A large frame as the slot wrote it: a header of its own before it, one writev.
      const socket = this.#socket;
      socket.cork();
      this.#writeHeader(SegmentType.Data, stream, message.byteLength);
      socket.write(message);
      socket.uncork();
      return;
    }
    if (stream.localEnded) return;
    if (message === 'reset') {
      stream.closed = true;
      this.#writeHeader(SegmentType.Reset, stream, 0);
    } else {
      this.#writeHeader(SegmentType.End, stream, 0);
    }
    stream.endLocally();
  }

  /** Ends the socket in order once what was written has gone (every stream should be over). */
  close(): void {
    if (this.#closing || this.#closed) return;
    this.#closing = true;
    this.#socket.end();
  }

  /** Closes the socket at once: the streams still open see it closed. */
  destroy(error?: Error): void {
    const reason = `the shared data connection was destroyed${error === undefined ? '' : `: ${error.message}`}`;
    this.#fail(new TransportError('SLUICE_CONNECTION_LOST', this.peer, reason, { cause: error }), reason);
  }

  #writeHeader(type: number, stream: MuxStream, payloadBytes: number): void {
    if (!this.#socket.writable) return;
    const header = Buffer.allocUnsafe(SEGMENT_HEADER_BYTES);
    this.#fillHeader(header, type, stream, payloadBytes);
    this.#socket.write(header);
  }

  #fillHeader(target: Buffer, type: number, stream: MuxStream, payloadBytes: number): void {
    fillSegmentHeader(target, type, stream.localSlot, stream.remoteSlot, payloadBytes);
  }

  #onData(chunk: Buffer): void {
    this.#reader.push(chunk, this.#sink);
    const dirty = this.#dirty;
    const only = dirty.length === 1 ? dirty[0]! : undefined;
    if (
      only !== undefined &&
      only.pieces.length === 1 &&
      this.#failure === undefined &&
      transferable(chunk)
    ) {
      // Speed: a read that carried one stream's bytes only goes to its slot as it is (the read's
      // buffer is transferred: nothing here uses it any more), not copied.
      dirty.length = 0;
      const piece = only.pieces[0]!;
      only.pieces.length = 0;
      only.piecesBytes = 0;
      only.post(piece);
      return;
    }
    this.#postPieces();
  }

  /** A segment's header: the stream its payload goes to, or undefined when none follows. */
  #onSegment(
    payloadBytes: number,
    type: number,
    localSlot: number,
    remoteSlot: number,
  ): MuxStream | undefined {
    const stream = this.#streams.get(streamKey(localSlot, remoteSlot));
    if (stream === undefined) {
      this.#protocolError(segmentError(localSlot, remoteSlot));
      return undefined;
    }
    const meaning = segmentMeaning(type, payloadBytes, stream.remoteEnded);
    if (meaning === 'data') return stream;
    if (meaning === 'bad') {
      this.#protocolError(segmentError(localSlot, remoteSlot, { type, payloadBytes }));
      return undefined;
    }
    stream.remoteEnded = true;
    this.#postPiecesOf(stream);
    if (meaning === 'end') stream.post({ type: 'end' });
    else stream.finish({ type: 'closed' });
    return undefined;
  }

  #deliver(stream: MuxStream, piece: Buffer): void {
    if (stream.closed) return;
    if (stream.pieces.length === 0) this.#dirty.push(stream);
    stream.pieces.push(piece);
    stream.piecesBytes += piece.byteLength;
  }

  /** Once per socket read, one message per stream: the pieces are views into the read, copied into a buffer of their own and transferred. */
  #postPieces(): void {
    const dirty = this.#dirty;
    for (let i = 0; i < dirty.length; i++) this.#postPiecesOf(dirty[i]!);
    dirty.length = 0;
  }

  #postPiecesOf(stream: MuxStream): void {
    const pieces = stream.pieces;
    if (pieces.length === 0) return;
    // A copy of our own: the pieces are views into a read that other streams' pieces share.
    const view = new Uint8Array(stream.piecesBytes);
    let offset = 0;
    for (const piece of pieces) {
      view.set(piece, offset);
      offset += piece.byteLength;
    }
    pieces.length = 0;
    stream.piecesBytes = 0;
    stream.post(view);
  }

  #protocolError(message: string): void {
    this.#fail(new TransportError('SLUICE_PROTOCOL', this.peer, message), message);
  }

  /**
   * Fails the connection once. `reason` is what the streams' connections are told: they name the
   * peer slot and this socket themselves (`<slot> via <this peer>`).
   */
  #fail(error: TransportError, reason: string): void {
    if (this.#failure !== undefined || this.#closed) return;
    this.#failure = error;
    this.#sink.failed = true;
    this.#postPieces();
    this.#endStreams({ type: 'error', code: error.code, message: reason });
    this.#socket.destroy();
  }

  /** Every stream not over yet learns that it never will be. */
  #endStreams(message: ToSlotStream): void {
    for (const stream of this.#streams.values()) {
      if (stream.remoteEnded || stream.closed) continue;
      this.#postPiecesOf(stream);
      stream.finish(message);
    }
  }

  #onSocketClosed(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#endStreams({ type: 'closed' });
    for (const stream of this.#streams.values()) stream.connection = undefined;
    this.#onClosed(this.#failure);
  }
}
