/**
 * What goes wrong between processes. Every error here names the peer (its address, and its id once
 * the handshake told it) so that a failure report says which connection broke, and carries a
 * stable `code`:
 *
 * | code                       | meaning                                                            |
 * |----------------------------|--------------------------------------------------------------------|
 * | `SLUICE_AUTH_FAILED`       | the handshake failed: wrong secret, not a Sluice peer, timed out   |
 * | `SLUICE_CONNECTION_LOST`   | an authenticated connection closed or broke while still in use     |
 * | `SLUICE_PROTOCOL`          | the peer broke the wire protocol (oversized frame, unknown type, data beyond credit) |
 * | `SLUICE_PEER_DEAD`         | no heartbeat or message from the peer within the configured timeout |
 * | `SLUICE_REMOTE_REQUEST`    | a control request failed on the peer (its error's code and message) |
 */
import { SluiceError } from '../../errors.ts';

export type TransportErrorCode =
  | 'SLUICE_AUTH_FAILED'
  | 'SLUICE_UNREACHABLE'
  | 'SLUICE_CONNECTION_LOST'
  | 'SLUICE_PROTOCOL'
  | 'SLUICE_PEER_DEAD'
  | 'SLUICE_REMOTE_REQUEST';

/** A connection to another Sluice process failed or was refused; `peer` says which. */
export class TransportError extends SluiceError {
  declare readonly code: TransportErrorCode;
  /** The peer: `host:port`, and the id it authenticated with once known (`tm-2 at 10.0.0.5:6121`). */
  readonly peer: string;

  constructor(code: TransportErrorCode, peer: string, message: string, options?: { cause?: unknown }) {
    super(code, `${message} (peer ${peer})`, options);
    // Explicit, not the class's name: a minifying bundler renames classes.
    this.name = 'TransportError';
    this.peer = peer;
  }
}

/** A control request the peer answered with an error: its code and message, as it reported them. */
export class RemoteRequestError extends SluiceError {
  declare readonly code: 'SLUICE_REMOTE_REQUEST';
  /** The request's type. */
  readonly requestType: string;
  /** The `code` of the error on the peer, when it had one. */
  readonly remoteCode: string | undefined;

  constructor(peer: string, requestType: string, remoteMessage: string, remoteCode: string | undefined) {
    super(
      'SLUICE_REMOTE_REQUEST',
      `request '${requestType}' failed on peer ${peer}: ${remoteMessage}${remoteCode === undefined ? '' : ` [${remoteCode}]`}`,
    );
    this.name = 'RemoteRequestError';
    this.requestType = requestType;
    this.remoteCode = remoteCode;
  }
}
