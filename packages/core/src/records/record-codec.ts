/**
 * The record contract, and the codec that carries records from one thread to another.
 *
 * A record is plain data: what `structuredClone` copies, plus instances of classes registered with
 * {@link registerType}. Such a record arrives exactly as it left — the same types, -0, holes,
 * Buffers as Buffers, errors with their stacks — whether it crossed a thread (parallelism above 1)
 * or was handed over inside one (parallelism 1, where nothing is copied), so a job's output does
 * not depend on its parallelism. What cannot cross (functions, symbols, WeakMaps, promises,
 * instances of classes nobody registered) is refused wherever a record leaves an operator for
 * another task, at every parallelism, with the field path: a job that runs at parallelism 1 does
 * not fail at 4. `docs/records.md` is the contract for users.
 *
 * How. Records cross in batches, one frame each, in one of two ways:
 * - The one pass (`plain-batch-writer.ts`): for records made only of null, undefined, booleans,
 *   numbers, strings, BigInts within 64 bits, dates, plain objects and plain arrays — most records — a
 *   single walk checks each value and writes it, in the bytes msgpackr writes (its records
 *   extension, structures sent inline, `sequential` per channel), and msgpackr's `Unpackr` reads
 *   them. A `RecordWriter` hands each record to its channel's {@link RecordEncoder} as it is
 *   emitted ({@link RecordEncoder.append}), so on a channel to another thread the check of a plain
 *   record is its encoding. This replaced a walk by {@link checkRecord} before msgpackr's own,
 *   which cost small records 10-15% on top of the encoding.
 * - The exact path: anything else — -0, a hole, a lone surrogate, an own "__proto__" field, Map,
 *   Set, RegExp, typed arrays, errors, registered classes, boxed primitives, null-prototype
 *   objects, and what is refused — makes the one pass give up its batch (taking back the record
 *   structures it defined). {@link checkRecord} walks those records: it refuses what cannot
 *   cross, naming the field, or says whether the batch holds a value msgpackr alone would change
 *   (-0 written as 0, holes as undefined, lone surrogates as U+FFFD, an error's stack, class and
 *   own fields...). msgpackr (`moreTypes` for Date, RegExp, Set, ArrayBuffer, typed arrays,
 *   DataView and BigInts of any size) then writes the batch, those values replaced by stand-ins
 *   ({@link Exact}) that a msgpackr extension writes and reads back. Registered classes have an
 *   extension of their own. Its frames are `[values, timestamps, null]` (0x93) where the one
 *   pass's are `[values, timestamps]` (0x92): each path keeps its own record structures, and the
 *   {@link RecordDecoder} one msgpackr `Unpackr` for each.
 *
 * Records that are not encoded (handed over inside a thread) are walked by {@link admitRecord},
 * which refuses the same records but need not look into strings. State and checkpoints
 * ({@link encodeValue}) and the records sinks send to the job's process ({@link encodeRecords})
 * take the checked msgpackr path, one self-contained message each.
 *
 * Shared references arrive as separate copies (structured clone keeps them shared; tracking them
 * costs msgpackr's `structuredClone` mode 25-30% on every batch), and cycles are refused.
 *
 * msgpackr's extensions are global to the module: the two extension types below, and one per
 * registered class, also apply to other msgpackr encoders in the thread (state, checkpoints),
 * which then keep registered classes too.
 */
import { addExtension, Packr, Unpackr } from 'msgpackr';
import { ConfigError, previewRecord, SluiceError } from '../errors.ts';
import { PlainBatchWriter } from './plain-batch-writer.ts';

/** msgpackr extension types (1-100 are the application's): the exact path's stand-ins, registered classes. */
const EXACT_EXTENSION = 0x53;
const REGISTERED_EXTENSION = 0x54;

/** Records nested deeper than this are refused; a cycle is found this way too, without tracking every object. */
export const RECORD_DEPTH_MAX = 1000;

// ---------------------------------------------------------------------------------------------
// Errors

/** A record holds something that cannot be copied to another thread; the message names the field. */
export class RecordNotSerializableError extends SluiceError {
  /** Where in the record, e.g. `record.user.address.geo`. */
  readonly path: string;
  /** What was found there, e.g. `a function (geo)`. */
  readonly found: string;

  /** `preview`: the whole record, shortened, where the value refused is a record that was emitted. */
  constructor(path: string, found: string, fix: string, preview?: string) {
    super(
      'SLUICE_RECORD_NOT_SERIALIZABLE',
      `${path} is ${found}, and a record holds only data that can be copied to another thread: ${fix} ` +
        `(see docs/records.md)${preview === undefined ? '' : `; the record: ${preview}`}`,
    );
    this.path = path;
    this.found = found;
  }
}

/** A record holds an instance of a class registered under a name this thread does not know. */
export class RecordTypeNotRegisteredError extends SluiceError {
  readonly typeName: string;

  constructor(typeName: string) {
    super(
      'SLUICE_RECORD_TYPE_NOT_REGISTERED',
      `a record holds an instance of registered type '${typeName}', but no class is registered under ` +
        `that name in this thread: call registerType at the top level of the job module or in its build ` +
        `function, which every thread runs`,
    );
    this.typeName = typeName;
  }
}

// ---------------------------------------------------------------------------------------------
// Registered classes

export interface RegisterTypeOptions {
  /** The name the type travels under: the same class must have the same name in every thread. */
  readonly name: string;
}

const prototypeByName = new Map<string, object>();
const nameByPrototype = new Map<object, string>();

const STANDARD_ERRORS: ReadonlyArray<readonly [string, ErrorConstructor | AggregateErrorConstructor]> = [
  ['Error', Error],
  ['EvalError', EvalError],
  ['RangeError', RangeError],
  ['ReferenceError', ReferenceError],
  ['SyntaxError', SyntaxError],
  ['TypeError', TypeError],
  ['URIError', URIError],
  ['AggregateError', AggregateError],
];
const standardErrorByName = new Map<string, Function>(STANDARD_ERRORS);
const standardErrorNameByPrototype = new Map<object, string>(
  STANDARD_ERRORS.map(([name, type]) => [type.prototype, name]),
);

const TypedArray = Object.getPrototypeOf(Uint8Array) as Function;

/** Byte views msgpackr writes with their type (a Buffer as binary, which decodes as a Buffer). */
const VIEW_PROTOTYPES = new Set<object>([
  Buffer.prototype,
  Uint8Array.prototype,
  Uint8ClampedArray.prototype,
  Int8Array.prototype,
  Uint16Array.prototype,
  Int16Array.prototype,
  Uint32Array.prototype,
  Int32Array.prototype,
  Float32Array.prototype,
  Float64Array.prototype,
  BigInt64Array.prototype,
  BigUint64Array.prototype,
  DataView.prototype,
]);

const BOXED_PROTOTYPES = new Set<object>([
  Number.prototype,
  String.prototype,
  Boolean.prototype,
  BigInt.prototype,
]);

/** Built-ins whose instances are not ordinary objects: registering a subclass of one is refused. */
const EXOTIC_BASES: readonly Function[] = [
  Array,
  Map,
  Set,
  WeakMap,
  WeakSet,
  Date,
  RegExp,
  Promise,
  ArrayBuffer,
  SharedArrayBuffer,
  TypedArray,
  DataView,
  Function,
  Number,
  String,
  Boolean,
  BigInt,
  Symbol,
];

/**
 * Lets instances of `type` be part of records: they arrive as instances of `type` (same
 * prototype, own enumerable fields copied; the constructor does not run). Subclasses of `Error`
 * may be registered too, and keep their message, stack and cause.
 *
 * Call it where every thread runs it — at the top level of the job module, or in the job's build
 * function — with classes defined at the module's top level. Registering a class again under the
 * same name does nothing; another name, or the name of another class, is refused.
 *
 * @example
 * export class Money {
 *   amount: bigint;
 *   currency: string;
 *   constructor(amount: bigint, currency: string) {
 *     this.amount = amount;
 *     this.currency = currency;
 *   }
 * }
 * registerType(Money, { name: 'Money' }); // at the top level of the job module
 */
export function registerType(type: new (...args: never[]) => object, options: RegisterTypeOptions): void {
  if (typeof type !== 'function' || typeof type.prototype !== 'object' || type.prototype === null) {
    throw new ConfigError(`registerType: expected a class, got ${describeValue(type)}`);
  }
  const name = options?.name;
  if (typeof name !== 'string' || name.length === 0) {
    throw new ConfigError(`registerType(${type.name}): option "name" must be a non-empty string`);
  }
  const prototype = type.prototype as object;
  if (type === Object || standardErrorNameByPrototype.has(prototype)) {
    throw new ConfigError(`registerType(${type.name}): ${type.name} is part of every record already`);
  }
  const exotic = EXOTIC_BASES.find((base) => prototype === base.prototype || prototype instanceof base);
  if (exotic !== undefined) {
    throw new ConfigError(
      `registerType(${type.name}): classes extending ${exotic.name} cannot be registered (their instances ` +
        `are not ordinary objects); use a plain ${exotic.name}, or a class that holds one in a field`,
    );
  }
  const registeredName = nameByPrototype.get(prototype);
  if (registeredName === name) return;
  if (registeredName !== undefined) {
    throw new ConfigError(
      `registerType(${type.name}): already registered under the name '${registeredName}', not '${name}'`,
    );
  }
  const other = prototypeByName.get(name);
  if (other !== undefined) {
    throw new ConfigError(
      `registerType(${type.name}): the name '${name}' is taken by another class (${className(other)}); ` +
        `every registered class needs its own name`,
    );
  }
  prototypeByName.set(name, prototype);
  nameByPrototype.set(prototype, name);
  // Errors always take the exact path (their stack is not a field); other classes are written by
  // msgpackr directly, on the fast path, as [name, own fields].
  if (!(prototype instanceof Error)) {
    addExtension({ Class: type, type: REGISTERED_EXTENSION, write: writeRegistered, read: readRegistered });
  }
}

/** The name a registered instance travels under: its class's, or its nearest registered ancestor's (state encoders). */
function registeredNameOf(object: object): string {
  for (let proto = Object.getPrototypeOf(object); proto !== null; proto = Object.getPrototypeOf(proto)) {
    const name = nameByPrototype.get(proto);
    if (name !== undefined) return name;
  }
  throw new Error('bug: a registered class extension met an instance of no registered class');
}

function writeRegistered(instance: object): unknown {
  return [registeredNameOf(instance), { ...instance }];
}

function readRegistered(data: [string, Record<string, unknown>]): object {
  const prototype = prototypeByName.get(data[0]);
  if (prototype === undefined) throw new RecordTypeNotRegisteredError(data[0]);
  return Object.assign(Object.create(prototype) as object, data[1]);
}

// Readers exist before any class is registered, so that an unknown name gets the error above.
addExtension({ type: REGISTERED_EXTENSION, read: readRegistered });

// ---------------------------------------------------------------------------------------------
// The check: every record, on every channel, at every parallelism

/** Flags of the walk: the value needs the exact path; the value is refused (explained by a second walk). */
const EXACT = 1;
const REFUSED = 2;

/**
 * Checks a record against the contract before it is encoded to leave its thread. Returns whether
 * it holds a value msgpackr alone would change — -0, a hole, a lone surrogate in a string, an
 * error... — (then its batch takes the exact path); throws {@link RecordNotSerializableError}
 * naming the field if it holds something that cannot cross a thread.
 */
export function checkRecord(record: unknown, root = 'record'): boolean {
  const flags = inspectRecord(record, true);
  if (flags < REFUSED) return flags === EXACT;
  throw explainRefusal(record, root);
}

/**
 * Refuses, as {@link checkRecord} does, a record that cannot cross a thread, where it is not
 * encoded (handed over inside a thread, kept in heap state): the walk then need not look into
 * strings for lone surrogates (a few ns a string), which only the encoding would change.
 */
export function admitRecord(record: unknown, root = 'record'): void {
  if (inspectRecord(record, false) >= REFUSED) throw explainRefusal(record, root);
}

/** `strings`: look for lone surrogates (the encoding's concern only). */
function inspectRecord(record: unknown, strings: boolean): number {
  // Shaped for speed: most records are plain objects.
  return typeof record === 'object' && record !== null && record.constructor === Object
    ? inspectFields(record, 1, strings)
    : inspectValue(record, 0, strings);
}

/** {@link checkRecord} for every record of a batch; whether any needs the exact path. */
export function checkRecords(records: readonly unknown[]): boolean {
  let exact = false;
  for (let i = 0; i < records.length; i++) if (checkRecord(records[i])) exact = true;
  return exact;
}

// The walk is on the hot path (once per record per edge): no allocation, no path, no closure. It
// only finds out whether something is exact-path or refused; `explainRefusal` walks again to say where.

function inspectValue(value: unknown, depth: number, strings: boolean): number {
  switch (typeof value) {
    case 'number':
      return Object.is(value, -0) ? EXACT : 0;
    case 'object':
      return value === null ? 0 : inspectObject(value, depth, strings);
    case 'string':
      return !strings || isWellFormed(value) ? 0 : EXACT;
    case 'function':
    case 'symbol':
      return REFUSED;
    default:
      return 0; // boolean, undefined, bigint
  }
}

/**
 * Whether a string has no lone surrogate: UTF-8, msgpackr's encoding of strings, has none (it
 * writes U+FFFD instead), so a string with one takes the exact path. O(1) for V8's one-byte strings.
 */
function isWellFormed(string: string): boolean {
  return (string as unknown as { isWellFormed(): boolean }).isWellFormed();
}

function inspectObject(object: object, depth: number, strings: boolean): number {
  if (depth === RECORD_DEPTH_MAX) return REFUSED;
  // The same test msgpackr makes first, for the same reason: plain objects and arrays are most values.
  const type = object.constructor;
  if (type === Object) return inspectFields(object, depth + 1, strings);
  if (type === Array) return inspectArray(object as unknown[], depth + 1, strings);
  return inspectOther(object, depth + 1, strings);
}

function inspectFields(object: object, depth: number, strings: boolean): number {
  let flags = 0;
  for (const key in object) {
    // msgpackr writes an own "__proto__" field (JSON.parse makes them) as "__proto_", on purpose.
    if (key === '__proto__' || (strings && !isWellFormed(key))) flags |= EXACT;
    const value = (object as Record<string, unknown>)[key];
    // Shaped for speed: strings and numbers, most fields, without a call.
    if (typeof value === 'string') {
      if (strings && !isWellFormed(value)) flags |= EXACT;
      continue;
    }
    if (typeof value === 'number') {
      if (Object.is(value, -0)) flags |= EXACT;
      continue;
    }
    flags |= inspectValue(value, depth, strings);
  }
  return flags;
}

/**
 * The own fields of a class instance (registered, or an error): a method assigned to a class's
 * prototype is enumerable, and for-in would count it. Off the hot path of plain objects.
 */
function inspectOwnFields(object: object, depth: number, strings: boolean): number {
  let flags = 0;
  for (const key of Object.keys(object)) {
    if (key === '__proto__' || (strings && !isWellFormed(key))) flags |= EXACT;
    flags |= inspectValue((object as Record<string, unknown>)[key], depth, strings);
  }
  return flags;
}

function inspectArray(array: readonly unknown[], depth: number, strings: boolean): number {
  let flags = 0;
  for (let i = 0; i < array.length; i++) {
    const value = array[i];
    if (typeof value === 'string') {
      if (strings && !isWellFormed(value)) flags |= EXACT;
      continue;
    }
    if (typeof value === 'number') {
      if (Object.is(value, -0)) flags |= EXACT;
      continue;
    }
    if (value === undefined && !(i in array))
      flags |= EXACT; // a hole
    else flags |= inspectValue(value, depth, strings);
  }
  return flags;
}

function inspectOther(object: object, depth: number, strings: boolean): number {
  const proto = Object.getPrototypeOf(object) as object | null;
  if (proto === null) return EXACT | inspectFields(object, depth, strings);
  if (proto === Object.prototype) return inspectFields(object, depth, strings); // with an own field "constructor"
  if (proto === Array.prototype) return inspectArray(object as unknown[], depth, strings);
  if (proto === Date.prototype || proto === RegExp.prototype || proto === ArrayBuffer.prototype) return 0;
  if (VIEW_PROTOTYPES.has(proto)) return 0;
  if (proto === Map.prototype) {
    let flags = 0;
    for (const [key, value] of object as Map<unknown, unknown>) {
      flags |= inspectValue(key, depth, strings) | inspectValue(value, depth, strings);
    }
    return flags;
  }
  if (proto === Set.prototype) {
    let flags = 0;
    for (const value of object as Set<unknown>) flags |= inspectValue(value, depth, strings);
    return flags;
  }
  if (object instanceof Error) {
    if (!standardErrorNameByPrototype.has(proto) && !nameByPrototype.has(proto)) return REFUSED;
    let flags =
      EXACT | inspectValue(object.message, depth, strings) | inspectValue(object.stack, depth, strings);
    flags |= inspectOwnFields(object, depth, strings);
    if (Object.hasOwn(object, 'cause')) flags |= inspectValue(object.cause, depth, strings);
    if (object instanceof AggregateError) flags |= inspectValue(object.errors, depth, strings);
    return flags;
  }
  if (BOXED_PROTOTYPES.has(proto)) return EXACT;
  if (nameByPrototype.has(proto)) return inspectOwnFields(object, depth, strings);
  return REFUSED;
}

// ---------------------------------------------------------------------------------------------
// Saying what was refused, and where (only when a record is refused)

interface Refusal {
  readonly path: string;
  readonly found: string;
  readonly fix: string;
}

/** `root` names the value in the path: `record`, or what a state or checkpoint value is. */
function explainRefusal(record: unknown, root: string): RecordNotSerializableError {
  const refusal = findRefusal(record, root, []);
  if (refusal === undefined) {
    throw new Error(`bug: a record was refused but no field explains it: ${describeValue(record)}`);
  }
  // An emitted record: the operator's failure names the record it was processing, if any; this one
  // is what it emitted (a source's has no other).
  const preview = root === 'record' ? previewRecord(record) : undefined;
  return new RecordNotSerializableError(refusal.path, refusal.found, refusal.fix, preview);
}

/** Depth-first, in the order the encoder writes; `ancestors` are the objects on the path, for cycles. */
function findRefusal(value: unknown, path: string, ancestors: object[]): Refusal | undefined {
  if (typeof value === 'function') {
    return {
      path,
      found: `a function${value.name ? ` (${value.name})` : ''}`,
      fix: 'keep functions in the operator, and put data in the record',
    };
  }
  if (typeof value === 'symbol') {
    return {
      path,
      found: `a symbol (${String(value)})`,
      fix: 'a symbol is unique to its thread; use a string',
    };
  }
  if (typeof value !== 'object' || value === null) return undefined;
  const ancestor = ancestors.indexOf(value);
  if (ancestor !== -1) {
    return {
      path,
      found: `a reference back to ${ancestor === 0 ? 'the record itself' : 'an enclosing object'} (a cycle)`,
      fix: 'a record is a tree: it cannot contain itself (a value used twice arrives as two copies)',
    };
  }
  if (ancestors.length === RECORD_DEPTH_MAX) {
    return {
      path: `${path.slice(0, 200)}…`,
      found: `nested ${RECORD_DEPTH_MAX} levels deep`,
      fix: `records are limited to ${RECORD_DEPTH_MAX} levels of nesting`,
    };
  }
  const refused = refusedObject(value);
  if (refused !== undefined) return { path, ...refused };
  ancestors.push(value);
  try {
    for (const [suffix, child] of childrenOf(value)) {
      const found = findRefusal(child, path + suffix, ancestors);
      if (found !== undefined) return found;
    }
    return undefined;
  } finally {
    ancestors.pop();
  }
}

/** Why an object cannot be in a record at all (not its fields): the cases `inspectOther` refuses. */
function refusedObject(object: object): { found: string; fix: string } | undefined {
  const proto = Object.getPrototypeOf(object) as object | null;
  if (
    proto === null ||
    proto === Object.prototype ||
    proto === Array.prototype ||
    proto === Date.prototype ||
    proto === RegExp.prototype ||
    proto === ArrayBuffer.prototype ||
    proto === Map.prototype ||
    proto === Set.prototype ||
    VIEW_PROTOTYPES.has(proto) ||
    BOXED_PROTOTYPES.has(proto) ||
    standardErrorNameByPrototype.has(proto) ||
    nameByPrototype.has(proto)
  ) {
    return undefined;
  }
  const name = className(proto);
  if (object instanceof WeakMap || object instanceof WeakSet || object instanceof Promise) {
    return {
      found: `a ${object instanceof Promise ? 'Promise' : name}`,
      fix: 'it refers to objects that cannot be copied to another thread; put the data itself in the record',
    };
  }
  if (object instanceof SharedArrayBuffer) {
    return {
      found: 'a SharedArrayBuffer',
      fix: 'shared memory cannot be part of a record; copy it into an ArrayBuffer',
    };
  }
  if (ArrayBuffer.isView(object)) {
    return {
      found: `a ${name}`,
      fix: 'this kind of typed array is not supported; use one of the standard kinds',
    };
  }
  return {
    found: `an instance of class ${name} (not registered)`,
    fix: `register it with registerType(${name}, { name: '${name}' }) at the top level of the job module, or emit a plain object`,
  };
}

/** The values inside an admitted object, with the path suffix that reaches each. */
function* childrenOf(object: object): Generator<readonly [string, unknown]> {
  if (Array.isArray(object)) {
    for (let i = 0; i < object.length; i++) if (i in object) yield [`[${i}]`, object[i]];
    return;
  }
  if (object instanceof Map) {
    let i = 0;
    for (const [key, value] of object) {
      yield [`.keys()[${i}]`, key];
      yield [`.get(${describeKey(key)})`, value];
      i++;
    }
    return;
  }
  if (object instanceof Set) {
    let i = 0;
    for (const value of object) yield [`.values()[${i++}]`, value];
    return;
  }
  if (object instanceof Date || object instanceof RegExp || object instanceof ArrayBuffer) return;
  if (ArrayBuffer.isView(object) || BOXED_PROTOTYPES.has(Object.getPrototypeOf(object))) return;
  if (object instanceof Error) {
    yield ['.message', object.message];
    yield ['.stack', object.stack];
    if (Object.hasOwn(object, 'cause')) yield ['.cause', object.cause];
    if (object instanceof AggregateError) yield ['.errors', object.errors];
  }
  const proto = Object.getPrototypeOf(object) as object | null;
  const keys = proto === null || proto === Object.prototype ? keysIn(object) : Object.keys(object);
  for (const key of keys) yield [fieldSuffix(key), (object as Record<string, unknown>)[key]];
}

/** The keys for-in visits, as the check walks a plain object. */
function keysIn(object: object): string[] {
  const keys: string[] = [];
  for (const key in object) keys.push(key);
  return keys;
}

const IDENTIFIER = /^[A-Za-z_$][A-Za-z0-9_$]*$/;

function fieldSuffix(key: string): string {
  return IDENTIFIER.test(key) ? `.${key}` : `[${JSON.stringify(key)}]`;
}

function describeKey(key: unknown): string {
  if (typeof key === 'string') return JSON.stringify(key.length > 40 ? `${key.slice(0, 40)}…` : key);
  if (typeof key === 'bigint') return `${key}n`;
  if (typeof key === 'object' && key !== null) return `<${className(Object.getPrototypeOf(key))}>`;
  return String(key);
}

function className(proto: object | null): string {
  const type = proto === null ? undefined : (proto as { constructor?: unknown }).constructor;
  return typeof type === 'function' && type.name ? type.name : 'anonymous class';
}

function describeValue(value: unknown): string {
  if (typeof value === 'function') return `function ${value.name || '(anonymous)'}`;
  if (typeof value === 'object' && value !== null) return `a ${className(Object.getPrototypeOf(value))}`;
  return typeof value === 'symbol' ? String(value) : `${typeof value} ${String(value)}`;
}

// ---------------------------------------------------------------------------------------------
// The exact path: stand-ins for what msgpackr would change

/** A value msgpackr would not carry exactly, in a form it does. Written by the extension below. */
class Exact {
  readonly kind: number;
  readonly data: unknown;

  constructor(kind: number, data: unknown) {
    this.kind = kind;
    this.data = data;
  }
}

const ExactKind = {
  NegativeZero: 0,
  /** `[length, indices, values]` */
  SparseArray: 1,
  /** {@link ErrorData} */
  Error: 2,
  /** The primitive inside. */
  Boxed: 3,
  /** The fields. */
  NullPrototype: 4,
  /**
   * `[keys, values]` of an object with an own field "__proto__", or with a key holding a lone
   * surrogate (null prototype or not: `NullPrototype` wraps it).
   */
  ProtoField: 5,
  /** A string with a lone surrogate, which UTF-8 cannot hold: its UTF-16 code units, as bytes. */
  LoneSurrogate: 6,
} as const;

interface ErrorData {
  /** A standard error's constructor name, or the registered name of a subclass. */
  readonly type: string;
  readonly registered?: true;
  readonly message?: unknown;
  readonly stack?: unknown;
  readonly cause?: unknown;
  readonly errors?: unknown;
  readonly fields?: Record<string, unknown>;
}

const NEGATIVE_ZERO = new Exact(ExactKind.NegativeZero, null);

addExtension({
  Class: Exact,
  type: EXACT_EXTENSION,
  write: (exact: Exact) => [exact.kind, exact.data],
  read: ([kind, data]: [number, unknown]) => revive(kind, data),
});

/** The records of a batch with stand-ins where needed; records without any are passed as they are. */
function exactRecords(records: readonly unknown[]): unknown[] {
  return records.map(toExact);
}

function toExact(value: unknown): unknown {
  if (typeof value === 'number') return Object.is(value, -0) ? NEGATIVE_ZERO : value;
  if (typeof value === 'string') {
    return isWellFormed(value) ? value : new Exact(ExactKind.LoneSurrogate, Buffer.from(value, 'utf16le'));
  }
  if (typeof value !== 'object' || value === null) return value;
  const proto = Object.getPrototypeOf(value) as object | null;
  if (proto === Object.prototype) return exactFields(value) ?? value;
  if (proto === Array.prototype) return exactArray(value as unknown[]);
  if (proto === null) return new Exact(ExactKind.NullPrototype, exactFields(value) ?? { ...value });
  if (proto === Map.prototype) return exactMap(value as Map<unknown, unknown>);
  if (proto === Set.prototype) return exactSet(value as Set<unknown>);
  if (value instanceof Error) return exactError(value, proto);
  if (BOXED_PROTOTYPES.has(proto))
    return new Exact(ExactKind.Boxed, (value as { valueOf(): unknown }).valueOf());
  if (nameByPrototype.has(proto)) {
    const fields = exactFields(value);
    // (An own field "__proto__" in a registered class is left to msgpackr, which renames it.)
    if (fields === undefined || fields instanceof Exact) return value;
    return Object.assign(Object.create(proto) as object, fields);
  }
  return value; // Date, RegExp, ArrayBuffer, views: msgpackr carries them exactly
}

/**
 * A copy of the own enumerable fields (the ones msgpackr writes) with stand-ins, or undefined
 * when none was needed.
 */
function exactFields(object: object): Record<string, unknown> | Exact | undefined {
  const keys = Object.keys(object);
  let copy: Record<string, unknown> | undefined;
  for (let i = 0; i < keys.length; i++) {
    const key = keys[i]!;
    if (key === '__proto__' || !isWellFormed(key)) return protoFields(object);
    const value = (object as Record<string, unknown>)[key];
    const exact = toExact(value);
    if (copy === undefined && !Object.is(exact, value)) {
      copy = {};
      for (let j = 0; j < i; j++) copy[keys[j]!] = (object as Record<string, unknown>)[keys[j]!];
    }
    if (copy !== undefined) copy[key] = exact;
  }
  return copy;
}

/** An object with an own field "__proto__", as keys and values (a plain object cannot carry it). */
function protoFields(object: object): Exact {
  const keys = Object.keys(object);
  const values = keys.map((key) => toExact((object as Record<string, unknown>)[key]));
  return new Exact(ExactKind.ProtoField, [keys.map(toExact), values]);
}

function exactArray(array: readonly unknown[]): unknown {
  let holes = false;
  let changed = false;
  const copy = new Array<unknown>(array.length);
  for (let i = 0; i < array.length; i++) {
    if (!(i in array)) {
      holes = true;
      continue;
    }
    const exact = toExact(array[i]);
    if (!Object.is(exact, array[i])) changed = true;
    copy[i] = exact;
  }
  if (!holes) return changed ? copy : array;
  const indices: number[] = [];
  const values: unknown[] = [];
  for (let i = 0; i < copy.length; i++) {
    if (i in copy) {
      indices.push(i);
      values.push(copy[i]);
    }
  }
  return new Exact(ExactKind.SparseArray, [array.length, indices, values]);
}

function exactMap(map: Map<unknown, unknown>): Map<unknown, unknown> {
  let changed = false;
  const entries: Array<[unknown, unknown]> = [];
  for (const [key, value] of map) {
    const exactKey = toExact(key);
    const exactValue = toExact(value);
    if (!Object.is(exactKey, key) || !Object.is(exactValue, value)) changed = true;
    entries.push([exactKey, exactValue]);
  }
  return changed ? new Map(entries) : map;
}

function exactSet(set: Set<unknown>): Set<unknown> {
  let changed = false;
  const values: unknown[] = [];
  for (const value of set) {
    const exact = toExact(value);
    if (!Object.is(exact, value)) changed = true;
    values.push(exact);
  }
  return changed ? new Set(values) : set;
}

function exactError(error: Error, proto: object): Exact {
  const standard = standardErrorNameByPrototype.get(proto);
  const data: { -readonly [K in keyof ErrorData]: ErrorData[K] } =
    standard !== undefined ? { type: standard } : { type: nameByPrototype.get(proto)!, registered: true };
  if (Object.hasOwn(error, 'message')) data.message = toExact(error.message);
  if (Object.hasOwn(error, 'stack')) data.stack = toExact(error.stack);
  if (Object.hasOwn(error, 'cause')) data.cause = toExact(error.cause);
  if (error instanceof AggregateError) data.errors = toExact(error.errors);
  let fields: Record<string, unknown> | undefined;
  for (const key of Object.keys(error)) {
    fields ??= {};
    fields[key] = toExact((error as unknown as Record<string, unknown>)[key]);
  }
  if (fields !== undefined) data.fields = fields;
  return new Exact(ExactKind.Error, data);
}

function revive(kind: number, data: unknown): unknown {
  switch (kind) {
    case ExactKind.NegativeZero:
      return -0;
    case ExactKind.SparseArray: {
      const [length, indices, values] = data as [number, number[], unknown[]];
      const array = new Array<unknown>(length);
      for (let i = 0; i < indices.length; i++) array[indices[i]!] = values[i];
      return array;
    }
    case ExactKind.Error:
      return reviveError(data as ErrorData);
    case ExactKind.Boxed:
      return Object(data);
    case ExactKind.NullPrototype:
      return Object.assign(Object.create(null) as object, data);
    case ExactKind.ProtoField: {
      const [keys, values] = data as [string[], unknown[]];
      const object: Record<string, unknown> = {};
      for (let i = 0; i < keys.length; i++) {
        Object.defineProperty(object, keys[i]!, {
          value: values[i],
          writable: true,
          enumerable: true,
          configurable: true,
        });
      }
      return object;
    }
    case ExactKind.LoneSurrogate:
      return (data as Buffer).toString('utf16le');
    default:
      throw new Error(`bug: unknown exact-path stand-in ${kind}`);
  }
}

/** A real error (with the engine's error internals) of the original class, message, stack, cause and fields. */
function reviveError(data: ErrorData): Error {
  let newTarget: Function;
  if (data.registered === true) {
    const prototype = prototypeByName.get(data.type);
    if (prototype === undefined) throw new RecordTypeNotRegisteredError(data.type);
    newTarget = (prototype as { constructor: Function }).constructor;
  } else {
    newTarget = standardErrorByName.get(data.type) ?? Error;
  }
  // The nearest standard error the class extends constructs the error; `newTarget` gives it its prototype.
  let base = newTarget;
  while (!standardErrorByName.has(base.name) || standardErrorByName.get(base.name) !== base) {
    base = Object.getPrototypeOf(base) as Function;
  }
  const options = 'cause' in data ? { cause: data.cause } : undefined;
  const args = base === AggregateError ? [data.errors ?? [], data.message, options] : [data.message, options];
  const error = Reflect.construct(base, args, newTarget) as Error;
  if ('stack' in data) {
    Object.defineProperty(error, 'stack', { value: data.stack, writable: true, configurable: true });
  } else {
    delete error.stack;
  }
  if (data.fields !== undefined) Object.assign(error, data.fields);
  return error;
}

// ---------------------------------------------------------------------------------------------
// The codec

const refuseFunction = (): never => {
  throw new Error('bug: a function reached the record encoder past checkRecord');
};

/**
 * The first byte of a frame of the exact path, `[values, timestamps, null]` (a msgpack array of
 * three); plain frames are `[values, timestamps]` (0x92). Not 0xc1, msgpack's unused byte: channels
 * mark their control frames with it (`channels/frames.ts`).
 */
const EXACT_FRAME = 0x93;

/**
 * The encoder of one channel between threads. It checks the records as it encodes them: a batch
 * of plain records is written in one pass ({@link PlainBatchWriter}); any other batch is checked
 * by {@link checkRecords} — refused with the field's path, or written by msgpackr, with stand-ins
 * where needed — into a frame of the exact path. Each path sends record structures inline the
 * first time it uses them (`sequential`), so the {@link RecordDecoder} at the other end must read
 * every frame of the channel, in order. (msgpackr's `progressiveRecords`, one pass over an
 * object's keys instead of two, loses its place in a sequential stream of varied nested records:
 * the property test finds it within a few hundred batches. The plain writer makes one pass too,
 * and keeps its place: see its `#writeObject`.)
 *
 * A `RecordWriter` hands it records one at a time as they are emitted ({@link append}), so the
 * check of a plain record is its encoding, and a refusal is thrown in the operator that emitted
 * the record; the batch then only has to be finished ({@link encodeBatch}).
 */
export class RecordEncoder {
  readonly #plain = new PlainBatchWriter(RECORD_DEPTH_MAX);
  readonly #packr = new Packr({
    sequential: true,
    useRecords: true,
    moreTypes: true,
    writeFunction: refuseFunction,
  });
  /** Records handed to {@link append} since the last batch; -1 when none was. */
  #appended = -1;
  /**
   * The last of them: with their count, how {@link encodeBatch} knows that `values` are the
   * records appended (a record refused by `checkRecord` was counted, but is not in the batch).
   */
  #lastAppended: unknown = undefined;
  /** A record {@link append} counted was refused ({@link checkAppended} threw): the batch is checked whole. */
  #refused = false;

  /**
   * Encodes `record` as the next of the batch being emitted, when it is plain (the values the
   * one pass takes): true. False for any other record, and for every record after it in the
   * batch: the caller must then check it with {@link checkAppended} (which refuses it, or says
   * whether it needs the exact path), and the batch goes the exact path's way. Every record of a
   * batch goes through here, or none does.
   */
  append(record: unknown): boolean {
    const plain = this.#plain;
    if (this.#appended === -1) {
      this.#appended = 0;
      plain.begin();
    }
    this.#appended++;
    this.#lastAppended = record;
    return plain.appended !== -1 && plain.append(record);
  }

  /**
   * {@link checkRecord} for a record that {@link append} did not take: whether it needs the exact
   * path. A refused record was counted by `append` but will not be in the batch, and the caller
   * may go on with another batch without telling: the next {@link encodeBatch} then checks its
   * records whole, instead of trusting a count and a last record that may match by chance.
   */
  checkAppended(record: unknown): boolean {
    try {
      return checkRecord(record);
    } catch (error) {
      this.#refused = true;
      throw error;
    }
  }

  /**
   * `[values, timestamps]` as one frame, the records checked against the record contract: throws
   * {@link RecordNotSerializableError}, naming the field, for a record that cannot cross a thread.
   * `exact`: a record is known to need the exact path (`checkRecord` said so). After
   * {@link append}, `values` are the records appended, and the one pass is only finished. The
   * result is the encoder's scratch buffer: copy it before encoding the next batch if it must be kept.
   */
  encodeBatch(values: readonly unknown[], timestamps: readonly number[] | null, exact = false): Uint8Array {
    const appended = this.#appended;
    const lastAppended = this.#lastAppended;
    const refused = this.#refused;
    this.#appended = -1;
    this.#lastAppended = undefined;
    this.#refused = false;
    const plain = this.#plain;
    if (!refused && appended === values.length && lastAppended === values[appended - 1]) {
      if (!exact && plain.appended === appended) return plain.finish(timestamps);
      // The caller checked the records that were not plain, as append asks.
      plain.abandon();
    } else {
      plain.abandon();
      if (!exact) {
        const frame = plain.write(values, timestamps);
        if (frame !== null) return frame;
        exact = checkRecords(values);
      }
    }
    return this.#packr.pack([exact ? exactRecords(values) : values, timestamps, null]);
  }
}

/** The decoder of one channel: reads its {@link RecordEncoder}'s frames, in order. */
export class RecordDecoder {
  /** Each of the encoder's two paths has its own record structures, so each its own decoder. */
  readonly #plain = new Unpackr({ sequential: true, useRecords: true, copyBuffers: true });
  readonly #exact = new Unpackr({ sequential: true, useRecords: true, copyBuffers: true });

  decodeBatch(frame: Uint8Array): [unknown[], number[] | null] {
    const bytes = asBuffer(frame);
    if (bytes[0] !== EXACT_FRAME) return this.#plain.unpack(bytes) as [unknown[], number[] | null];
    const batch = this.#exact.unpack(bytes) as [unknown[], number[] | null, null];
    return [batch[0], batch[1]];
  }
}

/**
 * msgpackr copies binary data with the source's own `slice`: a Buffer source gives Buffers, so a
 * Buffer in a record arrives as a Buffer, not a Uint8Array. A view, not a copy.
 */
function asBuffer(frame: Uint8Array): Buffer {
  return Buffer.isBuffer(frame) ? frame : Buffer.from(frame.buffer, frame.byteOffset, frame.byteLength);
}

const standalonePackr = new Packr({ useRecords: true, moreTypes: true, writeFunction: refuseFunction });
const standaloneUnpackr = new Unpackr({ useRecords: true, copyBuffers: true });

/**
 * Records as one self-contained message (record structures included), checked as on a channel:
 * how sinks send records to the process that runs the job. The result is a copy of its own.
 */
export function encodeRecords(records: readonly unknown[]): Uint8Array {
  if (!Array.isArray(records))
    throw new Error(`bug: expected an array of records, got ${describeValue(records)}`);
  const exact = checkRecords(records);
  return new Uint8Array(standalonePackr.pack(exact ? exactRecords(records) : records));
}

export function decodeRecords(bytes: Uint8Array): unknown[] {
  return standaloneUnpackr.unpack(asBuffer(bytes)) as unknown[];
}

// ---------------------------------------------------------------------------------------------
// Values at rest: keyed state on disk and checkpoint files keep the same contract

/**
 * A value kept by the runtime — a LevelDB state entry, a task's checkpoint state — as one
 * self-contained message under the record contract: what a record may hold is kept exactly (a
 * Set stays a Set, -0 stays -0, a registered class stays its class) and what it may not is
 * refused with {@link RecordNotSerializableError}, whose path starts with `root`. So a value
 * reads back from state, or from a restore at any parallelism, as it was put in.
 */
export function encodeValue(value: unknown, root = 'value'): Buffer {
  const flags = inspectRecord(value, true);
  if (flags >= REFUSED) throw explainRefusal(value, root);
  return standalonePackr.pack(flags === EXACT ? toExact(value) : value);
}

/** Reads what {@link encodeValue} wrote. */
export function decodeValue(bytes: Uint8Array): unknown {
  return standaloneUnpackr.unpack(asBuffer(bytes));
}
