/**
 * The TCP transport as the runtime uses it: the ChannelFactory hands out TCP ends for channels
 * whose slots run in different processes (by the placement it is given), and a RecordWriter and an
 * InputGate run over them unchanged: records exact, barriers aligned across channels, watermarks,
 * end of input, and the writer blocked by credit.
 */
import { afterEach, describe, expect, it } from 'vitest';
import type { BatchKeys } from '../batch-keys.ts';
import { type ChannelEnds, ChannelFactory, type ChannelPlacement, transportOf } from '../channel-factory.ts';
import { allocateDoorbell, Doorbell } from '../doorbell.ts';
import { InputGate, type InputHandler } from '../input-gate.ts';
import { RecordWriter } from '../record-writer.ts';
import { allocateRing } from '../ring-buffer.ts';
import { RingSender } from '../ring-channel.ts';
import { TcpReceiver, TcpSender } from './tcp-channel.ts';
import { connectedPlanes, type PlanePair } from './testing/tcp-test-helpers.ts';

let pair: PlanePair | undefined;
afterEach(async () => {
  await pair?.close();
  pair = undefined;
});

// Slots 0 and 1 run in task manager a, slot 2 in task manager b.
const processOfSlot = ['tm-a', 'tm-a', 'tm-b'];
const channels: ChannelEnds[] = [
  { index: 0, sourceSubtask: 0, targetSubtask: 2 },
  { index: 1, sourceSubtask: 1, targetSubtask: 2 },
  { index: 2, sourceSubtask: 2, targetSubtask: 0 },
  { index: 3, sourceSubtask: 0, targetSubtask: 1 },
  { index: 4, sourceSubtask: 0, targetSubtask: 0 },
];

function placementFor(planes: PlanePair, self: 'tm-a' | 'tm-b'): ChannelPlacement {
  const plane = self === 'tm-a' ? planes.a : planes.b;
  return {
    processOfSlot,
    connectionTo: (process) => {
      const connection = plane.connectionTo(process);
      if (connection === undefined) throw new Error(`no connection from ${self} to ${process}`);
      return connection;
    },
  };
}

class RecordingHandler implements InputHandler {
  readonly events: Array<string | number> = [];
  ended = false;
  processBatch(values: readonly unknown[], _t: readonly number[] | null, _k: BatchKeys | null): void {
    for (const value of values) this.events.push(value as number);
  }
  processWatermark(watermark: number): void {
    this.events.push(`watermark ${watermark}`);
  }
  processWatermarkStatus(idle: boolean): void {
    this.events.push(idle ? 'idle' : 'active');
  }
  endOfInput(): void {
    this.ended = true;
  }
  processBarrier(checkpointId: number): void {
    this.events.push(`barrier ${checkpointId}`);
  }
  abortCheckpoint(checkpointId: number): void {
    this.events.push(`abort ${checkpointId}`);
  }
}

describe('ChannelFactory with a placement', () => {
  it('chooses TCP only between processes; without a placement, today’s transports', () => {
    const placement: ChannelPlacement = { processOfSlot, connectionTo: () => ({}) as never };
    expect(channels.map((c) => transportOf(c, 0, placement))).toEqual(['tcp', 'tcp', 'tcp', 'ring', 'local']);
    expect(channels.map((c) => transportOf(c, 2, placement))).toEqual(['tcp', 'tcp', 'tcp', 'ring', 'ring']);
    expect(channels.map((c) => transportOf(c, 0))).toEqual(['ring', 'ring', 'ring', 'ring', 'local']);

    const doorbells = [0, 1, 2].map(() => new Doorbell(allocateDoorbell()));
    const resources = { rings: channels.map(() => allocateRing(4096)), doorbells };
    const today = new ChannelFactory({ slotIndex: 0, resources, channelCapacityBytes: 4096, batchSize: 16 });
    expect(today.senderOf(channels[0]!)).toBeInstanceOf(RingSender);
  });

  it('a RecordWriter and an InputGate over TCP ends: exact records, aligned barriers, watermarks, end of input, backpressure', async () => {
    pair = await connectedPlanes({ bufferBytes: 1024, buffersPerChannel: 2 });
    const doorbells = [0, 1, 2].map(() => new Doorbell(allocateDoorbell()));
    const resources = { rings: channels.map(() => allocateRing(4096)), doorbells };
    const common = { resources, channelCapacityBytes: 4096, batchSize: 16 };
    const factories = [0, 1, 2].map(
      (slotIndex) =>
        new ChannelFactory({
          ...common,
          slotIndex,
          placement: placementFor(pair!, processOfSlot[slotIndex] as 'tm-a'),
        }),
    );
    // The gate in slot 2 reads channels 0 and 1; the writers in slots 0 and 1 write one each.
    const gate = new InputGate([
      factories[2]!.receiverOf(channels[0]!),
      factories[2]!.receiverOf(channels[1]!),
    ]);
    const senders = [factories[0]!.senderOf(channels[0]!), factories[1]!.senderOf(channels[1]!)];
    expect(senders.every((s) => s instanceof TcpSender)).toBe(true);
    const writers = senders.map(
      (sender, subtaskIndex) =>
        new RecordWriter(
          [sender],
          {
            partitioner: 'forward',
            keySelector: undefined,
            maxParallelism: 128,
            batchSize: 16,
            subtaskIndex,
          },
          () => 0,
        ),
    );
    expect(factories[0]!.receiverOf(channels[2]!)).toBeInstanceOf(TcpReceiver);

    // Each writer: 1000 records (writer w sends w, w+2, ...), a barrier after the first 400, a
    // watermark after each 100, then end of input.
    const recordsPerWriter = 1000;
    const emitted = [0, 0];
    const finished = [false, false];
    const handler = new RecordingHandler();
    let sawBlocked = false;
    const step = (): boolean => {
      let progressed = false;
      for (const [w, writer] of writers.entries()) {
        if (writer.isBlocked) {
          if (writer.drain()) progressed = true;
          continue;
        }
        if (finished[w]) continue;
        // Emit until the writer is blocked, as a task does: it stops taking input.
        while (!writer.isBlocked && emitted[w]! < recordsPerWriter) {
          const n = emitted[w]!++;
          writer.emit(w + 2 * n, Number.NaN);
          if (n === 399) writer.emitBarrier(1);
          if (n % 100 === 99) writer.emitWatermark(n);
          progressed = true;
        }
        if (writer.isBlocked) {
          sawBlocked = true;
          // Bounded by credit: nothing is sent beyond the room (2 x 1024 bytes) the receiver granted.
          const connection = pair!.a.connectionTo('tm-b')!;
          const inbound = pair!.b.connectionTo('tm-a')!.inboundState(w)!;
          expect(connection.outboundState(w)!.credit + inbound.queuedBytes).toBeLessThanOrEqual(2 * 1024);
        } else if (emitted[w] === recordsPerWriter) {
          writer.emitEndOfInput();
          finished[w] = true;
          progressed = true;
        }
      }
      if (gate.poll(handler, 1000, () => false) > 0) progressed = true;
      return progressed;
    };
    for (let round = 0; round < 1_000_000 && !handler.ended; round++) {
      const seen = doorbells.map((d) => d.sequence);
      if (step()) continue;
      // Nothing moved: sleep until a TCP end rings a slot's doorbell (the 50 ms cap only bounds a lost wake-up).
      await Promise.race(doorbells.map((d, i) => d.wait(seen[i]!, 50)));
    }
    expect(handler.ended).toBe(true);
    expect(sawBlocked).toBe(true);

    const records = handler.events.filter((e): e is number => typeof e === 'number');
    // Every record once, each writer's in order.
    expect(records.slice().sort((x, y) => x - y)).toEqual(Array.from({ length: 2000 }, (_, i) => i));
    for (const w of [0, 1]) {
      const own = records.filter((r) => r % 2 === w);
      expect(own).toEqual(Array.from({ length: 1000 }, (_, n) => w + 2 * n));
    }
    // The barrier is aligned: it comes after the first 400 records of both writers and before any later one.
    const barrierAt = handler.events.indexOf('barrier 1');
    expect(handler.events.filter((e) => e === 'barrier 1')).toHaveLength(1);
    const before = handler.events.slice(0, barrierAt).filter((e) => typeof e === 'number') as number[];
    expect(before.slice().sort((x, y) => x - y)).toEqual(Array.from({ length: 800 }, (_, i) => i));
    // Watermarks advance with the slower channel, to 999, then to the end of time once both ended.
    const watermarks = handler.events.filter((e) => typeof e === 'string' && e.startsWith('watermark '));
    expect(watermarks.slice(-2)).toEqual(['watermark 999', 'watermark Infinity']);
    for (const [i, wm] of watermarks.entries()) {
      const value = Number((wm as string).slice('watermark '.length));
      if (i > 0)
        expect(value).toBeGreaterThan(Number((watermarks[i - 1] as string).slice('watermark '.length)));
      // A watermark is never ahead of a record still to come from either writer.
      const at = handler.events.indexOf(wm);
      const later = handler.events.slice(at + 1).filter((e) => typeof e === 'number') as number[];
      for (const r of later) expect(Math.floor(r / 2)).toBeGreaterThan(value);
    }
  });
});
