import { readFileSync } from 'node:fs';
import { ConfigError } from '../errors.ts';
import type { WebOptions } from '../web/web-server.ts';

/** `sluice run`'s options that concern the web server, as commander parsed them. */
export interface WebFlags {
  /** `--web` alone: `true` (the default port); `--web 9000`: the port. */
  readonly web?: true | number;
  readonly webHost?: string;
  readonly webTokenFile?: string;
  readonly savepointDir?: string;
  readonly keepServingAfterEnd?: boolean;
}

/**
 * The `web` option of `startJob` from `sluice run`'s flags. The token comes from a file
 * (`--web-token-file`) or the environment (`SLUICE_WEB_TOKEN`), never from the command line,
 * where any user of the machine could read it in the process list. The savepoints the API
 * triggers go to `--savepoint-dir`. `--keep-serving-after-end` (or SLUICE_KEEP_SERVING_AFTER_END=true)
 * keeps the API up after the job has ended, until SIGTERM or SIGINT.
 */
export function webOptionsFrom(flags: WebFlags, env: NodeJS.ProcessEnv): WebOptions | undefined {
  const keepServing = flags.keepServingAfterEnd === true || keepServingFromEnv(env);
  if (flags.web === undefined) {
    if (flags.webHost !== undefined) throw new ConfigError('--web-host needs --web');
    if (flags.webTokenFile !== undefined) throw new ConfigError('--web-token-file needs --web');
    if (keepServing) {
      throw new ConfigError(
        `${flags.keepServingAfterEnd === true ? '--keep-serving-after-end' : 'SLUICE_KEEP_SERVING_AFTER_END=true'} needs --web: what it keeps serving is the REST API`,
      );
    }
    return undefined;
  }
  let token: string | undefined;
  if (flags.webTokenFile !== undefined) {
    try {
      token = readFileSync(flags.webTokenFile, 'utf8').trim();
    } catch (error) {
      throw new ConfigError(
        `--web-token-file: cannot read '${flags.webTokenFile}': ${(error as Error).message}`,
        {
          cause: error,
        },
      );
    }
  } else if (env.SLUICE_WEB_TOKEN !== undefined && env.SLUICE_WEB_TOKEN !== '') {
    token = env.SLUICE_WEB_TOKEN.trim();
  }
  return {
    ...(flags.web === true ? {} : { port: flags.web }),
    ...(flags.webHost === undefined ? {} : { host: flags.webHost }),
    ...(token === undefined ? {} : { token }),
    ...(flags.savepointDir === undefined ? {} : { savepointDirectory: flags.savepointDir }),
    ...(keepServing ? { keepServingAfterEnd: true } : {}),
  };
}

/** SLUICE_KEEP_SERVING_AFTER_END: 'true', 'false' or empty (unset), nothing else. */
function keepServingFromEnv(env: NodeJS.ProcessEnv): boolean {
  const value = env.SLUICE_KEEP_SERVING_AFTER_END?.trim() ?? '';
  if (value !== '' && value !== 'true' && value !== 'false') {
    throw new ConfigError(`SLUICE_KEEP_SERVING_AFTER_END must be 'true', 'false' or empty, got '${value}'`);
  }
  return value === 'true';
}
