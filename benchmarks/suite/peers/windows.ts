/**
 * The event-time state of q5 and q7 as plain classes, for the peers (RxJS, Node streams) to
 * drive from their own operators: the same computation as `q5Plain` / `q7Plain` (windows, a
 * watermark of highest event time minus the generator's disorder, checked every 1024 events),
 * so a peer differs from the plain loop only in how records travel.
 */
import { maxOutOfOrdernessMs, type NexmarkConfig } from '../../nexmark/generator.ts';
import { eventTimestamp, type NexmarkEvent } from '../../nexmark/model.ts';
import type { Q5Out } from '../../nexmark/queries/q5.ts';
import type { Q7Out } from '../../nexmark/queries/q7.ts';

/** Event-time operator state: `add` each event in order, `finish` at the end; outputs go to `out`. */
export interface WindowState<O> {
  add(event: NexmarkEvent, out: O[]): void;
  finish(out: O[]): void;
}

/** q5: bids per auction in sliding windows of 10 s every 2 s; each window's most-bid auctions. */
export class HotItems implements WindowState<Q5Out> {
  readonly #disorderMs: number;
  readonly #open = new Map<number, Map<number, number>>();
  #maxTimestamp = Number.NEGATIVE_INFINITY;
  #n = 0;

  constructor(config: NexmarkConfig) {
    this.#disorderMs = maxOutOfOrdernessMs(config);
  }

  add(event: NexmarkEvent, out: Q5Out[]): void {
    const ts = eventTimestamp(event);
    if (ts > this.#maxTimestamp) this.#maxTimestamp = ts;
    if (event.kind === 'bid') {
      const auction = event.bid.auction;
      for (let start = ts - (ts % 2000); start > ts - 10_000; start -= 2000) {
        let counts = this.#open.get(start);
        if (counts === undefined) {
          counts = new Map();
          this.#open.set(start, counts);
        }
        counts.set(auction, (counts.get(auction) ?? 0) + 1);
      }
    }
    if ((this.#n++ & 1023) === 1023) {
      const watermark = this.#maxTimestamp - this.#disorderMs - 1;
      for (const [start, counts] of this.#open) {
        if (start + 10_000 - 1 <= watermark) {
          this.#close(start, counts, out);
          this.#open.delete(start);
        }
      }
    }
  }

  finish(out: Q5Out[]): void {
    for (const [start, counts] of this.#open) this.#close(start, counts, out);
    this.#open.clear();
  }

  #close(start: number, counts: Map<number, number>, out: Q5Out[]): void {
    let max = 0;
    for (const n of counts.values()) if (n > max) max = n;
    for (const [auction, n] of counts) {
      if (n === max) out.push({ auction, count: n, windowStart: start, windowEnd: start + 10_000 });
    }
  }
}

/** q7: the highest-priced bids of each tumbling window of 10 s. */
export class HighestBid implements WindowState<Q7Out> {
  readonly #disorderMs: number;
  readonly #open = new Map<number, Q7Out[]>();
  #maxTimestamp = Number.NEGATIVE_INFINITY;
  #n = 0;

  constructor(config: NexmarkConfig) {
    this.#disorderMs = maxOutOfOrdernessMs(config);
  }

  add(event: NexmarkEvent, out: Q7Out[]): void {
    const ts = eventTimestamp(event);
    if (ts > this.#maxTimestamp) this.#maxTimestamp = ts;
    if (event.kind === 'bid') {
      const b = event.bid;
      const start = ts - (ts % 10_000);
      const top = this.#open.get(start);
      const bid = {
        auction: b.auction,
        bidder: b.bidder,
        price: b.price,
        dateTime: b.dateTime,
        extra: b.extra,
      };
      if (top === undefined || b.price > top[0]!.price) this.#open.set(start, [bid]);
      else if (b.price === top[0]!.price) top.push(bid);
    }
    if ((this.#n++ & 1023) === 1023) {
      const watermark = this.#maxTimestamp - this.#disorderMs - 1;
      for (const [start, bids] of this.#open) {
        if (start + 10_000 - 1 > watermark) continue;
        for (const bid of bids) out.push(bid);
        this.#open.delete(start);
      }
    }
  }

  finish(out: Q7Out[]): void {
    for (const bids of this.#open.values()) for (const bid of bids) out.push(bid);
    this.#open.clear();
  }
}
