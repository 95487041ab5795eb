import { randomBytes } from 'node:crypto';
import * as net from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { ConfigError } from '../../errors.ts';
import {
  type ControlConnection,
  type ControlConnectionOptions,
  connectControl,
  listenControl,
} from './control-connection.ts';
import { type AuthenticatedServer, connectAuthenticated } from './endpoint.ts';
import { RemoteRequestError, TransportError } from './errors.ts';
import { ManualHeartbeatClock } from './testing/tcp-test-helpers.ts';

const servers: AuthenticatedServer[] = [];
const connections: ControlConnection[] = [];
afterEach(async () => {
  for (const connection of connections.splice(0)) connection.destroy();
  for (const server of servers.splice(0)) await server.close();
});

/** A job manager's control port and a task manager connected to it; resolves with both ends. */
async function controlPair(
  serverOptions: ControlConnectionOptions = {},
  clientOptions: ControlConnectionOptions = {},
): Promise<{ jm: ControlConnection; tm: ControlConnection; secret: Buffer; port: number }> {
  const secret = randomBytes(32);
  let accepted: (connection: ControlConnection) => void = () => {};
  const jmSide = new Promise<ControlConnection>((resolve) => {
    accepted = resolve;
  });
  const server = await listenControl({
    ...serverOptions,
    id: 'jm',
    secret,
    onConnection: (c) => accepted(c),
  });
  servers.push(server);
  const tm = await connectControl({
    ...clientOptions,
    id: 'tm-1',
    secret,
    host: '127.0.0.1',
    port: server.address.port,
  });
  const jm = await jmSide;
  connections.push(jm, tm);
  return { jm, tm, secret, port: server.address.port };
}

describe('control connection', () => {
  it('answers requests (also asynchronously and in any order), reports a failed request with its code, carries one-way messages', async () => {
    const messages: unknown[] = [];
    let gotMessage: () => void = () => {};
    const messageArrived = new Promise<void>((resolve) => {
      gotMessage = resolve;
    });
    let releaseSlow: () => void = () => {};
    const slowGate = new Promise<void>((resolve) => {
      releaseSlow = resolve;
    });
    const { jm, tm } = await controlPair(
      {
        onRequest: async (type, payload) => {
          if (type === 'register') return { accepted: true, slots: (payload as { slots: number }).slots };
          if (type === 'slow') {
            await slowGate;
            return 'slow done';
          }
          throw Object.assign(new Error(`unknown request ${type}`), { code: 'SLUICE_TEST_UNKNOWN' });
        },
        onMessage: (type, payload) => {
          messages.push([type, payload]);
          gotMessage();
        },
      },
      {},
    );
    expect(jm.peerId).toBe('tm-1');
    expect(tm.peerId).toBe('jm');
    const slow = tm.request('slow');
    const fast = await tm.request('register', { slots: 2, big: 'z'.repeat(100_000) });
    expect(fast).toEqual({ accepted: true, slots: 2 });
    releaseSlow();
    expect(await slow).toBe('slow done');
    const failed = tm.request('nonsense', [1, 2]);
    await expect(failed).rejects.toBeInstanceOf(RemoteRequestError);
    await expect(failed).rejects.toMatchObject({
      remoteCode: 'SLUICE_TEST_UNKNOWN',
      requestType: 'nonsense',
    });
    // The task manager side has no request handler: the job manager's request fails, it does not hang.
    await expect(jm.request('anything')).rejects.toThrow(/no handler for requests/);
    tm.send('checkpoint-ack', { checkpointId: 3, bytes: new Uint8Array([1, 2, 3]) });
    await messageArrived;
    expect(messages).toHaveLength(1);
    const [type, payload] = messages[0] as [string, { checkpointId: number; bytes: Uint8Array }];
    expect(type).toBe('checkpoint-ack');
    expect(payload.checkpointId).toBe(3);
    // Binary travels as msgpack bin and arrives as a Buffer (a Uint8Array).
    expect(payload.bytes).toBeInstanceOf(Uint8Array);
    expect(Array.from(payload.bytes)).toEqual([1, 2, 3]);
  });

  it('declares a silent peer dead after the heartbeat timeout, on the injected clock; a peer that beats stays alive', async () => {
    const jmClock = new ManualHeartbeatClock();
    const tmClock = new ManualHeartbeatClock();
    const heartbeats = { heartbeatIntervalMs: 100, heartbeatTimeoutMs: 350 };
    const { jm, tm } = await controlPair(
      { ...heartbeats, clock: jmClock },
      { ...heartbeats, clock: tmClock },
    );
    const jmClosed = new Promise<TransportError | undefined>((resolve) => jm.onClose(resolve));

    // Both beat: each side hears the other at every step of its clock, so neither ever times out.
    // (Nothing else travels: a side's clock can only have moved on since it last heard the other.)
    for (let round = 0; round < 10; round++) {
      tmClock.advance(100);
      await expect.poll(() => jm.lastHeardMs === jmClock.now(), { timeout: 60_000, interval: 1 }).toBe(true);
      jmClock.advance(100);
      await expect.poll(() => tm.lastHeardMs === tmClock.now(), { timeout: 60_000, interval: 1 }).toBe(true);
      expect(jm.failure).toBeUndefined();
      expect(tm.failure).toBeUndefined();
    }

    // The task manager falls silent (its clock, and so its heartbeats, stop): dead after the timeout, not before.
    const lastHeard = jm.lastHeardMs;
    while (jmClock.now() + 100 - lastHeard <= 350) {
      jmClock.advance(100);
      expect(jm.failure).toBeUndefined();
    }
    jmClock.advance(100);
    const error = await jmClosed;
    expect(error).toBeInstanceOf(TransportError);
    expect(error!.code).toBe('SLUICE_PEER_DEAD');
    expect(error!.message).toMatch(/no heartbeat from the peer for \d+ ms \(timeout 350 ms\).*tm-1/);
    // Requests on a dead connection fail at once; the other side sees the connection go.
    await expect(jm.request('x')).rejects.toMatchObject({ code: 'SLUICE_PEER_DEAD' });
    const tmError = await new Promise<TransportError | undefined>((resolve) => tm.onClose(resolve));
    expect(tmError?.code).toBe('SLUICE_CONNECTION_LOST');
  });

  it('fails requests in flight with a typed error when the connection breaks; an oversized message fails the connection', async () => {
    const { jm, tm } = await controlPair({ onRequest: () => new Promise(() => {}), maxMessageBytes: 1024 });
    const pending = tm.request('never-answered');
    jm.destroy();
    await expect(pending).rejects.toMatchObject({ code: 'SLUICE_CONNECTION_LOST' });
    expect(() => tm.send('late')).toThrow(TransportError);

    const second = await controlPair({ maxMessageBytes: 1024 });
    const closed = new Promise<TransportError | undefined>((resolve) => second.jm.onClose(resolve));
    // The sender's own limit is larger: the receiver's limit refuses it from the length prefix.
    second.tm.send('huge', 'x'.repeat(10_000));
    expect((await closed)?.code).toBe('SLUICE_PROTOCOL');
  });

  it('the control port refuses an unauthenticated client, a data client and a wrong secret; the connected pair works on', async () => {
    const refused: TransportError[] = [];
    const secret = randomBytes(32);
    const server = await listenControl({
      id: 'jm',
      secret,
      onConnection: (c) => connections.push(c),
      onRequest: () => 'pong',
      onRefused: (e) => refused.push(e),
    });
    servers.push(server);
    expect(server.address.host).toBe('127.0.0.1');
    const port = server.address.port;
    const tm = await connectControl({ id: 'tm-1', secret, host: '127.0.0.1', port });
    connections.push(tm);
    const raw = await new Promise<number>((resolve) => {
      const socket = net.connect(port, '127.0.0.1', () => socket.write(Buffer.alloc(500, 1)));
      let read = 0;
      socket.on('data', (chunk: Buffer) => {
        read += chunk.byteLength;
      });
      socket.on('error', () => {});
      socket.on('close', () => resolve(read));
    });
    expect(raw).toBe(37);
    await expect(
      connectAuthenticated({ id: 'tm-2', label: 'data', secret, host: '127.0.0.1', port }),
    ).rejects.toMatchObject({ code: 'SLUICE_AUTH_FAILED' });
    await expect(
      connectControl({ id: 'tm-3', secret: randomBytes(32), host: '127.0.0.1', port }),
    ).rejects.toMatchObject({ code: 'SLUICE_AUTH_FAILED' });
    expect(refused).toHaveLength(3);
    expect(await tm.request('ping')).toBe('pong');
  });

  it('a message handler that throws fails its connection with the error as cause, not the process', async () => {
    const { jm, tm } = await controlPair({
      onMessage: () => {
        throw new Error('handler bug');
      },
    });
    const closed = new Promise<TransportError | undefined>((resolve) => jm.onClose(resolve));
    tm.send('boom');
    const error = await closed;
    expect(error?.code).toBe('SLUICE_CONNECTION_LOST');
    expect(error?.message).toMatch(/the handler of message 'boom' threw: handler bug/);
    expect((error!.cause as Error).message).toBe('handler bug');
  });

  it('an orderly close is reported without an error; bad options are refused, naming them', async () => {
    const { jm, tm } = await controlPair();
    const tmClosed = new Promise<TransportError | undefined>((resolve) => tm.onClose(resolve));
    tm.close();
    expect(await tmClosed).toBeUndefined();
    const jmClosed = await new Promise<TransportError | undefined>((resolve) => jm.onClose(resolve));
    expect(jmClosed?.code).toBe('SLUICE_CONNECTION_LOST');
    await expect(
      listenControl({
        id: 'jm',
        secret: randomBytes(32),
        heartbeatIntervalMs: 500,
        heartbeatTimeoutMs: 400,
        onConnection: () => {},
      }),
    ).rejects.toThrow(ConfigError);
    await expect(
      listenControl({ id: 'jm', secret: Buffer.alloc(3), onConnection: () => {} }),
    ).rejects.toThrow(/at least 16/);
  });
});
