/**
 * The Nexmark data model: an online auction site where people register, open auctions and bid.
 * Field names and units follow the reference (Apache Beam / nexmark-flink): ids are integers,
 * prices are in cents, `dateTime` and `expires` are epoch milliseconds.
 */

export interface Person {
  readonly id: number;
  readonly name: string;
  readonly emailAddress: string;
  readonly creditCard: string;
  readonly city: string;
  readonly state: string;
  /** Event time, epoch milliseconds. */
  readonly dateTime: number;
  /** Padding, so that the average record size matches the configured byte size. */
  readonly extra: string;
}

export interface Auction {
  readonly id: number;
  readonly itemName: string;
  readonly description: string;
  /** Cents. */
  readonly initialBid: number;
  /** Cents; always above `initialBid`. */
  readonly reserve: number;
  /** Event time, epoch milliseconds. */
  readonly dateTime: number;
  /** Epoch milliseconds; after `dateTime`. */
  readonly expires: number;
  /** A person id. */
  readonly seller: number;
  readonly category: number;
  readonly extra: string;
}

export interface Bid {
  /** An auction id. */
  readonly auction: number;
  /** A person id. */
  readonly bidder: number;
  /** Cents. */
  readonly price: number;
  readonly channel: string;
  readonly url: string;
  /** Event time, epoch milliseconds. */
  readonly dateTime: number;
  readonly extra: string;
}

/**
 * One Nexmark event. A discriminated union (as the reference's `Event` holds exactly one of
 * person, auction or bid) rather than one flat record: queries switch on `kind` and then get a
 * precisely typed payload, and each payload is the same object a query keeps in state. The extra
 * wrapper object per event is cheap next to the payload itself.
 */
export type NexmarkEvent =
  | { readonly kind: 'person'; readonly person: Person }
  | { readonly kind: 'auction'; readonly auction: Auction }
  | { readonly kind: 'bid'; readonly bid: Bid };

export type NexmarkEventKind = NexmarkEvent['kind'];

/** The event's time (epoch milliseconds): its payload's `dateTime`. */
export function eventTimestamp(event: NexmarkEvent): number {
  switch (event.kind) {
    case 'person':
      return event.person.dateTime;
    case 'auction':
      return event.auction.dateTime;
    case 'bid':
      return event.bid.dateTime;
  }
}
