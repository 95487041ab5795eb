/** How Kafka records become stream values, and back. */

import type { OutgoingKafkaRecord, RawKafkaRecord } from './client.ts';

/** A record read from Kafka with a built-in format: key and headers as UTF-8 text. */
export interface KafkaRecord<V> {
  readonly topic: string;
  readonly partition: number;
  readonly offset: number;
  readonly timestamp: number;
  readonly key: string | null;
  readonly value: V;
  readonly headers: Readonly<Record<string, string>>;
}

/** Turns a raw record into the value the source emits; throwing marks the record as bad. */
export type KafkaDeserializer<T> = (record: RawKafkaRecord) => T;

/** `string` and `json` decode the value as UTF-8 (and parse it); `bytes` keeps the Buffer. */
export type KafkaFormat = 'string' | 'json' | 'bytes';

export type ValueOf<F> = F extends 'string' ? string : F extends 'bytes' ? Buffer : unknown;

export function deserializerFor<T>(format: KafkaFormat | KafkaDeserializer<T>): KafkaDeserializer<T> {
  if (typeof format === 'function') return format;
  const decodeValue: (value: Buffer) => unknown =
    format === 'json'
      ? (value) => JSON.parse(value.toString('utf8'))
      : format === 'string'
        ? (value) => value.toString('utf8')
        : (value) => value;
  return (record) => {
    const headers: Record<string, string> = {};
    for (const [name, value] of Object.entries(record.headers)) headers[name] = value.toString('utf8');
    if (record.value === null && format !== 'bytes') {
      throw new Error(`the record has no value (a tombstone); format '${format}' needs one`);
    }
    const out: KafkaRecord<unknown> = {
      topic: record.topic,
      partition: record.partition,
      offset: record.offset,
      timestamp: record.timestamp,
      key: record.key === null ? null : record.key.toString('utf8'),
      value: record.value === null ? null : decodeValue(record.value),
      headers,
    };
    return out as T;
  };
}

/** Turns a stream value into the record to write (topic filled in by the sink when absent). */
export type KafkaSerializer<T> = (
  value: T,
) => Omit<OutgoingKafkaRecord, 'topic'> & { readonly topic?: string };

/** `string` writes `String(value)`, `json` writes `JSON.stringify(value)`; both without a key. */
export function serializerFor<T>(format: 'string' | 'json' | KafkaSerializer<T>): KafkaSerializer<T> {
  if (typeof format === 'function') return format;
  return format === 'json'
    ? (value) => ({ value: JSON.stringify(value) })
    : (value) => ({ value: String(value) });
}
