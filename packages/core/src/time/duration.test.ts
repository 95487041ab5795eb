import { describe, expect, it } from 'vitest';
import { formatDuration, hours, milliseconds, minutes, seconds } from './duration.ts';

describe('duration helpers', () => {
  it('convert to milliseconds', () => {
    expect(milliseconds(250)).toBe(250);
    expect(seconds(10)).toBe(10_000);
    expect(seconds(1.5)).toBe(1_500);
    expect(minutes(5)).toBe(300_000);
    expect(hours(2)).toBe(7_200_000);
    expect(seconds(0)).toBe(0);
  });

  it.each([
    ['milliseconds', milliseconds],
    ['seconds', seconds],
    ['minutes', minutes],
    ['hours', hours],
  ] as const)('%s rejects negative, NaN and infinite amounts, naming itself', (name, fn) => {
    for (const bad of [-1, Number.NaN, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY]) {
      expect(() => fn(bad)).toThrow(RangeError);
      expect(() => fn(bad)).toThrow(new RegExp(`^${name}\\(`));
    }
    expect(() => fn('5' as unknown as number)).toThrow(RangeError);
  });

  it('formatDuration picks the largest exact unit', () => {
    expect(formatDuration(hours(1))).toBe('1h');
    expect(formatDuration(minutes(90))).toBe('90m');
    expect(formatDuration(seconds(90))).toBe('90s');
    expect(formatDuration(1500)).toBe('1500ms');
    expect(formatDuration(0)).toBe('0ms');
    expect(formatDuration(-hours(8))).toBe('-8h');
    expect(formatDuration(0.5)).toBe('0.5ms');
  });
});
