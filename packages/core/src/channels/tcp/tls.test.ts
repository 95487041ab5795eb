import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ChannelItem } from '../channel.ts';
import { connectAuthenticated } from './endpoint.ts';
import { TransportError } from './errors.ts';
import { connectedPlanes, until, Wakeups } from './testing/tcp-test-helpers.ts';
import { makeTestCertificates, type TestCertificates } from './testing/test-certificates.ts';

let certificates: TestCertificates;
const file = (name: string): string => certificates.file(name);

describe('TLS under the secret handshake', () => {
  beforeAll(() => {
    certificates = makeTestCertificates();
  });
  afterAll(() => certificates.remove());

  it('carries channels over mutual TLS, and refuses clients without a trusted certificate, plain TCP, or the secret', async () => {
    const tls = {
      // Both task managers serve the same certificate (it names 127.0.0.1) and require one signed by the CA.
      server: { certFile: file('server.crt'), keyFile: file('server.key'), caFile: file('ca.crt') },
      client: { caFile: file('ca.crt'), certFile: file('client.crt'), keyFile: file('client.key') },
    };
    const refused: TransportError[] = [];
    const pair = await connectedPlanes({ tls, onRefused: (e) => refused.push(e) });
    try {
      const wakeups = new Wakeups();
      const receiver = pair.a.connectionTo('tm-b')!.receiver(1, wakeups.wake);
      const sender = pair.b.connectionTo('tm-a')!.sender(1, wakeups.wake);
      sender.sendBatch([{ over: 'tls' }], [5], false);
      sender.sendWatermark(5);
      const kinds: number[] = [];
      await until(wakeups, () => {
        sender.flushPending();
        for (let kind = receiver.receive(); kind !== ChannelItem.None; kind = receiver.receive())
          kinds.push(kind);
        return kinds.length === 2;
      });
      expect(kinds).toEqual([ChannelItem.Batch, ChannelItem.Watermark]);
      expect(receiver.watermark).toBe(5);

      const port = pair.a.address.port;
      const base = { id: 'tm-x', label: 'data', secret: pair.secret, host: '127.0.0.1', port };
      // No client certificate (mutual TLS required).
      await expect(connectAuthenticated({ ...base, tls: { caFile: file('ca.crt') } })).rejects.toBeInstanceOf(
        TransportError,
      );
      // A server certificate the client does not trust.
      await expect(
        connectAuthenticated({ ...base, tls: { ...tls.client, caFile: file('other.crt') } }),
      ).rejects.toThrow(/cannot connect|handshake/);
      // Plain TCP on a TLS port: both sides wait for the other to speak first, until the deadline.
      await expect(connectAuthenticated({ ...base, handshakeTimeoutMs: 300 })).rejects.toThrow(
        /did not complete within 300 ms/,
      );
      // TLS right, secret wrong.
      await expect(
        connectAuthenticated({ ...base, secret: randomBytes(32), tls: tls.client }),
      ).rejects.toMatchObject({ code: 'SLUICE_AUTH_FAILED' });
      // Every refusal was the server's too, and the pair still works.
      expect(refused.length).toBeGreaterThanOrEqual(3);
      sender.sendEndOfInput();
      await until(wakeups, () => {
        sender.flushPending();
        return receiver.receive() === ChannelItem.EndOfInput;
      });
    } finally {
      await pair.close();
    }
  });

  it('refuses to start with a TLS file that cannot be read, naming it', async () => {
    await expect(
      connectedPlanes({
        tls: { server: { certFile: file('missing.crt'), keyFile: file('server.key') }, client: {} },
      }),
    ).rejects.toThrow(/cannot read the TLS certificate file .*missing\.crt/);
  });
});
