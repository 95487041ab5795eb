/**
 * Every Nexmark query job against its plain-loop reference: at parallelism 1, 2 and 4, on events
 * in order and shuffled, the job's results must be exactly the loop's, as multisets. The input
 * is bounded and the watermark allows the generator's whole disorder, so no record is late and
 * the answer does not depend on arrival order. Sizes are chosen so every query has real output
 * (windowed queries need tens of seconds of event time, at 10,000 events per second).
 */
import { runJob } from '@sluice/core';
import { describe, expect, it } from 'vitest';
import { type NexmarkConfig, nexmarkConfig, nexmarkEvent } from '../generator.ts';
import type { Auction, Bid, Person } from '../model.ts';
import { q0Plain } from './q0.ts';
import { q1Plain } from './q1.ts';
import { q2Plain } from './q2.ts';
import { type Q3Out, q3Plain } from './q3.ts';
import { type Q4Out, q4Plain } from './q4.ts';
import { type Q5Out, q5Plain } from './q5.ts';
import { type Q7Out, q7Plain } from './q7.ts';
import { type Q8Out, q8Plain } from './q8.ts';
import { type Q9Out, q9Plain } from './q9.ts';
import { type Q11Out, q11Plain } from './q11.ts';
import { type QueryArgs, RESULTS } from './query-io.ts';

type Plain = (config: NexmarkConfig, events: number, emit: (out: object) => void) => void;

interface QueryCase {
  readonly name: string;
  /** The job module, relative to this file. */
  readonly module: string;
  readonly plain: Plain;
  readonly events: number;
  /** The reference must give at least this many results, so that no comparison passes vacuously. */
  readonly minResults: number;
  /** ... spread over at least this many windows (expiry instants, bidders), where that applies. */
  readonly minGroups?: { readonly of: (out: object) => number; readonly count: number };
  /** With `groupSizes`: every combination of the two (default: DEFAULT_RUNS). */
  readonly parallelisms?: readonly number[];
  /** Default: GROUP_SIZES. */
  readonly groupSizes?: readonly number[];
}

/** In order, and shuffled within groups of 64 (up to 7 ms of disorder). */
const GROUP_SIZES = [1, 64] as const;

/** [out-of-order group size, parallelism] of each run of a query. */
const DEFAULT_RUNS = [
  [1, 2],
  [64, 1],
  [64, 4],
] as const;

function field(name: string): (out: object) => number {
  return (out) => (out as Record<string, number>)[name] as number;
}

const CASES: readonly QueryCase[] = [
  { name: 'q0', module: './q0.ts', plain: q0Plain, events: 20_000, minResults: 18_000 },
  { name: 'q1', module: './q1.ts', plain: q1Plain, events: 20_000, minResults: 18_000 },
  // The same query with a rebalance between source and map: the same answer (tested where the
  // rebalance moves records between subtasks).
  {
    name: 'q1-rebalance',
    module: './q1-rebalance.ts',
    plain: q1Plain,
    events: 20_000,
    minResults: 18_000,
    parallelisms: [2, 4],
    groupSizes: [64],
  },
  { name: 'q2', module: './q2.ts', plain: q2Plain, events: 50_000, minResults: 150 },
  {
    name: 'q2-rebalance',
    module: './q2-rebalance.ts',
    plain: q2Plain,
    events: 50_000,
    minResults: 150,
    parallelisms: [2, 4],
    groupSizes: [64],
  },
  { name: 'q3', module: './q3.ts', plain: q3Plain, events: 50_000, minResults: 300 },
  {
    name: 'q4',
    module: './q4.ts',
    plain: q4Plain,
    events: 50_000,
    minResults: 2000,
    minGroups: { of: field('time'), count: 2000 },
  },
  {
    name: 'q5',
    module: './q5.ts',
    plain: q5Plain,
    events: 200_000,
    minResults: 14,
    minGroups: { of: field('windowEnd'), count: 14 },
  },
  {
    name: 'q7',
    module: './q7.ts',
    plain: q7Plain,
    events: 400_000,
    minResults: 4,
    minGroups: { of: (out) => Math.floor(field('dateTime')(out) / 10_000), count: 4 },
  },
  {
    name: 'q8',
    module: './q8.ts',
    plain: q8Plain,
    events: 200_000,
    minResults: 1000,
    minGroups: { of: field('windowStart'), count: 2 },
  },
  { name: 'q9', module: './q9.ts', plain: q9Plain, events: 50_000, minResults: 2000 },
  {
    name: 'q11',
    module: './q11.ts',
    plain: q11Plain,
    events: 50_000,
    minResults: 500,
    minGroups: { of: field('bidder'), count: 500 },
  },
];

/** Results as a multiset: each flat record with its keys in a fixed order, sorted by that JSON. */
function canonical(records: readonly object[]): string[] {
  return records.map((r) => JSON.stringify(r, Object.keys(r).sort())).sort();
}

const references = new Map<string, string[]>();

function reference(query: QueryCase, outOfOrderGroupSize: number): string[] {
  const id = `${query.name}/${outOfOrderGroupSize}`;
  let expected = references.get(id);
  if (expected === undefined) {
    const out: object[] = [];
    query.plain(nexmarkConfig({ outOfOrderGroupSize }), query.events, (record) => out.push(record));
    expect(out.length).toBeGreaterThanOrEqual(query.minResults);
    if (query.minGroups !== undefined) {
      expect(new Set(out.map(query.minGroups.of)).size).toBeGreaterThanOrEqual(query.minGroups.count);
    }
    expected = canonical(out);
    references.set(id, expected);
  }
  return expected;
}

describe.each(CASES)('nexmark $name', (query) => {
  // Not every combination (each job run costs a second or two of worker start-up): in order at
  // parallelism 2, shuffled at 1 and 4, unless a case names its own.
  const runs =
    query.parallelisms === undefined && query.groupSizes === undefined
      ? DEFAULT_RUNS
      : (query.groupSizes ?? GROUP_SIZES).flatMap((groupSize) =>
          (query.parallelisms ?? [1, 2, 4]).map((parallelism) => [groupSize, parallelism] as const),
        );
  it.each(runs)(
    `${query.events.toLocaleString('en-US')} events, out-of-order groups of %i, parallelism %i: as the plain loop`,
    async (outOfOrderGroupSize, parallelism) => {
      const expected = reference(query, outOfOrderGroupSize);
      const args: QueryArgs = { events: query.events, outOfOrderGroupSize, output: 'collect' };
      const result = await runJob<QueryArgs>(new URL(query.module, import.meta.url), { parallelism, args });
      expect(result.lateRecordsDropped).toBe(0);
      const actual = canonical(result.collected<object>(RESULTS));
      expect(actual.length).toBe(expected.length);
      expect(actual).toEqual(expected);
    },
  );
});

/**
 * The plain loops stream (watermarks, eviction, bids before their auction); here they are checked
 * against the queries computed the obvious way, over all the events at once, as SQL on a table
 * would: so that job and loop cannot agree on a mistake of the loop's.
 */
describe('the plain loops against whole-input answers', () => {
  const EVENTS = 100_000;
  const config = nexmarkConfig({ outOfOrderGroupSize: 64 });
  const people: Person[] = [];
  const auctions: Auction[] = [];
  const bids: Bid[] = [];
  for (let n = 0; n < EVENTS; n++) {
    const event = nexmarkEvent(n, config);
    if (event.kind === 'person') people.push(event.person);
    else if (event.kind === 'auction') auctions.push(event.auction);
    else bids.push(event.bid);
  }
  function run<T extends object>(plain: (c: NexmarkConfig, n: number, emit: (out: T) => void) => void): T[] {
    const out: T[] = [];
    plain(config, EVENTS, (record) => out.push(record));
    return out;
  }
  function groupBy<T, K>(items: readonly T[], key: (item: T) => K): Map<K, T[]> {
    const groups = new Map<K, T[]>();
    for (const item of items) {
      const k = key(item);
      const group = groups.get(k);
      if (group === undefined) groups.set(k, [item]);
      else group.push(item);
    }
    return groups;
  }
  const windowOf = (ts: number, size: number): number => ts - (ts % size);

  it('q3: local sellers of category 10', () => {
    const byId = new Map(people.map((p) => [p.id, p]));
    const expected: Q3Out[] = [];
    for (const a of auctions) {
      const p = byId.get(a.seller);
      if (a.category === 10 && p !== undefined && ['OR', 'ID', 'CA'].includes(p.state)) {
        expected.push({ name: p.name, city: p.city, state: p.state, auctionId: a.id });
      }
    }
    expect(expected.length).toBeGreaterThan(500);
    expect(canonical(run(q3Plain))).toEqual(canonical(expected));
  });

  const bidsByAuction = groupBy(bids, (b) => b.auction);
  const winners: Q9Out[] = [];
  for (const a of auctions) {
    const inTime = (bidsByAuction.get(a.id) ?? []).filter(
      (b) => b.dateTime >= a.dateTime && b.dateTime <= a.expires,
    );
    inTime.sort((x, y) => y.price - x.price || x.dateTime - y.dateTime || x.bidder - y.bidder);
    const w = inTime[0];
    if (w === undefined) continue;
    const { description: _d, extra: _e, ...auction } = a;
    winners.push({ ...auction, bidder: w.bidder, price: w.price, bidDateTime: w.dateTime });
  }

  it('q9: the highest in-time bid of each auction', () => {
    expect(winners.length).toBeGreaterThan(4000);
    expect(canonical(run(q9Plain))).toEqual(canonical(winners));
  });

  it('q4: the last average per category is the mean of its winning prices', () => {
    const changelog = run(q4Plain);
    const last = new Map<number, Q4Out>();
    for (const r of changelog) if ((last.get(r.category)?.time ?? -1) < r.time) last.set(r.category, r);
    const expected = [...groupBy(winners, (w) => w.category)].map(([category, won]) => ({
      category,
      auctions: won.length,
      averagePrice: won.reduce((s, w) => s + w.price, 0) / won.length,
    }));
    expect(expected.length).toBe(5);
    expect(
      [...last.values()]
        .map(({ category, auctions: n, averagePrice }) => ({ category, auctions: n, averagePrice }))
        .sort((a, b) => a.category - b.category),
    ).toEqual(expected.sort((a, b) => a.category - b.category));
    // One record per category and expiry instant with a winner.
    expect(changelog.length).toBe(new Set(winners.map((w) => `${w.category}/${w.expires}`)).size);
  });

  it('q5: the auctions with most bids per sliding window', () => {
    const counts = new Map<number, Map<number, number>>();
    for (const b of bids) {
      for (let start = windowOf(b.dateTime, 2000); start > b.dateTime - 10_000; start -= 2000) {
        const perAuction = counts.get(start) ?? new Map<number, number>();
        perAuction.set(b.auction, (perAuction.get(b.auction) ?? 0) + 1);
        counts.set(start, perAuction);
      }
    }
    const expected: Q5Out[] = [];
    for (const [start, perAuction] of counts) {
      const max = Math.max(...perAuction.values());
      for (const [auction, n] of perAuction) {
        if (n === max) expected.push({ auction, count: n, windowStart: start, windowEnd: start + 10_000 });
      }
    }
    expect(expected.length).toBeGreaterThanOrEqual(9);
    expect(canonical(run(q5Plain))).toEqual(canonical(expected));
  });

  it('q7: the highest bids per tumbling window', () => {
    const expected: Q7Out[] = [];
    for (const inWindow of groupBy(bids, (b) => windowOf(b.dateTime, 10_000)).values()) {
      const max = Math.max(...inWindow.map((b) => b.price));
      for (const b of inWindow) {
        if (b.price === max) {
          expected.push({
            auction: b.auction,
            bidder: b.bidder,
            price: b.price,
            dateTime: b.dateTime,
            extra: b.extra,
          });
        }
      }
    }
    expect(expected.length).toBeGreaterThanOrEqual(1);
    expect(canonical(run(q7Plain))).toEqual(canonical(expected));
  });

  it('q8: people who registered and sold in the same window', () => {
    const sellers = new Set(auctions.map((a) => `${a.seller}/${windowOf(a.dateTime, 10_000)}`));
    const expected: Q8Out[] = people
      .filter((p) => sellers.has(`${p.id}/${windowOf(p.dateTime, 10_000)}`))
      .map((p) => ({ id: p.id, name: p.name, windowStart: windowOf(p.dateTime, 10_000) }));
    expect(expected.length).toBeGreaterThan(500);
    expect(canonical(run(q8Plain))).toEqual(canonical(expected));
  });

  it('q11: bidder sessions split at gaps of more than 10 s', () => {
    const expected: Q11Out[] = [];
    for (const [bidder, own] of groupBy(bids, (b) => b.bidder)) {
      const times = own.map((b) => b.dateTime).sort((a, b) => a - b);
      let start = times[0] as number;
      let last = start;
      let count = 0;
      for (const t of times) {
        if (t > last + 10_000) {
          expected.push({ bidder, bidCount: count, sessionStart: start, sessionEnd: last + 10_000 });
          start = t;
          count = 0;
        }
        last = t;
        count++;
      }
      expected.push({ bidder, bidCount: count, sessionStart: start, sessionEnd: last + 10_000 });
    }
    expect(expected.length).toBeGreaterThan(1000);
    expect(canonical(run(q11Plain))).toEqual(canonical(expected));
  });
});
