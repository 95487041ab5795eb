/**
 * What every Nexmark query job shares: its arguments, its input stream, and where its results go.
 * The queries (`q*.ts`) only describe the computation; the benchmark runner and the tests choose
 * the input size and the output through `QueryArgs`.
 */
import {
  collectSink,
  type DataStream,
  type SingleOutputStream,
  type StreamExecutionEnvironment,
} from '@sluice/core';
import { maxOutOfOrdernessMs, nexmarkConfig } from '../generator.ts';
import { eventTimestamp, type NexmarkEvent } from '../model.ts';
import { nexmarkSource } from '../source.ts';

export interface QueryArgs {
  /** Events in all (split over the source subtasks). */
  readonly events: number;
  /** Shuffles event numbers within groups of this size (the generator's out-of-orderness). */
  readonly outOfOrderGroupSize?: number;
  /** Where results go: the collect sink `results` (tests), or nowhere (throughput runs). */
  readonly output?: 'collect' | 'discard';
}

/** The collect sink name the tests read results from. */
export const RESULTS = 'results';

/** The Nexmark events of a run, with event timestamps and a watermark that allows the generator's disorder. */
export function nexmarkInput(
  env: StreamExecutionEnvironment,
  args: QueryArgs,
): SingleOutputStream<NexmarkEvent> {
  const generator =
    args.outOfOrderGroupSize === undefined ? {} : { outOfOrderGroupSize: args.outOfOrderGroupSize };
  const config = nexmarkConfig(generator);
  return env
    .fromSource(nexmarkSource({ events: args.events, ...generator }), { name: 'nexmark' })
    .uid('nexmark')
    .assignTimestamps({ timestamp: eventTimestamp, maxOutOfOrderness: maxOutOfOrdernessMs(config) })
    .uid('watermarks');
}

/** Sends a query's results where `args.output` says. */
export function queryOutput<T>(stream: DataStream<T>, args: QueryArgs): void {
  if ((args.output ?? 'collect') === 'collect') stream.sinkTo(collectSink<T>(RESULTS), { name: 'results' });
  else stream.filter(() => false).print();
}
