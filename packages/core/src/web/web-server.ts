import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { ConfigError, SluiceError } from '../errors.ts';
import { dashboardAsset, sendDashboardAsset } from './dashboard/dashboard-assets.ts';
import type { JobEndpoints } from './rest-types.ts';
import { bearerToken, isLoopbackHost, tokensEqual } from './web-auth.ts';

/**
 * The job's HTTP server (node:http): Prometheus metrics at `/metrics`, the REST API under
 * `/api/`, the web dashboard at `/` (`dashboard/`). The rules that keep it safe, in one place
 * (docs/observability.md, "Security"):
 *
 * - It listens on 127.0.0.1 unless told otherwise; on any other address it refuses to start
 *   without a bearer token, and then every request needs the token (but the dashboard's page
 *   and files, which hold no job data).
 * - Actions (savepoint, stop, cancel) always need the token; without one configured they are
 *   refused (403) and say how to configure one.
 * - Tokens are compared in constant time (`web-auth.ts`).
 * - No request names anything on the server: no path, query or body is ever used as a file
 *   name (savepoints go to the directory the job was started with). Bodies are never read.
 * - On loopback, a request must name a loopback host in its `Host` header (a web page cannot
 *   reach it through DNS rebinding). No CORS headers: other origins cannot read the answers.
 */

/** The `web` option of `runJob` / `startJob`. */
export interface WebOptions {
  /** TCP port; 0 picks a free one (read it from `JobHandle.web`). Default 8081, as Flink's. */
  readonly port?: number;
  /** Interface to listen on. Default `127.0.0.1`; any other needs `token`. */
  readonly host?: string;
  /**
   * Bearer token for actions, and for every request when not on loopback. At least 16
   * characters. Pass it from a file or the environment, never a command line.
   */
  readonly token?: string;
  /**
   * Where savepoints triggered through the API go (each in a new `savepoint-<time>` folder); without
   * it the API takes none. Needs the job's `checkpointing`.
   */
  readonly savepointDirectory?: string;
  /**
   * Keep serving after the job has ended (finished, failed, cancelled, stopped with a savepoint),
   * until `JobHandle.closeWeb()`: the API then reports the final status and how savepoint requests
   * ended, and refuses actions (409, `SLUICE_JOB_ENDED`). What Flink's
   * `execution.shutdown-on-application-finish: false` gives its Kubernetes operator: whoever
   * stopped the job can still read where the savepoint went. Default false: it closes with the job.
   */
  readonly keepServingAfterEnd?: boolean;
}

export interface ResolvedWebOptions {
  readonly port: number;
  readonly host: string;
  readonly token: string | undefined;
  readonly savepointDirectory: string | undefined;
  readonly keepServingAfterEnd: boolean;
}

/** Where the server listens. */
export interface WebAddress {
  readonly host: string;
  readonly port: number;
  /** `http://host:port`, the base of every endpoint. */
  readonly url: string;
}

export const DEFAULT_WEB_PORT = 8081;
const WEB_OPTIONS: ReadonlySet<string> = new Set<keyof WebOptions>([
  'port',
  'host',
  'token',
  'savepointDirectory',
  'keepServingAfterEnd',
]);
const MIN_TOKEN_LENGTH = 16;

/** Validates the `web` option up front, naming the bad field; refuses a non-loopback host without a token. */
export function validateWebOptions(options: WebOptions): ResolvedWebOptions {
  if (typeof options !== 'object' || options === null) {
    throw new ConfigError(
      '"web" must be an object: { port?, host?, token?, savepointDirectory?, keepServingAfterEnd? }',
    );
  }
  for (const key of Object.keys(options)) {
    if (!WEB_OPTIONS.has(key)) {
      throw new ConfigError(`unknown option "web.${key}" (known: ${[...WEB_OPTIONS].join(', ')})`);
    }
  }
  const port = options.port ?? DEFAULT_WEB_PORT;
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    throw new ConfigError(`"web.port" must be an integer from 0 to 65535, got ${String(options.port)}`);
  }
  const host = options.host ?? '127.0.0.1';
  if (typeof host !== 'string' || host === '') {
    throw new ConfigError(`"web.host" must be a host name or address, got ${String(options.host)}`);
  }
  const token = options.token;
  if (
    token !== undefined &&
    (typeof token !== 'string' || token.length < MIN_TOKEN_LENGTH || /\s/.test(token))
  ) {
    throw new ConfigError(
      `"web.token" must be at least ${MIN_TOKEN_LENGTH} characters without spaces (e.g. openssl rand -hex 32)`,
    );
  }
  if (!isLoopbackHost(host) && token === undefined) {
    throw new ConfigError(
      `"web.host" is '${host}', which other machines can reach: set "web.token" (sluice run: SLUICE_WEB_TOKEN or --web-token-file), or listen on 127.0.0.1`,
    );
  }
  const savepointDirectory = options.savepointDirectory;
  if (
    savepointDirectory !== undefined &&
    (typeof savepointDirectory !== 'string' || savepointDirectory === '')
  ) {
    throw new ConfigError('"web.savepointDirectory" must be a directory path');
  }
  const keepServingAfterEnd = options.keepServingAfterEnd ?? false;
  if (typeof keepServingAfterEnd !== 'boolean') {
    throw new ConfigError(
      `"web.keepServingAfterEnd" must be true or false, got ${String(options.keepServingAfterEnd)}`,
    );
  }
  return { port, host, token, savepointDirectory, keepServingAfterEnd };
}

/** A running server; `close` ends it and its open connections. */
export interface WebServer {
  readonly address: WebAddress;
  close(): Promise<void>;
}

class HttpError extends Error {
  readonly status: number;
  readonly headers: Record<string, string>;

  constructor(status: number, message: string, headers: Record<string, string> = {}) {
    super(message);
    this.status = status;
    this.headers = headers;
  }
}

function sendJson(
  response: ServerResponse,
  status: number,
  body: unknown,
  headers: Record<string, string> = {},
): void {
  const text = JSON.stringify(body);
  response.writeHead(status, {
    'content-type': 'application/json; charset=utf-8',
    'content-length': Buffer.byteLength(text),
    'cache-control': 'no-store',
    'x-content-type-options': 'nosniff',
    ...headers,
  });
  response.end(text);
}

/** Starts the server; rejects if the address is taken or cannot be bound. */
export async function startWebServer(
  options: ResolvedWebOptions,
  endpoints: JobEndpoints,
): Promise<WebServer> {
  const loopback = isLoopbackHost(options.host);
  let port = options.port;

  const authorize = (request: IncomingMessage, action: boolean): void => {
    const presented = bearerToken(request.headers.authorization);
    if (options.token === undefined) {
      if (action) {
        throw new HttpError(
          403,
          'actions need a token, and this job has none: start it with web.token (sluice run: SLUICE_WEB_TOKEN or --web-token-file)',
        );
      }
      return;
    }
    if (!action && loopback) return;
    if (presented === undefined) {
      throw new HttpError(401, 'this needs "Authorization: Bearer <token>"', {
        'www-authenticate': 'Bearer',
      });
    }
    if (!tokensEqual(presented, options.token)) {
      throw new HttpError(401, 'wrong token', { 'www-authenticate': 'Bearer error="invalid_token"' });
    }
  };

  const checkHost = (request: IncomingMessage): void => {
    if (!loopback) return;
    const host = request.headers.host ?? '';
    const name = host.startsWith('[') ? host.slice(1, host.indexOf(']')) : host.split(':')[0]!;
    if (!isLoopbackHost(name)) {
      throw new HttpError(403, `Host '${host}' is not this machine's loopback address`);
    }
  };

  const route = async (request: IncomingMessage, response: ServerResponse): Promise<void> => {
    const method = request.method ?? 'GET';
    // The path only selects an endpoint; nothing of it is used otherwise, and the query is ignored.
    const path = new URL(request.url ?? '/', 'http://localhost').pathname.replace(/\/+$/, '') || '/';
    checkHost(request);
    const read = (): void => {
      if (method !== 'GET' && method !== 'HEAD')
        throw new HttpError(405, `${path} takes GET`, { allow: 'GET' });
      authorize(request, false);
    };
    const act = (): void => {
      if (method !== 'POST') throw new HttpError(405, `${path} takes POST`, { allow: 'POST' });
      authorize(request, true);
    };
    const asset = dashboardAsset(path);
    if (asset !== undefined) {
      // No token asked: the page holds no job data, and a browser cannot send one to open it.
      if (method !== 'GET' && method !== 'HEAD')
        throw new HttpError(405, `${path} takes GET`, { allow: 'GET' });
      sendDashboardAsset(response, asset, method === 'HEAD');
      return;
    }
    if (path === '/metrics') {
      read();
      const { contentType, body } = await endpoints.metrics();
      response.writeHead(200, { 'content-type': contentType, 'cache-control': 'no-store' });
      response.end(body);
      return;
    }
    switch (path) {
      case '/api':
        read();
        sendJson(response, 200, {
          endpoints: [
            'GET / (the dashboard)',
            'GET /api/job',
            'GET /api/plan',
            'GET /api/vertices',
            'GET /api/checkpoints',
            'GET /api/exceptions',
            'GET /api/overview',
            'GET /api/savepoints/:id',
            'POST /api/savepoints',
            'POST /api/stop',
            'POST /api/cancel',
            'GET /metrics',
          ],
        });
        return;
      case '/api/job':
        read();
        sendJson(response, 200, endpoints.job());
        return;
      case '/api/plan':
        read();
        sendJson(response, 200, endpoints.plan());
        return;
      case '/api/vertices':
        read();
        sendJson(response, 200, endpoints.vertices());
        return;
      case '/api/checkpoints':
        read();
        sendJson(response, 200, endpoints.checkpoints());
        return;
      case '/api/exceptions':
        read();
        sendJson(response, 200, endpoints.exceptions());
        return;
      case '/api/overview':
        // Everything a dashboard draws, in one answer per refresh.
        read();
        sendJson(response, 200, {
          job: endpoints.job(),
          plan: endpoints.plan(),
          ...endpoints.vertices(),
          checkpoints: endpoints.checkpoints(),
          exceptions: endpoints.exceptions(),
        });
        return;
      case '/api/savepoints':
      case '/api/stop': {
        act();
        const started = endpoints.triggerSavepoint(path === '/api/stop');
        sendJson(response, 202, started, { location: `/api/savepoints/${started.id}` });
        return;
      }
      case '/api/cancel':
        act();
        endpoints.cancel();
        sendJson(response, 202, { status: 'cancelling' });
        return;
    }
    const savepoint = /^\/api\/savepoints\/(\d{1,9})$/.exec(path);
    if (savepoint !== null) {
      read();
      const found = endpoints.savepointRequest(Number(savepoint[1]));
      if (found === undefined) throw new HttpError(404, `no savepoint request ${savepoint[1]}`);
      sendJson(response, 200, found);
      return;
    }
    throw new HttpError(404, `no endpoint ${path} (GET /api lists them)`);
  };

  const server: Server = createServer((request, response) => {
    // Bodies are never read: drain them so that the connection can be reused.
    request.resume();
    route(request, response).catch((error: unknown) => {
      if (response.headersSent) {
        response.destroy();
        return;
      }
      if (error instanceof HttpError) {
        sendJson(response, error.status, { error: error.message }, error.headers);
        return;
      }
      const code = (error as { code?: unknown } | null)?.code;
      // Refusals of the job (no checkpointing, not running) are the client's to fix: 409.
      sendJson(response, typeof code === 'string' && code.startsWith('SLUICE_') ? 409 : 500, {
        error: (error as Error)?.message ?? String(error),
        ...(typeof code === 'string' ? { code } : {}),
      });
    });
  });
  server.headersTimeout = 10_000;
  server.requestTimeout = 30_000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', (error: Error) =>
      reject(
        new SluiceError(
          'SLUICE_WEB_LISTEN',
          `the web server cannot listen on ${options.host}:${port}: ${error.message} (choose another "web.port", or 0 for any free one)`,
          { cause: error },
        ),
      ),
    );
    server.listen(port, options.host, () => {
      server.removeAllListeners('error');
      resolve();
    });
  });
  port = (server.address() as AddressInfo).port;
  const urlHost = options.host.includes(':') ? `[${options.host}]` : options.host;
  return {
    address: { host: options.host, port, url: `http://${urlHost}:${port}` },
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
