import type { ResourceLimits } from 'node:worker_threads';
import { ConfigError } from '../errors.ts';

/** Tuning of the data plane; defaults suit most jobs. */
export interface ExecutionConfig {
  /** Records per batch between threads (default 512). */
  readonly batchSize: number;
  /** A partly filled batch is sent after this many ms (default 5): the latency bound. */
  readonly bufferTimeoutMs: number;
  /** Bytes per channel ring (default 1 MiB); bounds the memory in flight per channel. */
  readonly channelCapacityBytes: number;
  /** Records a source reader emits per poll (default 512). */
  readonly sourceBatchSize: number;
  /**
   * The most V8 old-generation heap each slot thread may use, MB (default 0: Node's default,
   * the process's heap limit). A slot whose live heap outgrows it fails the attempt with
   * `ERR_WORKER_OUT_OF_MEMORY`. What it is for: `docs/configuration.md`.
   */
  readonly slotOldGenerationMaxMb: number;
  /**
   * The most V8 young-generation heap (new objects) each slot thread may use, MB (default 16;
   * 0: Node's default, up to 96 MB per thread on 64-bit). See `docs/configuration.md`.
   */
  readonly slotYoungGenerationMaxMb: number;
}

export const DEFAULT_EXECUTION_CONFIG: ExecutionConfig = {
  batchSize: 512,
  bufferTimeoutMs: 5,
  channelCapacityBytes: 1 << 20,
  sourceBatchSize: 512,
  slotOldGenerationMaxMb: 0,
  slotYoungGenerationMaxMb: 16,
};

const LIMITS: Record<keyof ExecutionConfig, [min: number, max: number]> = {
  batchSize: [1, 1 << 20],
  bufferTimeoutMs: [0, 60_000],
  channelCapacityBytes: [4096, 1 << 30],
  sourceBatchSize: [1, 1 << 20],
  slotOldGenerationMaxMb: [0, 1 << 20],
  slotYoungGenerationMaxMb: [0, 1 << 16],
};

export function resolveExecutionConfig(options: Partial<ExecutionConfig> = {}): ExecutionConfig {
  const config = { ...DEFAULT_EXECUTION_CONFIG };
  for (const [key, value] of Object.entries(options)) {
    if (value === undefined) continue;
    const limits = LIMITS[key as keyof ExecutionConfig];
    if (limits === undefined) continue;
    if (typeof value !== 'number' || !Number.isInteger(value) || value < limits[0] || value > limits[1]) {
      throw new ConfigError(
        `option "${key}" must be an integer from ${limits[0]} to ${limits[1]}, got ${String(value)}`,
      );
    }
    (config as Record<string, number>)[key] = value;
  }
  return config;
}

/**
 * The heap limits of a slot thread (`Worker` `resourceLimits`), from the config.
 *
 * What they are for. A busy slot allocates fast, and what its windows and timers hold lives
 * about as long as a few young-generation collections: much of it is promoted and dies in the
 * old generation. V8 lets an isolate's old generation grow to up to 4x its live size between
 * full collections when its heap limit is 2 GB or more (Node's default on a machine with a few GB
 * of memory), and 1.3-2x below that; and a young generation takes up to 3 x 32 MB per thread.
 * With two slots, q5 of the Nexmark benchmark (live heap 30-70 MB per slot) peaked at 0.6-1.4 GB
 * of RSS with Node's defaults, a quarter to a half less with 1024/48 MB, for 10-40% more CPU
 * per event (`benchmarks/README.md`), measured on a loaded machine. On a quiet one (2026-12-05,
 * alternating runs, 5M events at p=2), a young generation of 16 MB alone took q5's peak RSS from
 * 646-721 MB to 465-498 MB for 1-5% more CPU per event, and changed neither q1's nor q7's CPU
 * (q7: 275-315 MB to 243-245): the default. The old-generation limit stays off (0): it fails a
 * job whose live heap outgrows it.
 */
export function slotResourceLimits(config: ExecutionConfig): ResourceLimits | undefined {
  const limits: { maxOldGenerationSizeMb?: number; maxYoungGenerationSizeMb?: number } = {};
  if (config.slotOldGenerationMaxMb > 0) limits.maxOldGenerationSizeMb = config.slotOldGenerationMaxMb;
  if (config.slotYoungGenerationMaxMb > 0) limits.maxYoungGenerationSizeMb = config.slotYoungGenerationMaxMb;
  return Object.keys(limits).length === 0 ? undefined : limits;
}

/**
 * A slot thread's death as the job's failure says it: out of memory names the limit and the
 * option that raises it.
 */
export function slotThreadFailure(error: unknown, config: ExecutionConfig, slot: string): Error {
  const cause = error instanceof Error ? error : new Error(String(error));
  if ((cause as { code?: unknown }).code !== 'ERR_WORKER_OUT_OF_MEMORY') {
    // piscina's words for a thread that ended by itself: in a slot, only user code does that.
    const exited = /^worker exited with code/.test(cause.message)
      ? ' (process.exit() in user code ends the thread it runs in)'
      : '';
    return new Error(`the thread of ${slot} ended: ${cause.message}${exited}`, { cause });
  }
  const limit =
    config.slotOldGenerationMaxMb > 0
      ? `its old-generation heap limit of ${config.slotOldGenerationMaxMb} MB (option "slotOldGenerationMaxMb")`
      : "the process's heap limit";
  return new Error(
    `the thread of ${slot} ran out of memory: its live heap outgrew ${limit}; ` +
      'raise "slotOldGenerationMaxMb" (0: the process\'s limit) or keep less state on the heap (the LevelDB state backend)',
    { cause },
  );
}
