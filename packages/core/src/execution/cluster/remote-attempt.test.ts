import { describe, expect, it } from 'vitest';
import { assignSlots } from './remote-attempt.ts';
import type { RegisteredTaskManager } from './task-manager-registry.ts';

const manager = (id: string, slots: number) => ({ id, slots }) as unknown as RegisteredTaskManager;

describe('slot assignment', () => {
  it('fills the task managers in the order they registered; spare slots stay idle', () => {
    const a = manager('a', 2);
    const b = manager('b', 1);
    const c = manager('c', 3);
    expect(assignSlots([a, b, c], 4).map((m) => m.id)).toEqual(['a', 'a', 'b', 'c']);
    expect(assignSlots([a, b, c], 1).map((m) => m.id)).toEqual(['a']);
  });

  it('a shortage is a bug of the caller (it waits for enough slots first)', () => {
    expect(() => assignSlots([manager('a', 1)], 2)).toThrow(/bug: 1 slots for 2/);
  });
});
