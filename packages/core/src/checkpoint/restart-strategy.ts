import { ConfigError } from '../errors.ts';

/** What to do when a running job fails: give up, or restart every task from the last checkpoint. */
export type RestartStrategy =
  | { readonly kind: 'none' }
  /** Up to `attempts` restarts, `delayMs` apart. */
  | { readonly kind: 'fixed-delay'; readonly attempts: number; readonly delayMs: number }
  /** Up to `attempts` restarts; the delay starts at `initialDelayMs` and grows by `multiplier` up to `maxDelayMs`. */
  | {
      readonly kind: 'exponential-backoff';
      readonly attempts: number;
      readonly initialDelayMs: number;
      readonly maxDelayMs: number;
      readonly multiplier?: number;
    };

/** With checkpoints on, a failure restarts the job (Flink does the same), a bounded number of times. */
export const DEFAULT_RESTART_STRATEGY: RestartStrategy = { kind: 'fixed-delay', attempts: 10, delayMs: 200 };

/** Node's timers hold at most 2^31 - 1 ms; a longer delay fires after 1 ms, with a warning. */
const DELAY_MAX_MS = 2_147_483_647;
/** Restarts are counted in a loop; beyond this "attempts" means "for ever" and is refused as a typo. */
const ATTEMPTS_MAX = 1_000_000_000;

function nonNegative(value: unknown, option: string, max: number): number {
  if (typeof value !== 'number' || !Number.isFinite(value) || value < 0 || value > max) {
    throw new ConfigError(
      `option "restartStrategy.${option}" must be a finite number from 0 to ${max}, got ${String(value)}`,
    );
  }
  return value;
}

export function validateRestartStrategy(strategy: RestartStrategy): RestartStrategy {
  switch (strategy?.kind) {
    case 'none':
      return strategy;
    case 'fixed-delay':
      nonNegative(strategy.attempts, 'attempts', ATTEMPTS_MAX);
      nonNegative(strategy.delayMs, 'delayMs', DELAY_MAX_MS);
      return strategy;
    case 'exponential-backoff':
      nonNegative(strategy.attempts, 'attempts', ATTEMPTS_MAX);
      nonNegative(strategy.initialDelayMs, 'initialDelayMs', DELAY_MAX_MS);
      nonNegative(strategy.maxDelayMs, 'maxDelayMs', DELAY_MAX_MS);
      if (strategy.multiplier !== undefined && !(strategy.multiplier >= 1)) {
        throw new ConfigError(`option "restartStrategy.multiplier" must be >= 1, got ${strategy.multiplier}`);
      }
      return strategy;
    default:
      throw new ConfigError(
        `option "restartStrategy.kind" must be 'none', 'fixed-delay' or 'exponential-backoff', got ${String((strategy as { kind?: unknown })?.kind)}`,
      );
  }
}

/** The delay before restart number `restart` (0-based), or undefined when no restart is left. */
export function restartDelayMs(strategy: RestartStrategy, restart: number): number | undefined {
  switch (strategy.kind) {
    case 'none':
      return undefined;
    case 'fixed-delay':
      return restart < strategy.attempts ? strategy.delayMs : undefined;
    case 'exponential-backoff':
      if (restart >= strategy.attempts) return undefined;
      return Math.min(strategy.maxDelayMs, strategy.initialDelayMs * (strategy.multiplier ?? 2) ** restart);
  }
}
