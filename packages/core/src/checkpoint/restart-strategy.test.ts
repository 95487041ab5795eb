import { describe, expect, it } from 'vitest';
import { restartDelayMs, validateRestartStrategy } from './restart-strategy.ts';

describe('restart strategies', () => {
  it('fixed delay: the same delay, a bounded number of times', () => {
    const strategy = { kind: 'fixed-delay', attempts: 3, delayMs: 100 } as const;
    expect([0, 1, 2, 3].map((n) => restartDelayMs(strategy, n))).toEqual([100, 100, 100, undefined]);
  });

  it('exponential backoff: doubling by default, capped', () => {
    const strategy = {
      kind: 'exponential-backoff',
      attempts: 6,
      initialDelayMs: 10,
      maxDelayMs: 100,
    } as const;
    expect([0, 1, 2, 3, 4, 5, 6].map((n) => restartDelayMs(strategy, n))).toEqual([
      10,
      20,
      40,
      80,
      100,
      100,
      undefined,
    ]);
  });

  it('none: never', () => {
    expect(restartDelayMs({ kind: 'none' }, 0)).toBeUndefined();
  });

  it('rejects bad options, naming them', () => {
    expect(() => validateRestartStrategy({ kind: 'fixed-delay', attempts: -1, delayMs: 0 })).toThrow(
      /restartStrategy.attempts/,
    );
    expect(() => validateRestartStrategy({ kind: 'bogus' } as never)).toThrow(/restartStrategy.kind/);
  });
});
