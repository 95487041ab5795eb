import { describe, expect, it } from 'vitest';
import { assignToKeyGroup, type Key, KeyGroupRange } from '../key-groups.ts';
import { describeKeyedStateBackendContract } from '../testing/keyed-state-backend.contract.ts';
import { MAX_P, register } from '../testing/state-model.ts';
import { HeapKeyedStateBackend } from './heap-keyed-state-backend.ts';
import { HeapEntryCursor, StateTable } from './state-table.ts';

describeKeyedStateBackendContract<HeapKeyedStateBackend>('HeapKeyedStateBackend', {
  create: async ({ maxParallelism = MAX_P, keyGroupRange, clock } = {}) =>
    new HeapKeyedStateBackend({
      maxParallelism,
      keyGroupRange: keyGroupRange ?? new KeyGroupRange(0, maxParallelism - 1),
      ...(clock === undefined ? {} : { clock }),
    }),
  construct: (options) => new HeapKeyedStateBackend(options),
  dispose: async () => {},
  countEntries: (backend) => backend.numStateEntries(),
  spills: false,
  runs: { model: 200, rescaling: 100 },
});

describe('HeapKeyedStateBackend', () => {
  it('snapshots, restores and fails synchronously: no promise to await', () => {
    const backend = new HeapKeyedStateBackend({
      maxParallelism: 128,
      keyGroupRange: new KeyGroupRange(0, 127),
    });
    const s = register(backend);
    backend.setCurrentKey('k');
    s.value.update(1);
    const kg = backend.currentKeyGroup;
    expect(backend.snapshotKeyGroup(kg)).toEqual([['v', 'k', '', 1]]);
    expect(backend.restoreKeyGroup(kg, [['v', 'k', '', 2]])).toBeUndefined();
    expect(s.value.value()).toBe(2);
    const outOfRange = expect.objectContaining({ code: 'SLUICE_KEY_GROUP_OUT_OF_RANGE' });
    expect(() => backend.snapshotKeyGroup(128)).toThrow(outOfRange);
    expect(() => backend.restoreKeyGroup(200, [])).toThrow(outOfRange);
    const invalid = expect.objectContaining({ code: 'SLUICE_STATE_RESTORE_INVALID' });
    const other = (assignToKeyGroup('k', 128) + 1) % 128;
    expect(() => backend.restoreKeyGroup(other, [['v', 'k', '', 1]])).toThrow(invalid);
    expect(() =>
      backend.restoreKeyGroup(kg, [['v', 'k', ''] as unknown as [string, Key, string, unknown]]),
    ).toThrow(invalid);
  });

  it('counts the key groups of its range', () => {
    expect(
      new HeapKeyedStateBackend({ maxParallelism: 128, keyGroupRange: new KeyGroupRange(10, 19) })
        .numKeyGroups,
    ).toBe(10);
  });

  it('drops a key from the namespaced table with its last namespace (no empty maps left behind)', () => {
    const table = new StateTable<number>(1);
    table.set(0, 'k', 'w1', 1);
    table.set(0, 'k', 'w2', 2);
    expect(table.delete(0, 'k', 'w1')).toBe(1);
    expect(table.namespaced[0]!.size).toBe(1);
    expect(table.delete(0, 'k', 'w2')).toBe(2);
    expect(table.namespaced[0]!.size).toBe(0);
    expect(table.delete(0, 'k', 'w2')).toBeUndefined();
  });

  it('walks every entry with the TTL cleanup cursor, a bounded number per step, across key groups and namespaces, and starts over', () => {
    const table = new StateTable<number>(3);
    table.set(0, 'a', '', 1);
    table.set(0, 'b', '', 2);
    table.set(0, 'a', 'w1', 3);
    table.set(0, 'a', 'w2', 4);
    table.set(2, 'c', '', 5);
    const cursor = new HeapEntryCursor(table);
    const seen: number[] = [];
    const visit = (v: number) => {
      seen.push(v);
      return v;
    };
    cursor.step(2, visit);
    expect(seen).toEqual([1, 2]);
    cursor.step(2, visit); // a key's namespaces are visited together
    expect(seen).toEqual([1, 2, 3, 4]);
    cursor.step(2, visit); // key group 2, then over again from the start
    expect(seen).toEqual([1, 2, 3, 4, 5, 1]);
    // Removing and replacing: through the table, which drops a key with its last namespace.
    cursor.step(10, (v) => (v % 2 === 0 ? undefined : v === 3 ? 33 : v));
    expect(table.get(0, 'b', '')).toBeUndefined();
    expect(table.get(0, 'a', 'w1')).toBe(33);
    expect(table.get(0, 'a', 'w2')).toBeUndefined();
    cursor.step(10, () => undefined);
    expect(table.size()).toBe(0);
    expect(table.namespaced[0]!.size).toBe(0);
    // An empty table: a step ends.
    cursor.step(5, visit);
    expect(seen).toEqual([1, 2, 3, 4, 5, 1]);
  });
});
