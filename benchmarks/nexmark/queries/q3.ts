/**
 * Nexmark Query 3, local item suggestion: who sells in category 10 in Oregon, Idaho or
 * California? The name, city and state of each such seller with the id of each such auction
 * (nexmark-flink `q3.sql`: an inner join of auctions and people on `seller = id`).
 *
 * A regular (not windowed) join, written as a KeyedProcessFunction keyed by person id: it keeps
 * the person once seen, and the auctions that arrive before their seller (the generator names
 * sellers up to `personIdLead` people ahead), and emits a pair as soon as both sides are there.
 * The output is the same in any arrival order.
 */
import {
  type Collector,
  defineJob,
  type KeyedProcessContext,
  type KeyedProcessFunction,
  listState,
  valueState,
} from '@sluice/core';
import { type NexmarkConfig, nexmarkEvent } from '../generator.ts';
import type { NexmarkEvent } from '../model.ts';
import { nexmarkInput, type QueryArgs, queryOutput } from './query-io.ts';

export interface Q3Out {
  readonly name: string;
  readonly city: string;
  readonly state: string;
  readonly auctionId: number;
}

const CATEGORY = 10;
const STATES: ReadonlySet<string> = new Set(['OR', 'ID', 'CA']);

interface LocalPerson {
  readonly name: string;
  readonly city: string;
  readonly state: string;
}

/** What the join reads: a person (with its details only if local), or a category-10 auction. */
type Q3Input =
  | { readonly kind: 'person'; readonly id: number; readonly local: LocalPerson | undefined }
  | { readonly kind: 'auction'; readonly id: number; readonly seller: number };

/** Stands for a person seen who lives elsewhere: their auctions never match. */
const ELSEWHERE = 'elsewhere';

class LocalItemJoin implements KeyedProcessFunction<number, Q3Input, Q3Out> {
  readonly person = valueState<LocalPerson | typeof ELSEWHERE>('person');
  /** Ids of auctions whose seller has not been seen yet. */
  readonly waiting = listState<number>('waiting-auctions');

  processElement(input: Q3Input, ctx: KeyedProcessContext<number>, out: Collector<Q3Out>): void {
    const person = ctx.getState(this.person);
    if (input.kind === 'person') {
      person.update(input.local ?? ELSEWHERE);
      const waiting = ctx.getState(this.waiting);
      const local = input.local;
      if (local !== undefined) {
        for (const auctionId of waiting.get()) out.collect(joined(local, auctionId));
      }
      waiting.clear();
      return;
    }
    const seller = person.value();
    if (seller === undefined) ctx.getState(this.waiting).add(input.id);
    else if (seller !== ELSEWHERE) out.collect(joined(seller, input.id));
  }
}

function joined(person: LocalPerson, auctionId: number): Q3Out {
  return { name: person.name, city: person.city, state: person.state, auctionId };
}

function peopleAndCategory10(event: NexmarkEvent, out: Collector<Q3Input>): void {
  if (event.kind === 'person') {
    const p = event.person;
    const local = STATES.has(p.state) ? { name: p.name, city: p.city, state: p.state } : undefined;
    out.collect({ kind: 'person', id: p.id, local });
  } else if (event.kind === 'auction' && event.auction.category === CATEGORY) {
    out.collect({ kind: 'auction', id: event.auction.id, seller: event.auction.seller });
  }
}

export default defineJob<QueryArgs>({ name: 'nexmark-q3' }, (env, args) => {
  const joinedStream = nexmarkInput(env, args)
    .flatMap(peopleAndCategory10)
    .name('people-and-category-10')
    .keyBy((input) => (input.kind === 'person' ? input.id : input.seller))
    .process(new LocalItemJoin())
    .name('join-on-seller')
    .uid('join-on-seller');
  queryOutput(joinedStream, args);
});

/**
 * The same by hand: a map of the people seen (details only for local ones) and of the auctions
 * waiting for their seller. Like the reference's regular join, it remembers every person; the
 * waiting auctions are only those whose seller has not appeared yet.
 */
export function q3Plain(config: NexmarkConfig, events: number, emit: (out: Q3Out) => void): void {
  const people = new Map<number, LocalPerson | null>();
  const waiting = new Map<number, number[]>();
  for (let n = 0; n < events; n++) {
    const event = nexmarkEvent(n, config);
    if (event.kind === 'person') {
      const p = event.person;
      const local = p.state === 'OR' || p.state === 'ID' || p.state === 'CA';
      people.set(p.id, local ? { name: p.name, city: p.city, state: p.state } : null);
      const auctions = waiting.get(p.id);
      if (auctions !== undefined) {
        waiting.delete(p.id);
        if (local)
          for (const id of auctions) emit({ name: p.name, city: p.city, state: p.state, auctionId: id });
      }
    } else if (event.kind === 'auction' && event.auction.category === 10) {
      const a = event.auction;
      const seller = people.get(a.seller);
      if (seller === undefined) {
        const list = waiting.get(a.seller);
        if (list === undefined) waiting.set(a.seller, [a.id]);
        else list.push(a.id);
      } else if (seller !== null) {
        emit({ name: seller.name, city: seller.city, state: seller.state, auctionId: a.id });
      }
    }
  }
}
