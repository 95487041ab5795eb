/**
 * The Node stream peers: q0, q1, q2, q5 and q7 as `stream.pipeline`s of object-mode streams
 * (a Readable of events, Transforms, a Writable sink), as one would write them with
 * `node:stream`. High-water marks of 1024 objects (the default 16 costs far more wake-ups).
 */
import { Readable, Transform, type TransformCallback, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { type NexmarkConfig, nexmarkEvent } from '../../nexmark/generator.ts';
import type { NexmarkEvent } from '../../nexmark/model.ts';
import type { PeerQuery } from '../contestant.ts';
import { HighestBid, HotItems, type WindowState } from './windows.ts';

const HIGH_WATER_MARK = 1024;

function eventStream(config: NexmarkConfig, events: number): Readable {
  let n = 0;
  return new Readable({
    objectMode: true,
    highWaterMark: HIGH_WATER_MARK,
    read() {
      while (n < events) {
        if (!this.push(nexmarkEvent(n++, config))) return;
      }
      this.push(null);
    },
  });
}

/** A Transform calling `fn` per record; `fn` pushes what it outputs. */
function through(
  fn: (record: unknown, push: (out: unknown) => void) => void,
  flush?: (push: (out: unknown) => void) => void,
): Transform {
  return new Transform({
    objectMode: true,
    highWaterMark: HIGH_WATER_MARK,
    transform(record: unknown, _encoding: BufferEncoding, callback: TransformCallback) {
      fn(record, (out) => this.push(out));
      callback();
    },
    flush(callback: TransformCallback) {
      flush?.((out) => this.push(out));
      callback();
    },
  });
}

function sink(emit: (out: unknown) => void): Writable {
  return new Writable({
    objectMode: true,
    highWaterMark: HIGH_WATER_MARK,
    write(record: unknown, _encoding: BufferEncoding, callback: (error?: Error | null) => void) {
      emit(record);
      callback();
    },
  });
}

function windowed<O>(state: WindowState<O>): Transform {
  const out: O[] = [];
  return through(
    (event, push) => {
      state.add(event as NexmarkEvent, out);
      for (const o of out) push(o);
      out.length = 0;
    },
    (push) => {
      state.finish(out);
      for (const o of out) push(o);
      out.length = 0;
    },
  );
}

export const nodeStreamPeers: Record<string, PeerQuery> = {
  q0: (config, events, emit) =>
    pipeline(
      eventStream(config, events),
      through((e, push) => {
        const event = e as NexmarkEvent;
        if (event.kind === 'bid') push(event.bid);
      }),
      sink(emit),
    ),
  q1: (config, events, emit) =>
    pipeline(
      eventStream(config, events),
      through((e, push) => {
        const event = e as NexmarkEvent;
        if (event.kind !== 'bid') return;
        const bid = event.bid;
        push({
          auction: bid.auction,
          bidder: bid.bidder,
          price: Math.floor((bid.price * 908) / 1000),
          dateTime: bid.dateTime,
          extra: bid.extra,
        });
      }),
      sink(emit),
    ),
  q2: (config, events, emit) =>
    pipeline(
      eventStream(config, events),
      through((e, push) => {
        const event = e as NexmarkEvent;
        if (event.kind === 'bid' && event.bid.auction % 123 === 0) {
          push({ auction: event.bid.auction, price: event.bid.price });
        }
      }),
      sink(emit),
    ),
  q5: (config, events, emit) =>
    pipeline(eventStream(config, events), windowed(new HotItems(config)), sink(emit)),
  q7: (config, events, emit) =>
    pipeline(eventStream(config, events), windowed(new HighestBid(config)), sink(emit)),
};
