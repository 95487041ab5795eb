import { collectSink, defineJob, registerType } from '@sluice/core';

/** A domain type registered at the top level of the job module. */
export class Money {
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

/** An error type of the domain, registered in the build function below. */
export class LedgerError extends RangeError {
  readonly account: string;
  constructor(message: string, account: string, options?: ErrorOptions) {
    super(message, options);
    this.account = account;
  }
}

class Unregistered {
  readonly value = 1;
}

registerType(Money, { name: 'e2e.Money' });

export type RecordsMode = 'round-trip' | 'function' | 'symbol' | 'unregistered-class' | 'chained-function';

export interface RecordsArgs {
  readonly mode: RecordsMode;
  readonly count: number;
  /** The record that breaks the contract (the other modes). */
  readonly poison?: number;
}

const TYPED = [
  Int8Array,
  Uint8Array,
  Uint8ClampedArray,
  Int16Array,
  Uint16Array,
  Int32Array,
  Uint32Array,
  Float32Array,
  Float64Array,
] as const;

/** A stack fixed by the record, not by the thread that built it, so that records built in two threads compare equal. */
function withStack<E extends Error>(error: E, stack: string): E {
  Object.defineProperty(error, 'stack', { value: stack, writable: true, configurable: true });
  return error;
}

/**
 * Record `id`: every type the contract carries, varied by `id`. Deterministic, so the test builds
 * the same records as every thread of the job does.
 */
export function makeRecord(id: number): Record<string, unknown> {
  const bytes = Uint8Array.from({ length: 8 + (id % 5) }, (_, i) => (id * 31 + i * 7) & 0xff);
  const holes = new Array<unknown>(4);
  holes[id % 4] = id;
  const Typed = TYPED[id % TYPED.length]!;
  const record: Record<string, unknown> = {
    id,
    zero: id % 2 === 0 ? -0 : 0,
    notANumber: Number.NaN,
    wide: 2n ** BigInt(64 + (id % 100)) + BigInt(id),
    small: BigInt(-id),
    when: new Date(1_767_225_600_000 + id),
    pattern: new RegExp(`^id-${id}$`, id % 2 === 0 ? 'gi' : 'u'),
    tags: new Set([`t${id % 3}`, `t${id % 5}`]),
    byName: new Map<unknown, unknown>([
      ['id', id],
      [id, { nested: [id, -0] }],
    ]),
    holes,
    buffer: Buffer.from(bytes),
    typed: new Typed(bytes.buffer.slice(0, 8)),
    wideTyped: id % 2 === 0 ? new BigInt64Array([BigInt(-id)]) : new BigUint64Array([BigInt(id)]),
    arrayBuffer: bytes.slice(0, 3).buffer,
    view: new DataView(bytes.buffer, 2, 4),
    money: new Money(BigInt(id * 100), id % 2 === 0 ? 'EUR' : 'USD'),
    boxed: [new Number(id), new String(`s${id}`), new Boolean(id % 2 === 0)],
    dictionary: Object.assign(Object.create(null) as object, { key: `k${id}` }),
    undefinedField: undefined,
    nothing: null,
    // A string with a lone surrogate (an emoji cut in half) every fourth record, whole ones otherwise.
    text: id % 4 === 0 ? `half ${'😀'.slice(0, 1)} ${id}` : `café ${id} 😀`,
  };
  if (id % 3 === 0) {
    record.error = withStack(
      new TypeError(`bad ${id}`, { cause: withStack(new Error('inner'), 'Error: inner\n    at source') }),
      `TypeError: bad ${id}\n    at record ${id}`,
    );
  }
  if (id % 3 === 1) {
    record.error = withStack(
      new LedgerError(`overdrawn ${id}`, `acct-${id}`),
      `LedgerError: overdrawn ${id}`,
    );
  }
  return record;
}

export function makeRecords(count: number): Array<Record<string, unknown>> {
  return Array.from({ length: count }, (_, id) => makeRecord(id));
}

/** Records of every supported type, sent across threads by rebalance and by keyBy; or records that break the contract. */
export default defineJob<RecordsArgs>({ name: 'records' }, (env, { mode, count, poison = -1 }) => {
  registerType(LedgerError, { name: 'e2e.LedgerError' });
  if (mode === 'round-trip') {
    const records = env.fromCollection(makeRecords(count));
    records
      .rebalance()
      .map((r) => r)
      .sinkTo(collectSink('rebalanced'));
    records
      .keyBy((r) => (r.id as number) % 5)
      .map((r) => r)
      .sinkTo(collectSink('keyed'));
    return;
  }
  if (mode === 'chained-function') {
    // 'make records' runs at parallelism 2 and the map after it at the job's: chained at
    // parallelism 2 only, two tasks at 1 and 4. The map drops the function, so only a check of
    // the chained call finds it at parallelism 2.
    env
      .fromSequence(0, count - 1)
      .map((id): Record<string, unknown> => (id === poison ? { id, user: { geo: () => id } } : { id }))
      .uid('make-records')
      .name('make records')
      .setParallelism(2)
      .map((r) => ({ id: r.id }))
      .sinkTo(collectSink('out'));
    return;
  }
  env
    .fromSequence(0, count - 1)
    .map((id): Record<string, unknown> => {
      if (id !== poison) return { id };
      switch (mode) {
        case 'function':
          return { id, user: { address: { geo: () => id } } };
        case 'symbol':
          return { id, tags: ['a', Symbol('b')] };
        case 'unregistered-class':
          return { id, items: [new Unregistered()] };
        default:
          throw new Error(`unknown mode ${mode}`);
      }
    })
    .uid('make-records')
    .name('make records')
    .rebalance()
    .map((r) => r)
    .sinkTo(collectSink('out'));
});
