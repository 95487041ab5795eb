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
}

export const DEFAULT_EXECUTION_CONFIG: ExecutionConfig = {
  batchSize: 512,
  bufferTimeoutMs: 5,
  channelCapacityBytes: 1 << 20,
  sourceBatchSize: 512,
};

const LIMITS: Record<keyof ExecutionConfig, [min: number, max: number]> = {
  batchSize: [1, 1 << 20],
  bufferTimeoutMs: [0, 60_000],
  channelCapacityBytes: [4096, 1 << 30],
  sourceBatchSize: [1, 1 << 20],
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
