/**
 * What the TCP transport's tests share: a wake-up counter to await instead of sleeping, a pump
 * that drives senders and receivers until a condition holds, a connected pair of data planes,
 * a TCP proxy that can cut a connection mid-stream, and a heartbeat clock that moves when told.
 */
import { randomBytes } from 'node:crypto';
import * as net from 'node:net';
import type { HeartbeatClock } from '../control-connection.ts';
import { DataPlane, type DataPlaneOptions } from '../data-plane.ts';

/** Counts wake-ups; `after(seen)` resolves once there has been one since `seen`. */
export class Wakeups {
  #count = 0;
  #waiters: Array<() => void> = [];

  readonly wake = (): void => {
    this.#count++;
    for (const waiter of this.#waiters.splice(0)) waiter();
  };

  get count(): number {
    return this.#count;
  }

  after(seen: number): Promise<void> {
    if (this.#count !== seen) return Promise.resolve();
    return new Promise((resolve) => this.#waiters.push(resolve));
  }
}

/**
 * Calls `step` until `done()`; when a step made no progress, waits for a wake-up (no sleeping,
 * so the outcome never depends on timing). `step` returns whether it made progress.
 */
export async function pump(wakeups: Wakeups, step: () => boolean, done: () => boolean): Promise<void> {
  for (let round = 0; round < 10_000_000; round++) {
    const seen = wakeups.count;
    const progressed = step();
    if (done()) return;
    if (!progressed) await wakeups.after(seen);
  }
  throw new Error('pump: no end after 10M rounds');
}

/** Waits until `condition()` holds, looking again at every wake-up. */
export async function until(wakeups: Wakeups, condition: () => boolean): Promise<void> {
  await pump(wakeups, () => false, condition);
}

export interface PlanePair {
  readonly secret: Buffer;
  readonly a: DataPlane;
  readonly b: DataPlane;
  close(): Promise<void>;
}

/** Two data planes, `tm-a` and `tm-b`, with `tm-b` connected to `tm-a` (directly or through `via`). */
export async function connectedPlanes(
  options: Partial<DataPlaneOptions> = {},
  via?: (port: number) => Promise<number>,
): Promise<PlanePair> {
  const secret = randomBytes(32);
  const a = await DataPlane.start({ ...options, id: 'tm-a', secret });
  const b = await DataPlane.start({ ...options, id: 'tm-b', secret });
  const port = via === undefined ? a.address.port : await via(a.address.port);
  await Promise.all([b.connect('tm-a', '127.0.0.1', port), a.connection('tm-b')]);
  return {
    secret,
    a,
    b,
    close: async () => {
      await Promise.all([a.close(), b.close()]);
    },
  };
}

/** A TCP proxy to `targetPort` that can cut every connection it carries, with a reset. */
export class CuttingProxy {
  readonly #server: net.Server;
  readonly #sockets = new Set<net.Socket>();
  /** Bytes carried from clients to the target. */
  bytesForwarded = 0;
  /** Connections accepted from clients so far. */
  accepted = 0;
  /** Everything carried, both ways, when recording (for tests of what travels). */
  readonly recorded: Buffer[] = [];
  recording = false;
  #cutAfterBytes = Number.POSITIVE_INFINITY;
  readonly #onCut: Array<() => void> = [];

  private constructor(server: net.Server) {
    this.#server = server;
  }

  static async start(targetPort: number): Promise<CuttingProxy> {
    let proxy: CuttingProxy | undefined;
    const server = net.createServer((client) => proxy!.#carry(client, targetPort));
    proxy = new CuttingProxy(server);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    return proxy;
  }

  get port(): number {
    return (this.#server.address() as net.AddressInfo).port;
  }

  /** Cuts once more than `bytes` have gone from clients to the target; resolves when cut. */
  cutAfter(bytes: number): Promise<void> {
    this.#cutAfterBytes = bytes;
    return new Promise((resolve) => this.#onCut.push(resolve));
  }

  #carry(client: net.Socket, targetPort: number): void {
    const target = net.connect(targetPort, '127.0.0.1');
    this.accepted++;
    this.#sockets.add(client);
    this.#sockets.add(target);
    client.on('error', () => {});
    target.on('error', () => {});
    client.on('data', (chunk: Buffer) => {
      if (this.recording) this.recorded.push(chunk);
      this.bytesForwarded += chunk.byteLength;
      target.write(chunk);
      if (this.bytesForwarded > this.#cutAfterBytes) this.cut();
    });
    target.on('data', (chunk: Buffer) => {
      if (this.recording) this.recorded.push(chunk);
      client.write(chunk);
    });
    client.on('close', () => target.destroy());
    target.on('close', () => client.destroy());
  }

  /** Resets every connection carried now. */
  cut(): void {
    for (const socket of this.#sockets) socket.resetAndDestroy();
    this.#sockets.clear();
    for (const resolve of this.#onCut.splice(0)) resolve();
  }

  close(): Promise<void> {
    this.cut();
    return new Promise((resolve) => this.#server.close(() => resolve()));
  }
}

/** A heartbeat clock that moves only when the test says: `advance` runs the ticks that come due. */
export class ManualHeartbeatClock implements HeartbeatClock {
  #nowMs = 0;
  readonly #timers = new Set<{ intervalMs: number; nextMs: number; tick: () => void }>();

  now(): number {
    return this.#nowMs;
  }

  every(intervalMs: number, tick: () => void): () => void {
    const timer = { intervalMs, nextMs: this.#nowMs + intervalMs, tick };
    this.#timers.add(timer);
    return () => this.#timers.delete(timer);
  }

  advance(ms: number): void {
    const end = this.#nowMs + ms;
    for (;;) {
      let due: { intervalMs: number; nextMs: number; tick: () => void } | undefined;
      for (const timer of this.#timers)
        if (timer.nextMs <= end && (due === undefined || timer.nextMs < due.nextMs)) due = timer;
      if (due === undefined) break;
      this.#nowMs = due.nextMs;
      due.nextMs += due.intervalMs;
      due.tick();
    }
    this.#nowMs = end;
  }
}
