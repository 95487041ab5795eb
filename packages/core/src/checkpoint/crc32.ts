/**
 * CRC-32 (IEEE 802.3, the polynomial of zip, gzip and PNG) of state files and `_metadata`:
 * zlib's vectorised C code, which every supported Node has. It takes the running value of a
 * previous call, so a large file is checked chunk by chunk without holding it in memory.
 */
import { crc32 as zlibCrc32 } from 'node:zlib';

/** CRC-32 of `data`, continuing from `value` (the CRC of the bytes before it; 0 to start). */
export function crc32(data: Uint8Array, value = 0): number {
  return zlibCrc32(data, value);
}

/** `0x`-less, zero-padded lowercase hex, as written in `_metadata` and in error messages. */
export function crc32Hex(value: number): string {
  return (value >>> 0).toString(16).padStart(8, '0');
}
