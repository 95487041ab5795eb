import { describe, expect, it } from 'vitest';
import { assignToKeyGroup, type Key, KeyGroupRange } from '../key-groups.ts';
import { describeKeyedStateBackendContract } from '../testing/keyed-state-backend.contract.ts';
import { MAX_P, register } from '../testing/state-model.ts';
import { HeapKeyedStateBackend } from './heap-keyed-state-backend.ts';
import { StateTable } from './state-table.ts';

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
});
