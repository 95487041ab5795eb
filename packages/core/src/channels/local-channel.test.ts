import { describe, expect, it } from 'vitest';
import { ChannelItem } from './channel.ts';
import { LocalChannel } from './local-channel.ts';
import { describeChannelContract } from './testing/channel.contract.ts';

describeChannelContract('local channel', {
  // Sized as the channel factory sizes it: about as many records as a ring of that many bytes.
  create: ({ capacityBytes, batchSize }) => new LocalChannel(Math.ceil(capacityBytes / (16 * batchSize))),
});

describe('local channel', () => {
  it('hands the arrays over as they are: no copy', () => {
    const { sender, receiver } = new LocalChannel(4);
    const values = [{ id: 1 }];
    const timestamps = [5];
    sender.sendBatch(values, timestamps, false);
    expect(receiver.receive()).toBe(ChannelItem.Batch);
    expect(receiver.values).toBe(values);
    expect(receiver.timestamps).toBe(timestamps);
  });

  it('blocks past its capacity in items, control elements included, and unblocks at the capacity', () => {
    const { sender, receiver } = new LocalChannel(3);
    expect(sender.sendBatch([1], null, false)).toBe(true);
    expect(sender.sendWatermark(1)).toBe(true);
    expect(sender.sendBatch([2], null, false)).toBe(true);
    expect(sender.sendBarrier(1)).toBe(false);
    expect(sender.sendBatch([3], null, false)).toBe(false);
    expect(sender.isBlocked).toBe(true);
    // Items over the capacity are readable at once (one thread: nothing to hide them from).
    expect(receiver.receive()).toBe(ChannelItem.Batch);
    expect(sender.flushPending()).toBe(true);
    expect(sender.isBlocked).toBe(true);
    expect(sender.flushPending()).toBe(false);
    expect(receiver.receive()).toBe(ChannelItem.Watermark);
    expect(sender.flushPending()).toBe(true);
    expect(sender.isBlocked).toBe(false);
  });

  it('grows past twice its capacity while blocked, keeping the order', () => {
    const { sender, receiver } = new LocalChannel(2);
    for (let i = 0; i < 3; i++) sender.sendBatch([i], null, false);
    expect(receiver.receive()).toBe(ChannelItem.Batch); // the head is now off slot 0
    for (let i = 3; i < 40; i++) sender.sendBatch([i], null, false);
    const ids: unknown[] = [];
    while (receiver.receive() === ChannelItem.Batch) ids.push(receiver.values[0]);
    expect(ids).toEqual(Array.from({ length: 39 }, (_, i) => i + 1));
  });
});
