/**
 * The contract every channel implementation keeps, as one test suite that each implementation's
 * test file runs against itself (`describeChannelContract(...)` in `ring-channel.test.ts` and
 * `local-channel.test.ts`): items arrive once, in order, with their content; nothing is lost when
 * the channel is full, the sender says it is blocked and unblocks once the receiver made room; a
 * batch larger than the channel's largest frame arrives whole. What only one implementation does
 * (the ring's doorbells and closed flag, the hand-over's reading of items over its capacity)
 * stays in that implementation's test file.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { Key } from '../../state/key-groups.ts';
import type { BatchKeys } from '../batch-keys.ts';
import { ChannelItem, type ChannelItemKind, type ChannelReceiver, type ChannelSender } from '../channel.ts';

/** How the suite makes the channel under test: both ends, in this thread. */
export interface ChannelUnderTest {
  /**
   * A new channel that holds about `capacityBytes` of encoded records (a transport that does not
   * encode sizes itself as the runtime does for that many bytes and `batchSize` records a batch).
   */
  create(options: { capacityBytes: number; batchSize: number }): {
    readonly sender: ChannelSender;
    readonly receiver: ChannelReceiver;
  };
}

/** What a receiver handed over, as plain data the assertions can compare. */
type Received =
  | { kind: 'batch'; values: unknown[]; timestamps: number[] | null }
  | { kind: 'watermark'; watermark: number }
  | { kind: 'status'; idle: boolean }
  | { kind: 'barrier'; checkpointId: number }
  | { kind: 'end' };

function describeItem(receiver: ChannelReceiver, kind: ChannelItemKind): Received {
  switch (kind) {
    case ChannelItem.Batch:
      return { kind: 'batch', values: receiver.values, timestamps: receiver.timestamps };
    case ChannelItem.Watermark:
      return { kind: 'watermark', watermark: receiver.watermark };
    case ChannelItem.WatermarkStatus:
      return { kind: 'status', idle: receiver.idle };
    case ChannelItem.Barrier:
      return { kind: 'barrier', checkpointId: receiver.checkpointId };
    case ChannelItem.EndOfInput:
      return { kind: 'end' };
    default:
      throw new Error(`receive() returned ${kind}`);
  }
}

/** Everything waiting now, in order (at most `limit` items). */
function receiveAll(receiver: ChannelReceiver, limit = 100_000): Received[] {
  const received: Received[] = [];
  for (let kind = receiver.receive(); kind !== ChannelItem.None; kind = receiver.receive()) {
    received.push(describeItem(receiver, kind));
    if (received.length > limit) throw new Error(`more than ${limit} items`);
  }
  return received;
}

/** A batch of `count` records, each with `textBytes` characters of text, numbered from `first`. */
function batchOf(first: number, count: number, textBytes = 8): unknown[] {
  const values: unknown[] = [];
  for (let i = first; i < first + count; i++) values.push({ id: i, text: 'x'.repeat(textBytes) });
  return values;
}

export function describeChannelContract(name: string, channels: ChannelUnderTest): void {
  describe(`${name}: the channel contract`, () => {
    const small = { capacityBytes: 4096, batchSize: 16 };

    it('is empty until something is sent', () => {
      const { receiver } = channels.create(small);
      expect(receiver.receive()).toBe(ChannelItem.None);
      expect(receiver.receive()).toBe(ChannelItem.None);
    });

    it('delivers batches and every control element once, in order, with their content', () => {
      const { sender, receiver } = channels.create({ capacityBytes: 1 << 16, batchSize: 64 });
      const first = batchOf(0, 3);
      const second = batchOf(3, 2);
      expect(sender.sendBatch(first, [10, 11, 12], false)).toBe(true);
      expect(sender.sendWatermark(12)).toBe(true);
      expect(sender.sendWatermarkStatus(true)).toBe(true);
      expect(sender.sendWatermarkStatus(false)).toBe(true);
      expect(sender.sendBatch(second, null, false)).toBe(true);
      expect(sender.sendBarrier(7)).toBe(true);
      expect(sender.sendWatermark(Number.POSITIVE_INFINITY)).toBe(true);
      expect(sender.sendEndOfInput()).toBe(true);
      expect(sender.isBlocked).toBe(false);

      expect(receiveAll(receiver)).toEqual([
        { kind: 'batch', values: first, timestamps: [10, 11, 12] },
        { kind: 'watermark', watermark: 12 },
        { kind: 'status', idle: true },
        { kind: 'status', idle: false },
        { kind: 'batch', values: second, timestamps: null },
        { kind: 'barrier', checkpointId: 7 },
        { kind: 'watermark', watermark: Number.POSITIVE_INFINITY },
        { kind: 'end' },
      ]);
      expect(receiver.receive()).toBe(ChannelItem.None);
    });

    it('keeps what arrives: a batch received earlier is not changed by later items', () => {
      const { sender, receiver } = channels.create({ capacityBytes: 1 << 16, batchSize: 64 });
      sender.sendBatch(batchOf(0, 2), [1, 2], false);
      sender.sendBatch(batchOf(2, 2), [3, 4], false);
      expect(receiver.receive()).toBe(ChannelItem.Batch);
      const values = receiver.values;
      const timestamps = receiver.timestamps;
      expect(receiver.receive()).toBe(ChannelItem.Batch);
      expect(values).toEqual(batchOf(0, 2));
      expect(timestamps).toEqual([1, 2]);
      expect(receiver.values).toEqual(batchOf(2, 2));
    });

    it('when full: keeps what it is given, says it is blocked, and unblocks once the receiver made room', () => {
      const { sender, receiver } = channels.create(small);
      const sent: unknown[][] = [];
      let next = 0;
      // Bounded: a channel of 4 KiB is full long before this many batches.
      for (let i = 0; i < 1000 && !sender.isBlocked; i++) {
        const batch = batchOf(next, small.batchSize);
        next += small.batchSize;
        sent.push(batch);
        const accepted = sender.sendBatch(batch, null, false);
        expect(accepted).toBe(!sender.isBlocked);
      }
      expect(sender.isBlocked).toBe(true);
      // More items while blocked wait behind the others, control elements included.
      const last = batchOf(next, 1);
      sent.push(last);
      expect(sender.sendBatch(last, null, false)).toBe(false);
      expect(sender.sendEndOfInput()).toBe(false);
      expect(sender.flushPending()).toBe(false);
      expect(sender.isBlocked).toBe(true);

      // The consumer reads; the producer flushes between reads, as a task's steps do.
      const received: Received[] = [];
      for (let round = 0; round < 1000; round++) {
        const kind = receiver.receive();
        if (kind === ChannelItem.None && !sender.isBlocked) break;
        if (kind !== ChannelItem.None) received.push(describeItem(receiver, kind));
        sender.flushPending();
      }
      expect(sender.isBlocked).toBe(false);
      expect(sender.flushPending()).toBe(false);
      expect(received).toEqual([
        ...sent.map((values) => ({ kind: 'batch', values, timestamps: null })),
        { kind: 'end' },
      ]);
    });

    it('delivers a batch larger than the channel holds, whole, while the receiver makes room', () => {
      const { sender, receiver } = channels.create(small);
      // About 40 KiB encoded: ten times the channel's capacity.
      const huge = batchOf(0, 200, 200);
      const timestamps = huge.map((_, i) => i);
      const accepted = sender.sendBatch(huge, timestamps, false);
      expect(accepted).toBe(!sender.isBlocked);
      sender.sendWatermark(5);
      const received: Received[] = [];
      for (let round = 0; round < 10_000; round++) {
        const kind = receiver.receive();
        if (kind === ChannelItem.None && !sender.isBlocked) break;
        if (kind !== ChannelItem.None) received.push(describeItem(receiver, kind));
        sender.flushPending();
      }
      expect(received).toEqual([
        { kind: 'batch', values: huge, timestamps },
        { kind: 'watermark', watermark: 5 },
      ]);
    });

    it('carries records that need the exact path when the sender is told so', () => {
      const { sender, receiver } = channels.create({ capacityBytes: 1 << 16, batchSize: 64 });
      const values: unknown[] = [{ zero: -0, error: new RangeError('r') }];
      sender.sendBatch(values, null, true);
      expect(receiver.receive()).toBe(ChannelItem.Batch);
      const [record] = receiver.values as Array<{ zero: number; error: Error }>;
      expect(Object.is(record!.zero, -0)).toBe(true);
      expect(record!.error).toBeInstanceOf(RangeError);
      expect(record!.error.message).toBe('r');
    });

    it('stays usable after a burst: many rounds of fill and drain lose nothing', () => {
      const { sender, receiver } = channels.create(small);
      let sentCount = 0;
      let receivedCount = 0;
      let checksum = 0;
      for (let round = 0; round < 50; round++) {
        for (let i = 0; i < 7; i++) {
          sender.sendBatch(batchOf(sentCount, 5), null, false);
          sentCount += 5;
        }
        for (let spin = 0; spin < 1000; spin++) {
          const kind = receiver.receive();
          if (kind === ChannelItem.Batch) {
            for (const value of receiver.values as Array<{ id: number }>) {
              expect(value.id).toBe(receivedCount);
              checksum += value.id;
              receivedCount++;
            }
          } else if (!sender.isBlocked) {
            break;
          }
          sender.flushPending();
        }
      }
      expect(receivedCount).toBe(sentCount);
      expect(checksum).toBe((sentCount * (sentCount - 1)) / 2);
    });

    it('delivers keyed batches with every key exactly as sent (lone surrogates, -0, NaN, bigints), whole or in parts', () => {
      const anyString = fc
        .array(fc.integer({ min: 0, max: 0xffff }), { maxLength: 12 })
        .map((units) => String.fromCharCode(...units));
      const anyKey: fc.Arbitrary<Key> = fc.oneof(
        anyString,
        fc.constantFrom<Key>('\uD800', '\uDC00', '\uFFFD', '', -0, Number.NaN, 2 ** 53, -(2n ** 70n)),
        fc.double(),
        fc.bigInt(),
        fc.boolean(),
        fc.string(),
      );
      const keyedBatch = fc.array(fc.tuple(anyKey, fc.integer({ min: 0, max: 32767 })), {
        minLength: 1,
        maxLength: 200,
      });
      // A small channel, so large batches (long keys) travel in parts.
      const { sender, receiver } = channels.create({ capacityBytes: 4096, batchSize: 200 });
      fc.assert(
        fc.property(keyedBatch, fc.boolean(), (pairs, withTimestamps) => {
          const keys: BatchKeys = { keys: pairs.map(([k]) => k), keyGroups: pairs.map(([, kg]) => kg) };
          const values = pairs.map((_, i) => ({ i }));
          const timestamps = withTimestamps ? pairs.map((_, i) => i * 10) : null;
          sender.sendBatch(values.slice(), timestamps?.slice() ?? null, false, {
            keys: keys.keys.slice(),
            keyGroups: Array.from(keys.keyGroups),
          });
          const got: Received[] = [];
          let sentKeys: BatchKeys | null = null;
          for (let guard = 0; guard < 1000 && got.length === 0; guard++) {
            sender.flushPending();
            const kind = receiver.receive();
            if (kind === ChannelItem.None) continue;
            got.push(describeItem(receiver, kind));
            sentKeys = receiver.keys;
          }
          expect(got).toEqual([{ kind: 'batch', values, timestamps }]);
          expect(sentKeys).not.toBeNull();
          // Object.is, element by element: -0 stays -0, NaN stays NaN, '\uD800' stays '\uD800'.
          expect(sentKeys!.keys.length).toBe(keys.keys.length);
          for (const [i, key] of keys.keys.entries()) {
            expect(Object.is(sentKeys!.keys[i], key), `key ${i}`).toBe(true);
          }
          expect(Array.from(sentKeys!.keyGroups)).toEqual(keys.keyGroups);
        }),
        { numRuns: 200, seed: 42 },
      );
    });

    it('delivers a batch sent without keys without keys, also after a keyed one', () => {
      const { sender, receiver } = channels.create({ capacityBytes: 1 << 16, batchSize: 64 });
      sender.sendBatch([1], null, false, { keys: ['a'], keyGroups: [3] });
      sender.sendBatch([2], null, false);
      expect(receiver.receive()).toBe(ChannelItem.Batch);
      expect(receiver.keys?.keys).toEqual(['a']);
      expect(Array.from(receiver.keys?.keyGroups ?? [])).toEqual([3]);
      expect(receiver.receive()).toBe(ChannelItem.Batch);
      expect(receiver.values).toEqual([2]);
      expect(receiver.keys).toBeNull();
    });
  });
}
