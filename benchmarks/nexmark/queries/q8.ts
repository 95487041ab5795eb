/**
 * Nexmark Query 8, monitor new users: the people who registered and opened an auction in the same
 * tumbling window of 10 s (nexmark-flink `q8.sql`: people and auction sellers, each grouped per
 * window, joined on `id = seller` and the window).
 *
 * One keyed window: people and auctions are mapped to one record type, keyed by person id (the
 * auction's seller), and a tumbling-window `aggregate` notes per person and window the name (if
 * they registered in it) and whether they sold; windows with both give a result.
 */
import { type AggregateFunction, type Collector, defineJob, seconds, tumbling } from '@sluice/core';
import { maxOutOfOrdernessMs, type NexmarkConfig, nexmarkEvent } from '../generator.ts';
import { eventTimestamp, type NexmarkEvent } from '../model.ts';
import { nexmarkInput, type QueryArgs, queryOutput } from './query-io.ts';

export interface Q8Out {
  readonly id: number;
  readonly name: string;
  readonly windowStart: number;
}

const WINDOW_MS = seconds(10);

/** A registration (with the name) or an auction (by seller `id`, no name). */
interface NewUserInput {
  readonly id: number;
  readonly name: string | undefined;
}

/** Per person and window: the name if they registered in it, and whether they opened an auction. */
interface Seen {
  readonly name: string | undefined;
  readonly sold: boolean;
}

const NOTHING_SEEN: Seen = Object.freeze({ name: undefined, sold: false });

const seen: AggregateFunction<NewUserInput, Seen, Seen> = {
  createAccumulator: () => NOTHING_SEEN,
  add: (input, acc) =>
    input.name === undefined ? { name: acc.name, sold: true } : { name: input.name, sold: acc.sold },
  getResult: (acc) => acc,
};

function peopleAndSellers(event: NexmarkEvent, out: Collector<NewUserInput>): void {
  if (event.kind === 'person') out.collect({ id: event.person.id, name: event.person.name });
  else if (event.kind === 'auction') out.collect({ id: event.auction.seller, name: undefined });
}

function found(newUser: Q8Out | null, out: Collector<Q8Out>): void {
  if (newUser !== null) out.collect(newUser);
}

export default defineJob<QueryArgs>({ name: 'nexmark-q8' }, (env, args) => {
  const newUsers = nexmarkInput(env, args)
    .flatMap(peopleAndSellers)
    .name('people-and-sellers')
    .keyBy((input) => input.id)
    .window(tumbling(WINDOW_MS))
    .aggregate(seen, (id, window, s): Q8Out | null =>
      s.name !== undefined && s.sold ? { id, name: s.name, windowStart: window.start } : null,
    )
    .uid('registered-and-sold')
    .flatMap(found)
    .name('new-users');
  queryOutput(newUsers, args);
});

/**
 * The same by hand: per open window, the people who registered (id to name) and the sellers; a
 * watermark (highest event time seen minus the generator's disorder) closes windows.
 */
export function q8Plain(config: NexmarkConfig, events: number, emit: (out: Q8Out) => void): void {
  const size = 10_000;
  const disorderMs = maxOutOfOrdernessMs(config);
  const open = new Map<number, { people: Map<number, string>; sellers: Set<number> }>();
  let maxTimestamp = Number.NEGATIVE_INFINITY;
  const close = (start: number, window: { people: Map<number, string>; sellers: Set<number> }): void => {
    for (const [id, name] of window.people)
      if (window.sellers.has(id)) emit({ id, name, windowStart: start });
  };
  for (let n = 0; n < events; n++) {
    const event = nexmarkEvent(n, config);
    const ts = eventTimestamp(event);
    if (ts > maxTimestamp) maxTimestamp = ts;
    if (event.kind !== 'bid') {
      const start = ts - (ts % size);
      let window = open.get(start);
      if (window === undefined) {
        window = { people: new Map(), sellers: new Set() };
        open.set(start, window);
      }
      if (event.kind === 'person') window.people.set(event.person.id, event.person.name);
      else window.sellers.add(event.auction.seller);
    }
    if ((n & 1023) === 1023) {
      const watermark = maxTimestamp - disorderMs - 1;
      for (const [start, window] of open) {
        if (start + size - 1 > watermark) continue;
        close(start, window);
        open.delete(start);
      }
    }
  }
  for (const [start, window] of open) close(start, window);
}
