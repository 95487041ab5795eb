/**
 * The two threads of the ring-channel benchmark (`ring-channel.ts`): a producer that sends the
 * records of one op when the main thread says `go`, and a consumer that decodes them and tells
 * the main thread when a whole op has arrived (count and checksum). The main thread only
 * orchestrates; the records travel producer → consumer directly.
 *
 * The ring contestant uses core's own `RecordWriter` (batching) over a `RingSender` (msgpackr
 * encoding, ring writes, backpressure) and `InputGate` over a `RingReceiver` (ring reads,
 * decoding), driven like a slot's loop drives a task
 * (`packages/core/src/runtime/slot.ts`): poll a few frames, and when there is nothing to do,
 * sleep on the thread's doorbell.
 */
import { type MessagePort, parentPort, workerData } from 'node:worker_threads';
import { Doorbell } from '../../packages/core/src/channels/doorbell.ts';
import { InputGate, type InputHandler } from '../../packages/core/src/channels/input-gate.ts';
import { RecordWriter } from '../../packages/core/src/channels/record-writer.ts';
import { RingReceiver, RingSender } from '../../packages/core/src/channels/ring-channel.ts';
import { batchPackr, batchUnpackr } from './msgpackr.ts';
import { checksumBatch, makeRecords, type RecordSize } from './records.ts';

/** How records cross the threads. */
export type ChannelMode = 'ring' | 'post-clone' | 'post-msgpack';

export interface ChannelSetup {
  readonly type: 'setup';
  readonly mode: ChannelMode;
  readonly size: RecordSize;
  readonly recordsPerOp: number;
  readonly batchSize: number;
  /** Ring mode: the ring and both doorbells (consumer's: rung per frame written; producer's: per frame read). */
  readonly ring?: {
    readonly sab: SharedArrayBuffer;
    readonly consumerBell: SharedArrayBuffer;
    readonly producerBell: SharedArrayBuffer;
  };
  /** postMessage modes: this thread's end of the channel between producer and consumer. */
  readonly port?: MessagePort;
}

export type MainToWorker = ChannelSetup | { readonly type: 'go' | 'teardown' | 'exit' };

export type WorkerToMain =
  | { readonly type: 'ready' | 'torn-down' }
  | { readonly type: 'op-done'; readonly records: number; readonly checksum: number }
  | { readonly type: 'failed'; readonly message: string };

export interface ChannelWorkerData {
  readonly role: 'producer' | 'consumer';
}

/** Frames the consumer handles per poll before checking for more work: the runtime's `framesPerStep`. */
const FRAMES_PER_POLL = 8;
/** Longest doorbell sleep; a lost wake-up costs at most this (as in the slot loop). */
const IDLE_WAIT_MS = 50;

const never = (): boolean => false;

/** Waits until the writer's pending frames are all in the ring (the consumer rings `bell` after each read). */
async function untilUnblocked(writer: RecordWriter, bell: Doorbell): Promise<void> {
  for (;;) {
    const seen = bell.sequence;
    writer.drain();
    if (!writer.isBlocked) return;
    await bell.wait(seen, IDLE_WAIT_MS);
  }
}

function startProducer(port: MessagePort): void {
  let send: (() => Promise<void>) | undefined;
  let teardown: (() => void) | undefined;

  port.on('message', (message: MainToWorker) => {
    switch (message.type) {
      case 'setup': {
        const records = makeRecords(message.size, message.recordsPerOp);
        const batchSize = message.batchSize;
        if (message.mode === 'ring') {
          const ring = message.ring!;
          const bell = new Doorbell(ring.producerBell);
          const writer = new RecordWriter(
            [new RingSender(ring.sab, new Doorbell(ring.consumerBell))],
            {
              partitioner: 'forward',
              keySelector: undefined,
              maxParallelism: 128,
              batchSize,
              subtaskIndex: 0,
            },
            Date.now,
          );
          send = async () => {
            // Records go in one at a time, as an operator emits them; the writer batches and encodes.
            for (let i = 0; i < records.length; i++) {
              writer.emit(records[i], Number.NaN);
              if (writer.isBlocked) await untilUnblocked(writer, bell);
            }
            writer.flush();
            if (writer.isBlocked) await untilUnblocked(writer, bell);
          };
          teardown = () => writer.close();
        } else {
          const channel = message.port!;
          const packr = message.mode === 'post-msgpack' ? batchPackr() : undefined;
          send = async () => {
            // The same batching as the ring's writer: append records, send a full batch.
            let batch: unknown[] = [];
            for (let i = 0; i < records.length; i++) {
              if (batch.push(records[i]) < batchSize && i + 1 < records.length) continue;
              if (packr === undefined) {
                channel.postMessage(batch); // structured clone of the array of objects
              } else {
                // pack() returns a view into msgpackr's shared scratch buffer: copy it to own
                // the bytes, then transfer them (zero-copy hand-over of the copy).
                const owned = new Uint8Array(packr.pack([batch, null]));
                channel.postMessage(owned, [owned.buffer]);
              }
              batch = [];
            }
          };
          teardown = () => channel.close();
        }
        reply(port, { type: 'ready' });
        return;
      }
      case 'go':
        send!().catch((error: unknown) => reply(port, { type: 'failed', message: String(error) }));
        return;
      case 'teardown':
        teardown?.();
        send = undefined;
        teardown = undefined;
        reply(port, { type: 'torn-down' });
        return;
      case 'exit':
        port.close();
        return;
    }
  });
}

function startConsumer(port: MessagePort): void {
  let teardown: (() => void) | undefined;

  port.on('message', (message: MainToWorker) => {
    switch (message.type) {
      case 'setup': {
        const recordsPerOp = message.recordsPerOp;
        let records = 0;
        let checksum = 0;
        // Every decoded batch is read field by field (the checksum), then counted; a whole op
        // delivered is reported to the main thread, which times the op.
        const onBatch = (values: readonly unknown[]): void => {
          checksum += checksumBatch(values);
          records += values.length;
          if (records >= recordsPerOp) {
            reply(port, { type: 'op-done', records, checksum });
            records = 0;
            checksum = 0;
          }
        };
        if (message.mode === 'ring') {
          const ring = message.ring!;
          const bell = new Doorbell(ring.consumerBell);
          const gate = new InputGate([new RingReceiver(ring.sab, new Doorbell(ring.producerBell))]);
          const handler: InputHandler = {
            processBatch: onBatch,
            processWatermark: () => {},
            processWatermarkStatus: () => {},
            endOfInput: () => {},
            processBarrier: () => {},
            abortCheckpoint: () => {},
          };
          let stopped = false;
          const loop = async (): Promise<void> => {
            while (!stopped) {
              const seen = bell.sequence;
              if (gate.poll(handler, FRAMES_PER_POLL, never) > 0) continue;
              await bell.wait(seen, IDLE_WAIT_MS);
            }
          };
          const running = loop().catch((error: unknown) =>
            reply(port, { type: 'failed', message: String(error) }),
          );
          teardown = () => {
            stopped = true;
            bell.ring(); // wake the loop so it sees `stopped`
            void running.then(() => {
              gate.close();
              reply(port, { type: 'torn-down' });
            });
          };
        } else {
          const channel = message.port!;
          const unpackr = message.mode === 'post-msgpack' ? batchUnpackr() : undefined;
          channel.on('message', (data: unknown[] | Uint8Array) => {
            if (unpackr === undefined) onBatch(data as unknown[]);
            else onBatch((unpackr.unpack(data as Uint8Array) as [unknown[], null])[0]);
          });
          teardown = () => {
            channel.close();
            reply(port, { type: 'torn-down' });
          };
        }
        reply(port, { type: 'ready' });
        return;
      }
      case 'teardown':
        teardown!();
        teardown = undefined;
        return;
      case 'go':
        return;
      case 'exit':
        port.close();
        return;
    }
  });
}

function reply(port: MessagePort, message: WorkerToMain): void {
  port.postMessage(message);
}

if (parentPort !== null && (workerData as ChannelWorkerData | undefined)?.role !== undefined) {
  const role = (workerData as ChannelWorkerData).role;
  if (role === 'producer') startProducer(parentPort);
  else startConsumer(parentPort);
}
