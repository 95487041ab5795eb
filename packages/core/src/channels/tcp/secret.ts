/**
 * The cluster's shared secret: every process of a cluster (job manager, task managers) holds the
 * same one, and every connection between them proves it before anything else is read
 * (`handshake.ts`). It comes from a file or an environment variable, never from a command line
 * (where `ps` would show it), and there is no default: a port never opens without one.
 */
import { readFileSync } from 'node:fs';
import { ConfigError } from '../../errors.ts';

/** Shortest secret accepted: 128 bits, so that guessing it is out of reach. */
export const SECRET_MIN_BYTES = 16;

/** Longest secret file read: a secret is a key, not a document. */
export const SECRET_MAX_BYTES = 4096;

/** The environment variable read when no other is named. */
export const DEFAULT_SECRET_ENV = 'SLUICE_CLUSTER_SECRET';

export interface SecretSource {
  /** A file holding the secret (leading and trailing whitespace is ignored, so a trailing newline is fine). */
  readonly secretFile?: string | undefined;
  /** An environment variable holding the secret; default {@link DEFAULT_SECRET_ENV} when no file is named. */
  readonly secretEnv?: string | undefined;
  /** The environment to read; default `process.env`. */
  readonly env?: Readonly<Record<string, string | undefined>>;
}

/**
 * Reads the cluster secret from `secretFile`, else from the environment variable. Throws a
 * {@link ConfigError} naming where it looked when there is none, or it is shorter than
 * {@link SECRET_MIN_BYTES}.
 */
export function loadClusterSecret(source: SecretSource = {}): Buffer {
  if (source.secretFile !== undefined) {
    let text: string;
    try {
      const bytes = readFileSync(source.secretFile);
      if (bytes.byteLength > SECRET_MAX_BYTES) {
        throw new ConfigError(
          `secret file ${source.secretFile} holds ${bytes.byteLength} bytes; a secret is at most ${SECRET_MAX_BYTES}`,
        );
      }
      text = bytes.toString('utf8');
    } catch (error) {
      if (error instanceof ConfigError) throw error;
      throw new ConfigError(
        `cannot read the cluster secret file ${source.secretFile}: ${(error as Error).message}`,
        {
          cause: error,
        },
      );
    }
    return checked(text.trim(), `secret file ${source.secretFile}`);
  }
  const name = source.secretEnv ?? DEFAULT_SECRET_ENV;
  const value = (source.env ?? process.env)[name];
  if (value === undefined || value.trim() === '') {
    throw new ConfigError(
      `no cluster secret: set the environment variable ${name} or name a secret file; ` +
        'no port opens without one (generate one with: openssl rand -hex 32)',
    );
  }
  return checked(value.trim(), `environment variable ${name}`);
}

/** Checks a secret given as bytes (a caller that holds one already); returns it. */
export function checkClusterSecret(secret: Uint8Array, where = 'the cluster secret'): Buffer {
  if (secret.byteLength < SECRET_MIN_BYTES) {
    throw new ConfigError(
      `${where} is ${secret.byteLength} bytes; it must be at least ${SECRET_MIN_BYTES} ` +
        '(generate one with: openssl rand -hex 32)',
    );
  }
  return Buffer.from(secret);
}

function checked(text: string, where: string): Buffer {
  return checkClusterSecret(Buffer.from(text, 'utf8'), where);
}
