/**
 * How a task manager's slots share its one data connection per peer task manager: the wire
 * format of that connection (`mux-connection.ts`, in the task manager's main thread; and
 * `direct-mux-connection.ts`, in the slot thread of a task manager of one slot, which speaks the
 * same segments so that the two kinds interoperate) and the messages between the main thread and
 * the slot threads (`port-stream.ts`), so that both sides read them alike.
 *
 * Each pair of slots in two task managers that share a channel gets a **stream**: a byte stream
 * the slot thread's `DataConnection` runs over unchanged (its framing, its per-channel credit),
 * carried between the slot thread and the main thread by a `MessagePort` and on the socket as
 * segments:
 *
 * | bytes | field                                                          |
 * |-------|----------------------------------------------------------------|
 * | 4     | payload bytes (u32, big endian)                                |
 * | 1     | type: `1` data, `2` end (the slot closed its side), `3` reset  |
 * | 2     | sending slot (u16, the attempt's slot index)                   |
 * | 2     | receiving slot (u16)                                           |
 * | n     | payload (data only): the stream's next bytes                   |
 *
 * A segment is a piece of a byte stream, not a message: the receiving main thread hands on
 * whatever part of it has arrived, without assembling it (the `DataConnection` at the other end
 * frames and bounds what it reads), so a segment's length allocates nothing.
 */

/** Bytes before a segment's payload; a slot thread leaves them free at the head of what it posts. */
export const SEGMENT_HEADER_BYTES = 9;

export const SegmentType = { Data: 1, End: 2, Reset: 3 } as const;

/**
 * What a segment for an existing stream means, or why it breaks the protocol: data carries
 * bytes, an end or a reset carries none, and nothing comes after the peer's end or reset.
 */
export function segmentMeaning(
  type: number,
  payloadBytes: number,
  remoteEnded: boolean,
): 'data' | 'end' | 'reset' | 'bad' {
  if (remoteEnded) return 'bad';
  if (type === SegmentType.Data) return payloadBytes > 0 ? 'data' : 'bad';
  if (payloadBytes !== 0) return 'bad';
  if (type === SegmentType.End) return 'end';
  return type === SegmentType.Reset ? 'reset' : 'bad';
}

/** The protocol error of a segment for no stream, or of a bad one ({@link segmentMeaning}). */
export function segmentError(
  localSlot: number,
  remoteSlot: number,
  bad?: { readonly type: number; readonly payloadBytes: number },
): string {
  return bad === undefined
    ? `a segment for slot ${localSlot} from slot ${remoteSlot}, which share no stream here`
    : `bad segment (type ${bad.type}, ${bad.payloadBytes} bytes) for slot ${localSlot} from slot ${remoteSlot}`;
}

/** Largest slot index a segment can name. */
export const MAX_SLOT_INDEX = 0xffff;

/**
 * Main thread → slot thread, on a stream's port. Data is a `Uint8Array` over a transferred buffer
 * (a socket read's own, when the read carried only this stream, else a copy); the rest:
 * `connected` once the socket to the peer's task manager is up (`peer` names it), `end` when the
 * peer slot ended its side, `closed` when the stream is gone without an end (a reset, the socket
 * closed), `error` when the socket failed (the message says how).
 */
export type ToSlotStream =
  | Uint8Array
  | { readonly type: 'connected'; readonly peer: string }
  | { readonly type: 'end' }
  | { readonly type: 'closed' }
  | { readonly type: 'error'; readonly code: string; readonly message: string };

/**
 * Slot thread → main thread. Data is an `ArrayBuffer` (transferred) whose first
 * {@link SEGMENT_HEADER_BYTES} the main thread fills in, or a `Uint8Array` that owns its whole
 * buffer (transferred: a large frame, not copied) that the main thread writes after a header of
 * its own; `end` and `reset` as a socket's.
 */
export type FromSlotStream = ArrayBuffer | Uint8Array | 'end' | 'reset';

/** Smallest chunk handed between threads as it is (its buffer transferred) rather than copied. */
export const TRANSFER_MIN_BYTES = 4096;

/**
 * Whether `chunk` may be transferred to another thread: it is the whole of a buffer of its own,
 * large enough to be worth it. Node's small `Buffer`s are views into a shared pool, which must
 * never be transferred (that would detach the pool); a `Buffer` of 4 KiB or more has its own.
 */
export function transferable(chunk: Uint8Array): boolean {
  return (
    chunk.byteLength >= TRANSFER_MIN_BYTES &&
    chunk.byteOffset === 0 &&
    chunk.buffer instanceof ArrayBuffer &&
    chunk.byteLength === chunk.buffer.byteLength
  );
}

/**
 * What a {@link SegmentReader} tells its connection: a segment's header (returning the stream its
 * payload goes to, or undefined when no payload follows: an end, a reset, or a protocol violation
 * the connection failed on), and each piece of a payload as it arrives.
 */
export interface SegmentSink<S> {
  segment(payloadBytes: number, type: number, localSlot: number, remoteSlot: number): S | undefined;
  payload(stream: S, piece: Buffer): void;
  /** Set once the connection failed: nothing more is read. */
  failed: boolean;
}

/**
 * Reads segments off a socket's reads, for both ends of the protocol (`mux-connection.ts` in a
 * task manager's main thread, `direct-mux-connection.ts` in a one-slot task manager's slot
 * thread). A payload is handed on in the pieces the reads brought, as views into them, never
 * assembled: the `DataConnection` at the end of the stream frames and bounds what it reads, so a
 * segment's length allocates nothing here. Only a header split across reads is copied (9 bytes).
 */
export class SegmentReader<S> {
  readonly #header = Buffer.alloc(SEGMENT_HEADER_BYTES);
  #headerFilled = 0;
  /** Payload bytes of the current data segment still to come, and its stream. */
  #remaining = 0;
  #current: S | undefined;

  push(chunk: Buffer, sink: SegmentSink<S>): void {
    const length = chunk.byteLength;
    let offset = 0;
    while (offset < length && !sink.failed) {
      if (this.#remaining > 0) {
        const take = Math.min(this.#remaining, length - offset);
        sink.payload(this.#current!, chunk.subarray(offset, offset + take));
        this.#remaining -= take;
        offset += take;
        continue;
      }
      let header: Buffer;
      let at: number;
      if (this.#headerFilled === 0 && length - offset >= SEGMENT_HEADER_BYTES) {
        header = chunk;
        at = offset;
        offset += SEGMENT_HEADER_BYTES;
      } else {
        const take = Math.min(SEGMENT_HEADER_BYTES - this.#headerFilled, length - offset);
        chunk.copy(this.#header, this.#headerFilled, offset, offset + take);
        this.#headerFilled += take;
        offset += take;
        if (this.#headerFilled < SEGMENT_HEADER_BYTES) break;
        this.#headerFilled = 0;
        header = this.#header;
        at = 0;
      }
      const payloadBytes = header.readUInt32BE(at);
      const stream = sink.segment(
        payloadBytes,
        header[at + 4]!,
        // The sender's local slot is our remote one.
        header.readUInt16BE(at + 7),
        header.readUInt16BE(at + 5),
      );
      if (stream !== undefined) {
        this.#current = stream;
        this.#remaining = payloadBytes;
      }
    }
  }
}

/** Fills a segment header into `target` (at its start). */
export function fillSegmentHeader(
  target: Buffer,
  type: number,
  sendingSlot: number,
  receivingSlot: number,
  payloadBytes: number,
): void {
  target.writeUInt32BE(payloadBytes, 0);
  target[4] = type;
  target.writeUInt16BE(sendingSlot, 5);
  target.writeUInt16BE(receivingSlot, 7);
}
