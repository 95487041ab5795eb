import type { JoinArgs, Joined, Side } from './jobs/joins.ts';
import { copies, GAP, SIZE, SLIDE } from './jobs/joins.ts';

/*
 * The answers of the jobs in jobs/joins.ts, computed with plain loops over the input, for input
 * in which no record is late (see `sidesArbitrary` in joins.test.ts).
 */

interface Group {
  readonly key: string;
  readonly maxTimestamp: number;
  readonly left: Side[];
  readonly right: Side[];
}

/** Every (key, window) with the records of each side in it. */
function windowGroups(args: JoinArgs): Group[] {
  const all = [...args.left.map((s) => ({ s, left: true })), ...args.right.map((s) => ({ s, left: false }))];
  const groups: Group[] = [];
  if (args.assigner === 'session') {
    const byKey = new Map<string, typeof all>();
    for (const e of all) byKey.set(e.s.key, [...(byKey.get(e.s.key) ?? []), e]);
    for (const [key, list] of byKey) {
      list.sort((a, b) => a.s.ts - b.s.ts);
      let end = Number.NEGATIVE_INFINITY;
      let current: Group | undefined;
      for (const e of list) {
        // A session [ts, ts + gap) merges with the ones it overlaps or touches.
        if (current === undefined || e.s.ts > end) {
          current = { key, maxTimestamp: 0, left: [], right: [] };
          groups.push(current);
        }
        end = Math.max(end, e.s.ts + GAP);
        (current as { maxTimestamp: number }).maxTimestamp = end - 1;
        (e.left ? current.left : current.right).push(e.s);
      }
    }
    return groups;
  }
  const byWindow = new Map<string, Group>();
  for (const e of all) {
    const starts: number[] = [];
    if (args.assigner === 'tumbling') starts.push(Math.floor(e.s.ts / SIZE) * SIZE);
    else
      for (let start = Math.floor(e.s.ts / SLIDE) * SLIDE; start > e.s.ts - SIZE; start -= SLIDE)
        starts.push(start);
    for (const start of starts) {
      const id = `${e.s.key}|${start}`;
      let group = byWindow.get(id);
      if (group === undefined) {
        group = { key: e.s.key, maxTimestamp: start + SIZE - 1, left: [], right: [] };
        byWindow.set(id, group);
      }
      (e.left ? group.left : group.right).push(e.s);
    }
  }
  return [...byWindow.values()];
}

function ids(side: readonly Side[]): string {
  return side
    .map((s) => s.id)
    .sort((a, b) => a - b)
    .join(',');
}

/** Whether a right record at `r` falls in the interval of a left record at `l`. */
function inInterval(args: JoinArgs, l: number, r: number): boolean {
  const low = l + args.lowerMs!;
  const high = l + args.upperMs!;
  return (args.lowerExclusive ? r > low : r >= low) && (args.upperExclusive ? r < high : r <= high);
}

export function expectedJoin(args: JoinArgs): Joined[] {
  const out: Joined[] = [];
  if (args.kind === 'interval') {
    for (const l of args.left) {
      for (const r of args.right) {
        if (l.key === r.key && inInterval(args, l.ts, r.ts)) {
          out.push({ what: `${l.key}|${l.id}|${r.id}`, ts: Math.max(l.ts, r.ts) });
        }
      }
    }
    return out;
  }
  for (const g of windowGroups(args)) {
    if (args.kind === 'coGroup') {
      out.push({ what: `${g.key}|${ids(g.left)}|${ids(g.right)}`, ts: g.maxTimestamp });
      continue;
    }
    for (const l of g.left) {
      for (const r of g.right) {
        const n = args.kind === 'join' ? 1 : copies(l, r);
        for (let i = 0; i < n; i++) out.push({ what: `${l.key}|${l.id}|${r.id}`, ts: g.maxTimestamp });
      }
    }
  }
  return out;
}

export function canonical(joined: readonly Joined[]): string[] {
  return joined.map((j) => `${j.what}@${j.ts}`).sort();
}
