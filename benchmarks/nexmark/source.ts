import { ConfigError, generatorSource, type Source } from '@sluice/core';
import { type NexmarkConfig, nexmarkConfig, nexmarkEvent } from './generator.ts';
import { eventTimestamp, type NexmarkEvent } from './model.ts';

export interface NexmarkSourceOptions extends Partial<NexmarkConfig> {
  /** How many events in all (split over the subtasks); unbounded when absent. */
  readonly events?: number;
  /** Events per second of wall-clock time over all subtasks; as fast as possible when absent. */
  readonly ratePerSecond?: number;
}

/**
 * Nexmark events 0, 1, 2, ... (see `nexmarkEvent`), each with its event timestamp: the core
 * generator source over `nexmarkEvent`, so splitting (contiguous ranges when bounded, every n-th
 * event when not), rate limiting, checkpoints and restores at any parallelism come from there.
 */
export function nexmarkSource(options: NexmarkSourceOptions = {}): Source<NexmarkEvent> {
  const { events, ratePerSecond, ...generatorOptions } = options;
  if (events !== undefined && (!Number.isSafeInteger(events) || events < 0)) {
    throw new ConfigError(`nexmark: option "events" must be an integer >= 0, got ${String(events)}`);
  }
  if (ratePerSecond !== undefined && (!Number.isFinite(ratePerSecond) || ratePerSecond <= 0)) {
    throw new ConfigError(
      `nexmark: option "ratePerSecond" must be a number > 0, got ${String(ratePerSecond)}`,
    );
  }
  const config = nexmarkConfig(generatorOptions);
  const source = generatorSource((n) => nexmarkEvent(n, config), {
    ...(events === undefined ? {} : { count: events }),
    ...(ratePerSecond === undefined ? {} : { ratePerSecond }),
    timestamp: (event) => eventTimestamp(event),
  });
  return { ...source, name: 'nexmark' };
}
