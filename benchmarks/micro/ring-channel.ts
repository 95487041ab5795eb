/**
 * Ring channel across threads against `postMessage`: records/s and MB/s delivered from one worker
 * thread to another.
 *
 * Method. Two worker threads, a producer and a consumer; the main thread only times. One op is a
 * fixed volume, {@link RECORDS_PER_OP} records cut into batches of {@link BATCH_SIZE} (the
 * runtime's default batch size), delivered end to end: the main thread tells the producer `go`,
 * the producer sends the op's records, the consumer decodes every batch and reads every field
 * of every record (a checksum), and when the op's last record has arrived it tells the main
 * thread, which resolves the op. benchmark.js times these ops as `defer: true` benchmarks; the
 * two control messages per op (~0.1 ms) are the same for every contestant and small next to an
 * op (tens of ms). Ops run one after another, so each op also pays for filling and draining the
 * pipeline once.
 *
 * Contestants, for small (~25 B) and large (~1 KiB) records:
 * - `ring channel`: core's `RecordWriter` → shared-memory ring (1 MiB, the runtime's default) →
 *   core's `InputGate`: msgpackr batches with inline structures, doorbells, backpressure;
 * - `postMessage (structured clone)`: each batch (an array of objects) posted on a
 *   `MessageChannel` between the two threads; the baseline;
 * - `postMessage (msgpackr, transferred)`: each batch encoded as core encodes it, copied out of
 *   msgpackr's scratch buffer and transferred, decoded by the receiver.
 * postMessage has no backpressure: the producer posts a whole op without waiting, which favours it.
 *
 * MB/s is records/s × the size of a record in core's batch encoding (msgpack), the same payload
 * measure for every contestant, so MB/s compare as records/s do.
 */
import { MessageChannel, type TransferListItem, type Worker } from 'node:worker_threads';
import { allocateDoorbell } from '../../packages/core/src/channels/doorbell.ts';
import { allocateRing } from '../../packages/core/src/channels/ring-buffer.ts';
import { DEFAULT_EXECUTION_CONFIG } from '../../packages/core/src/execution/execution-config.ts';
import { startModuleWorker } from '../../packages/core/src/threads/module-worker.ts';
import { type BenchSpec, type HarnessOptions, runGroup } from './harness.ts';
import type { MicroResult } from './index.ts';
import { batchPackr } from './msgpackr.ts';
import { checksumBatch, makeRecords, type RecordSize, toBatches } from './records.ts';
import type {
  ChannelMode,
  ChannelSetup,
  ChannelWorkerData,
  MainToWorker,
  WorkerToMain,
} from './ring-channel.worker.ts';

/** Records per batch: the runtime's default (`ExecutionConfig.batchSize`). */
export const BATCH_SIZE = DEFAULT_EXECUTION_CONFIG.batchSize;
/** Bytes of the ring: the runtime's default (`ExecutionConfig.channelCapacityBytes`). */
export const RING_BYTES = DEFAULT_EXECUTION_CONFIG.channelCapacityBytes;
/** Records per op: 64 batches of small records (~0.8 MB), 8 batches of large ones (~4 MB). */
export const RECORDS_PER_OP: Readonly<Record<RecordSize, number>> = {
  small: 64 * BATCH_SIZE,
  large: 8 * BATCH_SIZE,
};
/** A worker that does not answer within this is stuck: the benchmark fails instead of hanging. */
const REPLY_TIMEOUT_MS = 30_000;

export const MODE_LABEL: Readonly<Record<ChannelMode, string>> = {
  ring: 'ring channel',
  'post-clone': 'postMessage (structured clone)',
  'post-msgpack': 'postMessage (msgpackr, transferred)',
};

/** What one op delivers: record count and checksum, as the consumer computed them. */
export interface Delivery {
  readonly records: number;
  readonly checksum: number;
}

class ChannelThread {
  readonly worker: Worker;
  readonly #waiters: Array<(message: WorkerToMain) => void> = [];
  #failure: Error | undefined;
  readonly exited: Promise<number>;

  constructor(role: ChannelWorkerData['role']) {
    const data: ChannelWorkerData = { role };
    this.worker = startModuleWorker(new URL('./ring-channel.worker.ts', import.meta.url), data, {
      name: `micro-ring-${role}`,
    });
    this.exited = new Promise((resolve) => this.worker.once('exit', resolve));
    this.worker.on('error', (error) => this.#fail(error));
    void this.exited.then((code) => this.#fail(new Error(`${role} thread exited with code ${code}`)));
    this.worker.on('message', (message: WorkerToMain) => {
      if (message.type === 'failed') {
        this.#fail(new Error(`${role} thread failed: ${message.message}`));
        return;
      }
      this.#waiters.shift()?.(message);
    });
  }

  #fail(error: Error): void {
    this.#failure ??= error;
  }

  send(message: MainToWorker, transfer: TransferListItem[] = []): void {
    this.worker.postMessage(message, transfer);
  }

  /** The next message of the thread. */
  next(): Promise<WorkerToMain> {
    if (this.#failure !== undefined) return Promise.reject(this.#failure);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        reject(this.#failure ?? new Error(`no reply from ${this.worker.threadId} in ${REPLY_TIMEOUT_MS} ms`));
      }, REPLY_TIMEOUT_MS);
      this.#waiters.push((message) => {
        clearTimeout(timer);
        resolve(message);
      });
    });
  }
}

/**
 * A producer and a consumer thread, reused by every contestant (starting a worker costs
 * ~0.3 s); each contestant gets a fresh ring or `MessageChannel`.
 */
export class RingChannelBench {
  readonly #producer = new ChannelThread('producer');
  readonly #consumer = new ChannelThread('consumer');
  #recordsPerOp = 0;

  /** Prepares both threads for one contestant. */
  async setup(mode: ChannelMode, size: RecordSize, recordsPerOp = RECORDS_PER_OP[size]): Promise<void> {
    this.#recordsPerOp = recordsPerOp;
    const base = { type: 'setup', mode, size, recordsPerOp, batchSize: BATCH_SIZE } as const;
    let producer: ChannelSetup;
    let consumer: ChannelSetup;
    const transfers: [TransferListItem[], TransferListItem[]] = [[], []];
    if (mode === 'ring') {
      const ring = {
        sab: allocateRing(RING_BYTES),
        consumerBell: allocateDoorbell(),
        producerBell: allocateDoorbell(),
      };
      producer = { ...base, ring };
      consumer = { ...base, ring };
    } else {
      const { port1, port2 } = new MessageChannel();
      producer = { ...base, port: port1 };
      consumer = { ...base, port: port2 };
      transfers[0].push(port1);
      transfers[1].push(port2);
    }
    const ready = Promise.all([this.#producer.next(), this.#consumer.next()]);
    this.#consumer.send(consumer, transfers[1]);
    this.#producer.send(producer, transfers[0]);
    await ready;
  }

  /** One op: the producer sends {@link recordsPerOp} records; resolves when the consumer has them all. */
  async runOp(): Promise<Delivery> {
    const done = this.#consumer.next();
    this.#producer.send({ type: 'go' });
    const message = await done;
    if (message.type !== 'op-done') throw new Error(`expected op-done, got ${message.type}`);
    return { records: message.records, checksum: message.checksum };
  }

  get recordsPerOp(): number {
    return this.#recordsPerOp;
  }

  async teardown(): Promise<void> {
    const done = Promise.all([this.#producer.next(), this.#consumer.next()]);
    this.#producer.send({ type: 'teardown' });
    this.#consumer.send({ type: 'teardown' });
    await done;
  }

  /** Ends both threads (they exit by themselves once their port closes; terminated if stuck). */
  async close(): Promise<void> {
    for (const thread of [this.#producer, this.#consumer]) thread.send({ type: 'exit' });
    await Promise.all(
      [this.#producer, this.#consumer].map(async (thread) => {
        let timer: NodeJS.Timeout | undefined;
        const timedOut = new Promise<'timeout'>((resolve) => {
          timer = setTimeout(() => resolve('timeout'), 5_000);
        });
        const outcome = await Promise.race([thread.exited, timedOut]);
        clearTimeout(timer);
        if (outcome === 'timeout') await thread.worker.terminate();
      }),
    );
  }
}

/** What the consumer must report for one op of `size`: the checksum of the records the producer sends. */
export function expectedDelivery(size: RecordSize, recordsPerOp = RECORDS_PER_OP[size]): Delivery {
  return { records: recordsPerOp, checksum: checksumBatch(makeRecords(size, recordsPerOp)) };
}

/** Bytes of one op's records in core's batch encoding (a fresh encoder, as a channel starts with). */
function encodedBytesPerOp(size: RecordSize): number {
  const packr = batchPackr();
  let bytes = 0;
  for (const batch of toBatches(makeRecords(size, RECORDS_PER_OP[size]), BATCH_SIZE)) {
    bytes += packr.pack([batch, null]).byteLength;
  }
  return bytes;
}

export async function runRingChannelBenchmarks(options: HarnessOptions): Promise<MicroResult[]> {
  const bench = new RingChannelBench();
  try {
    const specs: BenchSpec[] = [];
    for (const size of ['small', 'large'] as const) {
      const expected = expectedDelivery(size);
      const bytesPerOp = encodedBytesPerOp(size);
      const recordsPerOp = RECORDS_PER_OP[size];
      const unit =
        `${recordsPerOp.toLocaleString('en-US')} ${size} records (batches of ${BATCH_SIZE}, ` +
        `${(bytesPerOp / recordsPerOp).toFixed(0)} B each as msgpack) delivered`;
      const baseline = `${MODE_LABEL['post-clone']}, ${size} records`;
      for (const mode of ['ring', 'post-clone', 'post-msgpack'] as const) {
        const name = `${MODE_LABEL[mode]}, ${size} records`;
        specs.push({
          name,
          unit,
          recordsPerOp,
          bytesPerOp,
          ...(mode === 'post-clone' ? {} : { baseline }),
          setup: () => bench.setup(mode, size),
          teardown: () => bench.teardown(),
          deferred: async () => {
            const delivery = await bench.runOp();
            if (delivery.records !== expected.records || delivery.checksum !== expected.checksum) {
              throw new Error(
                `${name}: consumer got ${delivery.records} records (checksum ${delivery.checksum}), ` +
                  `expected ${expected.records} (checksum ${expected.checksum})`,
              );
            }
          },
        });
      }
    }
    return await runGroup('ring-channel', specs, options);
  } finally {
    await bench.close();
  }
}
