/**
 * What a {@link LevelStoreClient} and the host thread say to each other over a MessagePort.
 * Buffers travel packed: structured clone copies a Buffer's whole backing ArrayBuffer (for
 * Node's pooled small Buffers, 8 KiB each), so a list of buffers becomes one byte array and a
 * list of lengths, both transferred, not copied.
 */

import type { MessagePort } from 'node:worker_threads';

/** Buffers in one message: `lengths[i]` bytes each, back to back; -1 stands for `undefined`. */
export interface PackedBuffers {
  readonly bytes: Uint8Array;
  readonly lengths: Int32Array;
}

export function packBuffers(buffers: ReadonlyArray<Uint8Array | undefined>): PackedBuffers {
  let total = 0;
  for (const b of buffers) if (b !== undefined) total += b.length;
  const bytes = new Uint8Array(total);
  const lengths = new Int32Array(buffers.length);
  let offset = 0;
  for (let i = 0; i < buffers.length; i++) {
    const b = buffers[i];
    if (b === undefined) {
      lengths[i] = -1;
      continue;
    }
    bytes.set(b, offset);
    offset += b.length;
    lengths[i] = b.length;
  }
  return { bytes, lengths };
}

/** Views (no copy) into the packed bytes, as Buffers. */
export function unpackBuffers(packed: PackedBuffers): Array<Buffer | undefined> {
  const { bytes, lengths } = packed;
  const out = new Array<Buffer | undefined>(lengths.length);
  let offset = 0;
  for (let i = 0; i < lengths.length; i++) {
    const n = lengths[i]!;
    if (n < 0) {
      out[i] = undefined;
      continue;
    }
    out[i] = Buffer.from(bytes.buffer, bytes.byteOffset + offset, n);
    offset += n;
  }
  return out;
}

/**
 * Builds {@link PackedBuffers} part by part, without a Buffer per entry: what a bulk load (a
 * LevelDB restore) writes its record keys and values into. `begin()` an entry, `append` its parts,
 * `end()` it; `build()` the result and start over.
 */
export class PackedBuilder {
  #bytes = new Uint8Array(1 << 16);
  #lengths = new Int32Array(1 << 10);
  #size = 0;
  #count = 0;
  #start = 0;

  /** Entries ended so far. */
  get count(): number {
    return this.#count;
  }

  begin(): void {
    this.#start = this.#size;
  }

  append(part: Uint8Array): void {
    this.#reserve(part.length);
    this.#bytes.set(part, this.#size);
    this.#size += part.length;
  }

  /** Appends `text` as UTF-8. */
  appendString(text: string): void {
    if (text.length === 0) return;
    this.#reserve(text.length * 3);
    this.#size += encoder.encodeInto(text, this.#bytes.subarray(this.#size)).written;
  }

  end(): void {
    if (this.#count === this.#lengths.length) {
      const lengths = new Int32Array(this.#lengths.length * 2);
      lengths.set(this.#lengths);
      this.#lengths = lengths;
    }
    this.#lengths[this.#count++] = this.#size - this.#start;
  }

  /** The entries so far, in arrays of their own (to transfer); the builder starts over, empty. */
  build(): PackedBuffers {
    const packed = { bytes: this.#bytes.slice(0, this.#size), lengths: this.#lengths.slice(0, this.#count) };
    this.#size = 0;
    this.#count = 0;
    return packed;
  }

  #reserve(bytes: number): void {
    if (this.#size + bytes <= this.#bytes.length) return;
    let capacity = this.#bytes.length * 2;
    while (capacity < this.#size + bytes) capacity *= 2;
    const grown = new Uint8Array(capacity);
    grown.set(this.#bytes.subarray(0, this.#size));
    this.#bytes = grown;
  }
}

const encoder = new TextEncoder();

/** The transfer list of some packed buffers. */
export function transferOf(...packed: PackedBuffers[]): ArrayBuffer[] {
  return packed.flatMap((p) => [p.bytes.buffer as ArrayBuffer, p.lengths.buffer as ArrayBuffer]);
}

/** A call from a client. `store` numbers the client's stores, `snapshot`/`cursor` the host's handles. */
export type LevelRequest = { readonly id: number } & (
  | { readonly op: 'open'; readonly store: number; readonly directory: string }
  | { readonly op: 'getMany'; readonly store: number; readonly keys: PackedBuffers }
  | {
      readonly op: 'readKeys';
      readonly store: number;
      readonly prefixes: PackedBuffers;
      readonly guessedStates: readonly string[];
    }
  | {
      readonly op: 'batch';
      readonly store: number;
      /** 1 = put, 0 = delete, per op. */
      readonly puts: Uint8Array;
      readonly keys: PackedBuffers;
      /** One per put, in order. */
      readonly values: PackedBuffers;
    }
  | {
      readonly op: 'putPacked';
      readonly store: number;
      readonly keys: PackedBuffers;
      readonly values: PackedBuffers;
    }
  | { readonly op: 'snapshot'; readonly store: number }
  | {
      readonly op: 'range';
      readonly snapshot: number;
      readonly gte: Uint8Array;
      readonly lt: Uint8Array;
      readonly keysOnly: boolean;
    }
  | { readonly op: 'next'; readonly cursor: number }
  | { readonly op: 'closeCursor'; readonly cursor: number }
  | { readonly op: 'closeSnapshot'; readonly snapshot: number }
  | { readonly op: 'close'; readonly store: number }
);

/** The answer to a `readKeys` call: `StoredKeys`, packed. */
export interface PackedStoredKeys {
  readonly manifests: PackedBuffers;
  readonly entries: PackedBuffers;
}

/** A page of a range read; `done` when nothing follows. */
export interface RangePage {
  readonly keys: PackedBuffers;
  readonly values: PackedBuffers;
  readonly done: boolean;
}

export type LevelResponse =
  | { readonly id: number; readonly ok: true; readonly result: unknown }
  | {
      readonly id: number;
      readonly ok: false;
      readonly error: { readonly message: string; readonly code?: string; readonly stack?: string };
    };

/** Messages from the thread that starts the host to the host thread. */
export type HostControl =
  | { readonly type: 'connect'; readonly connection: number; readonly port: MessagePort }
  /** Close these connections' databases, then answer with a {@link HostReply} of the same `request`. */
  | { readonly type: 'release'; readonly request: number; readonly connections: readonly number[] }
  | { readonly type: 'shutdown' };

/** The host thread's answer to a `release`. */
export interface HostReply {
  readonly type: 'released';
  readonly request: number;
}
