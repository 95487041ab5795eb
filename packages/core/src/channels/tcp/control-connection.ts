/**
 * The control plane's connection between two Sluice processes (job manager and task manager):
 * small messages, never per record — registration, deployment, checkpoint trigger and
 * acknowledgement, failure reports, cancel — over the same authenticated handshake as the data
 * plane (`endpoint.ts`, with its own label, so neither port accepts the other's connections).
 *
 * Each message is length-prefixed (`frame-reader.ts`, at most `maxMessageBytes`) msgpack:
 *
 * | message          | msgpack array                  |
 * |------------------|--------------------------------|
 * | request          | `[0, id, type, payload]`       |
 * | response         | `[1, id, payload]`             |
 * | error response   | `[2, id, message, code]`       |
 * | one-way message  | `[3, type, payload]`           |
 * | heartbeat        | `[4]`                          |
 *
 * Heartbeats (Flink's `HeartbeatManager`): each side sends one every `heartbeatIntervalMs` and
 * takes any message from the peer as a sign of life; a peer silent for `heartbeatTimeoutMs` is
 * declared dead and the connection fails with `SLUICE_PEER_DEAD`. Time comes from an injectable
 * {@link HeartbeatClock}, so that a test decides when a peer has been silent too long.
 */
import { Packr } from 'msgpackr';
import { ConfigError } from '../../errors.ts';
import {
  AuthenticatedServer,
  type AuthenticatedSocket,
  connectAuthenticated,
  type TlsClientFiles,
  type TlsServerFiles,
} from './endpoint.ts';
import { RemoteRequestError, TransportError } from './errors.ts';
import { FRAME_LENGTH_BYTES, FrameReader } from './frame-reader.ts';

/** The handshake label of control connections. */
export const CONTROL_LABEL = 'control';

export const DEFAULT_HEARTBEAT_INTERVAL_MS = 500;
/** A dead peer is noticed within this (plus one interval) by default. */
export const DEFAULT_HEARTBEAT_TIMEOUT_MS = 1500;
export const DEFAULT_MAX_MESSAGE_BYTES = 16 * 1024 * 1024;

/** Where heartbeats take their time from: the system's, or a test's. */
export interface HeartbeatClock {
  now(): number;
  /** Calls `tick` every `intervalMs` until the returned function is called. */
  every(intervalMs: number, tick: () => void): () => void;
}

export const systemHeartbeatClock: HeartbeatClock = {
  now: () => performance.now(),
  every: (intervalMs, tick) => {
    const timer = setInterval(tick, intervalMs);
    // Heartbeats alone must not keep a process alive that has nothing else to do.
    timer.unref();
    return () => clearInterval(timer);
  },
};

export type RequestHandler = (type: string, payload: unknown, connection: ControlConnection) => unknown;
export type MessageHandler = (type: string, payload: unknown, connection: ControlConnection) => void;

export interface ControlConnectionOptions {
  /** Default {@link DEFAULT_HEARTBEAT_INTERVAL_MS}. */
  readonly heartbeatIntervalMs?: number | undefined;
  /** Default {@link DEFAULT_HEARTBEAT_TIMEOUT_MS}; more than the interval. */
  readonly heartbeatTimeoutMs?: number | undefined;
  /** Default {@link systemHeartbeatClock}. */
  readonly clock?: HeartbeatClock | undefined;
  /** Largest message either side may send; default {@link DEFAULT_MAX_MESSAGE_BYTES}. */
  readonly maxMessageBytes?: number | undefined;
  /** Answers requests: its result (or what its promise resolves to) is the response; a throw is an error response. */
  readonly onRequest?: RequestHandler | undefined;
  readonly onMessage?: MessageHandler | undefined;
}

const Kind = { Request: 0, Response: 1, ErrorResponse: 2, Message: 3, Heartbeat: 4 } as const;

const HEARTBEAT: readonly unknown[] = [Kind.Heartbeat];

function positiveInteger(value: number | undefined, fallback: number, option: string): number {
  const result = value ?? fallback;
  if (!Number.isInteger(result) || result <= 0 || result > 2 ** 31 - 1) {
    throw new ConfigError(`${option} must be a positive integer, got ${String(value)}`);
  }
  return result;
}

/** Checks the options, naming the bad one. */
export function checkControlConnectionOptions(options: ControlConnectionOptions): {
  heartbeatIntervalMs: number;
  heartbeatTimeoutMs: number;
  maxMessageBytes: number;
} {
  const heartbeatIntervalMs = positiveInteger(
    options.heartbeatIntervalMs,
    DEFAULT_HEARTBEAT_INTERVAL_MS,
    'heartbeatIntervalMs',
  );
  const heartbeatTimeoutMs = positiveInteger(
    options.heartbeatTimeoutMs,
    DEFAULT_HEARTBEAT_TIMEOUT_MS,
    'heartbeatTimeoutMs',
  );
  if (heartbeatTimeoutMs <= heartbeatIntervalMs) {
    throw new ConfigError(
      `heartbeatTimeoutMs (${heartbeatTimeoutMs}) must be more than heartbeatIntervalMs (${heartbeatIntervalMs})`,
    );
  }
  const maxMessageBytes = positiveInteger(
    options.maxMessageBytes,
    DEFAULT_MAX_MESSAGE_BYTES,
    'maxMessageBytes',
  );
  return { heartbeatIntervalMs, heartbeatTimeoutMs, maxMessageBytes };
}

interface PendingRequest {
  readonly type: string;
  readonly resolve: (value: unknown) => void;
  readonly reject: (error: Error) => void;
}

export type ControlCloseListener = (error: TransportError | undefined) => void;

export class ControlConnection {
  readonly peerId: string;
  readonly peer: string;

  readonly #socket: AuthenticatedSocket['socket'];
  readonly #reader: FrameReader;
  // copyBuffers: binary fields are copied out of the socket's chunk, so that a kept one does not pin it.
  readonly #packr = new Packr({ useRecords: false, moreTypes: false, copyBuffers: true });
  readonly #maxMessageBytes: number;
  readonly #heartbeatTimeoutMs: number;
  readonly #clock: HeartbeatClock;
  readonly #stopHeartbeats: () => void;
  readonly #onRequest: RequestHandler | undefined;
  readonly #onMessage: MessageHandler | undefined;
  readonly #pending = new Map<number, PendingRequest>();
  readonly #closeListeners: ControlCloseListener[] = [];
  #nextRequestId = 1;
  #lastHeardMs: number;
  #failure: TransportError | undefined;
  #closedLocally = false;
  #finished = false;

  constructor(authenticated: AuthenticatedSocket, options: ControlConnectionOptions = {}) {
    const { heartbeatIntervalMs, heartbeatTimeoutMs, maxMessageBytes } =
      checkControlConnectionOptions(options);
    this.peerId = authenticated.peerId;
    this.peer = authenticated.peer;
    this.#socket = authenticated.socket;
    this.#maxMessageBytes = maxMessageBytes;
    this.#heartbeatTimeoutMs = heartbeatTimeoutMs;
    this.#clock = options.clock ?? systemHeartbeatClock;
    this.#onRequest = options.onRequest;
    this.#onMessage = options.onMessage;
    this.#lastHeardMs = this.#clock.now();
    this.#reader = new FrameReader(
      maxMessageBytes,
      (frame) => this.#onFrame(frame),
      (frameBytes) =>
        this.#fail(
          new TransportError(
            'SLUICE_PROTOCOL',
            this.peer,
            `control message of ${frameBytes} bytes exceeds the largest allowed (${maxMessageBytes})`,
          ),
        ),
    );
    const socket = this.#socket;
    socket.on('data', (chunk: Buffer) => this.#reader.push(chunk));
    socket.on('error', (error: Error) =>
      this.#fail(
        new TransportError(
          'SLUICE_CONNECTION_LOST',
          this.peer,
          `control connection failed: ${error.message}`,
          {
            cause: error,
          },
        ),
      ),
    );
    socket.on('close', () => {
      if (this.#closedLocally) this.#finish(undefined);
      else
        this.#fail(
          new TransportError(
            'SLUICE_CONNECTION_LOST',
            this.peer,
            'the control connection was closed by the peer',
          ),
        );
    });
    this.#stopHeartbeats = this.#clock.every(heartbeatIntervalMs, () => this.#heartbeat());
    if (authenticated.leftover.byteLength > 0) this.#reader.push(authenticated.leftover);
    // Reset between the handshake and now: 'close' has been emitted already.
    if (socket.destroyed) {
      this.#fail(new TransportError('SLUICE_CONNECTION_LOST', this.peer, 'the control connection was reset'));
    } else socket.resume();
  }

  /** Why the connection is unusable, once it is. */
  get failure(): TransportError | undefined {
    return this.#failure;
  }

  /** When the peer was last heard from, on the heartbeat clock. */
  get lastHeardMs(): number {
    return this.#lastHeardMs;
  }

  /**
   * Sends a request; resolves with the peer's response, rejects with a {@link RemoteRequestError}
   * when its handler failed, or with the {@link TransportError} that ended the connection.
   */
  request(type: string, payload?: unknown): Promise<unknown> {
    if (this.#failure !== undefined) return Promise.reject(this.#failure);
    const id = this.#nextRequestId;
    this.#nextRequestId = id === 0x7fffffff ? 1 : id + 1;
    return new Promise((resolve, reject) => {
      this.#pending.set(id, { type, resolve, reject });
      try {
        this.#send([Kind.Request, id, type, payload]);
      } catch (error) {
        this.#pending.delete(id);
        reject(error);
      }
    });
  }

  /** Sends a one-way message; throws the connection's failure once it has failed. */
  send(type: string, payload?: unknown): void {
    if (this.#failure !== undefined) throw this.#failure;
    this.#send([Kind.Message, type, payload]);
  }

  /** `listener(undefined)` after {@link close}, `listener(error)` when the connection failed. Called once. */
  onClose(listener: ControlCloseListener): void {
    if (this.#finished) listener(this.#closedLocally ? undefined : this.#failure);
    else this.#closeListeners.push(listener);
  }

  /** Closes the connection in order; requests still waiting are rejected. */
  close(): void {
    if (this.#failure !== undefined) return;
    this.#closedLocally = true;
    this.#failure = new TransportError('SLUICE_CONNECTION_LOST', this.peer, 'control connection closed');
    this.#stopHeartbeats();
    this.#rejectPending(this.#failure);
    this.#socket.end();
  }

  /** Closes the connection at once (a reset). */
  destroy(): void {
    this.#fail(new TransportError('SLUICE_CONNECTION_LOST', this.peer, 'control connection destroyed'));
  }

  #send(message: readonly unknown[]): void {
    const body = this.#packr.pack(message);
    if (body.byteLength > this.#maxMessageBytes) {
      throw new ConfigError(
        `control message of ${body.byteLength} bytes exceeds maxMessageBytes (${this.#maxMessageBytes}) for ${this.peer}`,
      );
    }
    const frame = Buffer.allocUnsafe(FRAME_LENGTH_BYTES + body.byteLength);
    frame.writeUInt32BE(body.byteLength, 0);
    frame.set(body, FRAME_LENGTH_BYTES);
    this.#socket.write(frame);
  }

  #heartbeat(): void {
    if (this.#failure !== undefined) return;
    const silentMs = this.#clock.now() - this.#lastHeardMs;
    if (silentMs > this.#heartbeatTimeoutMs) {
      this.#fail(
        new TransportError(
          'SLUICE_PEER_DEAD',
          this.peer,
          `no heartbeat from the peer for ${Math.round(silentMs)} ms (timeout ${this.#heartbeatTimeoutMs} ms)`,
        ),
      );
      return;
    }
    this.#send(HEARTBEAT);
  }

  #onFrame(frame: Buffer): void {
    if (this.#failure !== undefined) return;
    this.#lastHeardMs = this.#clock.now();
    let message: unknown;
    try {
      message = this.#packr.unpack(frame);
    } catch (error) {
      this.#fail(
        new TransportError('SLUICE_PROTOCOL', this.peer, 'a control message is not valid msgpack', {
          cause: error,
        }),
      );
      return;
    }
    if (!Array.isArray(message)) {
      this.#fail(new TransportError('SLUICE_PROTOCOL', this.peer, 'a control message is not an array'));
      return;
    }
    switch (message[0]) {
      case Kind.Heartbeat:
        return;
      case Kind.Request:
        this.#answer(message[1] as number, String(message[2]), message[3]);
        return;
      case Kind.Response:
      case Kind.ErrorResponse: {
        const pending = this.#pending.get(message[1] as number);
        if (pending === undefined) return; // answered after its connection was given up on: nothing waits
        this.#pending.delete(message[1] as number);
        if (message[0] === Kind.Response) pending.resolve(message[2]);
        else {
          const code = message[3];
          pending.reject(
            new RemoteRequestError(
              this.peer,
              pending.type,
              String(message[2]),
              typeof code === 'string' ? code : undefined,
            ),
          );
        }
        return;
      }
      case Kind.Message:
        if (this.#onMessage === undefined) return;
        try {
          this.#onMessage(String(message[1]), message[2], this);
        } catch (error) {
          // Thrown from a socket's data event it would be uncaught: the connection fails instead, with it as the cause.
          this.#fail(
            new TransportError(
              'SLUICE_CONNECTION_LOST',
              this.peer,
              `closed: the handler of message '${String(message[1])}' threw: ${(error as Error).message}`,
              { cause: error },
            ),
          );
        }
        return;
      default:
        this.#fail(
          new TransportError(
            'SLUICE_PROTOCOL',
            this.peer,
            `unknown control message kind ${String(message[0])}`,
          ),
        );
    }
  }

  #answer(id: number, type: string, payload: unknown): void {
    const handler = this.#onRequest;
    const respond = (value: unknown): void => {
      if (this.#failure === undefined) this.#send([Kind.Response, id, value]);
    };
    const refuse = (error: unknown): void => {
      if (this.#failure !== undefined) return;
      const code = (error as { code?: unknown } | null)?.code;
      const message = error instanceof Error ? error.message : String(error);
      this.#send([Kind.ErrorResponse, id, message, typeof code === 'string' ? code : null]);
    };
    if (handler === undefined) {
      refuse(new Error(`no handler for requests on this side (request '${type}')`));
      return;
    }
    try {
      Promise.resolve(handler(type, payload, this)).then(respond, refuse);
    } catch (error) {
      refuse(error);
    }
  }

  #rejectPending(error: Error): void {
    const pending = [...this.#pending.values()];
    this.#pending.clear();
    for (const request of pending) request.reject(error);
  }

  #fail(error: TransportError): void {
    if (this.#failure !== undefined) return;
    this.#failure = error;
    this.#reader.stop();
    this.#stopHeartbeats();
    this.#socket.destroy();
    this.#rejectPending(error);
    this.#finish(error);
  }

  #finish(error: TransportError | undefined): void {
    this.#finished = true;
    const listeners = this.#closeListeners.splice(0);
    for (const listener of listeners) listener(error);
  }
}

interface ControlEndpointCommon extends ControlConnectionOptions {
  readonly id: string;
  readonly secret: Uint8Array;
  readonly handshakeTimeoutMs?: number | undefined;
}

export interface ControlServerOptions extends ControlEndpointCommon {
  /** Default `127.0.0.1`. */
  readonly host?: string | undefined;
  readonly port?: number | undefined;
  readonly tls?: TlsServerFiles | undefined;
  readonly onConnection: (connection: ControlConnection) => void;
  readonly onRefused?: ((error: TransportError) => void) | undefined;
}

/** Opens a control port (the job manager's); refuses to (a {@link ConfigError}) without a secret. */
export async function listenControl(options: ControlServerOptions): Promise<AuthenticatedServer> {
  checkControlConnectionOptions(options);
  return AuthenticatedServer.listen({
    secret: options.secret,
    label: CONTROL_LABEL,
    id: options.id,
    host: options.host,
    port: options.port,
    tls: options.tls,
    handshakeTimeoutMs: options.handshakeTimeoutMs,
    onRefused: options.onRefused,
    onConnection: (authenticated) => options.onConnection(new ControlConnection(authenticated, options)),
  });
}

export interface ControlConnectOptions extends ControlEndpointCommon {
  readonly host: string;
  readonly port: number;
  readonly tls?: TlsClientFiles | undefined;
}

/** Connects to a control port (a task manager to its job manager). */
export async function connectControl(options: ControlConnectOptions): Promise<ControlConnection> {
  checkControlConnectionOptions(options);
  const authenticated = await connectAuthenticated({
    secret: options.secret,
    label: CONTROL_LABEL,
    id: options.id,
    host: options.host,
    port: options.port,
    tls: options.tls,
    handshakeTimeoutMs: options.handshakeTimeoutMs,
  });
  return new ControlConnection(authenticated, options);
}
