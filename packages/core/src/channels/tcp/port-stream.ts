/**
 * A slot thread's end of a stream to one peer slot (`mux-protocol.ts`): what a `DataConnection`
 * takes for a socket, backed by a `MessagePort` to the task manager's main thread, which carries
 * every stream between the two task managers on one real socket (`mux-connection.ts`).
 *
 * Writes cost a `postMessage` per flush, never per record: the connection corks the stream for a
 * turn of the event loop (or until a buffer's worth waits), and uncorking posts what was written:
 * a large frame that has a buffer of its own as it is (the buffer is transferred, so `write`
 * takes ownership of such a chunk: the caller must not reuse it, as `DataConnection` does not),
 * the small ones around it copied together into one fresh `ArrayBuffer` (with the segment
 * header's bytes free at its head). Copied, because small `Buffer`s are views into Node's shared
 * pool, which must not be transferred.
 *
 * What arrives is bounded by the credit this side's receivers granted (the peer sends data only
 * against it): the port's queue holds no more than a socket's receive buffer would. The main
 * thread owns the port's life: this side never closes it (messages it posted last, its `end`
 * among them, would be lost); the main thread closes it once the stream is over on both sides or
 * the attempt ends.
 */
import { EventEmitter } from 'node:events';
import type { MessagePort } from 'node:worker_threads';
import type { DataSocket } from './data-connection.ts';
import { TransportError, type TransportErrorCode } from './errors.ts';
import {
  type FromSlotStream,
  SEGMENT_HEADER_BYTES,
  type ToSlotStream,
  transferable,
} from './mux-protocol.ts';

export class PortStream extends EventEmitter implements DataSocket {
  readonly #port: MessagePort;
  /** How to name the peer until the main thread said who it is (`connected`). */
  readonly #describe: string;
  /** Written and not yet posted (while corked). */
  readonly #pending: Uint8Array[] = [];
  #pendingBytes = 0;
  #corks = 0;
  #paused = true;
  /** Data that arrived while paused (before a connection took the stream): bounded by credit. */
  readonly #held: Buffer[] = [];
  #localEnded = false;
  #remoteEnded = false;
  #closed = false;
  /** Settles when the socket to the peer's task manager is up (the peer's name) or failed. */
  readonly connected: Promise<string>;
  #onConnected: (peer: string) => void = () => {};
  #onFailed: (error: TransportError) => void = () => {};

  constructor(port: MessagePort, describe: string) {
    super();
    this.#port = port;
    this.#describe = describe;
    this.connected = new Promise<string>((resolve, reject) => {
      this.#onConnected = resolve;
      this.#onFailed = reject;
    });
    // Unobserved when the slot is cancelled before it asked.
    this.connected.catch(() => {});
    // From the start, so that nothing the main thread posts is dispatched with no listener.
    port.on('message', (message: ToSlotStream) => this.#onMessage(message));
  }

  get writableLength(): number {
    return this.#pendingBytes;
  }

  get destroyed(): boolean {
    return this.#closed;
  }

  write(chunk: Uint8Array): boolean {
    if (this.#localEnded || this.#closed) return false;
    this.#pending.push(chunk);
    this.#pendingBytes += chunk.byteLength;
    if (this.#corks === 0) this.#post();
    return true;
  }

  cork(): void {
    this.#corks++;
  }

  uncork(): void {
    if (this.#corks > 0) this.#corks--;
    if (this.#corks === 0) this.#post();
  }

  resume(): this {
    if (!this.#paused) return this;
    this.#paused = false;
    for (const chunk of this.#held.splice(0)) this.emit('data', chunk);
    return this;
  }

  /** Posts what is written and ends this side; closes once the peer has ended its side too. */
  end(): this {
    if (this.#localEnded || this.#closed) return this;
    this.#corks = 0;
    this.#post();
    this.#localEnded = true;
    this.#send('end');
    if (this.#remoteEnded) this.#close();
    return this;
  }

  /** Drops what is written and resets the stream: the peer slot sees it closed without an end. */
  destroy(): this {
    if (this.#closed) return this;
    this.#pending.length = 0;
    this.#pendingBytes = 0;
    if (!this.#localEnded) this.#send('reset');
    this.#localEnded = true;
    this.#close();
    return this;
  }

  #post(): void {
    const bytes = this.#pendingBytes;
    if (bytes === 0 || this.#closed) return;
    const pending = this.#pending;
    let runStart = 0;
    let runBytes = 0;
    for (let i = 0; i < pending.length; i++) {
      const chunk = pending[i]!;
      if (!transferable(chunk)) {
        runBytes += chunk.byteLength;
        continue;
      }
      if (runBytes > 0) this.#postCopy(runStart, i, runBytes);
      // Speed: a large frame crosses as it is, no copy.
      this.#port.postMessage(chunk, [chunk.buffer as ArrayBuffer]);
      runStart = i + 1;
      runBytes = 0;
    }
    if (runBytes > 0) this.#postCopy(runStart, pending.length, runBytes);
    pending.length = 0;
    this.#pendingBytes = 0;
  }

  /** Posts pending chunks `from` to `to` (exclusive), `bytes` in all, copied into one buffer of our own. */
  #postCopy(from: number, to: number, bytes: number): void {
    const buffer = new ArrayBuffer(SEGMENT_HEADER_BYTES + bytes);
    const view = new Uint8Array(buffer);
    let offset = SEGMENT_HEADER_BYTES;
    for (let i = from; i < to; i++) {
      const chunk = this.#pending[i]!;
      view.set(chunk, offset);
      offset += chunk.byteLength;
    }
    this.#port.postMessage(buffer, [buffer]);
  }

  #send(message: FromSlotStream): void {
    this.#port.postMessage(message);
  }

  #onMessage(message: ToSlotStream): void {
    if (this.#closed) return;
    if (message instanceof Uint8Array) {
      const chunk = Buffer.from(message.buffer, message.byteOffset, message.byteLength);
      if (this.#paused) this.#held.push(chunk);
      else this.emit('data', chunk);
      return;
    }
    switch (message.type) {
      case 'connected':
        this.#onConnected(message.peer);
        return;
      case 'end':
        this.#remoteEnded = true;
        this.resume();
        this.emit('end');
        // As a socket that does not allow half-open connections: the peer's end ends ours.
        this.end();
        return;
      case 'closed':
        this.#onFailed(
          new TransportError('SLUICE_CONNECTION_LOST', this.#describe, 'the data connection closed'),
        );
        this.resume();
        this.#close();
        return;
      case 'error': {
        const error = new TransportError(message.code as TransportErrorCode, this.#describe, message.message);
        this.#onFailed(error);
        this.resume();
        // The connection over the stream names the peer itself.
        if (this.listenerCount('error') > 0) this.emit('error', new Error(message.message));
        this.#close();
        return;
      }
    }
  }

  #close(): void {
    if (this.#closed) return;
    this.#closed = true;
    // As a socket: 'close' after the call that caused it has returned.
    process.nextTick(() => this.emit('close'));
  }
}
