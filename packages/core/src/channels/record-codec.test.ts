import fc from 'fast-check';
import { Packr } from 'msgpackr';
import { describe, expect, it } from 'vitest';
import { ConfigError } from '../errors.ts';
import { decodeTaskSnapshot, encodeTaskSnapshot } from '../runtime/checkpointing.ts';
import type { TaskSnapshot } from '../runtime/task.ts';
import { allocateDoorbell, Doorbell } from './doorbell.ts';
import { InputGate, type InputHandler } from './input-gate.ts';
import { LocalChannel } from './local-channel.ts';
import {
  checkRecord,
  checkRecords,
  decodeRecords,
  decodeValue,
  encodeRecords,
  encodeValue,
  RECORD_DEPTH_MAX,
  RecordDecoder,
  RecordEncoder,
  RecordNotSerializableError,
  RecordTypeNotRegisteredError,
  registerType,
} from './record-codec.ts';
import { difference } from './record-equality.test-helper.ts';
import { RecordWriter } from './record-writer.ts';
import { allocateRing } from './ring-buffer.ts';
import { RingReceiver, RingSender } from './ring-channel.ts';

class Money {
  readonly amount: bigint;
  readonly currency: string;
  constructor(amount: bigint, currency: string) {
    this.amount = amount;
    this.currency = currency;
  }
  get label(): string {
    return `${this.amount} ${this.currency}`;
  }
}

class Point {
  x: number;
  y: number;
  meta: unknown;
  constructor(x: number, y: number, meta: unknown) {
    this.x = x;
    this.y = y;
    this.meta = meta;
  }
}

class OrderError extends RangeError {
  code = 'E_ORDER';
}

class Unregistered {
  a = 1;
}

registerType(Money, { name: 'test.Money' });
registerType(Point, { name: 'test.Point' });
registerType(OrderError, { name: 'test.OrderError' });

/** An array of `length` with holes where `elements` has no entry. */
function holey(length: number, elements: Record<number, unknown>): unknown[] {
  return Object.assign(new Array<unknown>(length), elements);
}

// ---------------------------------------------------------------------------------------------
// Every supported type, nested

const typedArray: fc.Arbitrary<ArrayBufferView> = fc.oneof(
  fc.int8Array({ maxLength: 4 }),
  fc.uint8Array({ maxLength: 4 }),
  fc.uint8ClampedArray({ maxLength: 4 }),
  fc.int16Array({ maxLength: 4 }),
  fc.uint16Array({ maxLength: 4 }),
  fc.int32Array({ maxLength: 4 }),
  fc.uint32Array({ maxLength: 4 }),
  fc.float32Array({ maxLength: 4 }),
  fc.float64Array({ maxLength: 4 }),
  fc.bigInt64Array({ maxLength: 4 }),
  fc.bigUint64Array({ maxLength: 4 }),
  // Views into part of a larger buffer, and Node's Buffers (which share a pool).
  fc.uint8Array({ minLength: 16, maxLength: 16 }).map((bytes) => new Int16Array(bytes.buffer, 4, 3)),
  fc.uint8Array({ minLength: 16, maxLength: 16 }).map((bytes) => new Float64Array(bytes.buffer, 8, 1)),
  fc.uint8Array({ maxLength: 12 }).map((bytes) => new DataView(bytes.buffer, bytes.length > 2 ? 1 : 0)),
  fc.uint8Array({ maxLength: 8 }).map((bytes) => Buffer.from(bytes)),
);

const leaf: fc.Arbitrary<unknown> = fc.oneof(
  fc.integer(),
  fc.double(),
  fc.constantFrom(-0, 0, Number.NaN, Number.POSITIVE_INFINITY, Number.MIN_VALUE, 2 ** 53),
  fc.bigInt({ min: -(2n ** 64n), max: 2n ** 64n }),
  fc.bigInt({ min: -(2n ** 300n), max: 2n ** 300n }),
  fc.string(),
  fc.string({ unit: 'grapheme', maxLength: 8 }),
  fc.boolean(),
  fc.constant(null),
  fc.constant(undefined),
  fc.date({ noInvalidDate: false }),
  fc
    .tuple(
      fc.constantFrom('a+b', '^\\d{2,}$', '[\\s\\S]*?x', '(?<year>\\d{4})-\\1', '\\p{L}+'),
      fc.subarray(['d', 'g', 'i', 'm', 's', 'u', 'y']),
    )
    .map(([source, flags]) => new RegExp(source, flags.join(''))),
  typedArray,
  fc.uint8Array({ maxLength: 6 }).map((bytes) => bytes.slice().buffer),
  fc.oneof(
    fc.double().map((n) => new Number(n)),
    fc.string().map((s) => new String(s)),
    fc.boolean().map((b) => new Boolean(b)),
    fc.bigInt().map((b) => Object(b) as object),
  ),
  fc
    .record({ amount: fc.bigInt(), currency: fc.constantFrom('EUR', 'USD') })
    .map((m) => new Money(m.amount, m.currency)),
);

const fieldName = fc.oneof(
  fc.constantFrom('id', 'user', 'value', 'a b', '0', '17', 'constructor', '__proto__', 'toString'),
  fc.string({ maxLength: 5 }),
);

const ERROR_TYPES = [
  Error,
  TypeError,
  RangeError,
  SyntaxError,
  EvalError,
  ReferenceError,
  URIError,
  OrderError,
];

const { value } = fc.letrec<{ value: unknown }>((tie) => ({
  value: fc.oneof(
    { depthSize: 'small', maxDepth: 5 },
    leaf,
    fc.array(tie('value'), { maxLength: 4 }),
    fc.sparseArray(tie('value'), { maxLength: 6 }),
    fc.dictionary(fieldName, tie('value'), { maxKeys: 4 }),
    fc.array(fc.tuple(tie('value'), tie('value')), { maxLength: 3 }).map((entries) => new Map(entries)),
    fc.array(tie('value'), { maxLength: 3 }).map((values) => new Set(values)),
    fc
      .record({ x: fc.double(), y: fc.integer(), meta: tie('value') })
      .map(({ x, y, meta }) => new Point(x, y, meta)),
    fc
      .record({
        type: fc.nat(ERROR_TYPES.length),
        message: fc.option(fc.string(), { nil: undefined }),
        cause: fc.option(tie('value'), { nil: undefined }),
        hasCause: fc.boolean(),
        code: fc.option(fc.string(), { nil: undefined }),
        errors: fc.array(tie('value'), { maxLength: 2 }),
      })
      .map(({ type, message, cause, hasCause, code, errors }) => {
        const options = hasCause ? { cause } : undefined;
        const error =
          type === ERROR_TYPES.length
            ? new AggregateError(errors, message, options)
            : new ERROR_TYPES[type]!(message, options);
        if (code !== undefined) (error as Error & { code?: string }).code = code;
        return error;
      }),
  ),
}));

/** One long-lived channel for the whole property: record structures accumulate as on a real one. */
const channel = { encoder: new RecordEncoder(), decoder: new RecordDecoder() };

/** Encodes as a channel does, copies the frame into shared memory (as a ring holds it) and decodes. */
function acrossAChannel(records: readonly unknown[]): unknown[] {
  const frame = channel.encoder.encodeBatch(records, null, checkRecords(records));
  const ring = new Uint8Array(new SharedArrayBuffer(frame.byteLength + 16), 8, frame.byteLength);
  ring.set(frame);
  return channel.decoder.decodeBatch(ring)[0];
}

describe('the record codec', () => {
  it('carries every structured-clone type and registered classes exactly, nested (property)', () => {
    fc.assert(
      fc.property(fc.array(value, { minLength: 1, maxLength: 4 }), (records) => {
        const batch = [...records, { id: 1, nested: records }];
        for (const arrived of [acrossAChannel(batch), decodeRecords(encodeRecords(batch))]) {
          expect(arrived.length).toBe(batch.length);
          for (let i = 0; i < batch.length; i++) {
            expect(difference(batch[i], arrived[i], `record ${i}`)).toBeUndefined();
          }
        }
      }),
      { numRuns: 400 },
    );
  });

  it('keeps every such value exactly in state and checkpoints too (property)', () => {
    fc.assert(
      fc.property(value, fc.string(), (kept, key) => {
        // A LevelDB state entry, and a checkpoint file of heap state that holds the value.
        expect(difference(kept, decodeValue(encodeValue(kept)))).toBeUndefined();
        const snapshot: TaskSnapshot = {
          keep: {
            keyGroups: [
              { keyGroup: 7, entries: [['latest', key, '', kept]], eventTimers: [], processingTimers: [] },
            ],
            operatorState: [kept],
          },
        };
        expect(difference(snapshot, decodeTaskSnapshot(encodeTaskSnapshot(snapshot)))).toBeUndefined();
      }),
      { numRuns: 300 },
    );
  });

  it('refuses in state what it refuses in records, naming the operator, state, key and field', () => {
    const snapshot: TaskSnapshot = {
      keep: {
        keyGroups: [
          {
            keyGroup: 3,
            entries: [['latest', 'ann', 'w-1', { on: { tick: () => 1 } }]],
            eventTimers: [],
            processingTimers: [],
          },
        ],
      },
    };
    expect(() => encodeTaskSnapshot(snapshot)).toThrow(
      expect.objectContaining({
        code: 'SLUICE_STATE_NOT_SERIALIZABLE',
        operatorId: 'keep',
        message: expect.stringMatching(
          /operator 'keep': state 'latest' of key "ann" in namespace "w-1": value\.on\.tick is a function/,
        ),
      }),
    );
    expect(() => encodeValue(Symbol('s'))).toThrow(/value is a symbol/);
  });

  it('refuses a checkpoint file of 0.1.0 (plain msgpack maps) instead of restoring no state', () => {
    const old = new Packr({ useRecords: false, moreTypes: false }).pack({ keep: { keyGroups: [] } });
    expect(() => decodeTaskSnapshot(old, 'chk-3/keep-0.state')).toThrow(
      expect.objectContaining({
        code: 'SLUICE_CHECKPOINT_FORMAT',
        message: expect.stringContaining('chk-3/keep-0.state was written by @sluice/core 0.1.0'),
      }),
    );
  });

  it('has an equality that sees what toEqual does not', () => {
    expect(difference(-0, 0)).toBeDefined();
    expect(difference(holey(3, { 0: 1, 2: 3 }), [1, undefined, 3])).toBeDefined();
    expect(difference(new Uint8Array([1]), Buffer.from([1]))).toBeDefined();
    expect(difference(new Int8Array([1]), new Uint8Array([1]))).toBeDefined();
    expect(difference(new Money(1n, 'EUR'), { amount: 1n, currency: 'EUR' })).toBeDefined();
    expect(difference(Object.create(null), {})).toBeDefined();
    expect(difference(new TypeError('x'), new Error('x'))).toBeDefined();
    const error = new Error('x');
    const other = new Error('x');
    expect(difference(error, other)).toBeDefined(); // another stack
    expect(difference(new Set([1, 2]), new Set([2, 1]))).toBeDefined();
    expect(difference({ a: 1, b: 2 }, { b: 2, a: 1 })).toBeDefined();
    expect(
      difference([Number.NaN, new Date(Number.NaN)], [Number.NaN, new Date(Number.NaN)]),
    ).toBeUndefined();
  });

  it('arrives with the exact types the issue lists', () => {
    const error = new TypeError('bad input', { cause: new RangeError('out of range') });
    const record = {
      set: new Set(['a']),
      negativeZero: -0,
      buffer: Buffer.from('bytes'),
      float64: new Float64Array([1.5, -0]),
      int32: new Int32Array([-1]),
      arrayBuffer: new Uint8Array([1, 2]).buffer,
      money: new Money(10n, 'EUR'),
      error,
      regexp: /x+/giu,
      holes: holey(3, { 0: 1, 2: 3 }),
      wide: 2n ** 100n,
    };
    const [arrived] = acrossAChannel([record]) as [typeof record];
    expect(difference(record, arrived)).toBeUndefined();
    expect(arrived.set).toBeInstanceOf(Set);
    expect(Object.is(arrived.negativeZero, -0)).toBe(true);
    expect(Buffer.isBuffer(arrived.buffer)).toBe(true);
    expect(arrived.float64).toBeInstanceOf(Float64Array);
    expect(arrived.arrayBuffer).toBeInstanceOf(ArrayBuffer);
    expect(arrived.money).toBeInstanceOf(Money);
    expect(arrived.money.label).toBe('10 EUR');
    expect(arrived.error).toBeInstanceOf(TypeError);
    expect(arrived.error.stack).toBe(error.stack);
    expect(arrived.error.cause).toBeInstanceOf(RangeError);
    expect(arrived.regexp).toBeInstanceOf(RegExp);
    expect(1 in arrived.holes).toBe(false);
    expect(arrived.wide).toBe(2n ** 100n);
  });

  it('keeps a registered error subclass, with its fields', () => {
    const error = new OrderError('no stock', { cause: 'sku-1' });
    const [arrived] = acrossAChannel([error]) as [OrderError];
    expect(arrived).toBeInstanceOf(OrderError);
    expect(arrived).toBeInstanceOf(RangeError);
    expect(arrived.code).toBe('E_ORDER');
    expect(arrived.cause).toBe('sku-1');
    expect(difference(error, arrived)).toBeUndefined();
  });

  it('takes the exact path only for values that need it', () => {
    for (const plain of [
      { id: 1, key: 'user-1', value: 0.5 },
      [1, 'a', null, undefined, true, 2n],
      {
        when: new Date(0),
        re: /a/,
        map: new Map([[1, { a: 0 }]]),
        set: new Set([1]),
        bytes: Buffer.from('a'),
      },
      { typed: new Float64Array([-0]), money: new Money(1n, 'EUR'), nested: [[[{ deep: 'yes' }]]] },
      'a string',
      42,
    ]) {
      expect(checkRecord(plain)).toBe(false);
    }
    for (const exact of [
      -0,
      { a: [0, -0] },
      holey(3, { 0: 1, 2: 2 }),
      { error: new Error('x') },
      { boxed: new Number(1) },
      { dictionary: Object.create(null) },
      JSON.parse('{"__proto__": {"polluted": true}}'),
      new Map([['k', { v: -0 }]]),
      new Set([holey(3, { 0: 1, 2: 2 })]),
      new Point(-0, 0, null),
    ]) {
      expect(checkRecord(exact)).toBe(true);
      expect(difference(exact, acrossAChannel([exact])[0])).toBeUndefined();
    }
  });

  it('keeps a registered class whose prototype has methods assigned (enumerable ones)', () => {
    class Legacy {
      n = -0;
    }
    (Legacy.prototype as unknown as { twice: () => number }).twice = function (this: Legacy) {
      return this.n * 2;
    };
    registerType(Legacy, { name: 'test.Legacy' });
    const [arrived] = acrossAChannel([{ legacy: new Legacy() }]) as [{ legacy: Legacy }];
    expect(arrived.legacy).toBeInstanceOf(Legacy);
    expect(Object.is(arrived.legacy.n, -0)).toBe(true);
    expect(Object.keys(arrived.legacy)).toEqual(['n']);
  });

  it('sends shared references as copies', () => {
    const shared = { n: 1 };
    const [arrived] = acrossAChannel([{ a: shared, b: shared }]) as [{ a: object; b: object }];
    expect(arrived.a).toEqual(shared);
    expect(arrived.a).not.toBe(arrived.b);
  });
});

describe('what a record cannot hold', () => {
  const cycle: Record<string, unknown> = { a: { b: 1 } };
  (cycle.a as Record<string, unknown>).back = cycle;
  let deep: unknown = 'bottom';
  for (let i = 0; i < RECORD_DEPTH_MAX + 1; i++) deep = { next: deep };
  const geo = (): number => 1;

  const cases: Array<[string, unknown, string, RegExp]> = [
    ['a function', { user: { address: { geo } } }, 'record.user.address.geo', /^a function \(geo\)$/],
    ['a symbol', { tags: ['a', Symbol('b')] }, 'record.tags[1]', /^a symbol \(Symbol\(b\)\)$/],
    ['a WeakMap', { cache: new WeakMap() }, 'record.cache', /^a WeakMap$/],
    ['a WeakSet', { seen: new WeakSet() }, 'record.seen', /^a WeakSet$/],
    ['a Promise', { later: Promise.resolve(1) }, 'record.later', /^a Promise$/],
    [
      'an unregistered class',
      { items: [new Unregistered()] },
      'record.items[0]',
      /class Unregistered \(not registered\)/,
    ],
    [
      'an unregistered error class',
      { e: new (class ParseError extends Error {})('x') },
      'record.e',
      /class ParseError/,
    ],
    ['an Array subclass', { list: new (class List extends Array {})() }, 'record.list', /class List/],
    ['a Map subclass', { index: new (class Index extends Map {})() }, 'record.index', /class Index/],
    ['a SharedArrayBuffer', { memory: new SharedArrayBuffer(8) }, 'record.memory', /SharedArrayBuffer/],
    ['a function in a Map', { m: new Map([['k', geo]]) }, 'record.m.get("k")', /function/],
    ['a function as a Map key', { m: new Map([[geo, 1]]) }, 'record.m.keys()[0]', /function/],
    ['a symbol in a Set', { s: new Set([Symbol.iterator]) }, 'record.s.values()[0]', /symbol/],
    ['a function in a registered class', { p: new Point(1, 2, { geo }) }, 'record.p.meta.geo', /function/],
    ['a function in an error cause', { e: new Error('x', { cause: geo }) }, 'record.e.cause', /function/],
    ['a function as the record', geo, 'record', /function/],
    ['an odd field name', { 'a b': { 'c-d': geo } }, 'record["a b"]["c-d"]', /function/],
    ['a cycle', cycle, 'record.a.back', /a reference back to the record itself \(a cycle\)/],
    [
      'nesting too deep',
      deep,
      `${`record${'.next'.repeat(RECORD_DEPTH_MAX)}`.slice(0, 200)}…`,
      /nested 1000 levels deep/,
    ],
  ];
  for (const [name, record, path, found] of cases) {
    it(`refuses ${name}, naming the field`, () => {
      let error: unknown;
      try {
        checkRecord(record);
      } catch (thrown) {
        error = thrown;
      }
      expect(error).toBeInstanceOf(RecordNotSerializableError);
      const refusal = error as RecordNotSerializableError;
      expect(refusal.code).toBe('SLUICE_RECORD_NOT_SERIALIZABLE');
      expect(refusal.path).toBe(path);
      expect(refusal.found).toMatch(found);
      expect(refusal.message).toContain(`${path} is ${refusal.found}`);
      expect(() => encodeRecords([record])).toThrow(RecordNotSerializableError);
    });
  }

  it('says how to register a class', () => {
    expect(() => checkRecord({ u: new Unregistered() })).toThrow(
      "register it with registerType(Unregistered, { name: 'Unregistered' }) at the top level of the job module",
    );
  });

  it('refuses, on a local channel too, in the operator that emits the record', () => {
    const local = new LocalChannel(4);
    const writer = new RecordWriter(
      [local.sender],
      { partitioner: 'forward', keySelector: undefined, maxParallelism: 128, batchSize: 4, subtaskIndex: 0 },
      Date.now,
    );
    writer.emit({ ok: true }, Number.NaN);
    expect(() => writer.emit({ callback: geo }, Number.NaN)).toThrow(/record\.callback is a function/);
  });

  it('names an unknown registered type when decoding', () => {
    // A registered instance (extension 0x54) of a name nobody registered: [[name, fields]].
    const bytes = Uint8Array.of(0x91, 0xd4, 0x54, 0x00, 0x92, 0xa4, ...Buffer.from('Nope'), 0x80);
    expect(() => decodeRecords(bytes)).toThrow(RecordTypeNotRegisteredError);
    expect(() => decodeRecords(bytes)).toThrow(/registered type 'Nope'.*call registerType at the top level/);
  });
});

describe('registerType', () => {
  it('does nothing for the same class under the same name', () => {
    expect(() => registerType(Money, { name: 'test.Money' })).not.toThrow();
  });

  it('refuses what it cannot keep, naming the class', () => {
    class Other {}
    const cases: Array<[() => void, RegExp]> = [
      [() => registerType(Money, { name: 'test.Money2' }), /already registered under the name 'test.Money'/],
      [
        () => registerType(Other, { name: 'test.Money' }),
        /the name 'test.Money' is taken by another class \(Money\)/,
      ],
      [() => registerType(Other, { name: '' }), /option "name" must be a non-empty string/],
      [
        () => registerType(class extends Map {}, { name: 'test.Map' }),
        /classes extending Map cannot be registered/,
      ],
      [
        () => registerType(class extends Uint8Array {}, { name: 'test.Bytes' }),
        /extending Uint8Array|TypedArray/,
      ],
      [() => registerType(Error, { name: 'test.Error' }), /Error is part of every record already/],
      [() => registerType(Object, { name: 'test.Object' }), /Object is part of every record already/],
      [() => registerType((() => {}) as never, { name: 'test.Arrow' }), /expected a class/],
    ];
    for (const [call, message] of cases) {
      expect(call).toThrow(ConfigError);
      expect(call).toThrow(message);
    }
  });
});

describe('records through a ring', () => {
  /** A ring channel's two ends. */
  function ringPair(): { sender: RingSender; receiver: RingReceiver } {
    const ring = allocateRing(1 << 20);
    return {
      sender: new RingSender(ring, new Doorbell(allocateDoorbell())),
      receiver: new RingReceiver(ring, new Doorbell(allocateDoorbell())),
    };
  }

  function drain(receivers: Array<RingReceiver | LocalChannel['receiver']>): unknown[][] {
    return receivers.map((receiver) => {
      const arrived: unknown[] = [];
      for (let kind = receiver.receive(); kind !== 0; kind = receiver.receive()) {
        if (kind === 1) arrived.push(...receiver.values);
      }
      return arrived;
    });
  }

  it('checked as they are encoded: every partitioner, plain and exact records mixed, local and ring channels', () => {
    const records: unknown[] = [];
    for (let i = 0; i < 300; i++) {
      // Mostly plain: some batches take the one pass, others (with one of these) the exact path.
      const kind = i % 40 === 13 ? 3 : i % 40 === 27 ? 5 : i % 50 === 44 ? 7 : 0;
      if (kind === 3) records.push({ id: i, zero: -0 });
      else if (kind === 5) records.push({ id: i, s: `lone \uD800 ${i}` });
      else if (kind === 7) records.push({ id: i, at: new Date(i), money: new Money(BigInt(i), 'EUR') });
      else records.push({ id: i, key: `k${i % 13}`, nested: { list: [i, `${i}`, null] } });
    }
    for (const partitioner of ['forward', 'rebalance', 'hash', 'broadcast'] as const) {
      const rings = [ringPair(), ringPair()];
      const local = new LocalChannel(1000);
      const senders =
        partitioner === 'forward' ? [rings[0]!.sender] : [rings[0]!.sender, local.sender, rings[1]!.sender];
      const receivers =
        partitioner === 'forward'
          ? [rings[0]!.receiver]
          : [rings[0]!.receiver, local.receiver, rings[1]!.receiver];
      const writer = new RecordWriter(
        senders,
        {
          partitioner,
          keySelector: partitioner === 'hash' ? (r) => (r as { id: number }).id : undefined,
          maxParallelism: 128,
          batchSize: 7,
          subtaskIndex: 0,
        },
        Date.now,
      );
      for (const record of records) writer.emit(record, Number.NaN);
      writer.flush();
      const arrived = drain(receivers);
      const expected =
        partitioner === 'broadcast'
          ? receivers.map(() => records)
          : [arrived.flat().sort((a, b) => (a as { id: number }).id - (b as { id: number }).id)];
      const got = partitioner === 'broadcast' ? arrived : [records];
      expect(got.length).toBe(expected.length);
      for (let c = 0; c < got.length; c++) {
        expect(got[c]!.length).toBe(records.length);
        for (let i = 0; i < records.length; i++) {
          expect(
            difference(got[c]![i], expected[c]![i], `${partitioner} channel ${c} record ${i}`),
          ).toBeUndefined();
        }
      }
    }
  });

  it('refuses a record on a ring channel when it is emitted, naming the field, and carries the rest', () => {
    const { sender, receiver } = ringPair();
    const writer = new RecordWriter(
      [sender],
      { partitioner: 'forward', keySelector: undefined, maxParallelism: 128, batchSize: 4, subtaskIndex: 0 },
      Date.now,
    );
    writer.emit({ ok: 1 }, Number.NaN);
    expect(() => writer.emit({ ok: 2, deep: { callback: () => 1 } }, Number.NaN)).toThrow(
      /record\.deep\.callback is a function/,
    );
    writer.emit({ ok: 3 }, Number.NaN);
    writer.flush();
    writer.emit({ ok: 4 }, Number.NaN);
    writer.flush();
    expect(drain([receiver])).toEqual([[{ ok: 1 }, { ok: 3 }, { ok: 4 }]]);
  });

  it('arrive exactly, through a RecordWriter and an InputGate', () => {
    const ring = allocateRing(1 << 16);
    const writer = new RecordWriter(
      [new RingSender(ring, new Doorbell(allocateDoorbell()))],
      { partitioner: 'forward', keySelector: undefined, maxParallelism: 128, batchSize: 3, subtaskIndex: 0 },
      Date.now,
    );
    const gate = new InputGate([new RingReceiver(ring, new Doorbell(allocateDoorbell()))]);
    const records = [
      { id: 1, key: 'a' },
      { id: 2, key: 'b', zero: -0 },
      { id: 3, holes: holey(2, { 1: 1 }) },
      { id: 4, money: new Money(5n, 'USD'), bytes: Buffer.from('x') },
      { id: 5, key: 'e' },
    ];
    for (const record of records) writer.emit(record, Number.NaN);
    writer.flush();
    const arrived: unknown[] = [];
    const handler = { processBatch: (values: readonly unknown[]) => arrived.push(...values) };
    gate.poll(handler as unknown as InputHandler, 16, () => false);
    expect(arrived.length).toBe(records.length);
    for (let i = 0; i < records.length; i++) expect(difference(records[i], arrived[i])).toBeUndefined();
  });
});
