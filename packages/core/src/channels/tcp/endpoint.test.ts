import { randomBytes } from 'node:crypto';
import * as net from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { ConfigError } from '../../errors.ts';
import { ChannelItem } from '../channel.ts';
import { DataConnection } from './data-connection.ts';
import { DataPlane } from './data-plane.ts';
import { AuthenticatedServer, connectAuthenticated } from './endpoint.ts';
import { TransportError } from './errors.ts';
import { CLIENT_HELLO_MAX_BYTES } from './handshake.ts';
import { CuttingProxy, connectedPlanes, type PlanePair, until, Wakeups } from './testing/tcp-test-helpers.ts';

let pair: PlanePair | undefined;
const servers: AuthenticatedServer[] = [];
afterEach(async () => {
  await pair?.close();
  pair = undefined;
  for (const server of servers.splice(0)) await server.close();
});

/** A raw TCP client: writes `bytes` and resolves with what it read once the server closed it. */
function rawClient(port: number, bytes: Buffer | undefined): Promise<Buffer> {
  return new Promise((resolve) => {
    const socket = net.connect(port, '127.0.0.1');
    const read: Buffer[] = [];
    socket.on('data', (chunk: Buffer) => read.push(chunk));
    socket.on('error', () => {});
    socket.on('close', () => resolve(Buffer.concat(read)));
    if (bytes !== undefined) socket.on('connect', () => socket.write(bytes));
  });
}

/** The pair still carries a batch both ways: the refusals above did not touch it. */
async function stillWorks(planes: PlanePair, channelId: number): Promise<void> {
  const wakeups = new Wakeups();
  const ab = planes.a.connectionTo('tm-b')!;
  const ba = planes.b.connectionTo('tm-a')!;
  for (const [from, to, id] of [
    [ab, ba, channelId],
    [ba, ab, channelId + 1],
  ] as const) {
    const receiver = to.receiver(id, wakeups.wake);
    const sender = from.sender(id, wakeups.wake);
    sender.sendBatch([{ id }], null, false);
    let kind: number = ChannelItem.None;
    await until(wakeups, () => {
      sender.flushPending();
      kind = receiver.receive();
      return kind !== ChannelItem.None;
    });
    expect(kind).toBe(ChannelItem.Batch);
    expect(receiver.values).toEqual([{ id }]);
  }
}

describe('authentication of connections', () => {
  it('refuses to open a port without a secret, or with one too short', async () => {
    await expect(DataPlane.start({ id: 'tm', secret: undefined as unknown as Buffer })).rejects.toThrow(
      ConfigError,
    );
    await expect(DataPlane.start({ id: 'tm', secret: Buffer.from('short') })).rejects.toThrow(/at least 16/);
    await expect(
      AuthenticatedServer.listen({ id: 'x', label: 'data', secret: Buffer.alloc(0), onConnection: () => {} }),
    ).rejects.toThrow(ConfigError);
  });

  it('refuses unauthenticated, wrong-secret, wrong-purpose, garbage, oversized and silent peers; the authenticated pair keeps working', async () => {
    pair = await connectedPlanes({}, undefined);
    // A second server with a short handshake deadline, for the silent peer.
    const refused: TransportError[] = [];
    const accepted: string[] = [];
    const server = await AuthenticatedServer.listen({
      id: 'jm',
      label: 'data',
      secret: pair.secret,
      handshakeTimeoutMs: 200,
      onConnection: (connection) => {
        accepted.push(connection.peerId);
        connection.socket.destroy();
      },
      onRefused: (error) => refused.push(error),
    });
    servers.push(server);
    const port = server.address.port;

    // Wrong secret: refused by the server, and the client is told.
    const wrong = connectAuthenticated({
      id: 'evil',
      label: 'data',
      secret: randomBytes(32),
      host: '127.0.0.1',
      port,
    });
    await expect(wrong).rejects.toMatchObject({ code: 'SLUICE_AUTH_FAILED' });
    // The right secret on a port of another purpose (a control client on a data port).
    const control = connectAuthenticated({
      id: 'tm-x',
      label: 'control',
      secret: pair.secret,
      host: '127.0.0.1',
      port,
    });
    await expect(control).rejects.toBeInstanceOf(TransportError);
    // Garbage the size of a hello, more than a hello, and nothing at all.
    const garbage = await rawClient(port, Buffer.alloc(CLIENT_HELLO_MAX_BYTES - 100, 0x41));
    const oversized = await rawClient(port, Buffer.alloc(1024 * 1024, 7));
    const silent = await rawClient(port, undefined);
    // Each was sent only the challenge (37 bytes), never anything that needs the secret.
    for (const read of [garbage, oversized, silent]) expect(read.byteLength).toBe(37);

    expect(accepted).toEqual([]);
    expect(refused.map((e) => e.code)).toEqual(Array(5).fill('SLUICE_AUTH_FAILED'));
    expect(refused.map((e) => e.message).join('\n')).toMatch(/does not hold the cluster secret/);
    expect(refused.map((e) => e.message).join('\n')).toMatch(/did not complete within 200 ms/);

    // The same secret and purpose are accepted by that server.
    const good = await connectAuthenticated({
      id: 'tm-ok',
      label: 'data',
      secret: pair.secret,
      host: '127.0.0.1',
      port,
    });
    expect(good.peerId).toBe('jm');
    good.socket.destroy();
    expect(accepted).toEqual(['tm-ok']);

    // Unauthenticated clients on the data plane's own port are refused too; the pair works on.
    const onPlane = await rawClient(pair.a.address.port, Buffer.alloc(300, 0x41));
    expect(onPlane.byteLength).toBe(37);
    await stillWorks(pair, 100);
  });

  it('after authentication: an oversized frame or data beyond credit fails that connection only', async () => {
    const planeRefused: TransportError[] = [];
    pair = await connectedPlanes({ bufferBytes: 1024, onRefused: (e) => planeRefused.push(e) });
    for (const [evilId, message] of [
      // A length prefix of 1 GiB: refused from the prefix, before anything is allocated for it.
      ['evil-1', Buffer.from([0x40, 0, 0, 0, 1, 0, 0, 0, 9])],
      // A data message for a channel that granted no credit.
      ['evil-2', Buffer.from([0, 0, 0, 7, 1, 0, 0, 0, 9, 0x91, 0x01])],
    ] as const) {
      const closed = pair.a
        .connection(evilId)
        .then(
          (connection) => new Promise<TransportError | undefined>((resolve) => connection.onClose(resolve)),
        );
      const evil = await connectAuthenticated({
        id: evilId,
        label: 'data',
        secret: pair.secret,
        host: '127.0.0.1',
        port: pair.a.address.port,
      });
      evil.socket.on('error', () => {});
      evil.socket.resume();
      evil.socket.write(message);
      const error = await closed;
      expect(error).toBeInstanceOf(TransportError);
      expect(error!.code).toBe('SLUICE_PROTOCOL');
      evil.socket.destroy();
    }
    // A second connection claiming to be a task manager already connected is refused.
    const duplicate = await connectAuthenticated({
      id: 'tm-b',
      label: 'data',
      secret: pair.secret,
      host: '127.0.0.1',
      port: pair.a.address.port,
    });
    await new Promise<void>((resolve) => duplicate.socket.on('close', () => resolve()).resume());
    expect(planeRefused.map((e) => e.message).join('\n')).toMatch(/a data connection to 'tm-b' exists/);
    await stillWorks(pair, 200);
  });

  it('the secret never travels: what crosses the wire in a handshake holds neither it nor its hex', async () => {
    let proxy: CuttingProxy | undefined;
    pair = await connectedPlanes({}, async (port) => {
      proxy = await CuttingProxy.start(port);
      proxy.recording = true;
      return proxy.port;
    });
    try {
      await stillWorks(pair, 300);
      const wire = Buffer.concat(proxy!.recorded);
      // The handshakes, then the data: all of it passed through the proxy.
      expect(wire.byteLength).toBeGreaterThan(37 + 69 + 33);
      expect(wire.indexOf(pair.secret)).toBe(-1);
      expect(wire.indexOf(Buffer.from(pair.secret.toString('hex')))).toBe(-1);
      expect(wire.indexOf(pair.secret.subarray(0, 8))).toBe(-1);
    } finally {
      await proxy?.close();
    }
  });

  it('nothing listening is "unreachable" (worth a retry), not an authentication failure', async () => {
    // A port that was free a moment ago: nothing listens there now.
    const probe = net.createServer();
    await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', () => resolve()));
    const { port } = probe.address() as net.AddressInfo;
    await new Promise<void>((resolve) => probe.close(() => resolve()));
    await expect(
      connectAuthenticated({
        id: 'tm-x',
        label: 'control',
        secret: randomBytes(32),
        host: '127.0.0.1',
        port,
      }),
    ).rejects.toMatchObject({
      code: 'SLUICE_UNREACHABLE',
      message: expect.stringMatching(/cannot connect: .*ECONNREFUSED/),
    });
  });

  it('a DataConnection refuses bad flow-control options, naming them', () => {
    const fake = { socket: new net.Socket(), peerId: 'p', peer: 'p', leftover: Buffer.alloc(0) };
    expect(() => new DataConnection(fake, { bufferBytes: 10 })).toThrow(
      /bufferBytes must be an integer from 256/,
    );
    expect(() => new DataConnection(fake, { buffersPerChannel: 0 })).toThrow(/buffersPerChannel/);
    fake.socket.destroy();
  });
});
