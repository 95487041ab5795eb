/**
 * The contract every keyed state backend keeps, as one test suite that each backend's test file
 * runs against itself (`describeKeyedStateBackendContract(...)` in `heap/` and `leveldb/`): the
 * plain `Map` model of `state-model.ts` over random operations, snapshot and restore into other
 * key group ranges, and the edge cases of the `KeyedStateBackend` and state interfaces. What only
 * one backend does (the LevelDB backend's prefetch, eviction, disk and thread behaviour; the heap
 * backend's synchronous snapshots and its table) stays in that backend's test file.
 */

import fc from 'fast-check';
import { describe, expect, expectTypeOf, it } from 'vitest';
import type { KeyedStateBackend } from '../backend/keyed-state-backend.ts';
import { aggregatingState, listState, mapState, reducingState, valueState } from '../descriptors.ts';
import { StateArgumentError, StateError } from '../errors.ts';
import { assignToKeyGroup, type Key, KeyGroupRange } from '../key-groups.ts';
import type {
  InternalAggregatingState,
  InternalListState,
  InternalMapState,
  InternalReducingState,
  InternalValueState,
} from '../state.ts';
import {
  type Acc,
  avg,
  D,
  expectBackendMatches,
  expectEntriesReadBack,
  MAX_P,
  normalize,
  opsArb,
  register,
  run,
  type States,
  snapshotAll,
  use,
} from './state-model.ts';
import { describeTtlContract } from './ttl-state.contract.ts';

/** How the suite makes, and disposes of, the backend under test. */
export interface BackendUnderTest<B extends KeyedStateBackend = KeyedStateBackend> {
  /**
   * A new backend, ready to use (opened if it has to be), with key group range `keyGroupRange`
   * (default: every key group) of `maxParallelism` (default {@link MAX_P}). `cacheMaxKeys` is for
   * backends that keep only some keys in memory; others ignore it.
   */
  create(options?: {
    maxParallelism?: number;
    keyGroupRange?: KeyGroupRange;
    cacheMaxKeys?: number;
    /** Processing time for state TTL (the TTL part of the suite passes a test clock). */
    clock?: () => number;
  }): Promise<B>;
  /** Only the constructor, with these options (for their validation). */
  construct(options: { maxParallelism: number; keyGroupRange: KeyGroupRange }): B;
  /** Releases what `create` made (closes, removes files). */
  dispose(backend: B): Promise<void>;
  /** Every (key, namespace) entry of every state, where the backend counts them in memory. */
  countEntries?(backend: B): number;
  /** The backend's own checks after a model run (e.g. the LevelDB cache's size). */
  checkAfterModel?(backend: B): Promise<void>;
  /** Whether the backend keeps only some keys in memory: the model then evicts, too. */
  readonly spills: boolean;
  /** fast-check runs of the model property and of the rescaling property. */
  readonly runs: { readonly model: number; readonly rescaling: number };
  /** The cache size (in keys) the properties run with, for spilling backends: small, to evict often. */
  readonly propertyCacheMaxKeys?: number;
}

/** Awaits `call` whether it throws, returns a rejected promise, or succeeds. */
async function settled(call: () => unknown): Promise<unknown> {
  return call();
}

const invalidRestore = expect.objectContaining({ code: 'SLUICE_STATE_RESTORE_INVALID' });
const outOfRange = expect.objectContaining({ code: 'SLUICE_KEY_GROUP_OUT_OF_RANGE' });

export function describeKeyedStateBackendContract<B extends KeyedStateBackend>(
  name: string,
  subject: BackendUnderTest<B>,
): void {
  const count = subject.countEntries?.bind(subject) as ((backend: KeyedStateBackend) => number) | undefined;
  const cacheMaxKeys = subject.propertyCacheMaxKeys;

  /** Runs `body` on a new backend and disposes of it after. */
  async function withBackend<T>(
    options: Parameters<BackendUnderTest<B>['create']>[0],
    body: (backend: B) => Promise<T>,
  ): Promise<T> {
    const backend = await subject.create(options);
    try {
      return await body(backend);
    } finally {
      await subject.dispose(backend);
    }
  }

  describe(`${name} against a plain Map model (KeyedStateBackend contract)`, () => {
    it('agrees on every read after every operation, over keys and namespaces', async () => {
      await fc.assert(
        fc.asyncProperty(opsArb(subject.spills), (ops) =>
          withBackend({ cacheMaxKeys }, async (backend) => {
            const model = await run(ops, backend);
            await expectBackendMatches(backend, model, count);
            // Every entry reads back (after eviction and re-fetch, where the backend evicts).
            await expectEntriesReadBack([{ backend, states: register(backend) }], model);
            await subject.checkAfterModel?.(backend);
          }),
        ),
        { numRuns: subject.runs.model },
      );
    });

    it('round-trips every key group through a snapshot into backends with other ranges (rescaling)', async () => {
      await fc.assert(
        fc.asyncProperty(
          opsArb(subject.spills),
          fc.integer({ min: 1, max: MAX_P - 1 }),
          fc.boolean(),
          async (ops, split, registerFirst) => {
            const source = await subject.create({ cacheMaxKeys });
            const targets = [
              await subject.create({ cacheMaxKeys, keyGroupRange: new KeyGroupRange(0, split - 1) }),
              await subject.create({ cacheMaxKeys, keyGroupRange: new KeyGroupRange(split, MAX_P - 1) }),
            ];
            try {
              const model = await run(ops, source);
              // Both orders happen in practice: restore before open() (the operator registers its
              // states afterwards), or into states that already exist.
              const targetStates: States[] = registerFirst ? targets.map(register) : [];
              for (const target of targets) {
                for (const kg of target.keyGroupRange) {
                  // structuredClone stands in for serialisation: snapshots must be plain data.
                  await target.restoreKeyGroup(kg, structuredClone(await source.snapshotKeyGroup(kg)));
                }
              }
              // Restored but not yet registered state is in snapshots too.
              for (const [i, target] of targets.entries()) {
                const expected = [];
                for (const kg of target.keyGroupRange) expected.push(...(await source.snapshotKeyGroup(kg)));
                expect(normalize(await snapshotAll(target))).toEqual(normalize(expected));
                if (!registerFirst) targetStates[i] = register(target);
              }
              // Every entry reads back the same on the backend that owns its key group.
              await expectEntriesReadBack(
                targets.map((backend, i) => ({ backend, states: targetStates[i]! })),
                model,
              );
              if (count !== undefined) {
                expect(count(targets[0]!) + count(targets[1]!)).toBe(model.entries.size);
              }
            } finally {
              await subject.dispose(source);
              for (const target of targets) await subject.dispose(target);
            }
          },
        ),
        { numRuns: subject.runs.rescaling },
      );
    });
  });

  describe(`${name} (KeyedStateBackend contract)`, () => {
    it('returns the same state object for the same name, typed by its descriptor', async () => {
      await withBackend({}, async (backend) => {
        // Each backend satisfies the interface: BackendUnderTest<B> requires B extends KeyedStateBackend.
        const s = register(backend);
        expect(backend.getState(valueState<number>('v'))).toBe(s.value);
        expect(backend.getState(D.list)).toBe(s.list);
        expectTypeOf(backend.getState(valueState<string>('x'))).toEqualTypeOf<InternalValueState<string>>();
        expectTypeOf(backend.getState(listState<Date>('y'))).toEqualTypeOf<InternalListState<Date>>();
        expectTypeOf(backend.getState(mapState<number, string[]>('z'))).toEqualTypeOf<
          InternalMapState<number, string[]>
        >();
        expectTypeOf(backend.getState(reducingState('r2', (a: bigint, b: bigint) => a + b))).toEqualTypeOf<
          InternalReducingState<bigint>
        >();
        expectTypeOf(backend.getState(aggregatingState('g2', avg))).toEqualTypeOf<
          InternalAggregatingState<number, Acc, string>
        >();
        expectTypeOf(s.aggregating.get).returns.toEqualTypeOf<string | undefined>();
        expect(backend.getState(valueState<string>('x'))).toBe(backend.getState(valueState<string>('x')));
      });
    });

    it('throws SLUICE_STATE_KIND_MISMATCH for the same name with another kind', async () => {
      await withBackend({}, async (backend) => {
        backend.getState(valueState<number>('count'));
        const mismatch = () => backend.getState(listState<number>('count'));
        expect(mismatch).toThrow(StateError);
        expect(mismatch).toThrow(expect.objectContaining({ code: 'SLUICE_STATE_KIND_MISMATCH' }));
        expect(mismatch).toThrow(/'count' is already registered as value state/);
      });
    });

    it('asserts that the current key belongs to its key group range', async () => {
      await withBackend({ maxParallelism: 128, keyGroupRange: new KeyGroupRange(0, 63) }, async (backend) => {
        let outside: Key = 0;
        while (assignToKeyGroup(outside, 128) < 64) outside = (outside as number) + 1;
        const kg = assignToKeyGroup(outside, 128);
        const err = (() => {
          try {
            backend.setCurrentKey(outside);
          } catch (e) {
            return e;
          }
        })();
        expect(err).toBeInstanceOf(StateError);
        expect(err).toMatchObject({ code: 'SLUICE_KEY_GROUP_OUT_OF_RANGE' });
        expect((err as Error).message).toContain(`key ${outside} is in key group ${kg}`);
        expect((err as Error).message).toContain('[0, 63]');
        for (const badGroup of [64, -1, Number.NaN, 1.5]) {
          expect(() => backend.setCurrentKey('k', badGroup)).toThrow(outOfRange);
        }
        await expect(settled(() => backend.snapshotKeyGroup(64))).rejects.toThrow(outOfRange);
        await expect(settled(() => backend.restoreKeyGroup(100, []))).rejects.toThrow(outOfRange);
      });
    });

    it('trusts a given key group and uses it as is', async () => {
      await withBackend({ maxParallelism: 128 }, async (backend) => {
        const v = backend.getState(valueState<string>('v'));
        await use(backend, 'k', 7);
        expect(backend.currentKey).toBe('k');
        expect(backend.currentKeyGroup).toBe(7);
        v.update('in 7');
        expect(await backend.snapshotKeyGroup(7)).toEqual([['v', 'k', '', 'in 7']]);
      });
    });

    it('refuses state access before the first setCurrentKey', async () => {
      await withBackend({}, async (backend) => {
        const s = register(backend);
        const code = expect.objectContaining({ code: 'SLUICE_STATE_NO_CURRENT_KEY' });
        expect(() => backend.currentKey).toThrow(code);
        expect(() => backend.currentKeyGroup).toThrow(code);
        expect(() => s.value.value()).toThrow(code);
        expect(() => s.value.update(1)).toThrow(code);
        expect(() => s.list.add(1)).toThrow(code);
        expect(() => s.map.put('x', 1)).toThrow(code);
      });
    });

    it('validates the options every backend has, naming the option', () => {
      const range = new KeyGroupRange(0, 127);
      expect(() => subject.construct({ maxParallelism: 0, keyGroupRange: range })).toThrow(
        expect.objectContaining({ argument: 'options.maxParallelism' }),
      );
      expect(() => subject.construct({ maxParallelism: 64, keyGroupRange: range })).toThrow(
        expect.objectContaining({ argument: 'options.keyGroupRange' }),
      );
      expect(() =>
        subject.construct({ maxParallelism: 64, keyGroupRange: { start: 0, end: 1 } as KeyGroupRange }),
      ).toThrow(StateArgumentError);
    });

    it('validates descriptors', async () => {
      expect(() => valueState('')).toThrow(expect.objectContaining({ argument: 'name' }));
      expect(() => listState(3 as unknown as string)).toThrow(StateArgumentError);
      expect(() => reducingState('r', undefined as unknown as (a: number, b: number) => number)).toThrow(
        expect.objectContaining({ argument: 'reduce' }),
      );
      expect(() => aggregatingState('g', { add: () => 0 } as unknown as typeof avg)).toThrow(
        expect.objectContaining({ argument: 'agg' }),
      );
      expect(Object.isFrozen(valueState('x'))).toBe(true);
      await withBackend({}, async (backend) => {
        expect(() => backend.getState({ kind: 'nope', name: 'x' } as never)).toThrow(
          expect.objectContaining({ argument: 'descriptor' }),
        );
      });
    });

    it('keeps states of different keys and namespaces apart', async () => {
      // A cache that holds every key: keys() then lists all of them, as the heap's does.
      await withBackend({ cacheMaxKeys: 100 }, async (backend) => {
        const count = backend.getState(valueState<number>('count', { defaultValue: 0 }));
        for (const key of ['a', 'b', 'a', 'a', 1, '1']) {
          await use(backend, key);
          count.update(count.value()! + 1);
        }
        const read = async (key: Key) => {
          await use(backend, key);
          return count.value();
        };
        expect([await read('a'), await read('b'), await read(1), await read('1'), await read('zzz')]).toEqual(
          [3, 1, 1, 1, 0],
        );
        count.setNamespace('w');
        expect(count.namespace).toBe('w');
        expect(await read('a')).toBe(0);
        count.update(10);
        expect([...backend.keys('count', 'w')]).toEqual(['a']);
        expect(new Set(backend.keys('count'))).toEqual(new Set(['a', 'b', 1, '1']));
        expect([...backend.keys('unknown')]).toEqual([]);
      });
    });

    it('treats update(undefined) and update([]) as clear, leaving no entry behind', async () => {
      await withBackend({}, async (backend) => {
        const s = register(backend);
        await use(backend, 'a');
        s.value.update(1);
        s.value.update(undefined as unknown as number);
        s.list.update([1]);
        s.list.update([]);
        s.list.addAll([]);
        s.map.put('x', 1);
        s.map.remove('x');
        s.aggregating.setNamespace('w');
        s.aggregating.add(1);
        s.aggregating.clear();
        if (count !== undefined) expect(count(backend)).toBe(0);
        expect(await snapshotAll(backend)).toEqual([]);
        expect([...backend.keys('g', 'w')]).toEqual([]);
      });
    });

    describe('mergeNamespaces', () => {
      it('concatenates lists, target first, and removes the sources', async () => {
        await withBackend({}, async (backend) => {
          const list = backend.getState(listState<string>('l'));
          await use(backend, 'k');
          for (const [ns, values] of [
            ['w1', ['a']],
            ['w2', ['b', 'c']],
            ['w3', ['d']],
          ] as const) {
            list.setNamespace(ns);
            list.addAll(values);
          }
          list.setNamespace('w3');
          list.mergeNamespaces('w1', ['w2', 'w3', 'w1', 'empty']);
          expect(list.namespace).toBe('w3');
          expect(list.get()).toEqual([]);
          list.setNamespace('w1');
          expect(list.get()).toEqual(['a', 'b', 'c', 'd']);
          if (count !== undefined) expect(count(backend)).toBe(1);
          expect(await snapshotAll(backend)).toEqual([['l', 'k', 'w1', ['a', 'b', 'c', 'd']]]);
        });
      });

      it('reduces and aggregates into a target that may be empty', async () => {
        await withBackend({}, async (backend) => {
          const r = backend.getState(reducingState<number>('r', (a, b) => a + b));
          const g = backend.getState(aggregatingState('g', avg));
          await use(backend, 'k');
          for (const [ns, v] of [
            ['w1', 1],
            ['w2', 2],
            ['w2', 3],
          ] as const) {
            r.setNamespace(ns);
            g.setNamespace(ns);
            r.add(v);
            g.add(v);
          }
          r.mergeNamespaces('new', ['w1', 'w2']);
          g.mergeNamespaces('new', ['w1', 'w2']);
          r.setNamespace('new');
          g.setNamespace('new');
          expect(r.get()).toBe(6);
          expect(g.get()).toBe('6/3');
          expect(g.getAccumulator()).toEqual({ sum: 6, n: 3 });
          if (count !== undefined) expect(count(backend)).toBe(2);
          expect(await snapshotAll(backend)).toHaveLength(2);
        });
      });

      it('throws SLUICE_STATE_NO_MERGE for an AggregateFunction without merge, even with nothing to merge', async () => {
        await withBackend({}, async (backend) => {
          const { merge: _, ...noMerge } = avg;
          const g = backend.getState(aggregatingState('g', noMerge));
          await use(backend, 'k');
          const merge = () => g.mergeNamespaces('a', ['b']);
          expect(merge).toThrow(StateError);
          expect(merge).toThrow(expect.objectContaining({ code: 'SLUICE_STATE_NO_MERGE' }));
          expect(merge).toThrow(/no merge\(a, b\) method.*session windows/);
        });
      });
    });

    describe('snapshot and restore', () => {
      it('produces plain data: lists as arrays, maps as pairs, copies of the containers', async () => {
        await withBackend({}, async (backend) => {
          const s = register(backend);
          await use(backend, 'k');
          s.list.add(1);
          s.map.put('x', 1);
          const kg = backend.currentKeyGroup;
          const snapshot = await backend.snapshotKeyGroup(kg);
          expect(snapshot).toEqual([
            ['l', 'k', '', [1]],
            ['m', 'k', '', [['x', 1]]],
          ]);
          s.list.add(2);
          s.map.put('y', 2);
          expect(snapshot[0]![3]).toEqual([1]);
          expect(snapshot[1]![3]).toEqual([['x', 1]]);
        });
      });

      it('rejects entries whose key is not in the key group, or malformed entries', async () => {
        await withBackend({ maxParallelism: 128 }, async (backend) => {
          const kg = assignToKeyGroup('k', 128);
          const other = (kg + 1) % 128;
          const restore = (keyGroup: number, entries: Array<readonly [string, Key, string, unknown]>) =>
            settled(() => backend.restoreKeyGroup(keyGroup, entries));
          await expect(restore(other, [['v', 'k', '', 1]])).rejects.toThrow(invalidRestore);
          await expect(restore(kg, [['v', 'k', 1 as unknown as string, 1]])).rejects.toThrow(invalidRestore);
          await expect(
            restore(kg, [['v', 'k', ''] as unknown as [string, Key, string, unknown]]),
          ).rejects.toThrow(invalidRestore);
          backend.getState(listState('l'));
          await expect(restore(kg, [['l', 'k', '', 5]])).rejects.toThrow(invalidRestore);
          // A value restored for a state not registered yet is checked when it is registered.
          await restore(kg, [['m', 'k', '', 'not pairs']]);
          expect(() => backend.getState(mapState('m'))).toThrow(invalidRestore);
        });
      });
    });
  });

  describeTtlContract(name, {
    create: (options) => subject.create(options),
    dispose: (backend) => subject.dispose(backend as B),
    spills: subject.spills,
    runs: Math.max(10, Math.floor(subject.runs.model / 2)),
    ...(cacheMaxKeys === undefined ? {} : { propertyCacheMaxKeys: cacheMaxKeys }),
  });
}
