/**
 * Checks that the micro-benchmarks measure what they claim: the ring-channel consumer receives
 * exactly the records sent (count and checksum) by every contestant, the codec benchmark encodes
 * as core does and round-trips, keyed state loses no update, and the harness reports failures and
 * ratios. No timing is asserted.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { allocateDoorbell, Doorbell } from '../../packages/core/src/channels/doorbell.ts';
import { RecordWriter } from '../../packages/core/src/channels/record-writer.ts';
import { allocateRing, RingReader } from '../../packages/core/src/channels/ring-buffer.ts';
import { RingSender } from '../../packages/core/src/channels/ring-channel.ts';
import { codecFixture } from './codec.ts';
import { runGroup } from './harness.ts';
import { KeyedStateFixture, LevelDbHost } from './keyed-state.ts';
import { batchPackr } from './msgpackr.ts';
import { checksumBatch, makeRecords } from './records.ts';
import { BATCH_SIZE, expectedDelivery, RingChannelBench } from './ring-channel.ts';

describe('ring-channel benchmark', () => {
  let bench: RingChannelBench;
  beforeAll(() => {
    bench = new RingChannelBench();
  });
  afterAll(async () => {
    await bench.close();
  });

  // Not a multiple of the batch size: the last batch of each op is a partial one.
  const recordsPerOp = 3 * BATCH_SIZE + 100;
  for (const size of ['small', 'large'] as const) {
    for (const mode of ['ring', 'post-clone', 'post-msgpack'] as const) {
      it(`${mode}, ${size} records: the consumer decodes exactly the records sent, op after op`, async () => {
        const expected = expectedDelivery(size, recordsPerOp);
        await bench.setup(mode, size, recordsPerOp);
        try {
          for (let op = 0; op < 3; op++) expect(await bench.runOp()).toEqual(expected);
        } finally {
          await bench.teardown();
        }
      });
    }
  }

  it('the checksum sees a changed field', () => {
    const records = makeRecords('large', 10);
    const changed = records.map((r, i) => (i === 5 && 'text' in r ? { ...r, text: r.text.slice(1) } : r));
    expect(checksumBatch(changed)).not.toBe(checksumBatch(records));
  });
});

describe('codec benchmark', () => {
  for (const size of ['small', 'large'] as const) {
    it(`${size} records: encodes batches byte for byte as core's RecordWriter does`, () => {
      const batchSize = 64;
      const sab = allocateRing(4 * 1024 * 1024);
      const writer = new RecordWriter(
        [new RingSender(sab, new Doorbell(allocateDoorbell()))],
        { partitioner: 'forward', keySelector: undefined, maxParallelism: 128, batchSize, subtaskIndex: 0 },
        Date.now,
      );
      const records = makeRecords(size, 2 * batchSize);
      for (const record of records) writer.emit(record, Number.NaN);
      const reader = new RingReader(sab);
      const written: Uint8Array[] = [];
      for (let frame = reader.tryRead(); frame !== null; frame = reader.tryRead())
        written.push(frame.slice());

      const packr = batchPackr();
      const batches = [records.slice(0, batchSize), records.slice(batchSize)];
      const ours = batches.map((batch) => new Uint8Array(packr.pack([batch, null])));
      expect(written).toEqual(ours);
      // The first frame defines the record structure; later ones only refer to it.
      const standalone = new Uint8Array(batchPackr().pack([batches[1]!, null]));
      expect(ours[1]!.byteLength).toBeLessThan(standalone.byteLength);
    });

    it(`${size} records: the timed frames decode to the batch, before and now, and so does the JSON`, () => {
      const fixture = codecFixture(size);
      expect(fixture.decode(fixture.frame)).toEqual(fixture.batch);
      expect(fixture.decode(fixture.frame)).toEqual(fixture.batch); // the decoder's state is reusable
      expect(fixture.decode(fixture.checkAndEncode())).toEqual(fixture.batch);
      expect(fixture.frame[0]).toBe(0x92); // the one pass's frame, not the exact path's
      // The codec before, the baseline: its frames decode to the batch too, and are no smaller.
      expect(fixture.decodeBefore(fixture.frameBefore)).toEqual(fixture.batch);
      expect(fixture.decodeBefore(fixture.encodeBefore())).toEqual(fixture.batch);
      expect(fixture.decodeBefore(fixture.checkAndEncodeBefore())).toEqual(fixture.batch);
      expect(fixture.frame.byteLength).toBeLessThanOrEqual(fixture.frameBefore.byteLength + 2);
      expect(JSON.parse(fixture.json)).toEqual(fixture.batch);
    });
  }
});

describe('keyed-state benchmark', () => {
  let host: LevelDbHost;
  beforeAll(() => {
    host = new LevelDbHost();
  });
  afterAll(async () => {
    await host.close();
  });

  for (const variant of ['heap', 'heap-ttl', 'leveldb-cached', 'leveldb-tenth'] as const) {
    it(`${variant}: every update of every op is counted`, async () => {
      const fixture = await KeyedStateFixture.open(variant, host, 256, 20);
      try {
        await fixture.warmUp();
        for (let op = 0; op < 30; op++) await fixture.runOp();
        expect(fixture.updates).toBe(50 * 256);
        expect(await fixture.total()).toBe(fixture.updates);
      } finally {
        await fixture.close();
      }
    });
  }
});

describe('harness', () => {
  it('computes ratios to the baseline and rejects when an op fails', async () => {
    let calls = 0;
    const results = await runGroup(
      'codec',
      [
        { name: 'a', unit: 'op', recordsPerOp: 10, bytesPerOp: 1e6, fn: () => void calls++ },
        { name: 'b', unit: 'op', baseline: 'a', deferred: async () => void calls++ },
      ],
      { quick: true },
    );
    expect(calls).toBeGreaterThan(0);
    const [a, b] = results;
    expect(a!.recordsPerSec).toBeCloseTo(a!.opsPerSec * 10);
    expect(a!.mbPerSec).toBeCloseTo(a!.opsPerSec);
    expect(b!.ratioToBaseline).toBeCloseTo(b!.opsPerSec / a!.opsPerSec);
    await expect(
      runGroup(
        'codec',
        [{ name: 'fails', unit: 'op', deferred: () => Promise.reject(new Error('consumer got 3 records')) }],
        { quick: true },
      ),
    ).rejects.toThrow('consumer got 3 records');
  });
});
