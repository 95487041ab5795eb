/**
 * A task manager's data plane, in its main thread: the one data port it listens on for the whole
 * life of the process, and for each attempt it runs, one connection per peer task manager
 * carrying every channel between their slots (`channels/tcp/mux-connection.ts`), as Flink keeps
 * one connection per pair of task managers whatever the slots. Only task managers of several
 * slots run it: a task manager of one slot lets that slot serve the port itself, with no relay
 * (`direct-slot-data-plane.ts`), and speaks the same protocol, so the two kinds interoperate.
 *
 * Who owns what: the slot threads own the channel ends and their flow control (a
 * `DataConnection` per peer slot, over a stream whose port this plane created and handed to the
 * slot when it started); this plane owns the sockets and only moves buffers between them and the
 * slots' ports. Of each pair of task managers, the one whose id sorts first dials once the job
 * manager has told everyone's address; the other accepts. Peers prove the cluster secret before
 * anything else (`endpoint.ts`, TLS when configured), and a connection says which attempt it
 * belongs to in its handshake id (`<task manager>/a<attempt>`): one for an attempt this task
 * manager does not run now, from a task manager that shares no channel with it here, from the
 * side that should have waited, or a second one from the same peer is refused. A new attempt
 * never uses an old attempt's connections: they are ended with it, so a late frame of an old
 * attempt can only reach the old attempt's streams, which are gone.
 *
 * Failure: a connection that fails or closes ends every stream on it that is not over, and the
 * slot threads' channels over them fail as they would have over a socket of their own; the
 * attempt fails and the job restarts from its checkpoint.
 */
import { MessageChannel, type MessagePort } from 'node:worker_threads';
import { DATA_LABEL } from '../../channels/tcp/data-plane.ts';
import {
  AuthenticatedServer,
  type AuthenticatedSocket,
  connectAuthenticated,
  type TlsClientFiles,
  type TlsServerFiles,
} from '../../channels/tcp/endpoint.ts';
import { TransportError } from '../../channels/tcp/errors.ts';
import { MuxConnection, MuxStream } from '../../channels/tcp/mux-connection.ts';
import type { ExecutionPlan } from '../../plan/execution-plan.ts';
import type { DataAddress, SlotStreamAssignment } from '../messages.ts';
import { remotePeersOf } from './slot-data-plane.ts';

export interface TaskManagerDataPlaneOptions {
  /** This task manager's id, as registered. */
  readonly id: string;
  readonly secret: Uint8Array;
  /** Default `127.0.0.1`. */
  readonly host?: string | undefined;
  /** Default 0: a free port. */
  readonly port?: number | undefined;
  readonly tls?: { readonly server: TlsServerFiles; readonly client: TlsClientFiles } | undefined;
  readonly handshakeTimeoutMs?: number | undefined;
  /** A peer refused at the port (wrong secret, wrong attempt, duplicate connection, ...): for logs and tests. */
  readonly onRefused?: ((error: TransportError) => void) | undefined;
}

export interface AttemptDataPlaneSpec {
  readonly attempt: number;
  readonly plan: Pick<ExecutionPlan, 'channels'>;
  /** The task manager of each slot of the attempt. */
  readonly processOfSlot: readonly string[];
  /** The slots this task manager runs. */
  readonly localSlots: readonly number[];
}

/** How long an attempt's end waits for its slots to end their streams before closing the sockets. */
const DRAIN_GRACE_MS = 5_000;

const SESSION_ID = /^(.*)\/a(\d+)$/;

/** The id a task manager gives in the handshakes of attempt `attempt`'s data connections. */
export function sessionIdOf(taskManagerId: string, attempt: number): string {
  return `${taskManagerId}/a${attempt}`;
}

/** The task manager and attempt a dialler's handshake id names, or undefined when it names none. */
export function parseSessionId(peerId: string): { taskManager: string; attempt: number } | undefined {
  const match = SESSION_ID.exec(peerId);
  return match === null ? undefined : { taskManager: match[1]!, attempt: Number(match[2]) };
}

/**
 * Why a data port refuses task manager `peer` dialling attempt `attempt` of task manager `self`,
 * or undefined when it takes the connection. The same rules wherever the port is served (this
 * main thread, or the slot thread of a one-slot task manager: `direct-slot-data-plane.ts`).
 */
export function refusalOf(state: {
  readonly self: string;
  readonly peer: string;
  readonly attempt: number;
  readonly ended: boolean;
  readonly sharesChannel: boolean;
  readonly connected: boolean;
}): string | undefined {
  const { self, peer, attempt } = state;
  return state.ended
    ? 'the attempt has ended here'
    : !state.sharesChannel
      ? `task manager '${peer}' shares no channel with this one in attempt ${attempt}`
      : !(peer < self)
        ? `this task manager dials '${peer}', not the reverse`
        : state.connected
          ? `a data connection to '${peer}' exists`
          : undefined;
}

export class TaskManagerDataPlane {
  readonly #options: TaskManagerDataPlaneOptions;
  readonly #server: AuthenticatedServer;
  readonly #attempts = new Map<number, AttemptDataPlane>();

  private constructor(options: TaskManagerDataPlaneOptions, server: AuthenticatedServer) {
    this.#options = options;
    this.#server = server;
  }

  /** Opens the data port; refuses to (a `ConfigError`) without a secret, or with bad options. */
  static async start(options: TaskManagerDataPlaneOptions): Promise<TaskManagerDataPlane> {
    let plane: TaskManagerDataPlane | undefined;
    const server = await AuthenticatedServer.listen({
      secret: options.secret,
      label: DATA_LABEL,
      id: options.id,
      host: options.host,
      port: options.port,
      tls: options.tls?.server,
      handshakeTimeoutMs: options.handshakeTimeoutMs,
      onRefused: options.onRefused,
      // No attempt is open before the plane exists: a connection then is refused.
      onConnection: (authenticated) => {
        if (plane === undefined) refuse(authenticated, 'not ready', options);
        else plane.#accept(authenticated);
      },
    });
    plane = new TaskManagerDataPlane(options, server);
    return plane;
  }

  get address(): { host: string; port: number } {
    return this.#server.address;
  }

  /**
   * Creates attempt `spec.attempt`'s streams (their ports go to the slot threads) and takes
   * connections for it from now on.
   */
  openAttempt(spec: AttemptDataPlaneSpec): AttemptDataPlane {
    // One left open by an attempt that failed to start (its number comes again with the next job
    // of a session): nothing can use it any more.
    this.#attempts.get(spec.attempt)?.destroy();
    const attempt = new AttemptDataPlane(spec, this.#options, () => {
      if (this.#attempts.get(spec.attempt) === attempt) this.#attempts.delete(spec.attempt);
    });
    this.#attempts.set(spec.attempt, attempt);
    return attempt;
  }

  #accept(authenticated: AuthenticatedSocket): undefined {
    const session = parseSessionId(authenticated.peerId);
    const attempt = session === undefined ? undefined : this.#attempts.get(session.attempt);
    if (session === undefined || attempt === undefined) {
      refuse(authenticated, 'no such attempt runs here', this.#options);
      return undefined;
    }
    attempt.accept(session.taskManager, authenticated);
    return undefined;
  }

  /** Stops listening and drops the connections of attempts still open. */
  async close(): Promise<void> {
    for (const attempt of this.#attempts.values()) attempt.destroy();
    this.#attempts.clear();
    await this.#server.close();
  }
}

/** Closes a connection the port does not take, and says why to `onRefused`. */
export function refuse(
  authenticated: AuthenticatedSocket,
  why: string,
  options: Pick<TaskManagerDataPlaneOptions, 'onRefused'>,
): undefined {
  authenticated.socket.on('error', () => {});
  authenticated.socket.destroy();
  options.onRefused?.(new TransportError('SLUICE_AUTH_FAILED', authenticated.peer, `refused: ${why}`));
  return undefined;
}

/** One attempt's streams and connections in this task manager. */
export class AttemptDataPlane {
  readonly attempt: number;
  readonly #options: TaskManagerDataPlaneOptions;
  readonly #onClosed: () => void;
  /** The streams to each peer task manager this attempt shares a channel with. */
  readonly #streamsByPeer = new Map<string, MuxStream[]>();
  readonly #slotStreams = new Map<number, SlotStreamAssignment[]>();
  readonly #connections = new Map<string, MuxConnection>();
  readonly #processOfSlot: readonly string[];
  #streamCount = 0;
  #localEnds = 0;
  #allEnded: () => void = () => {};
  #closed = false;

  constructor(spec: AttemptDataPlaneSpec, options: TaskManagerDataPlaneOptions, onClosed: () => void) {
    this.attempt = spec.attempt;
    this.#options = options;
    this.#onClosed = onClosed;
    this.#processOfSlot = spec.processOfSlot;
    for (const slot of spec.localSlots) {
      const ports: SlotStreamAssignment[] = [];
      for (const peerSlot of remotePeersOf(spec.plan, slot, spec.processOfSlot)) {
        const peer = spec.processOfSlot[peerSlot]!;
        const { port1, port2 } = new MessageChannel();
        const stream = new MuxStream(slot, peerSlot, port1, () => {
          this.#localEnds++;
          if (this.#localEnds === this.#streamCount) this.#allEnded();
        });
        this.#streamCount++;
        const streams = this.#streamsByPeer.get(peer) ?? [];
        streams.push(stream);
        this.#streamsByPeer.set(peer, streams);
        ports.push({ peerSlot, port: port2 });
      }
      this.#slotStreams.set(slot, ports);
    }
  }

  /** The stream ports to hand to slot `slot`'s thread (transfer them), one per peer slot. */
  streamsOf(slot: number): readonly SlotStreamAssignment[] {
    return this.#slotStreams.get(slot) ?? [];
  }

  /** Peer task managers this attempt exchanges data with. */
  get peers(): readonly string[] {
    return [...this.#streamsByPeer.keys()];
  }

  /** Open connections (for tests and metrics). */
  get connectionCount(): number {
    return this.#connections.size;
  }

  /** Dials every peer whose id sorts after this task manager's, at the address of any of its slots. */
  connect(addresses: readonly DataAddress[]): void {
    const id = this.#options.id;
    for (const [peer, streams] of this.#streamsByPeer) {
      if (!(id < peer)) continue;
      const address = addresses.find((a) => this.#processOfSlot[a.slotIndex] === peer);
      if (address === undefined) {
        this.#failStreams(
          streams,
          new TransportError('SLUICE_UNREACHABLE', peer, 'the job manager gave no data address for it'),
        );
        continue;
      }
      void this.#dial(peer, streams, address);
    }
  }

  async #dial(peer: string, streams: readonly MuxStream[], address: DataAddress): Promise<void> {
    let authenticated: AuthenticatedSocket;
    try {
      authenticated = await connectAuthenticated({
        secret: this.#options.secret,
        label: DATA_LABEL,
        id: sessionIdOf(this.#options.id, this.attempt),
        host: address.host,
        port: address.port,
        tls: this.#options.tls?.client,
        handshakeTimeoutMs: this.#options.handshakeTimeoutMs,
      });
    } catch (error) {
      this.#failStreams(streams, error as TransportError);
      return;
    }
    if (authenticated.peerId !== peer) {
      authenticated.socket.destroy();
      this.#failStreams(
        streams,
        new TransportError(
          'SLUICE_AUTH_FAILED',
          authenticated.peer,
          `expected task manager '${peer}' at ${address.host}:${address.port}`,
        ),
      );
      return;
    }
    if (this.#closed) {
      authenticated.socket.destroy();
      return;
    }
    this.#adopt(peer, authenticated);
  }

  /** A peer that dialled this attempt: adopted, or refused with the reason. */
  accept(peer: string, authenticated: AuthenticatedSocket): void {
    const why = refusalOf({
      self: this.#options.id,
      peer,
      attempt: this.attempt,
      ended: this.#closed,
      sharesChannel: this.#streamsByPeer.has(peer),
      connected: this.#connections.has(peer),
    });
    if (why !== undefined) {
      refuse(authenticated, why, this.#options);
      return;
    }
    this.#adopt(peer, authenticated);
  }

  #adopt(peer: string, authenticated: AuthenticatedSocket): void {
    const connection = new MuxConnection(authenticated, this.#streamsByPeer.get(peer)!, () => {
      if (this.#connections.get(peer) === connection) this.#connections.delete(peer);
    });
    this.#connections.set(peer, connection);
  }

  #failStreams(streams: readonly MuxStream[], error: TransportError): void {
    for (const stream of streams) stream.finish({ type: 'error', code: error.code, message: error.message });
  }

  /**
   * Ends the attempt here: waits (at most a grace period) until every slot thread ended its
   * streams, so that what they sent last is written, then ends the connections in order and
   * takes no more.
   */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#onClosed();
    if (this.#localEnds < this.#streamCount) {
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, DRAIN_GRACE_MS);
        timer.unref();
        this.#allEnded = () => {
          clearTimeout(timer);
          resolve();
        };
      });
    }
    for (const connection of this.#connections.values()) connection.close();
    this.#closePorts();
  }

  /** Drops the attempt's connections at once. */
  destroy(): void {
    this.#closed = true;
    this.#onClosed();
    for (const connection of this.#connections.values()) connection.destroy();
    this.#closePorts();
  }

  #closePorts(): void {
    for (const streams of this.#streamsByPeer.values()) for (const stream of streams) stream.port.close();
  }
}

/** The ports of `streams`, to list in the transfer list of a slot's assignment. */
export function streamPorts(streams: readonly SlotStreamAssignment[]): MessagePort[] {
  return streams.map((s) => s.port);
}
