/**
 * Nexmark Query 9, winning bids: for each auction, the highest bid made while it was open
 * (`auction.dateTime <= bid.dateTime <= auction.expires`), emitted when the auction expires
 * (nexmark-flink `q9.sql`: `ROW_NUMBER() OVER (PARTITION BY A.id ORDER BY B.price DESC,
 * B.dateTime ASC) = 1`). Ties on price go to the earliest bid, then to the lowest bidder id, so
 * the answer never depends on arrival order. Auctions without a bid in time have no winner.
 *
 * A KeyedProcessFunction keyed by auction id keeps the auction, the best bid so far, and the bids
 * that arrive before their auction (the generator bids up to `auctionIdLead` auctions ahead, and
 * shuffles events). An event-time timer at `expires` emits the winner; a timer at a waiting bid's
 * time drops it once the watermark shows its auction can no longer open early enough to count it.
 */
import {
  type Collector,
  type DataStream,
  defineJob,
  type KeyedProcessContext,
  type KeyedProcessFunction,
  listState,
  type OnTimerContext,
  type SingleOutputStream,
  valueState,
} from '@sluice/core';
import { maxOutOfOrdernessMs, type NexmarkConfig, nexmarkEvent } from '../generator.ts';
import type { Auction, NexmarkEvent } from '../model.ts';
import { nexmarkInput, type QueryArgs, queryOutput } from './query-io.ts';

/** An auction with its winning bid (the auction's padding and description are left out). */
export interface Q9Out {
  readonly id: number;
  readonly itemName: string;
  readonly initialBid: number;
  readonly reserve: number;
  readonly dateTime: number;
  readonly expires: number;
  readonly seller: number;
  readonly category: number;
  readonly bidder: number;
  readonly price: number;
  readonly bidDateTime: number;
}

type AuctionInfo = Omit<Q9Out, 'bidder' | 'price' | 'bidDateTime'>;

interface BidInfo {
  readonly bidder: number;
  readonly price: number;
  readonly dateTime: number;
}

type Q9Input =
  | { readonly kind: 'auction'; readonly auction: AuctionInfo }
  | { readonly kind: 'bid'; readonly auction: number; readonly bid: BidInfo };

function auctionInfo(a: Auction): AuctionInfo {
  return {
    id: a.id,
    itemName: a.itemName,
    initialBid: a.initialBid,
    reserve: a.reserve,
    dateTime: a.dateTime,
    expires: a.expires,
    seller: a.seller,
    category: a.category,
  };
}

/** Does `a` beat `b`? Higher price, then earlier, then lower bidder id. */
export function beats(a: BidInfo, b: BidInfo): boolean {
  if (a.price !== b.price) return a.price > b.price;
  if (a.dateTime !== b.dateTime) return a.dateTime < b.dateTime;
  return a.bidder < b.bidder;
}

function inTime(bid: BidInfo, auction: AuctionInfo): boolean {
  return bid.dateTime >= auction.dateTime && bid.dateTime <= auction.expires;
}

function winner(auction: AuctionInfo, bid: BidInfo): Q9Out {
  return { ...auction, bidder: bid.bidder, price: bid.price, bidDateTime: bid.dateTime };
}

class WinningBid implements KeyedProcessFunction<number, Q9Input, Q9Out> {
  readonly auction = valueState<AuctionInfo>('auction');
  readonly best = valueState<BidInfo>('best-bid');
  /** Bids that arrived before their auction. */
  readonly early = listState<BidInfo>('early-bids');

  processElement(input: Q9Input, ctx: KeyedProcessContext<number>, _out: Collector<Q9Out>): void {
    if (input.kind === 'auction') {
      const auction = input.auction;
      ctx.getState(this.auction).update(auction);
      ctx.timerService.registerEventTimeTimer(auction.expires);
      const early = ctx.getState(this.early);
      let best: BidInfo | undefined;
      for (const bid of early.get()) {
        if (inTime(bid, auction) && (best === undefined || beats(bid, best))) best = bid;
      }
      early.clear();
      if (best !== undefined) ctx.getState(this.best).update(best);
      return;
    }
    const bid = input.bid;
    const auction = ctx.getState(this.auction).value();
    if (auction === undefined) {
      // Its auction has not arrived (or has expired and been cleared). Once the watermark passes
      // the bid's time, any auction still to arrive opens after the bid: then the bid can go.
      ctx.getState(this.early).add(bid);
      ctx.timerService.registerEventTimeTimer(bid.dateTime);
    } else if (inTime(bid, auction)) {
      const best = ctx.getState(this.best);
      const current = best.value();
      if (current === undefined || beats(bid, current)) best.update(bid);
    }
  }

  onTimer(timestamp: number, ctx: OnTimerContext<number>, out: Collector<Q9Out>): void {
    const auctionState = ctx.getState(this.auction);
    const auction = auctionState.value();
    if (auction !== undefined) {
      if (timestamp !== auction.expires) return;
      const best = ctx.getState(this.best);
      const bid = best.value();
      if (bid !== undefined) out.collect(winner(auction, bid));
      auctionState.clear();
      best.clear();
      return;
    }
    const early = ctx.getState(this.early);
    const bids = early.get();
    if (bids.length > 0) early.update(bids.filter((bid) => bid.dateTime > timestamp));
  }
}

function auctionsAndBids(event: NexmarkEvent, out: Collector<Q9Input>): void {
  if (event.kind === 'auction') out.collect({ kind: 'auction', auction: auctionInfo(event.auction) });
  else if (event.kind === 'bid') {
    const b = event.bid;
    out.collect({
      kind: 'bid',
      auction: b.auction,
      bid: { bidder: b.bidder, price: b.price, dateTime: b.dateTime },
    });
  }
}

/** The winning bid of each auction, emitted at (and timestamped) its expiry. Shared with q4. */
export function winningBids(events: DataStream<NexmarkEvent>): SingleOutputStream<Q9Out> {
  return events
    .flatMap(auctionsAndBids)
    .name('auctions-and-bids')
    .keyBy((input) => (input.kind === 'auction' ? input.auction.id : input.auction))
    .process(new WinningBid())
    .name('winning-bid')
    .uid('winning-bid');
}

export default defineJob<QueryArgs>({ name: 'nexmark-q9' }, (env, args) => {
  queryOutput(winningBids(nexmarkInput(env, args)), args);
});

// ---------------------------------------------------------------------------------------------
// The plain loop.

/**
 * Winning bids by hand: open auctions with their best bid, bids waiting for their auction, and a
 * watermark (highest event time seen minus the generator's disorder): an auction is decided once
 * the watermark reaches its expiry, a waiting bid dropped once the watermark reaches its time.
 * Used by `q9Plain` and `q4Plain`.
 */
export class WinningBidsLoop {
  readonly #open = new Map<number, { readonly auction: AuctionInfo; best: BidInfo | undefined }>();
  readonly #early = new Map<number, BidInfo[]>();
  readonly #disorderMs: number;
  #maxTimestamp = Number.NEGATIVE_INFINITY;

  constructor(config: NexmarkConfig) {
    this.#disorderMs = maxOutOfOrdernessMs(config);
  }

  add(event: NexmarkEvent): void {
    if (event.kind === 'auction') {
      const a = event.auction;
      if (a.dateTime > this.#maxTimestamp) this.#maxTimestamp = a.dateTime;
      let best: BidInfo | undefined;
      for (const bid of this.#early.get(a.id) ?? []) {
        if (
          bid.dateTime >= a.dateTime &&
          bid.dateTime <= a.expires &&
          (best === undefined || beats(bid, best))
        )
          best = bid;
      }
      this.#early.delete(a.id);
      this.#open.set(a.id, { auction: auctionInfo(a), best });
    } else if (event.kind === 'bid') {
      const b = event.bid;
      if (b.dateTime > this.#maxTimestamp) this.#maxTimestamp = b.dateTime;
      const bid: BidInfo = { bidder: b.bidder, price: b.price, dateTime: b.dateTime };
      const open = this.#open.get(b.auction);
      if (open === undefined) {
        const early = this.#early.get(b.auction);
        if (early === undefined) this.#early.set(b.auction, [bid]);
        else early.push(bid);
      } else if (
        b.dateTime >= open.auction.dateTime &&
        b.dateTime <= open.auction.expires &&
        (open.best === undefined || beats(bid, open.best))
      ) {
        open.best = bid;
      }
    } else if (event.person.dateTime > this.#maxTimestamp) {
      this.#maxTimestamp = event.person.dateTime;
    }
  }

  /**
   * Decides the auctions the watermark has passed and forgets bids it has made useless; returns
   * the winners in order of expiry. (An auction that expired stays open until the next sweep: a
   * bid arriving meanwhile is after its expiry and does not count.)
   */
  sweep(): Q9Out[] {
    return this.#decide(this.#maxTimestamp - this.#disorderMs - 1);
  }

  /** At the end of the input: every auction still open, decided. */
  flush(): Q9Out[] {
    this.#early.clear();
    return this.#decide(Number.POSITIVE_INFINITY);
  }

  #decide(watermark: number): Q9Out[] {
    const won: Q9Out[] = [];
    for (const [id, { auction, best }] of this.#open) {
      if (auction.expires > watermark) continue;
      this.#open.delete(id);
      if (best !== undefined) won.push(winner(auction, best));
    }
    for (const [id, bids] of this.#early) {
      const keep = bids.filter((bid) => bid.dateTime > watermark);
      if (keep.length === 0) this.#early.delete(id);
      else if (keep.length < bids.length) this.#early.set(id, keep);
    }
    return won.sort((a, b) => a.expires - b.expires);
  }
}

export function q9Plain(config: NexmarkConfig, events: number, emit: (out: Q9Out) => void): void {
  const loop = new WinningBidsLoop(config);
  for (let n = 0; n < events; n++) {
    loop.add(nexmarkEvent(n, config));
    // Every 1,024 events, as the other loops: often enough to keep the open auctions few.
    if ((n & 1023) === 1023) for (const won of loop.sweep()) emit(won);
  }
  for (const won of loop.flush()) emit(won);
}
