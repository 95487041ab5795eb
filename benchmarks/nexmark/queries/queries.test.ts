/**
 * Every Nexmark query job against its plain-loop reference: at parallelism 1, 2 and 4, on events
 * in order and shuffled, the job's results must be exactly the loop's, as multisets. The input
 * is bounded and the watermark allows the generator's whole disorder, so no record is late and
 * the answer does not depend on arrival order. Sizes are chosen so every query has real output
 * (windowed queries need tens of seconds of event time, at 10,000 events per second).
 */
import { runJob } from '@sluice/core';
import { describe, expect, it } from 'vitest';
import { type NexmarkConfig, nexmarkConfig } from '../generator.ts';
import { q0Plain } from './q0.ts';
import { q1Plain } from './q1.ts';
import { q2Plain } from './q2.ts';
import { q3Plain } from './q3.ts';
import { q4Plain } from './q4.ts';
import { q5Plain } from './q5.ts';
import { q7Plain } from './q7.ts';
import { q8Plain } from './q8.ts';
import { q9Plain } from './q9.ts';
import { q11Plain } from './q11.ts';
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
  /** Default: 1, 2 and 4. */
  readonly parallelisms?: readonly number[];
  /** Default: GROUP_SIZES. */
  readonly groupSizes?: readonly number[];
}

/** In order, and shuffled within groups of 64 (up to 7 ms of disorder). */
const GROUP_SIZES = [1, 64] as const;

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
  const runs = (query.groupSizes ?? GROUP_SIZES).flatMap((groupSize) =>
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
