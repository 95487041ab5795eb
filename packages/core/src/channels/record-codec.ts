/**
 * The record codec as the channels use it. It lives in `records/`, below `state/`, because the
 * state backends and checkpoints keep values under the same contract as channels carry records.
 */
export * from '../records/record-codec.ts';
