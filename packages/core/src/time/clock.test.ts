import { describe, expect, it } from 'vitest';
import { SharedManualClock } from './clock.ts';

describe('SharedManualClock', () => {
  it('moves only when told, and never back', () => {
    const clock = new SharedManualClock(1_000);
    expect(clock.now()).toBe(1_000);
    clock.advance(250);
    expect(clock.now()).toBe(1_250);
    clock.set(2_000);
    expect(clock.now()).toBe(2_000);
    expect(() => clock.set(1_999)).toThrow(/cannot go back: from 2000 to 1999/);
    expect(() => clock.advance(-1)).toThrow(RangeError);
    expect(() => clock.set(Number.POSITIVE_INFINITY)).toThrow(/finite/);
  });

  it('is read through its shared buffer, as a slot thread reads it', () => {
    const clock = new SharedManualClock(5);
    const reader = SharedManualClock.reader(clock.buffer);
    expect(reader()).toBe(5);
    clock.advance(60_000);
    expect(reader()).toBe(60_005);
  });
});
