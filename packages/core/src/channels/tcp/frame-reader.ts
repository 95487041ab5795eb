/**
 * Cuts a byte stream into length-prefixed frames: a u32 length (big endian), then that many bytes.
 * The length is checked against a maximum before anything is allocated for the frame, so a peer
 * cannot make the reader hold more than one frame of at most `maxFrameBytes` (plus one socket
 * read) whatever it sends. Frames that lie whole in a chunk are handed on as views into it (no
 * copy); the callee copies what it keeps.
 */
export const FRAME_LENGTH_BYTES = 4;

export class FrameReader {
  readonly #maxFrameBytes: number;
  readonly #onFrame: (frame: Buffer) => void;
  readonly #onOversized: (frameBytes: number) => void;
  /** The frame being assembled across chunks, or undefined between frames. */
  #partial: Buffer | undefined;
  #partialFilled = 0;
  /** The length prefix when it is itself split across chunks. */
  readonly #header = Buffer.alloc(FRAME_LENGTH_BYTES);
  #headerFilled = 0;
  #stopped = false;

  constructor(
    maxFrameBytes: number,
    onFrame: (frame: Buffer) => void,
    onOversized: (frameBytes: number) => void,
  ) {
    this.#maxFrameBytes = maxFrameBytes;
    this.#onFrame = onFrame;
    this.#onOversized = onOversized;
  }

  /** Stops handing on frames (the connection failed): what remains of the input is ignored. */
  stop(): void {
    this.#stopped = true;
  }

  push(chunk: Buffer): void {
    let offset = 0;
    const length = chunk.byteLength;
    while (offset < length && !this.#stopped) {
      const partial = this.#partial;
      if (partial !== undefined) {
        const take = Math.min(partial.byteLength - this.#partialFilled, length - offset);
        chunk.copy(partial, this.#partialFilled, offset, offset + take);
        this.#partialFilled += take;
        offset += take;
        if (this.#partialFilled === partial.byteLength) {
          this.#partial = undefined;
          this.#onFrame(partial);
        }
        continue;
      }
      let frameBytes: number;
      if (this.#headerFilled === 0 && length - offset >= FRAME_LENGTH_BYTES) {
        frameBytes = chunk.readUInt32BE(offset);
        offset += FRAME_LENGTH_BYTES;
      } else {
        const take = Math.min(FRAME_LENGTH_BYTES - this.#headerFilled, length - offset);
        chunk.copy(this.#header, this.#headerFilled, offset, offset + take);
        this.#headerFilled += take;
        offset += take;
        if (this.#headerFilled < FRAME_LENGTH_BYTES) return;
        this.#headerFilled = 0;
        frameBytes = this.#header.readUInt32BE(0);
      }
      if (frameBytes > this.#maxFrameBytes) {
        this.#stopped = true;
        this.#onOversized(frameBytes);
        return;
      }
      if (length - offset >= frameBytes) {
        // Speed: the common case, a whole frame in this chunk, is handed on without a copy.
        this.#onFrame(chunk.subarray(offset, offset + frameBytes));
        offset += frameBytes;
      } else {
        this.#partial = Buffer.allocUnsafe(frameBytes);
        this.#partialFilled = 0;
      }
    }
  }
}
