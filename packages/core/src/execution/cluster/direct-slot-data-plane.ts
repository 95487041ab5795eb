/**
 * The data plane of a task manager with one slot, in that slot's thread: for its attempt the slot
 * listens on the task manager's data port itself and owns the sockets to the peer task managers,
 * so records cross no thread but the network. This is the Kubernetes layout (one pod per slot),
 * where the slot thread is its task manager's only network endpoint: one connection per pair of
 * task managers holds without a relay. Task managers of several slots share one socket per peer
 * through their main thread instead (`task-manager-data-plane.ts`).
 *
 * The two kinds interoperate because they speak the same protocol: the same handshake ids
 * (`<task manager>/a<attempt>`, so a connection names its attempt), the same rule of who dials (the
 * task manager whose id sorts first), the same refusals (`refusalOf`: an attempt not running here,
 * no shared channel, the side that should have waited, a second connection), and the same
 * segments on the socket (`mux-protocol.ts`): a peer of several slots sends this slot a stream per
 * slot of its own on the one socket (`channels/tcp/direct-mux-connection.ts`).
 *
 * Attempts: the port is opened when the attempt's slot starts and closed when it ends, with its
 * sockets, so nothing of an old attempt reaches a new one: a late dialler of an old attempt finds
 * the port closed, or a new attempt's port that refuses its handshake id. With `--data-port` the
 * port number is the same every attempt (a port still held by the previous attempt's thread as it
 * exits is tried again, a bounded number of times); with any free port, each attempt's is told to
 * the job manager as before.
 */
import type { ChannelPlacement } from '../../channels/channel-factory.ts';
import { DataConnection, type DataConnectionOptions } from '../../channels/tcp/data-connection.ts';
import { DATA_LABEL } from '../../channels/tcp/data-plane.ts';
import { DirectMuxConnection, DirectStream } from '../../channels/tcp/direct-mux-connection.ts';
import {
  AuthenticatedServer,
  type AuthenticatedSocket,
  connectAuthenticated,
} from '../../channels/tcp/endpoint.ts';
import { TransportError } from '../../channels/tcp/errors.ts';
import type { ExecutionPlan } from '../../plan/execution-plan.ts';
import type {
  DataAddress,
  DirectDataPortAssignment,
  SlotClusterAssignment,
  SlotMessage,
} from '../messages.ts';
import { PeersCancelledError, remotePeersOf, type SlotDataPlane } from './slot-data-plane.ts';
import { parseSessionId, refusalOf, refuse, sessionIdOf } from './task-manager-data-plane.ts';

export interface OpenDirectSlotDataPlaneOptions {
  readonly plan: Pick<ExecutionPlan, 'channels'>;
  readonly slotIndex: number;
  readonly cluster: SlotClusterAssignment;
  readonly port: DirectDataPortAssignment;
  /** Reports the address the slot listens on (the job manager tells every task manager). */
  readonly post: (message: SlotMessage) => void;
  /** Every slot's address, as the job manager sends it once all have reported. */
  readonly peers: Promise<readonly DataAddress[]>;
  /** Resolves when the attempt is cancelled while the slot waits (a peer never comes). */
  readonly cancelled: Promise<void>;
  readonly flowControl?: DataConnectionOptions | undefined;
  /** A peer refused at the port (for logs and tests). */
  readonly onRefused?: ((error: TransportError) => void) | undefined;
  readonly handshakeTimeoutMs?: number | undefined;
}

/** How long closing waits for the peers to close the sockets after this side ended them. */
const CLOSE_GRACE_MS = 5_000;
/** Tries, and the pause between them, to open a fixed data port the previous attempt's thread may still hold. */
const LISTEN_TRIES = 40;
const LISTEN_RETRY_MS = 50;

export async function openDirectSlotDataPlane(
  options: OpenDirectSlotDataPlaneOptions,
): Promise<SlotDataPlane> {
  const { plan, slotIndex, cluster, port } = options;
  const self = port.taskManagerId;
  const streamsByPeer = new Map<string, DirectStream[]>();
  const streams: DirectStream[] = [];
  for (const peerSlot of remotePeersOf(plan, slotIndex, cluster.processOfSlot)) {
    const peer = cluster.processOfSlot[peerSlot]!;
    const stream = new DirectStream(slotIndex, peerSlot, cluster.peerOfSlot[peerSlot]!);
    streams.push(stream);
    const ofPeer = streamsByPeer.get(peer) ?? [];
    ofPeer.push(stream);
    streamsByPeer.set(peer, ofPeer);
  }
  const connections = new Map<string, DirectMuxConnection>();
  let ended = false;
  const failStreams = (peer: string, error: TransportError): void => {
    for (const stream of streamsByPeer.get(peer) ?? []) stream.fail(error.code, error.message);
  };
  const adopt = (peer: string, authenticated: AuthenticatedSocket): void => {
    const connection = new DirectMuxConnection(authenticated, streamsByPeer.get(peer)!, () => {});
    connections.set(peer, connection);
  };
  const accept = (authenticated: AuthenticatedSocket): void => {
    const session = parseSessionId(authenticated.peerId);
    if (session === undefined || session.attempt !== port.attempt) {
      refuse(authenticated, 'no such attempt runs here', options);
      return;
    }
    const why = refusalOf({
      self,
      peer: session.taskManager,
      attempt: port.attempt,
      ended,
      sharesChannel: streamsByPeer.has(session.taskManager),
      connected: connections.has(session.taskManager),
    });
    if (why !== undefined) refuse(authenticated, why, options);
    else adopt(session.taskManager, authenticated);
  };
  const server = await listen(options, accept);
  const close = async (): Promise<void> => {
    ended = true;
    const closing = server.close();
    for (const connection of connections.values()) connection.close();
    // What was written last reaches the peers before the thread may go: the sockets closed by
    // both sides (the server's close waits for those it accepted), or the grace period over.
    const settled = Promise.all([closing, ...[...connections.values()].map((c) => c.closed)]);
    let timer: ReturnType<typeof setTimeout> | undefined;
    const grace = new Promise<void>((resolve) => {
      timer = setTimeout(resolve, CLOSE_GRACE_MS);
    });
    await Promise.race([settled, grace]);
    clearTimeout(timer);
    for (const connection of connections.values()) connection.destroy();
  };

  try {
    options.post({
      type: 'data-address',
      slotIndex,
      host: port.advertiseHost,
      port: server.address.port,
    });
    const cancelled = options.cancelled.then(() => {
      throw new PeersCancelledError();
    });
    const addresses = await Promise.race([options.peers, cancelled]);
    for (const peer of streamsByPeer.keys()) {
      if (!(self < peer)) continue;
      const address = addresses.find((a) => cluster.processOfSlot[a.slotIndex] === peer);
      if (address === undefined) {
        failStreams(
          peer,
          new TransportError('SLUICE_UNREACHABLE', peer, 'the job manager gave no data address for it'),
        );
        continue;
      }
      void dial(options, peer, address).then(
        (authenticated) => {
          if (ended) authenticated.socket.destroy();
          else adopt(peer, authenticated);
        },
        (error: TransportError) => failStreams(peer, error),
      );
    }
    await Promise.race([Promise.all(streams.map((s) => s.connected)), cancelled]);
  } catch (error) {
    for (const stream of streams) stream.destroy();
    await close();
    throw error;
  }

  const dataConnections = new Map<string, DataConnection>();
  for (const stream of streams) {
    const peerSlotId = cluster.peerOfSlot[stream.remoteSlot]!;
    const through = connections.get(cluster.processOfSlot[stream.remoteSlot]!)!;
    dataConnections.set(
      peerSlotId,
      new DataConnection(
        { socket: stream, peerId: peerSlotId, peer: `${peerSlotId} via ${through.peer}`, leftover: NO_BYTES },
        options.flowControl,
      ),
    );
  }
  const placement: ChannelPlacement = {
    processOfSlot: cluster.processOfSlot,
    peerOfSlot: cluster.peerOfSlot,
    connectionTo: (peerId) => {
      const connection = dataConnections.get(peerId);
      if (connection === undefined) throw new Error(`bug: no data connection to '${peerId}'`);
      return connection;
    },
  };
  return {
    placement,
    close: async () => {
      for (const connection of dataConnections.values()) connection.close();
      await close();
    },
  };
}

const NO_BYTES = Buffer.alloc(0);

async function listen(
  options: OpenDirectSlotDataPlaneOptions,
  onConnection: (authenticated: AuthenticatedSocket) => void,
): Promise<AuthenticatedServer> {
  const { port } = options;
  for (let attempt = 1; ; attempt++) {
    try {
      return await AuthenticatedServer.listen({
        secret: port.secret,
        label: DATA_LABEL,
        id: port.taskManagerId,
        host: port.bindHost,
        port: port.port,
        tls: port.tls?.server,
        handshakeTimeoutMs: options.handshakeTimeoutMs,
        onRefused: options.onRefused,
        onConnection,
      });
    } catch (error) {
      const inUse = (error as { code?: unknown }).code === 'EADDRINUSE';
      if (!inUse || port.port === 0 || attempt >= LISTEN_TRIES) throw error;
      await new Promise((resolve) => setTimeout(resolve, LISTEN_RETRY_MS));
    }
  }
}

async function dial(
  options: OpenDirectSlotDataPlaneOptions,
  peer: string,
  address: DataAddress,
): Promise<AuthenticatedSocket> {
  const { port } = options;
  const authenticated = await connectAuthenticated({
    secret: port.secret,
    label: DATA_LABEL,
    id: sessionIdOf(port.taskManagerId, port.attempt),
    host: address.host,
    port: address.port,
    tls: port.tls?.client,
    handshakeTimeoutMs: options.handshakeTimeoutMs,
  });
  if (authenticated.peerId !== peer) {
    authenticated.socket.destroy();
    throw new TransportError(
      'SLUICE_AUTH_FAILED',
      authenticated.peer,
      `expected task manager '${peer}' at ${address.host}:${address.port}`,
    );
  }
  return authenticated;
}
