/**
 * The msgpackr that `@sluice/core` loads, with the options core encodes batches with.
 *
 * msgpackr is a dependency of `@sluice/core`, not of `@sluice/benchmarks`: the suite imports the
 * very module core resolves (its Node ESM entry, `node-index.js`, which turns on the native string
 * extractor `msgpackr-extract` as core gets it), so the version and build are the runtime's.
 * Node resolves the pnpm symlink to its real path, so this is the same module instance as core's.
 */
import type * as Msgpackr from '../../packages/core/node_modules/msgpackr/index.js';

const msgpackr = (await import(
  new URL('../../packages/core/node_modules/msgpackr/node-index.js', import.meta.url).href
)) as typeof Msgpackr;

export type Packr = Msgpackr.Packr;
export type Unpackr = Msgpackr.Unpackr;

/**
 * A batch encoder as core's `RecordWriter` makes one per ring channel
 * (`packages/core/src/channels/record-writer.ts`): record structures are sent inline the first
 * time they are used, so the decoder must read every frame of the channel in order.
 * A batch is `packr.pack([values, timestamps])`, `timestamps` null when no record has one.
 * `micro.test.ts` checks that this encoder writes the same bytes as a real `RecordWriter`.
 */
export function batchPackr(): Packr {
  return new msgpackr.Packr({ sequential: true, useRecords: true });
}

/** A batch decoder as core's `InputGate` makes one per ring channel (`channels/input-gate.ts`). */
export function batchUnpackr(): Unpackr {
  return new msgpackr.Unpackr({ sequential: true, useRecords: true, copyBuffers: true });
}
