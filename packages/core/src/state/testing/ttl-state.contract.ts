/**
 * The TTL part of the keyed state backend contract, run by `describeKeyedStateBackendContract`
 * for every backend: the TTL model of `ttl-state-model.ts` over random operations and clock moves
 * for each combination of update type and visibility, snapshots checked entry by entry (expired
 * values left out, timestamps kept), restore into other key group ranges at a later time,
 * background cleanup, and the validation of TTL options.
 */

import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { KeyedStateBackend } from '../backend/keyed-state-backend.ts';
import { listState, mapState, valueState } from '../descriptors.ts';
import { StateArgumentError } from '../errors.ts';
import { KeyGroupRange } from '../key-groups.ts';
import type { StateTtlConfig } from '../ttl/ttl-config.ts';
import { KEYS, kgOf, MAX_P, NAMESPACES, snapshotAll, use } from './state-model.ts';
import {
  applyTtl,
  normalizeTtl,
  registerTtl,
  runTtl,
  TestClock,
  TTL_MS,
  TTL_VARIANTS,
  type TtlOp,
  ttlOpsArb,
} from './ttl-state-model.ts';

/** What the TTL contract needs of the backend under test. */
export interface TtlBackendUnderTest {
  create(options: {
    clock: () => number;
    keyGroupRange?: KeyGroupRange;
    cacheMaxKeys?: number;
  }): Promise<KeyedStateBackend>;
  dispose(backend: KeyedStateBackend): Promise<void>;
  readonly spills: boolean;
  readonly runs: number;
  readonly propertyCacheMaxKeys?: number;
}

const READS: readonly TtlOp[] = [
  { op: 'valueRead' },
  { op: 'listGet' },
  { op: 'mapEntries' },
  { op: 'reduceGet' },
  { op: 'aggGet' },
];

export function describeTtlContract(name: string, subject: TtlBackendUnderTest): void {
  const cacheMaxKeys = subject.propertyCacheMaxKeys;

  describe(`${name} with state TTL, against a timestamped model (KeyedStateBackend contract)`, () => {
    for (const variant of TTL_VARIANTS) {
      const label = `${variant.updateType}, ${variant.visibility}${variant.incremental ? ', incremental cleanup' : ''}`;
      it(`agrees on every read, snapshots without expired values, restores at another range later (${label})`, async () => {
        await fc.assert(
          fc.asyncProperty(
            ttlOpsArb(subject.spills),
            fc.integer({ min: 1, max: MAX_P - 1 }),
            fc.integer({ min: 0, max: TTL_MS + 2 }),
            async (ops, split, laterMs) => {
              const clock = new TestClock();
              const source = await subject.create({
                clock: clock.read,
                ...(cacheMaxKeys ? { cacheMaxKeys } : {}),
              });
              const targets = [
                await subject.create({ clock: clock.read, keyGroupRange: new KeyGroupRange(0, split - 1) }),
                await subject.create({
                  clock: clock.read,
                  keyGroupRange: new KeyGroupRange(split, MAX_P - 1),
                }),
              ];
              try {
                const model = await runTtl(ops, source, variant, clock);
                const snapshot = await snapshotAll(source);
                expect(normalizeTtl(snapshot)).toEqual(model.snapshot());
                // What the snapshot left out is gone for the restored backends, whatever the visibility.
                model.pruneExpired();
                for (const target of targets) {
                  for (const kg of target.keyGroupRange) {
                    await target.restoreKeyGroup(
                      kg,
                      snapshot.filter(([, key]) => kgOf(key) === kg),
                    );
                  }
                }
                clock.nowMs += laterMs;
                const owners = targets.map((backend) => ({ backend, states: registerTtl(backend, variant) }));
                for (const keyIndex of KEYS.keys()) {
                  const key = KEYS[keyIndex]!;
                  const owner = owners.find((o) => o.backend.keyGroupRange.contains(kgOf(key)))!;
                  await use(owner.backend, key);
                  applyTtl({ op: 'key', key: keyIndex }, owner.backend, owner.states, model);
                  for (const ns of NAMESPACES) {
                    applyTtl({ op: 'ns', ns }, owner.backend, owner.states, model);
                    for (const read of READS) {
                      expect(
                        applyTtl(read, owner.backend, owner.states, model),
                        `${read.op} after restore`,
                      ).toEqual(model.apply(read));
                    }
                  }
                }
              } finally {
                await subject.dispose(source);
                for (const target of targets) await subject.dispose(target);
              }
            },
          ),
          { numRuns: subject.runs },
        );
      });
    }

    it('keeps timestamps through snapshot and restore: what expired meanwhile is expired after', async () => {
      const clock = new TestClock();
      const ttl: StateTtlConfig = { ttlMs: 100 };
      const source = await subject.create({ clock: clock.read });
      const target = await subject.create({ clock: clock.read });
      try {
        const value = source.getState(valueState<string>('session', { ttl }));
        await use(source, 'ann');
        value.update('a');
        clock.nowMs += 60;
        await use(source, 'bo');
        value.update('b');
        const snapshot = await snapshotAll(source);
        for (const kg of target.keyGroupRange) {
          await target.restoreKeyGroup(
            kg,
            snapshot.filter(([, key]) => kgOf(key) === kg),
          );
        }
        const restored = target.getState(valueState<string>('session', { ttl }));
        clock.nowMs += 40; // ann's value is 100 ms old: expired; bo's 40 ms
        await use(target, 'ann');
        expect(restored.value()).toBeUndefined();
        await use(target, 'bo');
        expect(restored.value()).toBe('b');
      } finally {
        await subject.dispose(source);
        await subject.dispose(target);
      }
    });

    it('cleans up expired entries in the background, per batch and per access, without reading them', async () => {
      const clock = new TestClock();
      // inSnapshots off, so that the snapshot shows what is still stored.
      const perBatch = valueState<number>('per-batch', {
        ttl: {
          ttlMs: 10,
          cleanup: { inSnapshots: false, incremental: { entriesPerAccess: 0, entriesPerBatch: 3 } },
        },
      });
      const perAccess = mapState<string, number>('per-access', {
        ttl: {
          ttlMs: 10,
          cleanup: { inSnapshots: false, incremental: { entriesPerAccess: 2, entriesPerBatch: 0 } },
        },
      });
      const backend = await subject.create({ clock: clock.read, cacheMaxKeys: 1000 });
      try {
        const a = backend.getState(perBatch);
        const b = backend.getState(perAccess);
        const keys = Array.from({ length: 30 }, (_, i) => `k${i}`);
        for (const key of keys) {
          await use(backend, key);
          a.update(1);
          b.put('x', 1);
        }
        const stored = async (stateName: string) =>
          (await snapshotAll(backend)).filter(([name]) => name === stateName).length;
        expect(await stored('per-batch')).toBe(30);
        clock.nowMs += 10;
        backend.cleanUpExpired?.(); // 3 entries
        expect(await stored('per-batch')).toBe(27);
        for (let i = 0; i < 9; i++) backend.cleanUpExpired?.();
        expect(await stored('per-batch')).toBe(0);
        expect(await stored('per-access')).toBe(30); // not accessed yet; entriesPerBatch 0
        await use(backend, 'fresh');
        b.put('y', 2); // visits 2 entries per access
        for (let i = 0; i < 20; i++) b.get('y');
        expect(await stored('per-access')).toBe(1); // only the fresh key's entry is left
        expect(b.get('y')).toBe(2);
      } finally {
        await subject.dispose(backend);
      }
    });

    it('writes expired values into snapshots only with cleanup.inSnapshots false', async () => {
      const clock = new TestClock();
      const backend = await subject.create({ clock: clock.read });
      try {
        const pruned = backend.getState(
          listState<number>('pruned', { ttl: { ttlMs: 10, cleanup: { incremental: false } } }),
        );
        const kept = backend.getState(
          listState<number>('kept', {
            ttl: { ttlMs: 10, cleanup: { inSnapshots: false, incremental: false } },
          }),
        );
        await use(backend, 'k');
        pruned.add(1);
        kept.add(1);
        clock.nowMs += 5;
        pruned.add(2);
        kept.add(2);
        clock.nowMs += 5; // the first elements are expired, the second are not
        const entries = (await snapshotAll(backend)).map(([name, , , value]) => [name, value]);
        expect(entries).toContainEqual(['pruned', [[2, 1005]]]);
        expect(entries).toContainEqual([
          'kept',
          [
            [1, 1000],
            [2, 1005],
          ],
        ]);
      } finally {
        await subject.dispose(backend);
      }
    });

    it('refuses to restore values checkpointed without TTL into a state with TTL', async () => {
      const clock = new TestClock();
      const plain = await subject.create({ clock: clock.read });
      const withTtl = await subject.create({ clock: clock.read });
      try {
        await use(plain, 'k');
        plain.getState(valueState<number>('v')).update(1);
        plain.getState(listState<number>('l')).add(1);
        plain.getState(mapState<string, number>('m')).put('x', 1);
        const ttl = { ttlMs: 10 };
        withTtl.getState(valueState<number>('v', { ttl }));
        withTtl.getState(listState<number>('l', { ttl }));
        withTtl.getState(mapState<string, number>('m', { ttl }));
        for (const entry of await snapshotAll(plain)) {
          const restore = async () => withTtl.restoreKeyGroup(kgOf(entry[1]), [entry]);
          await expect(restore(), entry[0]).rejects.toThrow(
            expect.objectContaining({
              code: 'SLUICE_STATE_RESTORE_INVALID',
              message: expect.stringContaining('with TTL'),
            }),
          );
        }
      } finally {
        await subject.dispose(plain);
        await subject.dispose(withTtl);
      }
    });

    it('refuses a bad TTL config with a StateArgumentError naming the state and the option', () => {
      const bad = (ttl: unknown, option: string, message: RegExp) => {
        let error: unknown;
        try {
          valueState('session', { ttl: ttl as StateTtlConfig });
        } catch (e) {
          error = e;
        }
        expect(error).toBeInstanceOf(StateArgumentError);
        expect((error as StateArgumentError).code).toBe('SLUICE_STATE_INVALID_ARGUMENT');
        expect((error as Error).message).toContain(`option ${option} of state 'session'`);
        expect((error as Error).message).toMatch(message);
      };
      bad(5, 'ttl', /must be an object/);
      bad({}, 'ttl.ttlMs', /positive integer of milliseconds, got undefined/);
      bad({ ttlMs: 0 }, 'ttl.ttlMs', /got 0/);
      bad({ ttlMs: 1.5 }, 'ttl.ttlMs', /got 1.5/);
      bad({ ttlMs: '10' }, 'ttl.ttlMs', /got "10"/);
      bad(
        { ttlMs: 10, updateType: 'onWrite' },
        'ttl.updateType',
        /'onCreateAndWrite', 'onReadAndWrite', got "onWrite"/,
      );
      bad({ ttlMs: 10, visibility: 'never' }, 'ttl.visibility', /got "never"/);
      bad({ ttlMs: 10, ttl: 5 }, 'ttl.ttl', /is not an option/);
      bad({ ttlMs: 10, cleanup: true }, 'ttl.cleanup', /must be an object/);
      bad({ ttlMs: 10, cleanup: { inSnapshots: 'yes' } }, 'ttl.cleanup.inSnapshots', /must be a boolean/);
      bad(
        { ttlMs: 10, cleanup: { incremental: { entriesPerAccess: -1 } } },
        'ttl.cleanup.incremental.entriesPerAccess',
        /\[0, 100000\].*got -1/,
      );
      bad(
        { ttlMs: 10, cleanup: { incremental: { perRecord: 1 } } },
        'ttl.cleanup.incremental.perRecord',
        /is not an option/,
      );
      expect(mapState('m', { ttl: { ttlMs: 10 } }).ttl).toEqual({
        ttlMs: 10,
        updateType: 'onCreateAndWrite',
        visibility: 'neverReturnExpired',
        cleanupInSnapshots: true,
        entriesPerAccess: 0,
        entriesPerBatch: 256,
      });
    });
  });
}
