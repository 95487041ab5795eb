import { ConfigError } from '@sluice/core';
import type { Auction, Bid, NexmarkEvent, Person } from './model.ts';

/**
 * The generator's configuration: the subset of the reference `NexmarkConfiguration` /
 * `GeneratorConfig` that shapes the event stream. Build one with `nexmarkConfig(options)`, which
 * fills in the standard defaults and validates every option.
 */
export interface NexmarkConfig {
  /** Event time of event number 0, epoch milliseconds (the reference uses the wall clock at start). */
  readonly baseTimeMs: number;
  /** Added to every event number to make its id (reference `firstEventId`); ids drive all id arithmetic. */
  readonly firstEventId: number;
  /** Added to every event number before the out-of-order adjustment (reference `firstEventNumber`). */
  readonly firstEventNumber: number;
  /** Events per second of event time (reference `firstEventRate` with a constant rate shape). */
  readonly eventRatePerSecond: number;
  /** Of every `person + auction + bid` events, this many are people (1). */
  readonly personProportion: number;
  /** ... this many are auctions (3). */
  readonly auctionProportion: number;
  /** ... and this many are bids (46). */
  readonly bidProportion: number;
  /** Bidders and sellers are chosen among the most recent this many people (1000). */
  readonly numActivePeople: number;
  /** Non-hot bids go to one of the most recent this many auctions (100); also sets auction lengths. */
  readonly numInFlightAuctions: number;
  /** A bid is on the current hot auction with probability `1 - 1/hotAuctionRatio` (2). */
  readonly hotAuctionRatio: number;
  /** A bid is by the current hot bidder with probability `1 - 1/hotBiddersRatio` (4). */
  readonly hotBiddersRatio: number;
  /** An auction is by the current hot seller with probability `1 - 1/hotSellersRatio` (4). */
  readonly hotSellersRatio: number;
  /** Events are shuffled (deterministically) within groups of this many (1: in order). */
  readonly outOfOrderGroupSize: number;
  /** Average size of a person record; `extra` pads up to it (200). */
  readonly avgPersonByteSize: number;
  /** Average size of an auction record (500). */
  readonly avgAuctionByteSize: number;
  /** Average size of a bid record (100). */
  readonly avgBidByteSize: number;
  /**
   * Random bidders and sellers may be up to this many people ahead of the last one generated
   * (reference `PERSON_ID_LEAD`, 10), so that some references arrive before the person.
   */
  readonly personIdLead: number;
  /** Random bids may be on auctions up to this many ahead of the last one (reference `AUCTION_ID_LEAD`, 10). */
  readonly auctionIdLead: number;
}

export const DEFAULT_NEXMARK_CONFIG: NexmarkConfig = Object.freeze({
  baseTimeMs: Date.UTC(2024, 0, 1),
  firstEventId: 0,
  firstEventNumber: 0,
  eventRatePerSecond: 10_000,
  personProportion: 1,
  auctionProportion: 3,
  bidProportion: 46,
  numActivePeople: 1000,
  numInFlightAuctions: 100,
  hotAuctionRatio: 2,
  hotBiddersRatio: 4,
  hotSellersRatio: 4,
  outOfOrderGroupSize: 1,
  avgPersonByteSize: 200,
  avgAuctionByteSize: 500,
  avgBidByteSize: 100,
  personIdLead: 10,
  auctionIdLead: 10,
});

/** Ids start here, so that queries find matches even on small data sets (as in the reference). */
export const FIRST_PERSON_ID = 1000;
export const FIRST_AUCTION_ID = 1000;
export const FIRST_CATEGORY_ID = 10;
export const NUM_CATEGORIES = 5;
/** Hot auctions / bidders / sellers are the first (bidders: second) of each batch of this many. */
export const HOT_AUCTION_RATIO = 100;
export const HOT_BIDDER_RATIO = 100;
export const HOT_SELLER_RATIO = 100;
const HOT_CHANNELS_RATIO = 100;
const CHANNELS_NUMBER = 10_000;
/** Multiplier of the reference's out-of-order shuffle; prime, so each group is a permutation. */
const OUT_OF_ORDER_MULTIPLIER = 953;

/** Options that must be integers, with their lower bound. */
const INTEGER_OPTIONS: ReadonlyArray<readonly [keyof NexmarkConfig, number]> = [
  ['baseTimeMs', 0],
  ['firstEventId', 0],
  ['firstEventNumber', 0],
  ['personProportion', 1],
  ['auctionProportion', 1],
  ['bidProportion', 1],
  ['numActivePeople', 1],
  ['numInFlightAuctions', 1],
  ['hotAuctionRatio', 1],
  ['hotBiddersRatio', 1],
  ['hotSellersRatio', 1],
  ['outOfOrderGroupSize', 1],
  ['avgPersonByteSize', 0],
  ['avgAuctionByteSize', 0],
  ['avgBidByteSize', 0],
  ['personIdLead', 0],
  ['auctionIdLead', 0],
];

/** The standard configuration with `options` applied; throws a ConfigError naming a bad option. */
export function nexmarkConfig(options: Partial<NexmarkConfig> = {}): NexmarkConfig {
  if (typeof options !== 'object' || options === null)
    throw new ConfigError(`nexmark: expected an options object, got ${String(options)}`);
  const known = Object.keys(DEFAULT_NEXMARK_CONFIG);
  for (const key of Object.keys(options)) {
    if (!known.includes(key)) throw new ConfigError(`nexmark: unknown option "${key}"`);
  }
  const config: NexmarkConfig = { ...DEFAULT_NEXMARK_CONFIG, ...stripUndefined(options) };
  for (const [name, min] of INTEGER_OPTIONS) {
    const value = config[name];
    if (!Number.isSafeInteger(value) || value < min) {
      throw new ConfigError(`nexmark: option "${name}" must be an integer >= ${min}, got ${String(value)}`);
    }
  }
  const rate = config.eventRatePerSecond;
  if (typeof rate !== 'number' || !Number.isFinite(rate) || rate <= 0) {
    throw new ConfigError(`nexmark: option "eventRatePerSecond" must be a number > 0, got ${String(rate)}`);
  }
  return Object.freeze(config);
}

function stripUndefined(options: Partial<NexmarkConfig>): Partial<NexmarkConfig> {
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(options)) if (value !== undefined) out[key] = value;
  return out as Partial<NexmarkConfig>;
}

// ---------------------------------------------------------------------------------------------
// Event numbers, ids and times (reference GeneratorConfig).

/** Microseconds of event time between consecutive events. */
export function interEventDelayUs(config: NexmarkConfig): number {
  return 1_000_000 / config.eventRatePerSecond;
}

/**
 * The reference's `nextAdjustedEventNumber`: event numbers shuffled within groups of
 * `outOfOrderGroupSize`. Computed on `n mod group` so that `n * 953` cannot lose precision.
 */
export function adjustedEventNumber(eventNumber: number, config: NexmarkConfig): number {
  const n = config.firstEventNumber + eventNumber;
  const group = config.outOfOrderGroupSize;
  if (group === 1) return n;
  const within = n % group;
  return n - within + ((within * OUT_OF_ORDER_MULTIPLIER) % group);
}

/** Event time (epoch ms) of the event with this (adjusted) event number. */
function timestampForEvent(adjusted: number, delayUs: number, config: NexmarkConfig): number {
  return config.baseTimeMs + Math.floor((adjusted * delayUs) / 1000);
}

/** How far (ms) an event's time may lag behind an earlier event's: for watermark strategies. */
export function maxOutOfOrdernessMs(config: NexmarkConfig): number {
  return Math.ceil(((config.outOfOrderGroupSize - 1) * interEventDelayUs(config)) / 1000);
}

/** Base-0 id of the last person generated at or before event id `eventId`. */
export function lastBase0PersonId(eventId: number, config: NexmarkConfig): number {
  const total = config.personProportion + config.auctionProportion + config.bidProportion;
  const epoch = Math.floor(eventId / total);
  let offset = eventId % total;
  // An auction or bid: go back to the last person of this epoch.
  if (offset >= config.personProportion) offset = config.personProportion - 1;
  return epoch * config.personProportion + offset;
}

/** Base-0 id of the last auction generated at or before event id `eventId` (-1 before the first). */
export function lastBase0AuctionId(eventId: number, config: NexmarkConfig): number {
  const total = config.personProportion + config.auctionProportion + config.bidProportion;
  let epoch = Math.floor(eventId / total);
  let offset = eventId % total;
  if (offset < config.personProportion) {
    // A person: go back to the last auction of the previous epoch.
    epoch--;
    offset = config.auctionProportion - 1;
  } else if (offset >= config.personProportion + config.auctionProportion) {
    // A bid: go back to the last auction of this epoch.
    offset = config.auctionProportion - 1;
  } else {
    offset -= config.personProportion;
  }
  return epoch * config.auctionProportion + offset;
}

/** A random active person, or one of the next `personIdLead` not generated yet. */
function nextBase0PersonId(eventId: number, random: EventRandom, config: NexmarkConfig): number {
  const numPeople = lastBase0PersonId(eventId, config) + 1;
  const activePeople = Math.min(numPeople, config.numActivePeople);
  return numPeople - activePeople + random.int(activePeople + config.personIdLead);
}

/** A random auction likely still in flight, or one of the next `auctionIdLead` not generated yet. */
function nextBase0AuctionId(eventId: number, random: EventRandom, config: NexmarkConfig): number {
  const maxAuction = lastBase0AuctionId(eventId, config);
  const minAuction = Math.max(maxAuction - config.numInFlightAuctions, 0);
  return minAuction + random.int(maxAuction - minAuction + 1 + config.auctionIdLead);
}

// ---------------------------------------------------------------------------------------------
// Randomness: one small PRNG per event, seeded from the event id, so that any event can be made
// alone, on any subtask, in any order (the reference seeds a java.util.Random with the id).

const TWO_POW_32 = 4294967296;

/** murmur3's 32-bit finaliser. */
function fmix32(h: number): number {
  let x = h;
  x = Math.imul(x ^ (x >>> 16), 0x85ebca6b);
  x = Math.imul(x ^ (x >>> 13), 0xc2b2ae35);
  return (x ^ (x >>> 16)) >>> 0;
}

/** splitmix32 over a state seeded by hashing both halves of the (up to 53-bit) event id. */
class EventRandom {
  private state = 0;

  /** Starts the sequence of event `eventId`. */
  seed(eventId: number): this {
    const lo = eventId >>> 0;
    const hi = Math.floor(eventId / TWO_POW_32) >>> 0;
    this.state = fmix32(lo ^ fmix32(hi + 0x632be5ab));
    return this;
  }

  /** Uniform in [0, 2^32). */
  uint32(): number {
    this.state = (this.state + 0x9e3779b9) | 0;
    return fmix32(this.state);
  }

  /** Uniform in [0, 1), 53 bits. */
  double(): number {
    return ((this.uint32() >>> 5) * 67108864 + (this.uint32() >>> 6)) / 9007199254740992;
  }

  /** Uniform integer in [0, bound); bound >= 1. One 32-bit draw for small bounds (bias < 2^-12). */
  int(bound: number): number {
    if (bound <= 0x100000) return Math.floor((this.uint32() / TWO_POW_32) * bound);
    return Math.floor(this.double() * bound);
  }
}

/**
 * The one `EventRandom` of the thread, seeded anew for each event: an event is made in one
 * synchronous call, so nothing else draws from it meanwhile, and no object is allocated per event.
 */
const RANDOM = new EventRandom();

// ---------------------------------------------------------------------------------------------
// Strings (reference StringsGenerator, simplified).

const US_STATES = ['AZ', 'CA', 'ID', 'OR', 'WA', 'WY'] as const;
const US_CITIES = [
  'Phoenix',
  'Los Angeles',
  'San Francisco',
  'Boise',
  'Portland',
  'Bend',
  'Redmond',
  'Seattle',
  'Kent',
  'Cheyenne',
] as const;
const FIRST_NAMES = [
  'Peter',
  'Paul',
  'Luke',
  'John',
  'Saul',
  'Vicky',
  'Kate',
  'Julie',
  'Sarah',
  'Deiter',
  'Walter',
];
const LAST_NAMES = ['Shultz', 'Abrams', 'Spencer', 'White', 'Bartels', 'Walton', 'Smith', 'Jones', 'Noris'];
const HOT_CHANNELS = ['Google', 'Facebook', 'Baidu', 'Apple'] as const;
const HOT_URLS = HOT_CHANNELS.map((c) => `https://www.nexmark.com/${c.toLowerCase()}/item.htm?query=1`);

function pick<T>(items: readonly T[], random: EventRandom): T {
  return items[random.int(items.length)] as T;
}

/** Scratch for {@link nextString}: the longest string any event asks for is 99 characters. */
const STRING_SCRATCH = Buffer.allocUnsafe(128);

/** 3 to maxLength - 1 characters: lower-case letters with about one space in 13. */
function nextString(random: EventRandom, maxLength: number): string {
  const length = 3 + random.int(maxLength - 3);
  // Shaped for speed: the characters go to a scratch buffer and become one flat string, instead of
  // a chain of one-character concatenations (a third of the generator's time went there).
  for (let i = 0; i < length; i++) STRING_SCRATCH[i] = random.int(13) === 0 ? 32 : 97 + random.int(26);
  return STRING_SCRATCH.toString('latin1', 0, length);
}

// Padding is a slice of one constant string: the reference pads with random characters, but only
// the length matters to a benchmark, and V8 slices a string without copying it.
const PADDING = 'x'.repeat(4096);

/** Padding of about `averageSize - currentSize` characters (±20%, uniformly). */
function nextExtra(random: EventRandom, currentSize: number, averageSize: number): string {
  if (currentSize > averageSize) return '';
  const desired = averageSize - currentSize;
  const delta = Math.round(desired * 0.2);
  const size = desired - delta + (delta === 0 ? 0 : random.int(2 * delta));
  return size <= PADDING.length ? paddingOf(size) : 'x'.repeat(size);
}

/** Paddings made so far, by length: the same few hundred lengths recur, so each slice is made once. */
const PADDINGS: Array<string | undefined> = [];

function paddingOf(size: number): string {
  let padding = PADDINGS[size];
  if (padding === undefined) {
    padding = PADDING.slice(0, size);
    PADDINGS[size] = padding;
  }
  return padding;
}

/** Cents, log-uniform from $1 to $1M (reference PriceGenerator). */
function nextPrice(random: EventRandom): number {
  return Math.round(10 ** (random.double() * 6) * 100);
}

// ---------------------------------------------------------------------------------------------
// The events.

function nextPerson(eventId: number, random: EventRandom, timestamp: number, config: NexmarkConfig): Person {
  const id = lastBase0PersonId(eventId, config) + FIRST_PERSON_ID;
  const name = `${pick(FIRST_NAMES, random)} ${pick(LAST_NAMES, random)}`;
  const emailAddress = `${nextString(random, 7)}@${nextString(random, 5)}.com`;
  const creditCard = nextCreditCard(random);
  const city = pick(US_CITIES, random);
  const state = pick(US_STATES, random);
  const size = 8 + name.length + emailAddress.length + creditCard.length + city.length + state.length;
  const extra = nextExtra(random, size, config.avgPersonByteSize);
  return { id, name, emailAddress, creditCard, city, state, dateTime: timestamp, extra };
}

/** Four groups of four digits, each group zero-padded, separated by spaces: one string, not seven. */
function nextCreditCard(random: EventRandom): string {
  const scratch = STRING_SCRATCH;
  for (let group = 0; group < 4; group++) {
    let digits = random.int(10_000);
    const at = group * 5;
    for (let i = 3; i >= 0; i--) {
      scratch[at + i] = 48 + (digits % 10);
      digits = Math.floor(digits / 10);
    }
    if (group < 3) scratch[at + 4] = 32;
  }
  return scratch.toString('latin1', 0, 19);
}

function nextAuction(
  adjusted: number,
  eventId: number,
  random: EventRandom,
  timestamp: number,
  delayUs: number,
  config: NexmarkConfig,
): Auction {
  const id = lastBase0AuctionId(eventId, config) + FIRST_AUCTION_ID;
  const seller =
    FIRST_PERSON_ID +
    (random.int(config.hotSellersRatio) > 0
      ? // The first person of the batch of the last HOT_SELLER_RATIO people.
        Math.floor(lastBase0PersonId(eventId, config) / HOT_SELLER_RATIO) * HOT_SELLER_RATIO
      : nextBase0PersonId(eventId, random, config));
  const category = FIRST_CATEGORY_ID + random.int(NUM_CATEGORIES);
  const initialBid = nextPrice(random);
  // Auction length: on average the event time until numInFlightAuctions more auctions exist.
  const total = config.personProportion + config.auctionProportion + config.bidProportion;
  const eventsForAuctions = Math.floor((config.numInFlightAuctions * total) / config.auctionProportion);
  const horizonMs = timestampForEvent(adjusted + eventsForAuctions, delayUs, config) - timestamp;
  const expires = timestamp + 1 + random.int(Math.max(horizonMs * 2, 1));
  const itemName = nextString(random, 20);
  const description = nextString(random, 100);
  const reserve = initialBid + nextPrice(random);
  const size = 8 + itemName.length + description.length + 8 + 8 + 8 + 8 + 8;
  const extra = nextExtra(random, size, config.avgAuctionByteSize);
  return {
    id,
    itemName,
    description,
    initialBid,
    reserve,
    dateTime: timestamp,
    expires,
    seller,
    category,
    extra,
  };
}

function nextBid(eventId: number, random: EventRandom, timestamp: number, config: NexmarkConfig): Bid {
  const auction =
    FIRST_AUCTION_ID +
    (random.int(config.hotAuctionRatio) > 0
      ? // The first auction of the batch of the last HOT_AUCTION_RATIO auctions.
        Math.floor(lastBase0AuctionId(eventId, config) / HOT_AUCTION_RATIO) * HOT_AUCTION_RATIO
      : nextBase0AuctionId(eventId, random, config));
  const bidder =
    FIRST_PERSON_ID +
    (random.int(config.hotBiddersRatio) > 0
      ? // The second person of the batch (so hot bidders and hot sellers differ).
        Math.floor(lastBase0PersonId(eventId, config) / HOT_BIDDER_RATIO) * HOT_BIDDER_RATIO + 1
      : nextBase0PersonId(eventId, random, config));
  const price = nextPrice(random);
  let channel: string;
  let url: string;
  if (random.int(HOT_CHANNELS_RATIO) > 0) {
    const i = random.int(HOT_CHANNELS.length);
    channel = HOT_CHANNELS[i] as string;
    url = HOT_URLS[i] as string;
  } else {
    const n = random.int(CHANNELS_NUMBER);
    channel = `channel-${n}`;
    url = `https://www.nexmark.com/item.htm?query=1&channel_id=${n}`;
  }
  const extra = nextExtra(random, 8 + 8 + 8 + 8, config.avgBidByteSize);
  return { auction, bidder, price, channel, url, dateTime: timestamp, extra };
}

/**
 * Event number `eventNumber` (0, 1, 2, ... in emission order) of the stream `config` describes.
 * A pure function of its arguments: any subtask can make any range of events, in any order.
 * `config` must come from `nexmarkConfig()` (it is not validated here: this is the hot path).
 */
export function nexmarkEvent(
  eventNumber: number,
  config: NexmarkConfig = DEFAULT_NEXMARK_CONFIG,
): NexmarkEvent {
  const adjusted = adjustedEventNumber(eventNumber, config);
  const delayUs = interEventDelayUs(config);
  const timestamp = timestampForEvent(adjusted, delayUs, config);
  const eventId = config.firstEventId + adjusted;
  const random = RANDOM.seed(eventId);
  const total = config.personProportion + config.auctionProportion + config.bidProportion;
  const rem = eventId % total;
  if (rem < config.personProportion) {
    return { kind: 'person', person: nextPerson(eventId, random, timestamp, config) };
  }
  if (rem < config.personProportion + config.auctionProportion) {
    return {
      kind: 'auction',
      auction: nextAuction(adjusted, eventId, random, timestamp, delayUs, config),
    };
  }
  return { kind: 'bid', bid: nextBid(eventId, random, timestamp, config) };
}
