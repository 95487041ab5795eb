/**
 * Listening and connecting between Sluice processes: plain TCP or TLS underneath, and on top of
 * either the secret handshake (`handshake.ts`), so that whatever protocol runs next (the data plane
 * in `data-connection.ts`, control messages in `control-connection.ts`) only ever sees
 * authenticated peers. The server refuses a peer that fails the handshake by closing its socket;
 * connections already established are not touched. A server never starts without a secret.
 */
import { readFileSync } from 'node:fs';
import * as net from 'node:net';
import * as tls from 'node:tls';
import { ConfigError } from '../../errors.ts';
import { TransportError } from './errors.ts';
import { acceptHandshake, encodePeerId, initiateHandshake } from './handshake.ts';
import { checkClusterSecret } from './secret.ts';

/** Where a server listens when no host is given: this machine only. */
export const DEFAULT_LISTEN_HOST = '127.0.0.1';

/** How long a peer has to complete the handshake (connect, TLS, proofs) when not configured. */
export const DEFAULT_HANDSHAKE_TIMEOUT_MS = 10_000;

/** Most connections a server lets wait in the handshake at once; more are closed at once. */
export const DEFAULT_MAX_PENDING_HANDSHAKES = 64;

/** TLS for a server: its certificate chain and key (PEM files); with `caFile`, clients must present a certificate it signed (mutual TLS). */
export interface TlsServerFiles {
  readonly certFile: string;
  readonly keyFile: string;
  readonly caFile?: string | undefined;
}

/** TLS for a client: the CA to verify the server against (default: the system's), and a certificate for mutual TLS. */
export interface TlsClientFiles {
  readonly caFile?: string | undefined;
  readonly certFile?: string | undefined;
  readonly keyFile?: string | undefined;
  /** The name the server's certificate must carry, when it is not the host connected to. */
  readonly serverName?: string | undefined;
}

/** A connection whose peer proved the cluster secret. */
export interface AuthenticatedSocket {
  /** Paused: the protocol taking it over resumes it once it listens for data. */
  readonly socket: net.Socket;
  /** The id the peer gave in the handshake. */
  readonly peerId: string;
  /** How to name the peer in messages: its id and address. */
  readonly peer: string;
  /** Bytes the peer sent right after the handshake, to be read before the socket's next data. */
  readonly leftover: Buffer;
}

interface EndpointCommon {
  /** The cluster secret (`loadClusterSecret`); at least 16 bytes. */
  readonly secret: Uint8Array;
  /** The connection's purpose (`data`, `control`): a peer must use the same. */
  readonly label: string;
  /** This process's id, told to peers in the handshake. */
  readonly id: string;
  /** Default {@link DEFAULT_HANDSHAKE_TIMEOUT_MS}. */
  readonly handshakeTimeoutMs?: number | undefined;
}

export interface ListenOptions extends EndpointCommon {
  /** Default {@link DEFAULT_LISTEN_HOST}. */
  readonly host?: string | undefined;
  /** Default 0: a free port, read it from {@link AuthenticatedServer.address}. */
  readonly port?: number | undefined;
  readonly tls?: TlsServerFiles | undefined;
  /** Default {@link DEFAULT_MAX_PENDING_HANDSHAKES}. */
  readonly maxPendingHandshakes?: number | undefined;
  /** An authenticated peer: the callee owns its socket from now on. */
  readonly onConnection: (connection: AuthenticatedSocket) => void;
  /** A peer refused (failed or timed-out handshake, TLS failure): for logs and tests. */
  readonly onRefused?: ((error: TransportError) => void) | undefined;
}

export interface ConnectOptions extends EndpointCommon {
  readonly host: string;
  readonly port: number;
  readonly tls?: TlsClientFiles | undefined;
}

function checkTimeout(timeoutMs: number | undefined): number {
  const value = timeoutMs ?? DEFAULT_HANDSHAKE_TIMEOUT_MS;
  if (!Number.isInteger(value) || value <= 0 || value > 2 ** 31 - 1) {
    throw new ConfigError(
      `handshakeTimeoutMs must be a positive integer of milliseconds, got ${String(timeoutMs)}`,
    );
  }
  return value;
}

function checkPort(port: number | undefined, option: string): number {
  const value = port ?? 0;
  if (!Number.isInteger(value) || value < 0 || value > 65535) {
    throw new ConfigError(`${option} must be a port number from 0 to 65535, got ${String(port)}`);
  }
  return value;
}

function readPem(file: string, what: string): Buffer {
  try {
    return readFileSync(file);
  } catch (error) {
    throw new ConfigError(`cannot read the TLS ${what} file ${file}: ${(error as Error).message}`, {
      cause: error,
    });
  }
}

function addressOf(socket: net.Socket): string {
  return `${socket.remoteAddress ?? '?'}:${socket.remotePort ?? '?'}`;
}

/** A listening port that hands on only peers that proved the cluster secret. */
export class AuthenticatedServer {
  readonly #server: net.Server;
  readonly #pending = new Set<net.Socket>();

  private constructor(server: net.Server) {
    this.#server = server;
  }

  /**
   * Opens the port. Throws a {@link ConfigError} before opening anything when the secret is
   * missing or too short, an option is out of range, or a TLS file cannot be read.
   */
  static async listen(options: ListenOptions): Promise<AuthenticatedServer> {
    const secret = checkClusterSecret(options.secret ?? new Uint8Array(0));
    const timeoutMs = checkTimeout(options.handshakeTimeoutMs);
    const port = checkPort(options.port, 'port');
    encodePeerId(options.id);
    const maxPending = options.maxPendingHandshakes ?? DEFAULT_MAX_PENDING_HANDSHAKES;
    if (!Number.isInteger(maxPending) || maxPending < 1) {
      throw new ConfigError(`maxPendingHandshakes must be a positive integer, got ${String(maxPending)}`);
    }
    const tlsFiles = options.tls;
    let server: net.Server;
    let instance: AuthenticatedServer;
    const accept = (socket: net.Socket): void =>
      instance.#accept(socket, options, secret, timeoutMs, maxPending);
    if (tlsFiles === undefined) {
      server = net.createServer({ noDelay: true }, accept);
    } else {
      const ca = tlsFiles.caFile === undefined ? undefined : readPem(tlsFiles.caFile, 'CA');
      server = tls.createServer(
        {
          cert: readPem(tlsFiles.certFile, 'certificate'),
          key: readPem(tlsFiles.keyFile, 'key'),
          ca,
          requestCert: ca !== undefined,
          rejectUnauthorized: ca !== undefined,
          minVersion: 'TLSv1.2',
          // The TLS handshake counts against the same deadline as ours.
          handshakeTimeout: timeoutMs,
        },
        accept,
      );
      server.on('tlsClientError', (error: Error, socket: tls.TLSSocket) => {
        options.onRefused?.(
          new TransportError(
            'SLUICE_AUTH_FAILED',
            addressOf(socket),
            `TLS handshake failed: ${error.message}`,
            {
              cause: error,
            },
          ),
        );
      });
    }
    instance = new AuthenticatedServer(server);
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, options.host ?? DEFAULT_LISTEN_HOST, () => {
        server.off('error', reject);
        resolve();
      });
    });
    // After listening, an error on the server (a failed accept: too many open files) must not take
    // the process down; the peer whose connection failed sees it fail.
    server.on('error', () => {});
    return instance;
  }

  /** The address the server listens on. */
  get address(): { host: string; port: number } {
    const address = this.#server.address() as net.AddressInfo;
    return { host: address.address, port: address.port };
  }

  #accept(
    socket: net.Socket,
    options: ListenOptions,
    secret: Buffer,
    timeoutMs: number,
    maxPending: number,
  ): void {
    const peerAddress = addressOf(socket);
    if (this.#pending.size >= maxPending) {
      socket.destroy();
      options.onRefused?.(
        new TransportError(
          'SLUICE_AUTH_FAILED',
          peerAddress,
          `refused: ${maxPending} handshakes already in progress`,
        ),
      );
      return;
    }
    socket.setNoDelay(true);
    this.#pending.add(socket);
    acceptHandshake(socket, {
      secret,
      label: options.label,
      localId: options.id,
      timeoutMs,
      peerAddress,
    }).then(
      ({ peerId, leftover }) => {
        this.#pending.delete(socket);
        options.onConnection({ socket, peerId, peer: `${peerId} at ${peerAddress}`, leftover });
      },
      (error: TransportError) => {
        this.#pending.delete(socket);
        options.onRefused?.(error);
      },
    );
  }

  /** Stops listening and closes connections still in the handshake; authenticated ones belong to their owners. */
  close(): Promise<void> {
    for (const socket of this.#pending) socket.destroy();
    return new Promise<void>((resolve) => this.#server.close(() => resolve()));
  }
}

/**
 * Connects to a Sluice endpoint and runs the handshake; resolves once both sides proved the
 * secret. Rejects with a {@link TransportError} (`SLUICE_AUTH_FAILED`) when the connection,
 * TLS or the handshake fails or does not complete within the timeout.
 */
export async function connectAuthenticated(options: ConnectOptions): Promise<AuthenticatedSocket> {
  const secret = checkClusterSecret(options.secret ?? new Uint8Array(0));
  const timeoutMs = checkTimeout(options.handshakeTimeoutMs);
  const port = checkPort(options.port, 'port');
  encodePeerId(options.id);
  const peerAddress = `${options.host}:${port}`;
  const tlsFiles = options.tls;
  // Read before connecting: a missing file is a ConfigError, not a connection failure.
  const tlsOptions: tls.ConnectionOptions | undefined =
    tlsFiles === undefined
      ? undefined
      : {
          host: options.host,
          port,
          servername: tlsFiles.serverName ?? (net.isIP(options.host) === 0 ? options.host : undefined),
          ca: tlsFiles.caFile === undefined ? undefined : readPem(tlsFiles.caFile, 'CA'),
          cert: tlsFiles.certFile === undefined ? undefined : readPem(tlsFiles.certFile, 'certificate'),
          key: tlsFiles.keyFile === undefined ? undefined : readPem(tlsFiles.keyFile, 'key'),
          minVersion: 'TLSv1.2',
        };
  const socket = await new Promise<net.Socket>((resolve, reject) => {
    let socket: net.Socket;
    // Nothing listening (or no route) is worth a retry; a TLS handshake refused is not.
    let reached = false;
    const fail = (error: Error): void => {
      clearTimeout(timer);
      socket.destroy();
      reject(
        new TransportError(
          reached ? 'SLUICE_AUTH_FAILED' : 'SLUICE_UNREACHABLE',
          peerAddress,
          `cannot connect: ${error.message}`,
          { cause: error },
        ),
      );
    };
    const timer = setTimeout(() => fail(new Error(`no connection within ${timeoutMs} ms`)), timeoutMs);
    const connected = (): void => {
      clearTimeout(timer);
      socket.off('error', fail);
      resolve(socket);
    };
    if (tlsOptions === undefined) {
      socket = net.connect({ host: options.host, port, noDelay: true }, connected);
    } else {
      socket = tls.connect(tlsOptions!, connected);
      socket.setNoDelay(true);
    }
    socket.once('connect', () => {
      reached = true;
    });
    socket.on('error', fail);
  });
  const { peerId, leftover } = await initiateHandshake(socket, {
    secret,
    label: options.label,
    localId: options.id,
    timeoutMs,
    peerAddress,
  });
  return { socket, peerId, peer: `${peerId} at ${peerAddress}`, leftover };
}
