import { collectSink, defineJob } from '@sluice/core';
import { textFileSource } from '../text-file-source.ts';

export interface ReadLinesArgs {
  readonly paths: readonly string[];
  readonly readChunkBytes?: number;
}

/** Reads text files and collects their lines under 'lines'. */
export default defineJob<ReadLinesArgs>({ name: 'read-lines' }, (env, { paths, readChunkBytes }) => {
  env
    .fromSource(textFileSource(paths, readChunkBytes === undefined ? {} : { readChunkBytes }))
    .sinkTo(collectSink('lines'));
});
