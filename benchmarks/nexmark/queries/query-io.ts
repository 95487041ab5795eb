/**
 * What every Nexmark query job shares: its arguments, its input stream, and where its results go.
 * The queries (`q*.ts`) only describe the computation; the benchmark runner and the tests choose
 * the input size and the output through `QueryArgs`.
 */
import {
  collectSink,
  type DataStream,
  type SingleOutputStream,
  type Sink,
  type StreamExecutionEnvironment,
} from '@sluice/core';
import {
  encodeHistogram,
  LATENCY_CHANNEL,
  type LatencyReport,
  latencyHistogram,
} from '../../suite/latency.ts';
import { epochMs, type ProbeArgs, post, probeSource } from '../../suite/probe.ts';
import { maxOutOfOrdernessMs, type NexmarkConfig, nexmarkConfig } from '../generator.ts';
import { eventTimestamp, type NexmarkEvent } from '../model.ts';
import { nexmarkSource } from '../source.ts';

export interface LatencyArgs {
  /** Event time of event 0 = the wall clock (epoch ms, integer) at which the input starts. */
  readonly startEpochMs: number;
  /** Events per second over all source subtasks: the input is released at this rate. */
  readonly ratePerSecond: number;
  /** Records with an event time less than this many ms after the start are not recorded. */
  readonly warmupMs: number;
}

export interface QueryArgs {
  /** Events in all (split over the source subtasks). */
  readonly events: number;
  /** Shuffles event numbers within groups of this size (the generator's out-of-orderness). */
  readonly outOfOrderGroupSize?: number;
  /**
   * Where results go: the collect sink `results` (tests); nowhere (`discard`, throughput runs);
   * `latency`: into a histogram of `now - event time` per sink subtask, sent to the runner on the
   * `nexmark-latency` channel at close (needs `latency`, which also paces the input); `slow`: a
   * sink that sleeps `slowNsPerRecord` per record, to push back on the job (memory runs).
   */
  readonly output?: 'collect' | 'discard' | 'latency' | 'slow';
  /** For `output: 'latency'`. */
  readonly latency?: LatencyArgs;
  /** For `output: 'slow'`: nanoseconds the sink sleeps per record it receives. */
  readonly slowNsPerRecord?: number;
  /** Benchmark instrumentation: warm-up, end and heap reports from sources, close times from sinks. */
  readonly probe?: ProbeArgs;
}

/** The collect sink name the tests read results from. */
export const RESULTS = 'results';

/** The generator configuration of a run (the queries' plain loops take the same). */
export function queryConfig(args: QueryArgs): NexmarkConfig {
  return nexmarkConfig({
    ...(args.outOfOrderGroupSize === undefined ? {} : { outOfOrderGroupSize: args.outOfOrderGroupSize }),
    ...(args.latency === undefined
      ? {}
      : { baseTimeMs: args.latency.startEpochMs, eventRatePerSecond: args.latency.ratePerSecond }),
  });
}

/** The Nexmark events of a run, with event timestamps and a watermark that allows the generator's disorder. */
export function nexmarkInput(
  env: StreamExecutionEnvironment,
  args: QueryArgs,
): SingleOutputStream<NexmarkEvent> {
  const config = queryConfig(args);
  const paced = args.output === 'latency';
  if (paced && args.latency === undefined) throw new Error("nexmark: output 'latency' needs args.latency");
  // Interleaved: every source subtask moves through event time with the others (contiguous ranges
  // would put one subtask half the stream ahead, and windows would wait for the other).
  const source = nexmarkSource({
    ...config,
    events: args.events,
    split: 'interleaved',
    ...(paced ? { pace: 'event-time' } : {}),
  });
  return env
    .fromSource(args.probe === undefined ? source : probeSource(source, args.probe), { name: 'nexmark' })
    .uid('nexmark')
    .assignTimestamps({ timestamp: eventTimestamp, maxOutOfOrderness: maxOutOfOrdernessMs(config) })
    .uid('watermarks');
}

/** Sends a query's results where `args.output` says. */
export function queryOutput<T>(stream: DataStream<T>, args: QueryArgs): void {
  const output = args.output ?? 'collect';
  if (output === 'collect') stream.sinkTo(collectSink<T>(RESULTS), { name: 'results' });
  else stream.sinkTo(benchmarkSink<T>(args), { name: output });
}

/** The sinks of the benchmark outputs; each reports its close time to the probe, if any. */
function benchmarkSink<T>(args: QueryArgs): Sink<T> {
  const output = args.output ?? 'discard';
  return {
    name: output,
    createWriter(context) {
      let records = 0;
      let sleptMs = 0;
      const closed = (): void => {
        if (args.probe === undefined) return;
        post(args.probe, {
          type: 'sink-closed',
          subtask: context.subtaskIndex,
          parallelism: context.parallelism,
          records,
          atMs: epochMs(),
          ...(output === 'slow' ? { sleptMs } : {}),
        });
      };
      if (output === 'latency') {
        const latency = args.latency!;
        const recordFromMs = latency.startEpochMs + latency.warmupMs;
        const histogram = latencyHistogram();
        return {
          write(_value: T, timestamp: number | undefined) {
            records++;
            // Event time is when the source was due to release the event (see pace 'event-time').
            // A timestamp still in the future is a window fired by the end of input, not by
            // time (q5's last windows): not a latency.
            if (timestamp !== undefined && timestamp >= recordFromMs) {
              const latencyUs = Math.round((epochMs() - timestamp) * 1000);
              if (latencyUs >= 0) histogram.recordValue(Math.max(1, latencyUs));
            }
          },
          close() {
            const report: LatencyReport = {
              subtask: context.subtaskIndex,
              histogram: encodeHistogram(histogram),
              records,
            };
            context.sendOnSuccess(LATENCY_CHANNEL, [report]);
            closed();
          },
        };
      }
      if (output === 'slow') {
        const nsPerRecord = args.slowNsPerRecord ?? 0;
        let owedMs = 0;
        return {
          write() {
            records++;
            owedMs += nsPerRecord / 1e6;
          },
          // An I/O-bound sink: the task reads no more input until the sleep is over, which is
          // what pushes back on the job. Sleeps whole milliseconds (timer resolution); the rest
          // is owed to the next flush.
          flush() {
            if (owedMs < 1) return;
            const sleepMs = Math.floor(owedMs);
            owedMs -= sleepMs;
            sleptMs += sleepMs;
            return new Promise<void>((resolve) => setTimeout(resolve, sleepMs));
          },
          close: closed,
        };
      }
      return {
        write() {
          records++;
        },
        close: closed,
      };
    },
  };
}
