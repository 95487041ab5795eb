import type { Event, FunctionKind, WindowResult } from './jobs/windows.ts';
import { GAP, SIZE, SLIDE } from './jobs/windows.ts';

/** The windows of one timestamp, computed independently of the runtime's assigners. */
export function windowsOf(kind: 'tumbling' | 'sliding', ts: number): Array<[number, number]> {
  const floorTo = (t: number, step: number): number => Math.floor(t / step) * step;
  if (kind === 'tumbling') {
    const start = floorTo(ts, SIZE);
    return [[start, start + SIZE]];
  }
  const windows: Array<[number, number]> = [];
  for (let start = floorTo(ts, SLIDE); start > ts - SIZE; start -= SLIDE) windows.push([start, start + SIZE]);
  return windows;
}

function render(fn: FunctionKind, events: readonly Event[]): string {
  const values = events.map((e) => e.v);
  if (fn === 'reduce') return String(values.reduce((a, b) => a + b, 0));
  if (fn === 'aggregate') return `${values.length}/${values.reduce((a, b) => a + b, 0)}`;
  return [...values].sort((a, b) => a - b).join(',');
}

/** Every window's result when no record is late: a plain loop over the input. */
export function expectedWindows(
  events: readonly Event[],
  kind: 'tumbling' | 'sliding' | 'session',
  fn: FunctionKind,
): WindowResult[] {
  const groups = new Map<string, { key: string; start: number; end: number; events: Event[] }>();
  if (kind === 'session') {
    const byKey = new Map<string, Event[]>();
    for (const e of events) byKey.set(e.key, [...(byKey.get(e.key) ?? []), e]);
    for (const [key, list] of byKey) {
      const sorted = [...list].sort((a, b) => a.ts - b.ts);
      let current: { key: string; start: number; end: number; events: Event[] } | undefined;
      for (const e of sorted) {
        // Sessions [ts, ts + gap) merge when they overlap or touch.
        if (current !== undefined && e.ts <= current.end) {
          current.end = Math.max(current.end, e.ts + GAP);
          current.events.push(e);
        } else {
          current = { key, start: e.ts, end: e.ts + GAP, events: [e] };
          groups.set(`${key}|${e.ts}`, current);
        }
      }
    }
  } else {
    for (const e of events) {
      for (const [start, end] of windowsOf(kind, e.ts)) {
        const id = `${e.key}|${start}`;
        const group = groups.get(id) ?? { key: e.key, start, end, events: [] };
        group.events.push(e);
        groups.set(id, group);
      }
    }
  }
  return [...groups.values()].map((g) => ({
    key: g.key,
    start: g.start,
    end: g.end,
    value: render(fn, g.events),
  }));
}

export function canonical(results: readonly WindowResult[]): string[] {
  return results.map((r) => `${r.key}|${r.start}|${r.end}|${r.value}`).sort();
}
