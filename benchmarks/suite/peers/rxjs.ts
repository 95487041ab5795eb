/**
 * The RxJS peers: q0, q1, q2, q5 and q7 as RxJS pipelines over a synchronous Observable of
 * Nexmark events, as one would write them with RxJS 7 (`filter`, `map`; event-time windows as
 * a `scan` over window state, whose closed windows `concatMap` flattens). Single-threaded.
 */
import { concat, concatMap, filter, map, Observable, of, scan } from 'rxjs';
import { type NexmarkConfig, nexmarkEvent } from '../../nexmark/generator.ts';
import type { Bid, NexmarkEvent } from '../../nexmark/model.ts';
import type { PeerQuery } from '../contestant.ts';
import { HighestBid, HotItems, type WindowState } from './windows.ts';

function events$(config: NexmarkConfig, events: number): Observable<NexmarkEvent> {
  return new Observable<NexmarkEvent>((subscriber) => {
    for (let n = 0; n < events && !subscriber.closed; n++) subscriber.next(nexmarkEvent(n, config));
    subscriber.complete();
  });
}

const isBid = (event: NexmarkEvent): event is Extract<NexmarkEvent, { kind: 'bid' }> => event.kind === 'bid';

function drain<T>(stream: Observable<T>, emit: (out: unknown) => void): Promise<void> {
  return new Promise((resolve, reject) => {
    stream.subscribe({ next: emit, error: reject, complete: resolve });
  });
}

/** Event-time windows: the state takes each event; closed windows come out, and the rest at the end. */
function windowed<O>(source: Observable<NexmarkEvent>, state: WindowState<O>): Observable<O> {
  const END = Symbol('end');
  return concat(source, of(END)).pipe(
    scan((_closed: O[], event: NexmarkEvent | typeof END) => {
      const out: O[] = [];
      if (event === END) state.finish(out);
      else state.add(event, out);
      return out;
    }, []),
    concatMap((closed) => closed),
  );
}

export const rxjsPeers: Record<string, PeerQuery> = {
  q0: (config, events, emit) =>
    drain(
      events$(config, events).pipe(
        filter(isBid),
        map((e): Bid => e.bid),
      ),
      emit,
    ),
  q1: (config, events, emit) =>
    drain(
      events$(config, events).pipe(
        filter(isBid),
        map(({ bid }) => ({
          auction: bid.auction,
          bidder: bid.bidder,
          price: Math.floor((bid.price * 908) / 1000),
          dateTime: bid.dateTime,
          extra: bid.extra,
        })),
      ),
      emit,
    ),
  q2: (config, events, emit) =>
    drain(
      events$(config, events).pipe(
        filter(isBid),
        filter(({ bid }) => bid.auction % 123 === 0),
        map(({ bid }) => ({ auction: bid.auction, price: bid.price })),
      ),
      emit,
    ),
  q5: (config, events, emit) => drain(windowed(events$(config, events), new HotItems(config)), emit),
  q7: (config, events, emit) => drain(windowed(events$(config, events), new HighestBid(config)), emit),
};
