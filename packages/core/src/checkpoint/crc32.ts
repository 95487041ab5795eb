/**
 * CRC-32 (IEEE 802.3, the polynomial of zip, gzip and PNG) of state files and `_metadata`.
 *
 * `zlib.crc32` (Node >= 20.15 and 22.2) runs zlib's vectorised C code; the table-driven fallback
 * below gives the same numbers on any older runtime. Both take the running value of a previous
 * call, so a large file is checked chunk by chunk without holding it in memory.
 */
import * as zlib from 'node:zlib';

type Crc32Function = (data: Uint8Array, value?: number) => number;

const nativeCrc32: Crc32Function | undefined =
  typeof (zlib as { crc32?: unknown }).crc32 === 'function'
    ? (zlib as { crc32: Crc32Function }).crc32
    : undefined;

let table: Uint32Array | undefined;

function crcTable(): Uint32Array {
  if (table !== undefined) return table;
  // Reflected polynomial 0xEDB88320; the classic byte-at-a-time table (Sarwate, 1988).
  const t = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    t[n] = c >>> 0;
  }
  table = t;
  return t;
}

/** The portable implementation; exported so tests can check it against `zlib.crc32`. */
export function crc32Portable(data: Uint8Array, value = 0): number {
  const t = crcTable();
  let c = ~value;
  for (let i = 0; i < data.length; i++) c = t[(c ^ data[i]!) & 0xff]! ^ (c >>> 8);
  return ~c >>> 0;
}

/** CRC-32 of `data`, continuing from `value` (the CRC of the bytes before it; 0 to start). */
export const crc32: Crc32Function = nativeCrc32 ?? crc32Portable;

/** Whether `crc32` is zlib's native implementation (for tests and diagnostics). */
export const crc32IsNative: boolean = nativeCrc32 !== undefined;

/** `0x`-less, zero-padded lowercase hex, as written in `_metadata` and in error messages. */
export function crc32Hex(value: number): string {
  return (value >>> 0).toString(16).padStart(8, '0');
}
