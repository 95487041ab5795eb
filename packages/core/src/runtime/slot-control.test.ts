import { describe, expect, it } from 'vitest';
import { allocateDoorbell, Doorbell } from '../channels/doorbell.ts';
import { SlotControl } from './slot-control.ts';

describe('SlotControl', () => {
  it('is shared through its buffer: what the coordinator sets, every slot reads, and sleeping slots are woken', () => {
    const doorbells = [new Doorbell(allocateDoorbell()), new Doorbell(allocateDoorbell())];
    const coordinator = SlotControl.allocate(doorbells);
    const slot = SlotControl.from(coordinator.buffer, doorbells);
    expect(slot.isCancelled).toBe(false);
    expect(slot.requestedCheckpoint).toBe(0);

    const before = doorbells.map((d) => d.sequence);
    coordinator.requestCheckpoint(7);
    expect(slot.requestedCheckpoint).toBe(7);
    expect(doorbells.map((d) => d.sequence)).not.toEqual(before);

    const rung = doorbells.map((d) => d.sequence);
    slot.cancelAll(); // a failing slot stops the others the same way
    expect(coordinator.isCancelled).toBe(true);
    expect(doorbells.every((d, i) => d.sequence !== rung[i])).toBe(true);
  });

  it('refuses a buffer too small for its fields', () => {
    expect(() => SlotControl.from(new SharedArrayBuffer(4), [])).toThrow(/too small/);
  });
});
