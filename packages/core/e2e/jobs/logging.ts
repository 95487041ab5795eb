import {
  collectionSource,
  collectSink,
  defineJob,
  type Logger,
  type ProcessFunction,
  type Sink,
  type Source,
} from '@sluice/core';

export interface LoggingArgs {
  readonly count: number;
  /** The record the process function throws on (after logging it). */
  readonly failAt?: number;
}

/**
 * Records 0..count-1 at the job's parallelism; the process function logs through its context:
 * one info line when it opens, a debug line for every tenth record, an error line just before
 * it throws on `failAt`.
 */
export default defineJob<LoggingArgs>({ name: 'logging' }, (env, args) => {
  const numbers = Array.from({ length: args.count }, (_, i) => i);
  let logger: Logger | undefined;
  const logEvery: ProcessFunction<number, number> = {
    open(ctx) {
      logger = ctx.logger;
      logger.info({ parallelism: ctx.parallelism }, 'opened');
    },
    processElement(value, _ctx, out) {
      if (value % 10 === 0) logger!.debug({ value }, 'tenth record');
      if (value === args.failAt) {
        logger!.error({ value }, 'about to fail');
        throw new Error(`refused record ${value}`);
      }
      out.collect(value);
    },
  };
  // A source and a sink that log through their contexts, around the built-in ones.
  const inner = collectionSource(numbers);
  const source: Source<number> = {
    ...inner,
    createReader(context) {
      context.logger.info('reader created');
      return inner.createReader(context);
    },
  };
  const collect = collectSink<number>('out');
  const sink: Sink<number> = {
    ...collect,
    createWriter(context) {
      const writer = collect.createWriter(context);
      let written = 0;
      return {
        ...writer,
        write(value, timestamp) {
          written++;
          writer.write(value, timestamp);
        },
        close() {
          context.logger.info({ written }, 'sink closed');
          return writer.close?.();
        },
      };
    },
  };
  env.fromSource(source).uid('numbers').process(logEvery).uid('log-every').sinkTo(sink).uid('logged-sink');
});
