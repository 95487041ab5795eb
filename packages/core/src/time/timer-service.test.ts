import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { TimerHeap, type TimerKey } from './timer-heap.ts';
import { InternalTimerService } from './timer-service.ts';

type Domain = 'event' | 'processing';
type Fired = [domain: Domain, key: TimerKey, ns: string, ts: number];

/** What a timer callback may do, implemented by both the real service and the model. */
interface TimerApi {
  register(domain: Domain, key: TimerKey, ns: string, ts: number): void;
  delete(domain: Domain, key: TimerKey, ns: string, ts: number): void;
}

/** The obviously-correct model: an unsorted array scanned for the minimum. */
class ModelTimers {
  readonly timers: Record<Domain, Array<{ ts: number; key: TimerKey; ns: string; seq: number }>> = {
    event: [],
    processing: [],
  };
  readonly seq: Record<Domain, number> = { event: 0, processing: 0 };
  watermark = Number.NEGATIVE_INFINITY;

  register(domain: Domain, key: TimerKey, ns: string, ts: number): void {
    const list = this.timers[domain];
    if (!list.some((t) => t.ts === ts && t.key === key && t.ns === ns)) {
      list.push({ ts, key, ns, seq: this.seq[domain]++ });
    }
  }

  delete(domain: Domain, key: TimerKey, ns: string, ts: number): void {
    const list = this.timers[domain];
    const i = list.findIndex((t) => t.ts === ts && t.key === key && t.ns === ns);
    if (i >= 0) list.splice(i, 1);
  }

  sorted(domain: Domain): Array<[number, TimerKey, string]> {
    return this.timers[domain]
      .slice()
      .sort((a, b) => a.ts - b.ts || a.seq - b.seq)
      .map((t) => [t.ts, t.key, t.ns]);
  }

  advance(domain: Domain, time: number, onTimer: (key: TimerKey, ns: string, ts: number) => void): void {
    if (domain === 'event') this.watermark = Math.max(this.watermark, time);
    for (;;) {
      const next = this.sorted(domain)[0];
      if (next === undefined || next[0] > time) return;
      this.delete(domain, next[1], next[2], next[0]);
      onTimer(next[1], next[2], next[0]);
    }
  }
}

const keyArb = fc.constantFrom<TimerKey>('a', 'b', '1', 1, 2, 1n, true, false);
const nsArb = fc.constantFrom('x', 'y', '0:10');
const tsArb = fc.oneof(
  { weight: 20, arbitrary: fc.integer({ min: -10, max: 30 }) },
  { weight: 1, arbitrary: fc.constantFrom(Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY) },
);
const domainArb = fc.constantFrom<Domain>('event', 'processing');

type Command =
  | { op: 'register'; domain: Domain; key: TimerKey; ns: string; ts: number }
  | { op: 'delete'; domain: Domain; key: TimerKey; ns: string; ts: number }
  | { op: 'advance'; domain: Domain; time: number; reaction: { delta: number; deleteNext: boolean } | null }
  | { op: 'checkpoint' };

const commandArb: fc.Arbitrary<Command> = fc.oneof(
  {
    weight: 6,
    arbitrary: fc.record({
      op: fc.constant('register' as const),
      domain: domainArb,
      key: keyArb,
      ns: nsArb,
      ts: tsArb,
    }),
  },
  {
    weight: 3,
    arbitrary: fc.record({
      op: fc.constant('delete' as const),
      domain: domainArb,
      key: keyArb,
      ns: nsArb,
      ts: tsArb,
    }),
  },
  {
    weight: 3,
    arbitrary: fc.record({
      op: fc.constant('advance' as const),
      domain: domainArb,
      time: tsArb,
      reaction: fc.option(fc.record({ delta: fc.integer({ min: -3, max: 5 }), deleteNext: fc.boolean() })),
    }),
  },
  { weight: 1, arbitrary: fc.constant({ op: 'checkpoint' as const }) },
);

/**
 * A deterministic timer callback: for the first few firings of an advance call it registers a
 * follow-up timer `delta` later (possibly already due, which must fire in the same call) and
 * optionally deletes the timer that would fire next.
 */
function makeCallback(
  api: TimerApi,
  domain: Domain,
  reaction: { delta: number; deleteNext: boolean } | null,
  fired: Fired[],
  peekNext: () => [number, TimerKey, string] | undefined,
): (key: TimerKey, ns: string, ts: number) => void {
  let budget = 4; // bounded, so a due follow-up cannot loop forever
  return (key, ns, ts) => {
    fired.push([domain, key, ns, ts]);
    if (reaction === null || budget-- <= 0) return;
    if (Number.isFinite(ts)) api.register(domain, key, 'r', ts + reaction.delta);
    if (reaction.deleteNext) {
      const next = peekNext();
      if (next !== undefined) api.delete(domain, next[1], next[2], next[0]);
    }
  };
}

describe('InternalTimerService vs a sorted-array model', () => {
  it('fires the same timers in the same order, and reports the same state', () => {
    fc.assert(
      fc.property(fc.array(commandArb, { maxLength: 80, size: 'max' }), (commands) => {
        let service = new InternalTimerService();
        const model = new ModelTimers();
        const serviceApi: TimerApi = {
          register: (d, k, n, t) =>
            d === 'event'
              ? service.registerEventTimeTimer(k, n, t)
              : service.registerProcessingTimeTimer(k, n, t),
          delete: (d, k, n, t) =>
            d === 'event'
              ? service.deleteEventTimeTimer(k, n, t)
              : service.deleteProcessingTimeTimer(k, n, t),
        };
        for (const c of commands) {
          if (c.op === 'register') {
            serviceApi.register(c.domain, c.key, c.ns, c.ts);
            model.register(c.domain, c.key, c.ns, c.ts);
          } else if (c.op === 'delete') {
            serviceApi.delete(c.domain, c.key, c.ns, c.ts);
            model.delete(c.domain, c.key, c.ns, c.ts);
          } else if (c.op === 'checkpoint') {
            service = InternalTimerService.restore(service.snapshot());
            // The watermark is not part of a snapshot: a restored service starts without one.
            model.watermark = Number.NEGATIVE_INFINITY;
          } else {
            const firedService: Fired[] = [];
            const firedModel: Fired[] = [];
            const peekService = () => {
              const s = service.snapshot();
              return (c.domain === 'event' ? s.eventTime : s.processingTime)[0];
            };
            const cbService = makeCallback(serviceApi, c.domain, c.reaction, firedService, peekService);
            const cbModel = makeCallback(
              model,
              c.domain,
              c.reaction,
              firedModel,
              () => model.sorted(c.domain)[0],
            );
            const n =
              c.domain === 'event'
                ? service.advanceWatermark(c.time, cbService)
                : service.advanceProcessingTime(c.time, cbService);
            model.advance(c.domain, c.time, cbModel);
            expect(firedService).toEqual(firedModel);
            expect(n).toBe(firedService.length);
          }
          const snapshot = service.snapshot();
          expect(snapshot.eventTime).toEqual(model.sorted('event'));
          expect(snapshot.processingTime).toEqual(model.sorted('processing'));
          expect(service.numEventTimeTimers).toBe(model.timers.event.length);
          expect(service.numProcessingTimeTimers).toBe(model.timers.processing.length);
          expect(service.nextProcessingTimeTimer()).toBe(model.sorted('processing')[0]?.[0]);
          expect(service.nextEventTimeTimer()).toBe(model.sorted('event')[0]?.[0]);
          expect(service.currentWatermark).toBe(model.watermark);
        }
      }),
      { numRuns: 300 },
    );
  });
});

describe('InternalTimerService', () => {
  it('deduplicates triples and distinguishes keys by type', () => {
    const s = new InternalTimerService();
    s.registerEventTimeTimer('k', 'w', 10);
    s.registerEventTimeTimer('k', 'w', 10);
    s.registerEventTimeTimer(1, 'w', 10);
    s.registerEventTimeTimer(1n, 'w', 10);
    s.registerEventTimeTimer(1n, 'w', 10);
    s.registerEventTimeTimer('1', 'w', 10);
    s.registerEventTimeTimer(true, 'w', 10);
    s.registerEventTimeTimer('k', 'v', 10);
    s.registerEventTimeTimer('k', 'w', 11);
    expect(s.numEventTimeTimers).toBe(7);
    expect(s.hasEventTimeTimer(1n, 'w', 10)).toBe(true);
    expect(s.hasProcessingTimeTimer(1n, 'w', 10)).toBe(false);
  });

  it('fires in timestamp order, ties in registration order, and sets the watermark before firing', () => {
    const s = new InternalTimerService<string>();
    s.registerEventTimeTimer('b', 'w', 5);
    s.registerEventTimeTimer('a', 'w', 3);
    s.registerEventTimeTimer('c', 'w', 5);
    s.registerEventTimeTimer('d', 'w', 9);
    const fired: string[] = [];
    s.advanceWatermark(5, (key, _ns, ts) => {
      expect(s.currentWatermark).toBe(5);
      fired.push(`${key}@${ts}`);
    });
    expect(fired).toEqual(['a@3', 'b@5', 'c@5']);
    expect(s.numEventTimeTimers).toBe(1);
  });

  it('fires timers registered by a callback for a due time in the same call, not later ones', () => {
    const s = new InternalTimerService<string>();
    s.registerEventTimeTimer('a', 'w', 1);
    const fired: string[] = [];
    s.advanceWatermark(10, (key, ns, ts) => {
      fired.push(`${key}/${ns}@${ts}`);
      if (ns === 'w') {
        s.registerEventTimeTimer(key, 'due', 7);
        s.registerEventTimeTimer(key, 'late', 11);
      }
    });
    expect(fired).toEqual(['a/w@1', 'a/due@7']);
    expect(s.nextEventTimeTimer()).toBe(11);
  });

  it('does not fire a timer deleted by an earlier callback of the same call', () => {
    const s = new InternalTimerService<string>();
    s.registerEventTimeTimer('a', 'w', 1);
    s.registerEventTimeTimer('b', 'w', 2);
    const fired: string[] = [];
    s.advanceWatermark(5, (key) => {
      fired.push(key);
      s.deleteEventTimeTimer('b', 'w', 2);
    });
    expect(fired).toEqual(['a']);
  });

  it('a timer for a time <= the watermark fires at the next advance, and the watermark never goes back', () => {
    const s = new InternalTimerService<string>();
    s.advanceWatermark(10, () => {});
    s.registerEventTimeTimer('a', 'w', 5);
    const fired: number[] = [];
    s.advanceWatermark(8, (_k, _n, ts) => fired.push(ts));
    expect(fired).toEqual([5]);
    expect(s.currentWatermark).toBe(10);
  });

  it('keeps the two time domains apart and reports the next processing-time timer', () => {
    const s = new InternalTimerService<string>();
    expect(s.nextProcessingTimeTimer()).toBeUndefined();
    s.registerProcessingTimeTimer('a', 'w', 100);
    s.registerProcessingTimeTimer('a', 'w', 50);
    s.registerEventTimeTimer('a', 'w', 10);
    expect(s.nextProcessingTimeTimer()).toBe(50);
    const fired: number[] = [];
    expect(s.advanceWatermark(1000, () => {})).toBe(1);
    expect(s.advanceProcessingTime(60, (_k, _n, ts) => fired.push(ts))).toBe(1);
    expect(fired).toEqual([50]);
    expect(s.currentProcessingTime).toBe(60);
    s.deleteProcessingTimeTimer('a', 'w', 100);
    expect(s.nextProcessingTimeTimer()).toBeUndefined();
  });

  it('fires Infinity timers only on the final watermark', () => {
    const s = new InternalTimerService<string>();
    s.registerEventTimeTimer('a', 'global', Number.POSITIVE_INFINITY);
    expect(s.advanceWatermark(Number.MAX_SAFE_INTEGER, () => {})).toBe(0);
    expect(s.advanceWatermark(Number.POSITIVE_INFINITY, () => {})).toBe(1);
  });

  it('rejects NaN and re-entrant advancing', () => {
    const s = new InternalTimerService<string>();
    expect(() => s.registerEventTimeTimer('a', 'w', Number.NaN)).toThrow(/registerEventTimeTimer: timestamp/);
    expect(() => s.advanceWatermark(Number.NaN, () => {})).toThrow(RangeError);
    s.registerEventTimeTimer('a', 'w', 1);
    s.registerEventTimeTimer('a', 'w', 2);
    expect(() => s.advanceWatermark(5, () => s.advanceWatermark(6, () => {}))).toThrow(/inside/);
    // The guard is released after a throwing callback, and the timer that had not fired is still there.
    expect(s.numEventTimeTimers).toBe(1);
    expect(s.advanceWatermark(5, () => {})).toBe(1);
  });

  it('snapshots per key and restores several snapshots into one service', () => {
    const s = new InternalTimerService<number>();
    for (let k = 0; k < 6; k++) {
      s.registerEventTimeTimer(k, 'w', 10 - k);
      s.registerProcessingTimeTimer(k, 'p', 100 + k);
    }
    const even = s.snapshot((k) => k % 2 === 0);
    const odd = s.snapshot((k) => k % 2 === 1);
    expect(even.eventTime.map(([, k]) => k)).toEqual([4, 2, 0]);
    const restored = InternalTimerService.restore(even, odd, even);
    expect(restored.snapshot()).toEqual({
      eventTime: [...even.eventTime, ...odd.eventTime].sort((a, b) => a[0] - b[0]),
      processingTime: [...even.processingTime, ...odd.processingTime].sort((a, b) => a[0] - b[0]),
    });
    // Plain data: survives a structured clone (how it would travel to a checkpoint writer).
    expect(InternalTimerService.restore(structuredClone(s.snapshot())).snapshot()).toEqual(s.snapshot());
  });
});

describe('TimerHeap', () => {
  it('keeps the heap property and its index through random adds, removes and polls', () => {
    fc.assert(
      fc.property(
        fc.array(
          fc.tuple(
            fc.constantFrom('add', 'add', 'addNew', 'addNew', 'remove', 'removeExisting', 'poll'),
            // Half the timers in 3 buckets: more than the 8 timers searched without an index.
            fc.oneof(fc.integer({ min: 0, max: 15 }), fc.integer({ min: 0, max: 2 })),
            keyArb,
            nsArb,
            fc.nat(),
          ),
          { maxLength: 200, size: 'max' },
        ),
        (ops) => {
          const heap = new TimerHeap();
          const model = new ModelTimers();
          for (const [op, ts, key, ns, pick] of ops) {
            if (op === 'removeExisting') {
              // Remove from anywhere in the heap: exercises the sift-up branch of delete.
              const all = heap.toSortedArray();
              const victim = all[pick % Math.max(1, all.length)];
              if (victim !== undefined) {
                expect(heap.remove(...victim)).toBe(true);
                model.delete('event', victim[1], victim[2], victim[0]);
              }
            } else if (op === 'addNew') {
              // Only what its callers promise: a triple that is absent (unknown to the model).
              if (!model.timers.event.some((t) => t.ts === ts && t.key === key && t.ns === ns)) {
                heap.addNew(ts, key, ns);
                model.register('event', key, ns, ts);
              }
            } else if (op === 'add') {
              const isNew = !heap.has(ts, key, ns);
              expect(heap.add(ts, key, ns)).toBe(isNew);
              model.register('event', key, ns, ts);
            } else if (op === 'remove') {
              const present = heap.has(ts, key, ns);
              expect(heap.remove(ts, key, ns)).toBe(present);
              model.delete('event', key, ns, ts);
            } else {
              const top = heap.poll();
              const expected = model.sorted('event')[0];
              expect(top).toEqual(expected);
              if (expected !== undefined) model.delete('event', expected[1], expected[2], expected[0]);
              if (top !== undefined) expect(heap.has(...top)).toBe(false);
            }
            heap.assertInvariants();
            expect(heap.size).toBe(model.timers.event.length);
          }
          expect(heap.toSortedArray()).toEqual(model.sorted('event'));
        },
      ),
      { numRuns: 300 },
    );
  });

  it('moves the last element up when a delete leaves it below its new parent', () => {
    const heap = new TimerHeap<string>();
    for (const ts of [1, 5, 2, 6, 7, 3, 4]) heap.add(ts, 'k', 'n');
    heap.remove(6, 'k', 'n'); // slot of 6 is under 5; the last element, 4, must rise above 5
    heap.assertInvariants();
    expect(heap.toSortedArray().map(([ts]) => ts)).toEqual([1, 2, 3, 4, 5, 7]);
  });

  it('compacts a bucket whose removed timers pile up, keeping order and index', () => {
    const heap = new TimerHeap<number>();
    for (let key = 0; key < 200; key++) {
      heap.add(7, key, 'a');
      if (key % 3 === 0) heap.add(7, key, 'b');
    }
    // Remove behind the head until the holes outnumber the live timers (180 against 87 + 16):
    // compaction runs.
    for (let key = 1; key < 200; key++) if (key % 10 !== 0) heap.remove(7, key, 'a');
    heap.assertInvariants();
    expect(heap.add(7, 30, 'a')).toBe(false);
    expect(heap.add(7, 9, 'a')).toBe(true);
    heap.assertInvariants();
    const fired: string[] = [];
    for (let t = heap.poll(); t !== undefined; t = heap.poll()) fired.push(`${t[1]}${t[2]}`);
    const expected: string[] = [];
    for (let key = 0; key < 200; key++) {
      if (key % 10 === 0) expected.push(`${key}a`);
      if (key % 3 === 0) expected.push(`${key}b`);
    }
    expect(fired).toEqual([...expected, '9a']);
  });

  it('indexes a bucket of timers added without lookup only once something looks one up', () => {
    const heap = new TimerHeap<number>();
    for (let key = 0; key < 1000; key++) heap.addNew(9, key, 'w');
    heap.assertInvariants();
    // The first lookup indexes all 1000; later adds and removes keep the index whole.
    expect(heap.add(9, 500, 'w')).toBe(false);
    expect(heap.add(9, 1000, 'w')).toBe(true);
    expect(heap.remove(9, 3, 'w')).toBe(true);
    expect(heap.has(9, 3, 'w')).toBe(false);
    heap.addNew(9, 3, 'w'); // after those indexed: unindexed again, found by the next lookup
    expect(heap.has(9, 3, 'w')).toBe(true);
    heap.assertInvariants();
    const fired: number[] = [];
    for (let t = heap.poll(); t !== undefined; t = heap.poll()) fired.push(t[1]);
    const expected = [...Array.from({ length: 1001 }, (_, key) => key).filter((key) => key !== 3), 3];
    expect(fired).toEqual(expected);
    expect(heap.size).toBe(0);
  });

  it('normalises -0 to 0', () => {
    const heap = new TimerHeap();
    heap.add(-0, 'k', 'n');
    expect(heap.add(0, 'k', 'n')).toBe(false);
    expect(Object.is(heap.peekTimestamp(), 0)).toBe(true);
  });
});
