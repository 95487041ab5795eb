/**
 * A data plane whose connections (`data-connection.ts`) each have a socket of their own, in the
 * thread that runs their channel ends: the port peers connect to, and the one connection kept per
 * peer, whichever side dialled. The transport's tests and a peer in a process of its own use it; a
 * task manager shares one socket per peer task manager among its slot threads instead
 * (`execution/cluster/task-manager-data-plane.ts`). A second
 * connection from a peer that already has one is refused, so that the channels between two task
 * managers always share one connection; to avoid both dialling at once, let the one whose id sorts
 * first dial (the deployment knows both ids).
 */

import { checkDataConnectionOptions, DataConnection, type DataConnectionOptions } from './data-connection.ts';
import {
  AuthenticatedServer,
  type AuthenticatedSocket,
  connectAuthenticated,
  type TlsClientFiles,
  type TlsServerFiles,
} from './endpoint.ts';
import { TransportError } from './errors.ts';

/** The handshake label of data connections: a control port refuses them, and the reverse. */
export const DATA_LABEL = 'data';

export interface DataPlaneOptions extends DataConnectionOptions {
  /** This task manager's id, told to peers. */
  readonly id: string;
  /** The cluster secret (`loadClusterSecret`). */
  readonly secret: Uint8Array;
  /** Default `127.0.0.1`. */
  readonly host?: string | undefined;
  /** Default 0: a free port. */
  readonly port?: number | undefined;
  readonly tls?: { readonly server: TlsServerFiles; readonly client: TlsClientFiles } | undefined;
  readonly handshakeTimeoutMs?: number | undefined;
  /** A peer refused at the port (wrong secret, duplicate connection, ...). */
  readonly onRefused?: ((error: TransportError) => void) | undefined;
}

export class DataPlane {
  readonly #options: DataPlaneOptions;
  readonly #server: AuthenticatedServer;
  readonly #connections = new Map<string, DataConnection>();
  readonly #waiting = new Map<string, Array<(connection: DataConnection) => void>>();

  private constructor(options: DataPlaneOptions, server: AuthenticatedServer) {
    this.#options = options;
    this.#server = server;
  }

  /** Opens the data port; refuses to (a {@link ConfigError}) without a secret, or with bad options. */
  static async start(options: DataPlaneOptions): Promise<DataPlane> {
    checkDataConnectionOptions(options);
    let plane: DataPlane | undefined;
    const pending: AuthenticatedSocket[] = [];
    const server = await AuthenticatedServer.listen({
      secret: options.secret,
      label: DATA_LABEL,
      id: options.id,
      host: options.host,
      port: options.port,
      tls: options.tls?.server,
      handshakeTimeoutMs: options.handshakeTimeoutMs,
      onRefused: options.onRefused,
      onConnection: (authenticated) => {
        if (plane === undefined) pending.push(authenticated);
        else plane.#adopt(authenticated);
      },
    });
    plane = new DataPlane(options, server);
    for (const authenticated of pending) plane.#adopt(authenticated);
    return plane;
  }

  get address(): { host: string; port: number } {
    return this.#server.address;
  }

  /** Dials the data port of task manager `peerId`; refuses a peer that authenticates with another id. */
  async connect(peerId: string, host: string, port: number): Promise<DataConnection> {
    const existing = this.#connections.get(peerId);
    if (existing !== undefined) return existing;
    const authenticated = await connectAuthenticated({
      secret: this.#options.secret,
      label: DATA_LABEL,
      id: this.#options.id,
      host,
      port,
      tls: this.#options.tls?.client,
      handshakeTimeoutMs: this.#options.handshakeTimeoutMs,
    });
    if (authenticated.peerId !== peerId) {
      authenticated.socket.destroy();
      throw new TransportError(
        'SLUICE_AUTH_FAILED',
        authenticated.peer,
        `expected task manager '${peerId}' at ${host}:${port}, found '${authenticated.peerId}'`,
      );
    }
    const raced = this.#connections.get(peerId);
    if (raced !== undefined) {
      authenticated.socket.destroy();
      return raced;
    }
    return this.#adopt(authenticated)!;
  }

  /** The connection to `peerId` once there is one, dialled by either side. */
  connection(peerId: string): Promise<DataConnection> {
    const existing = this.#connections.get(peerId);
    if (existing !== undefined) return Promise.resolve(existing);
    return new Promise((resolve) => {
      const waiting = this.#waiting.get(peerId) ?? [];
      waiting.push(resolve);
      this.#waiting.set(peerId, waiting);
    });
  }

  /** The connection to `peerId`, if there is one now. */
  connectionTo(peerId: string): DataConnection | undefined {
    return this.#connections.get(peerId);
  }

  #adopt(authenticated: AuthenticatedSocket): DataConnection | undefined {
    const { peerId } = authenticated;
    if (this.#connections.has(peerId) || peerId === this.#options.id) {
      authenticated.socket.destroy();
      this.#options.onRefused?.(
        new TransportError(
          'SLUICE_AUTH_FAILED',
          authenticated.peer,
          `refused: a data connection to '${peerId}' exists`,
        ),
      );
      return undefined;
    }
    const connection = new DataConnection(authenticated, this.#options);
    this.#connections.set(peerId, connection);
    connection.onClose(() => {
      if (this.#connections.get(peerId) === connection) this.#connections.delete(peerId);
    });
    const waiting = this.#waiting.get(peerId);
    this.#waiting.delete(peerId);
    for (const resolve of waiting ?? []) resolve(connection);
    return connection;
  }

  /** Stops listening and closes every connection. */
  async close(): Promise<void> {
    for (const connection of this.#connections.values()) connection.close();
    this.#connections.clear();
    await this.#server.close();
  }
}
