import { describe, expect, it } from 'vitest';
import { ChannelItem } from './channel.ts';
import { allocateDoorbell, Doorbell } from './doorbell.ts';
import { RecordWriter } from './record-writer.ts';
import { allocateRing, RingReader, RingWriter } from './ring-buffer.ts';
import { RingReceiver, RingSender } from './ring-channel.ts';
import { describeChannelContract } from './testing/channel.contract.ts';

function ringChannel(capacityBytes: number) {
  const ring = allocateRing(capacityBytes);
  const consumerDoorbell = new Doorbell(allocateDoorbell());
  const producerDoorbell = new Doorbell(allocateDoorbell());
  return {
    ring,
    consumerDoorbell,
    producerDoorbell,
    sender: new RingSender(ring, consumerDoorbell),
    receiver: new RingReceiver(ring, producerDoorbell),
  };
}

describeChannelContract('ring channel', {
  create: ({ capacityBytes }) => ringChannel(capacityBytes),
});

describe('ring channel', () => {
  it("rings the consumer's doorbell when a frame goes in, the producer's when one comes out", () => {
    const { sender, receiver, consumerDoorbell, producerDoorbell } = ringChannel(4096);
    const consumerSeen = consumerDoorbell.sequence;
    sender.sendWatermark(1);
    expect(consumerDoorbell.sequence).not.toBe(consumerSeen);
    const producerSeen = producerDoorbell.sequence;
    expect(receiver.receive()).toBe(ChannelItem.Watermark);
    expect(producerDoorbell.sequence).not.toBe(producerSeen);
    // Nothing read, nothing rung.
    const idle = producerDoorbell.sequence;
    expect(receiver.receive()).toBe(ChannelItem.None);
    expect(producerDoorbell.sequence).toBe(idle);
  });

  it('rings the consumer once per flush of waiting frames, not per frame', () => {
    const { ring, sender, consumerDoorbell } = ringChannel(4096);
    const reader = new RingReader(ring);
    let sent = 0;
    while (!sender.isBlocked && sent < 1000) sender.sendWatermark(sent++);
    sender.sendWatermark(sent++);
    sender.sendWatermark(sent++);
    for (let frame = reader.tryRead(); frame !== null; frame = reader.tryRead()) {}
    reader.release();
    const seen = consumerDoorbell.sequence;
    expect(sender.flushPending()).toBe(true);
    expect(sender.isBlocked).toBe(false);
    expect(consumerDoorbell.sequence - seen).toBe(1);
  });

  it('asks for smaller batches when records are so large that a full batch would fill much of the ring', () => {
    const capacityBytes = 1024 * 1024;
    const { sender, receiver } = ringChannel(capacityBytes);
    const writer = new RecordWriter(
      [sender],
      {
        partitioner: 'forward',
        keySelector: undefined,
        maxParallelism: 128,
        batchSize: 512,
        subtaskIndex: 0,
      },
      () => 0,
    );
    const records = Array.from({ length: 600 }, (_, id) => ({ id, text: `${id}`.padEnd(8000, 'z') }));
    const received: unknown[] = [];
    const batchSizes: number[] = [];
    const drain = () => {
      for (let item = receiver.receive(); item !== ChannelItem.None; item = receiver.receive()) {
        if (item !== ChannelItem.Batch) continue;
        batchSizes.push(receiver.values.length);
        received.push(...receiver.values);
      }
      writer.drain();
    };
    for (const record of records) {
      writer.emit(record, Number.NaN);
      drain();
    }
    writer.flush();
    drain();
    expect(received).toEqual(records);
    // The first batch has the configured size (nothing is known of the records yet; it travels
    // in parts); after it, each batch aims at a sixteenth of the ring: 64 KiB, 8 records of 8 KB.
    expect(batchSizes.slice(1).every((n) => n <= 8)).toBe(true);
    expect(sender.recordsPerBatchMax).toBe(8);
  });

  it('keeps the configured batch size for small records, also in a small ring', () => {
    const small = ringChannel(64 * 1024);
    small.sender.sendBatch(
      Array.from({ length: 512 }, (_, id) => ({ id, text: 'y'.repeat(70) })),
      null,
      false,
    );
    expect(small.sender.recordsPerBatchMax).toBeGreaterThan(512);
    const { sender } = ringChannel(1024 * 1024);
    sender.sendBatch(
      Array.from({ length: 512 }, (_, id) => ({ id })),
      null,
      false,
    );
    expect(sender.recordsPerBatchMax).toBeGreaterThan(512);
  });

  it('frees the ring as it reads the parts of a large batch, so the rest can follow', () => {
    const { sender, receiver, producerDoorbell } = ringChannel(4096);
    const huge = Array.from({ length: 100 }, (_, i) => ({ id: i, text: 'y'.repeat(100) }));
    expect(sender.sendBatch(huge, null, false)).toBe(false);
    let rings = 0;
    let received: unknown[] | undefined;
    for (let round = 0; round < 1000 && received === undefined; round++) {
      const seen = producerDoorbell.sequence;
      const kind = receiver.receive();
      if (producerDoorbell.sequence !== seen) rings++;
      if (kind === ChannelItem.Batch) received = receiver.values;
      else expect(kind).toBe(ChannelItem.None);
      sender.flushPending();
    }
    expect(received).toEqual(huge);
    // More than one round: the batch did not fit the ring at once.
    expect(rings).toBeGreaterThan(1);
  });

  it('a copy of a frame waits, not the scratch buffer it was written in', () => {
    const { sender, receiver } = ringChannel(4096);
    let sent = 0;
    while (!sender.isBlocked && sent < 1000) sender.sendWatermark(sent++);
    const waitingFrom = sent;
    for (let i = 0; i < 5; i++) sender.sendBarrier(sent++);
    const watermarks: number[] = [];
    const barriers: number[] = [];
    for (let round = 0; round < 10_000; round++) {
      const kind = receiver.receive();
      if (kind === ChannelItem.Watermark) watermarks.push(receiver.watermark);
      else if (kind === ChannelItem.Barrier) barriers.push(receiver.checkpointId);
      else if (!sender.isBlocked) break;
      sender.flushPending();
    }
    expect(watermarks).toEqual(Array.from({ length: waitingFrom }, (_, i) => i));
    expect(barriers).toEqual([0, 1, 2, 3, 4].map((i) => waitingFrom + i));
  });

  it('close marks the ring closed for the other end, from either side', () => {
    const a = ringChannel(4096);
    a.sender.close();
    expect(new RingReader(a.ring).isClosed).toBe(true);
    const b = ringChannel(4096);
    b.receiver.close();
    expect(new RingWriter(b.ring).isClosed).toBe(true);
  });
});
