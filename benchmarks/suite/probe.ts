/**
 * What instrumented jobs tell the runner from their worker threads, over a BroadcastChannel
 * (named per run) — or, when the job's slots run in task-manager processes, as UDP datagrams to
 * the runner on 127.0.0.1 (a BroadcastChannel does not leave its process): sources say when they
 * are past their warm-up and when they end, with the peak V8 heap of their thread; sinks say when
 * they closed. Messages are a handful per subtask (about ten a second), far below what a loopback
 * socket's buffer holds, so none is dropped in practice; a lost one shows as a missing
 * measurement (an error), never as a wrong figure.
 */
import { createSocket, type Socket } from 'node:dgram';
import { getHeapStatistics } from 'node:v8';
import { BroadcastChannel } from 'node:worker_threads';
import type { Source, SourceOutput, SourceReader } from '@sluice/core';

export type ProbeMessage =
  | {
      readonly type: 'warm';
      readonly subtask: number;
      /** Records this subtask had emitted when it passed its warm-up. */
      readonly records: number;
      readonly atMs: number;
    }
  | {
      /** About every 100 ms after the warm-up: records emitted so far. */
      readonly type: 'progress';
      readonly subtask: number;
      readonly records: number;
      readonly atMs: number;
    }
  | {
      readonly type: 'source-end';
      readonly subtask: number;
      readonly records: number;
      readonly atMs: number;
      /** Peak `used_heap_size` of this worker thread's isolate, sampled about every 50 ms. */
      readonly heapPeakBytes: number;
    }
  | {
      readonly type: 'sink-closed';
      readonly subtask: number;
      readonly parallelism: number;
      readonly records: number;
      readonly atMs: number;
      /** For the slow sink: how long it slept, ms. */
      readonly sleptMs?: number;
    };

export interface ProbeArgs {
  /** The BroadcastChannel name of this run. */
  readonly channel: string;
  /** Send to this UDP port on 127.0.0.1 instead of the BroadcastChannel (slots in other processes). */
  readonly udpPort?: number;
  /** A source subtask reports 'warm' once it has emitted this many records. */
  readonly warmupRecordsPerSubtask: number;
}

export const epochMs = (): number => performance.timeOrigin + performance.now();

const HEAP_SAMPLE_MS = 50;
const PROGRESS_MS = 100;

/** One UDP socket per thread for the probe datagrams, unref'd: it never keeps a thread alive. */
let udpSocket: Socket | undefined;
function sendUdp(port: number, message: ProbeMessage): void {
  if (udpSocket === undefined) {
    udpSocket = createSocket('udp4');
    udpSocket.unref();
  }
  udpSocket.send(JSON.stringify(message), port, '127.0.0.1');
}

/** Posts one message on a channel opened for it (an open channel would keep a thread alive). */
export function post(probe: ProbeArgs, message: ProbeMessage): void {
  if (probe.udpPort !== undefined) {
    sendUdp(probe.udpPort, message);
    return;
  }
  const bc = new BroadcastChannel(probe.channel);
  bc.postMessage(message);
  bc.close();
}

/** `source`, reporting its warm-up, end and heap. Costs one counting call per record. */
export function probeSource<T>(source: Source<T>, probe: ProbeArgs): Source<T> {
  return {
    ...source,
    createReader(context) {
      const reader: SourceReader<T> = source.createReader(context);
      let records = 0;
      let warm = false;
      let heapPeakBytes = 0;
      let lastHeapSampleMs = 0;
      let lastProgressMs = 0;
      let channel: BroadcastChannel | undefined;
      const send = (message: ProbeMessage): void => {
        if (probe.udpPort !== undefined) {
          sendUdp(probe.udpPort, message);
          return;
        }
        if (channel === undefined) {
          channel = new BroadcastChannel(probe.channel);
          // An open channel must not keep the worker thread alive.
          (channel as unknown as { unref(): void }).unref();
        }
        channel.postMessage(message);
      };
      let target: SourceOutput<T> | undefined;
      const counting: SourceOutput<T> = {
        collect(value, timestamp) {
          records++;
          target!.collect(value, timestamp);
        },
        emitWatermark: (watermark) => target!.emitWatermark(watermark),
        markIdle: (idle) => target!.markIdle(idle),
      };
      return {
        ...reader,
        poll(output, maxRecords) {
          target = output;
          const result = reader.poll(counting, maxRecords);
          const now = epochMs();
          if (now - lastHeapSampleMs >= HEAP_SAMPLE_MS) {
            lastHeapSampleMs = now;
            heapPeakBytes = Math.max(heapPeakBytes, getHeapStatistics().used_heap_size);
          }
          if (!warm && records >= probe.warmupRecordsPerSubtask) {
            warm = true;
            lastProgressMs = now;
            send({ type: 'warm', subtask: context.subtaskIndex, records, atMs: now });
          } else if (warm && now - lastProgressMs >= PROGRESS_MS) {
            lastProgressMs = now;
            send({ type: 'progress', subtask: context.subtaskIndex, records, atMs: now });
          }
          if (result === 2 /* PollStatus.End */) {
            heapPeakBytes = Math.max(heapPeakBytes, getHeapStatistics().used_heap_size);
            send({
              type: 'source-end',
              subtask: context.subtaskIndex,
              records,
              atMs: now,
              heapPeakBytes,
            });
            channel?.close();
            channel = undefined;
          }
          return result;
        },
        close() {
          channel?.close();
          channel = undefined;
          return reader.close?.();
        },
      };
    },
  };
}

/** Collects a run's probe messages in the runner's thread; `close()` when done. */
export class ProbeListener {
  readonly messages: ProbeMessage[] = [];
  readonly #channel: BroadcastChannel;
  #udp: Socket | undefined;

  /** `onMessage` runs as each message arrives (e.g. to read the CPU clock at that moment). */
  readonly name: string;
  readonly #onMessage: ((message: ProbeMessage) => void) | undefined;

  constructor(name: string, onMessage?: (message: ProbeMessage) => void) {
    this.name = name;
    this.#onMessage = onMessage;
    this.#channel = new BroadcastChannel(name);
    this.#channel.onmessage = (event) => this.#receive((event as MessageEvent).data as ProbeMessage);
  }

  #receive(message: ProbeMessage): void {
    this.messages.push(message);
    this.#onMessage?.(message);
  }

  /** Also listens on a UDP port of 127.0.0.1 (for slots in other processes); resolves to the port. */
  async listenUdp(): Promise<number> {
    const socket = createSocket('udp4');
    this.#udp = socket;
    socket.on('message', (data) => this.#receive(JSON.parse(data.toString('utf8')) as ProbeMessage));
    await new Promise<void>((resolve, reject) => {
      socket.once('error', reject);
      socket.bind(0, '127.0.0.1', () => {
        socket.off('error', reject);
        resolve();
      });
    });
    return socket.address().port;
  }

  /** Waits until every sink subtask has said it closed (or `timeoutMs` passed). */
  async settled(timeoutMs = 3000): Promise<void> {
    const until = performance.now() + timeoutMs;
    while (performance.now() < until) {
      const closed = this.messages.filter((m) => m.type === 'sink-closed');
      const expected = closed[0]?.type === 'sink-closed' ? closed[0].parallelism : Number.POSITIVE_INFINITY;
      if (closed.length >= expected) return;
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
  }

  close(): void {
    this.#channel.close();
    this.#udp?.close();
    this.#udp = undefined;
  }
}

/** The measured part of a throughput run, from its probe messages. */
export interface MeasuredInterval {
  /** When every source subtask was past its warm-up (the last 'warm'). */
  readonly fromMs: number;
  /** When the last sink subtask closed. */
  readonly toMs: number;
  /** Events emitted in between: all minus each subtask's count at `fromMs` (interpolated). */
  readonly events: number;
  /** The message that marks `fromMs` and the one that marks `toMs`. */
  readonly from: ProbeMessage;
  readonly to: ProbeMessage;
}

/**
 * The interval from the moment the last source subtask passed its warm-up to the moment the last
 * sink subtask closed, and the events emitted in it: each subtask's count at the start is
 * interpolated between its progress reports (about 100 ms apart), so a subtask that started
 * late neither adds its start-up to the interval nor loses its events to the count.
 * Undefined when a source subtask never passed its warm-up or no sink closed.
 */
export function measuredInterval(
  messages: readonly ProbeMessage[],
  totalEvents: number,
): MeasuredInterval | undefined {
  const warm = messages.filter((m) => m.type === 'warm');
  const ends = messages.filter((m) => m.type === 'source-end');
  const closed = messages.filter((m) => m.type === 'sink-closed');
  if (warm.length === 0 || closed.length === 0 || warm.length < ends.length) return undefined;
  const from = warm.reduce((a, b) => (b.atMs > a.atMs ? b : a));
  const to = closed.reduce((a, b) => (b.atMs > a.atMs ? b : a));
  let before = 0;
  for (const subtask of new Set(ends.map((m) => m.subtask))) {
    const points = messages
      .filter(
        (m) =>
          m.subtask === subtask && (m.type === 'warm' || m.type === 'progress' || m.type === 'source-end'),
      )
      .map((m) => [m.atMs, m.records] as const)
      .sort((a, b) => a[0] - b[0]);
    before += countAt(points, from.atMs);
  }
  return { fromMs: from.atMs, toMs: to.atMs, events: totalEvents - before, from, to };
}

/** Records emitted at time `t`, interpolated between (time, records) points sorted by time. */
function countAt(points: ReadonlyArray<readonly [number, number]>, t: number): number {
  const first = points[0]!;
  if (t <= first[0]) return first[1];
  for (let i = 1; i < points.length; i++) {
    const [t1, n1] = points[i]!;
    if (t <= t1) {
      const [t0, n0] = points[i - 1]!;
      return t1 === t0 ? n1 : n0 + ((n1 - n0) * (t - t0)) / (t1 - t0);
    }
  }
  return points.at(-1)![1];
}
