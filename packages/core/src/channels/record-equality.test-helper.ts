/**
 * Exact equality for tests of the record contract: what `toEqual` lets pass (-0 and 0, holes and
 * undefined, Uint8Array and Buffer, one typed-array kind and another, a class and a plain object,
 * an error's stack, field order) counts here. Byte views compare by kind and bytes (a view arrives
 * over a buffer of its own, byte offset 0).
 */

function typeName(value: object): string {
  const proto = Object.getPrototypeOf(value) as { constructor?: { name?: string } } | null;
  return proto === null ? 'null prototype' : (proto.constructor?.name ?? 'anonymous');
}

function bytesOf(value: ArrayBuffer | ArrayBufferView): Buffer {
  return ArrayBuffer.isView(value)
    ? Buffer.from(value.buffer, value.byteOffset, value.byteLength)
    : Buffer.from(value);
}

/** Where `b` differs from `a`, or undefined when it is an exact copy. */
export function difference(a: unknown, b: unknown, path = 'value'): string | undefined {
  if (typeof a !== typeof b) return `${path}: ${typeof a} arrived as ${typeof b}`;
  if (typeof a !== 'object' || a === null || b === null) {
    return Object.is(a, b) ? undefined : `${path}: ${String(a)} arrived as ${String(b)}`;
  }
  const x = a as Record<string, unknown>;
  const y = b as Record<string, unknown>;
  if (Object.getPrototypeOf(x) !== Object.getPrototypeOf(y)) {
    return `${path}: a ${typeName(x)} arrived as a ${typeName(y)}`;
  }
  if (x instanceof Date) {
    return Object.is(x.getTime(), (y as unknown as Date).getTime()) ? undefined : `${path}: another date`;
  }
  if (x instanceof RegExp) {
    const r = y as unknown as RegExp;
    return x.source === r.source && x.flags === r.flags ? undefined : `${path}: ${x} arrived as ${r}`;
  }
  if (x instanceof ArrayBuffer || ArrayBuffer.isView(x)) {
    const left = bytesOf(x);
    const right = bytesOf(y as unknown as ArrayBuffer);
    return left.equals(right) ? undefined : `${path}: other bytes`;
  }
  if (x instanceof Map) {
    const left = [...x];
    const right = [...(y as unknown as Map<unknown, unknown>)];
    if (left.length !== right.length) return `${path}: ${left.length} entries arrived as ${right.length}`;
    for (let i = 0; i < left.length; i++) {
      const found =
        difference(left[i]![0], right[i]![0], `${path}.keys()[${i}]`) ??
        difference(left[i]![1], right[i]![1], `${path}.values()[${i}]`);
      if (found !== undefined) return found;
    }
    return undefined;
  }
  if (x instanceof Set) return difference([...x], [...(y as unknown as Set<unknown>)], `${path}.values()`);
  if (Array.isArray(x)) {
    const right = y as unknown as unknown[];
    if (x.length !== right.length) return `${path}: length ${x.length} arrived as ${right.length}`;
    for (let i = 0; i < x.length; i++) {
      if (i in x !== i in right)
        return `${path}[${i}]: ${i in x ? 'an element' : 'a hole'} arrived as the other`;
      const found = difference(x[i], right[i], `${path}[${i}]`);
      if (found !== undefined) return found;
    }
    return difference({ ...x }, { ...right }, path) === undefined ? undefined : `${path}: other fields`;
  }
  if (x instanceof Error) {
    const e = y as unknown as Error;
    for (const key of ['message', 'stack', 'cause', 'errors'] as const) {
      if (Object.hasOwn(x, key) !== Object.hasOwn(e, key)) return `${path}.${key}: own or not`;
      const found = difference(
        (x as unknown as Record<string, unknown>)[key],
        (e as unknown as Record<string, unknown>)[key],
        `${path}.${key}`,
      );
      if (found !== undefined) return found;
    }
    if (x.name !== e.name) return `${path}.name: ${x.name} arrived as ${e.name}`;
  }
  if (
    x instanceof Number ||
    x instanceof String ||
    x instanceof Boolean ||
    (typeof BigInt === 'function' && Object.getPrototypeOf(x) === BigInt.prototype)
  ) {
    return Object.is(x.valueOf(), y.valueOf())
      ? undefined
      : `${path}: boxed ${String(x)} arrived as ${String(y)}`;
  }
  const keys = Object.keys(x);
  const otherKeys = Object.keys(y);
  if (keys.join('\u0000') !== otherKeys.join('\u0000')) {
    return `${path}: fields [${keys}] arrived as [${otherKeys}]`;
  }
  for (const key of keys) {
    const found = difference(x[key], y[key], `${path}.${key}`);
    if (found !== undefined) return found;
  }
  return undefined;
}
