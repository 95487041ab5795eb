import { describe, expect, it } from 'vitest';
import { CheckpointIdCounter } from './checkpoint-id-counter.ts';

describe('CheckpointIdCounter', () => {
  it('starts at 1, or after the newest checkpoint already stored', () => {
    expect(new CheckpointIdCounter().next()).toBe(1);
    const counter = new CheckpointIdCounter(41);
    expect(counter.peek()).toBe(42);
    expect([counter.next(), counter.next(), counter.peek()]).toEqual([42, 43, 44]);
  });
});
