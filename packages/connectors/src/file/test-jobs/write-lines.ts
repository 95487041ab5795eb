import { defineJob } from '@sluice/core';
import { fileSink } from '../file-sink.ts';

export interface WriteLinesArgs {
  readonly input: readonly unknown[];
  readonly directory: string;
  readonly prefix?: string;
}

/** Writes records to part files in `directory`. */
export default defineJob<WriteLinesArgs>({ name: 'write-lines' }, (env, { input, directory, prefix }) => {
  env.fromCollection(input).sinkTo(fileSink(directory, prefix === undefined ? {} : { prefix }));
});
