/**
 * The handshake every connection between Sluice processes starts with, data or control: mutual
 * challenge-response over the cluster secret (`secret.ts`). The secret never travels; each side
 * proves it holds it with an HMAC over both sides' fresh nonces, so a recorded handshake cannot be
 * replayed and a peer that does not hold the secret learns nothing it could reuse.
 *
 * | step | direction       | bytes                                                            |
 * |------|-----------------|------------------------------------------------------------------|
 * | 1    | server → client | `SLK1`, version 1, server nonce (32)                             |
 * | 2    | client → server | `SLK1`, client nonce (32), client proof (32), id length (1), id  |
 * | 3    | server → client | server proof (32), id length (1), id                             |
 *
 * client proof = HMAC-SHA256(secret, context 'client' ‖ server nonce ‖ client nonce ‖ client id);
 * server proof = HMAC-SHA256(secret, context 'server' ‖ server nonce ‖ client nonce ‖ client id ‖
 * server id). The context names the protocol version, the connection's purpose (`label`: a data
 * connection is not a control connection) and the role, so that one side's proof is never valid
 * as the other's (reflection) nor on a port of another purpose. Proofs are compared with
 * `crypto.timingSafeEqual`.
 *
 * Before step 2 has been verified the server reads at most {@link CLIENT_HELLO_MAX_BYTES} bytes:
 * every field has a fixed or one-byte length, so an unauthenticated peer cannot make it allocate
 * more, and a peer that sends anything beyond its hello before it has been answered is refused.
 * The whole exchange has a deadline. Once both proofs are verified, the socket is handed on paused,
 * with any bytes that arrived after the handshake (`leftover`), to the framed protocol above.
 */
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import type { Socket } from 'node:net';
import { ConfigError } from '../../errors.ts';
import { TransportError, type TransportErrorCode } from './errors.ts';

const MAGIC = Buffer.from('SLK1', 'latin1');
const VERSION = 1;
const NONCE_BYTES = 32;
const PROOF_BYTES = 32;
/** Longest peer id, in UTF-8 bytes: its length travels in one byte. */
export const PEER_ID_MAX_BYTES = 255;

const CHALLENGE_BYTES = MAGIC.byteLength + 1 + NONCE_BYTES;
const CLIENT_HELLO_FIXED_BYTES = MAGIC.byteLength + NONCE_BYTES + PROOF_BYTES + 1;
/** The most the server reads from a peer before it has verified the peer's proof. */
export const CLIENT_HELLO_MAX_BYTES = CLIENT_HELLO_FIXED_BYTES + PEER_ID_MAX_BYTES;
const SERVER_PROOF_FIXED_BYTES = PROOF_BYTES + 1;

export interface HandshakeOptions {
  readonly secret: Buffer;
  /** The connection's purpose (`data`, `control`): both sides must agree. */
  readonly label: string;
  /** This side's id, told to the peer (at most {@link PEER_ID_MAX_BYTES} UTF-8 bytes). */
  readonly localId: string;
  /** The whole exchange must complete within this; the socket is destroyed otherwise. */
  readonly timeoutMs: number;
  /** How the peer is named in errors until it has told its id (`host:port`). */
  readonly peerAddress: string;
}

/** An authenticated peer: its id, and what it sent after the handshake (to be framed). */
export interface HandshakeResult {
  readonly peerId: string;
  readonly leftover: Buffer;
}

export function encodePeerId(id: string): Buffer {
  const bytes = Buffer.from(id, 'utf8');
  if (bytes.byteLength > PEER_ID_MAX_BYTES) {
    throw new ConfigError(
      `a process id is at most ${PEER_ID_MAX_BYTES} UTF-8 bytes, got ${bytes.byteLength}: '${id}'`,
    );
  }
  return bytes;
}

function proof(secret: Buffer, label: string, role: 'client' | 'server', ...parts: Buffer[]): Buffer {
  const hmac = createHmac('sha256', secret);
  hmac.update(`sluice-handshake-v${VERSION}\0${label}\0${role}\0`);
  for (const part of parts) {
    // Each variable-length part with its length in front, so that no two inputs concatenate alike.
    hmac.update(Uint8Array.of(part.byteLength & 0xff, part.byteLength >> 8));
    hmac.update(part);
  }
  return hmac.digest();
}

/** What a step made of the input so far: bytes it consumed, and the peer once authenticated. */
interface Step {
  readonly consumed: number;
  readonly peerId?: string;
}

const WAIT: Step = { consumed: 0 };

/**
 * Runs one side of the exchange: collects input (never more than a handshake holds), hands it to
 * `step` until that says who the peer is, and settles once, whatever happens first (verified,
 * refused, closed, timed out). A step throws to refuse, with the reason as the message.
 */
function runHandshake(
  socket: Socket,
  options: HandshakeOptions,
  onStart: () => void,
  step: (input: Buffer) => Step,
  notStarted: () => boolean = () => false,
): Promise<HandshakeResult> {
  return new Promise<HandshakeResult>((resolve, reject) => {
    let settled = false;
    let input: Buffer = Buffer.alloc(0);
    const fail = (
      message: string,
      cause?: unknown,
      code: TransportErrorCode = 'SLUICE_AUTH_FAILED',
    ): void => {
      if (settled) return;
      settled = true;
      cleanup();
      socket.on('error', ignoreError);
      socket.destroy();
      reject(new TransportError(code, options.peerAddress, message, { cause }));
    };
    // Closed before the server's challenge: no Sluice endpoint answered, nothing was refused. A
    // TCP proxy in front of a process that is down (a Kubernetes service, a sidecar) accepts and
    // closes at once; like a refused connection, that heals when the process is back.
    const unreachable = (message: string, cause?: unknown): void =>
      fail(message, cause, 'SLUICE_UNREACHABLE');
    const onData = (chunk: Buffer): void => {
      input = input.byteLength === 0 ? chunk : Buffer.concat([input, chunk]);
      try {
        for (;;) {
          const { consumed, peerId } = step(input);
          input = input.subarray(consumed);
          if (peerId !== undefined) {
            settled = true;
            cleanup();
            // Paused: the framed protocol above takes over the socket and resumes it.
            socket.pause();
            // Until the protocol above listens (a promise turn away), an error (a reset) must not be
            // an unhandled 'error' event; the protocol sees the socket destroyed and fails.
            socket.on('error', ignoreError);
            resolve({ peerId, leftover: Buffer.from(input) });
            return;
          }
          if (consumed === 0 || input.byteLength === 0) break;
        }
        // Bounded before anything is verified: no step waits for more than CLIENT_HELLO_MAX_BYTES,
        // so what is kept between chunks never grows past it.
        if (input.byteLength > CLIENT_HELLO_MAX_BYTES) {
          fail('handshake refused: the peer sent more than a handshake before it was authenticated');
        }
      } catch (error) {
        fail((error as Error).message, error);
      }
    };
    const onClose = (): void =>
      notStarted()
        ? unreachable('the connection closed before the handshake began (nothing answered behind it)')
        : fail('the peer closed the connection during the handshake: wrong secret, or not a Sluice endpoint');
    const onError = (error: Error): void =>
      notStarted()
        ? unreachable(`the connection failed before the handshake began: ${error.message}`, error)
        : fail(`connection failed during the handshake: ${error.message}`, error);
    const timer = setTimeout(
      () => fail(`handshake did not complete within ${options.timeoutMs} ms`),
      options.timeoutMs,
    );
    const cleanup = (): void => {
      clearTimeout(timer);
      socket.off('data', onData);
      socket.off('close', onClose);
      socket.off('error', onError);
    };
    socket.on('data', onData);
    socket.on('close', onClose);
    socket.on('error', onError);
    try {
      onStart();
    } catch (error) {
      fail((error as Error).message, error);
    }
  });
}

function ignoreError(): void {}

/** The listening side: challenges, verifies the client's proof, proves itself. */
export function acceptHandshake(socket: Socket, options: HandshakeOptions): Promise<HandshakeResult> {
  const serverNonce = randomBytes(NONCE_BYTES);
  const localId = encodePeerId(options.localId);
  return runHandshake(
    socket,
    options,
    () => {
      socket.write(Buffer.concat([MAGIC, Uint8Array.of(VERSION), serverNonce]));
    },
    (input) => {
      if (input.byteLength < CLIENT_HELLO_FIXED_BYTES) return WAIT;
      const helloBytes = CLIENT_HELLO_FIXED_BYTES + input[CLIENT_HELLO_FIXED_BYTES - 1]!;
      if (input.byteLength < helloBytes) return WAIT;
      if (input.byteLength > helloBytes) {
        throw new Error('handshake refused: the peer sent data before it was authenticated');
      }
      if (!input.subarray(0, MAGIC.byteLength).equals(MAGIC)) {
        throw new Error('handshake refused: not a Sluice handshake');
      }
      const clientNonce = input.subarray(MAGIC.byteLength, MAGIC.byteLength + NONCE_BYTES);
      const proofStart = MAGIC.byteLength + NONCE_BYTES;
      const clientProof = input.subarray(proofStart, proofStart + PROOF_BYTES);
      const clientId = input.subarray(CLIENT_HELLO_FIXED_BYTES, helloBytes);
      const expected = proof(options.secret, options.label, 'client', serverNonce, clientNonce, clientId);
      if (!timingSafeEqual(expected, clientProof)) {
        throw new Error('handshake refused: the peer does not hold the cluster secret');
      }
      const serverProof = proof(
        options.secret,
        options.label,
        'server',
        serverNonce,
        clientNonce,
        clientId,
        localId,
      );
      socket.write(Buffer.concat([serverProof, Uint8Array.of(localId.byteLength), localId]));
      return { consumed: helloBytes, peerId: clientId.toString('utf8') };
    },
  );
}

/** The connecting side: answers the challenge, then verifies the server's proof. */
export function initiateHandshake(socket: Socket, options: HandshakeOptions): Promise<HandshakeResult> {
  const clientNonce = randomBytes(NONCE_BYTES);
  const localId = encodePeerId(options.localId);
  let serverNonce: Buffer | undefined;
  return runHandshake(
    socket,
    options,
    () => {},
    (input) => {
      if (serverNonce === undefined) {
        if (input.byteLength < CHALLENGE_BYTES) return WAIT;
        // The server says nothing more until it has our answer.
        if (input.byteLength > CHALLENGE_BYTES)
          throw new Error('handshake failed: the server sent more than a challenge');
        if (!input.subarray(0, MAGIC.byteLength).equals(MAGIC)) {
          throw new Error('handshake failed: the server is not a Sluice endpoint');
        }
        if (input[MAGIC.byteLength] !== VERSION) {
          throw new Error(
            `handshake failed: the server speaks handshake version ${input[MAGIC.byteLength]}, not ${VERSION}`,
          );
        }
        serverNonce = Buffer.from(input.subarray(MAGIC.byteLength + 1, CHALLENGE_BYTES));
        const clientProof = proof(options.secret, options.label, 'client', serverNonce, clientNonce, localId);
        socket.write(
          Buffer.concat([MAGIC, clientNonce, clientProof, Uint8Array.of(localId.byteLength), localId]),
        );
        return { consumed: CHALLENGE_BYTES };
      }
      if (input.byteLength < SERVER_PROOF_FIXED_BYTES) return WAIT;
      const proofBytes = SERVER_PROOF_FIXED_BYTES + input[PROOF_BYTES]!;
      if (input.byteLength < proofBytes) return WAIT;
      const serverId = input.subarray(SERVER_PROOF_FIXED_BYTES, proofBytes);
      const expected = proof(
        options.secret,
        options.label,
        'server',
        serverNonce,
        clientNonce,
        localId,
        serverId,
      );
      if (!timingSafeEqual(expected, input.subarray(0, PROOF_BYTES))) {
        throw new Error('handshake failed: the server does not hold the cluster secret');
      }
      return { consumed: proofBytes, peerId: serverId.toString('utf8') };
    },
    () => serverNonce === undefined,
  );
}
