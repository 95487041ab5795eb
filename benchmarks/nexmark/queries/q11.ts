/**
 * Nexmark Query 11, user sessions: how many bids each bidder makes per session, a session ending
 * after 10 s without a bid (nexmark-flink `q11.sql`: `GROUP BY bidder, SESSION(dateTime, 10 s)`
 * with `SESSION_START` and `SESSION_END`, the end being the last bid's time plus the gap).
 *
 * One keyed window: bids keyed by bidder into event-time session windows with `count()`.
 */
import { type Collector, count, defineJob, seconds, session } from '@sluice/core';
import { maxOutOfOrdernessMs, type NexmarkConfig, nexmarkEvent } from '../generator.ts';
import { type Bid, eventTimestamp, type NexmarkEvent } from '../model.ts';
import { nexmarkInput, type QueryArgs, queryOutput } from './query-io.ts';

export interface Q11Out {
  readonly bidder: number;
  readonly bidCount: number;
  /** The first bid's time. */
  readonly sessionStart: number;
  /** The last bid's time plus the gap (exclusive). */
  readonly sessionEnd: number;
}

const GAP_MS = seconds(10);

function bidsOnly(event: NexmarkEvent, out: Collector<Bid>): void {
  if (event.kind === 'bid') out.collect(event.bid);
}

export default defineJob<QueryArgs>({ name: 'nexmark-q11' }, (env, args) => {
  const sessions = nexmarkInput(env, args)
    .flatMap(bidsOnly)
    .name('bids')
    .keyBy((bid) => bid.bidder)
    .window(session(GAP_MS))
    .aggregate(
      count<Bid>(),
      (bidder, window, n): Q11Out => ({
        bidder,
        bidCount: n,
        sessionStart: window.start,
        sessionEnd: window.end,
      }),
    )
    .uid('bids-per-session');
  queryOutput(sessions, args);
});

interface OpenSession {
  start: number;
  end: number;
  bids: number;
}

/**
 * The same by hand: each bidder's open sessions (a bid opens `[time, time + gap)`, and sessions
 * that overlap or touch merge, as Flink's session windows do), and a watermark (highest event
 * time seen minus the generator's disorder): a session is done once the watermark reaches its
 * last millisecond. A bidder usually has one open session; disorder can briefly make two.
 */
export function q11Plain(config: NexmarkConfig, events: number, emit: (out: Q11Out) => void): void {
  const gap = 10_000;
  const disorderMs = maxOutOfOrdernessMs(config);
  const open = new Map<number, OpenSession[]>(); // bidder -> open sessions
  let maxTimestamp = Number.NEGATIVE_INFINITY;
  const done = (bidder: number, s: OpenSession): void =>
    emit({ bidder, bidCount: s.bids, sessionStart: s.start, sessionEnd: s.end });
  /** Emits and drops the bidder's sessions the watermark has passed; returns the rest. */
  const closeUpTo = (bidder: number, sessions: OpenSession[], watermark: number): OpenSession[] => {
    const rest: OpenSession[] = [];
    for (const s of sessions) {
      if (s.end - 1 <= watermark) done(bidder, s);
      else rest.push(s);
    }
    return rest;
  };
  for (let n = 0; n < events; n++) {
    const event = nexmarkEvent(n, config);
    const ts = eventTimestamp(event);
    if (ts > maxTimestamp) maxTimestamp = ts;
    const watermark = maxTimestamp - disorderMs - 1;
    if (event.kind === 'bid') {
      const bidder = event.bid.bidder;
      // Sessions the watermark has passed are closed before this bid can touch them.
      const sessions = closeUpTo(bidder, open.get(bidder) ?? [], watermark);
      const merged: OpenSession = { start: ts, end: ts + gap, bids: 1 };
      const kept: OpenSession[] = [];
      for (const s of sessions) {
        if (s.start <= merged.end && s.end >= merged.start) {
          merged.start = Math.min(merged.start, s.start);
          merged.end = Math.max(merged.end, s.end);
          merged.bids += s.bids;
        } else {
          kept.push(s);
        }
      }
      kept.push(merged);
      open.set(bidder, kept);
    }
    if ((n & 1023) === 1023) {
      for (const [bidder, sessions] of open) {
        const rest = closeUpTo(bidder, sessions, watermark);
        if (rest.length === 0) open.delete(bidder);
        else if (rest.length < sessions.length) open.set(bidder, rest);
      }
    }
  }
  for (const [bidder, sessions] of open) for (const s of sessions) done(bidder, s);
}
