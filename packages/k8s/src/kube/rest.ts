/**
 * A small REST client over a KubeConfig's credentials. It sends objects exactly as written (the
 * wire JSON), where the client library's typed APIs would first pass them through its model
 * classes and silently drop fields the models spell differently (`from` in a NetworkPolicy,
 * `x-kubernetes-validations` in a CRD schema). Every failure is a {@link KubernetesApiError}
 * naming the verb, the path and the server's message.
 */
import { request } from 'node:https';
import type { KubeConfig } from '@kubernetes/client-node';
import { KubernetesApiError } from '../errors.ts';

/** How long one request may take before it is abandoned (a watch is not a request here). */
const REQUEST_TIMEOUT_MS = 30_000;

export interface RestAnswer<T = unknown> {
  readonly status: number;
  readonly body: T;
  /** The server's `Warning` headers (e.g. a Pod Security warning on a Deployment). */
  readonly warnings: string[];
}

export type Query = Record<string, string | undefined>;

export class KubeRest {
  readonly #config: KubeConfig;
  readonly #server: URL;

  constructor(config: KubeConfig) {
    this.#config = config;
    const cluster = config.getCurrentCluster();
    if (cluster === null) throw new KubernetesApiError('the kubeconfig has no current cluster', undefined);
    this.#server = new URL(cluster.server);
  }

  get config(): KubeConfig {
    return this.#config;
  }

  /** Any answer, 2xx or not; throws only when no answer came. */
  async send<T = unknown>(
    method: string,
    path: string,
    options: { body?: unknown; query?: Query; contentType?: string; accept?: string } = {},
  ): Promise<RestAnswer<T>> {
    const query = new URLSearchParams();
    for (const [key, value] of Object.entries(options.query ?? {}))
      if (value !== undefined) query.set(key, value);
    const fullPath = query.size === 0 ? path : `${path}?${query}`;
    const payload = options.body === undefined ? undefined : JSON.stringify(options.body);
    const requestOptions: import('node:https').RequestOptions = {
      protocol: this.#server.protocol,
      host: this.#server.hostname,
      port: this.#server.port,
      method,
      path: fullPath,
      headers: {
        accept: options.accept ?? 'application/json',
        ...(payload === undefined ? {} : { 'content-type': options.contentType ?? 'application/json' }),
      },
      timeout: REQUEST_TIMEOUT_MS,
    };
    await this.#config.applyToHTTPSOptions(requestOptions);
    return new Promise((resolve, reject) => {
      const req = request(requestOptions, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.on('error', reject);
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          let body: unknown = text;
          try {
            body = text === '' ? undefined : JSON.parse(text);
          } catch {
            // Not JSON (a proxy's error page): keep the text for the message.
          }
          const warning = res.headers.warning;
          const warnings = warning === undefined ? [] : Array.isArray(warning) ? warning : [warning];
          resolve({ status: res.statusCode ?? 0, body: body as T, warnings });
        });
      });
      req.on('timeout', () => req.destroy(new Error(`no answer within ${REQUEST_TIMEOUT_MS / 1000} s`)));
      req.on('error', (error) =>
        reject(
          new KubernetesApiError(`${method} ${fullPath}: ${error.message}`, undefined, { cause: error }),
        ),
      );
      req.end(payload);
    });
  }

  /** A 2xx answer's body; anything else throws, naming the call and the server's reason. */
  async call<T = unknown>(
    method: string,
    path: string,
    options: { body?: unknown; query?: Query; contentType?: string; accept?: string } = {},
  ): Promise<T> {
    const answer = await this.send<T>(method, path, options);
    if (answer.status < 200 || answer.status > 299) throw apiError(method, path, answer);
    return answer.body;
  }

  /** The object, or undefined when it does not exist (404). */
  async get<T = unknown>(path: string): Promise<T | undefined> {
    const answer = await this.send<T>('GET', path);
    if (answer.status === 404) return undefined;
    if (answer.status !== 200) throw apiError('GET', path, answer);
    return answer.body;
  }
}

export function apiError(method: string, path: string, answer: RestAnswer): KubernetesApiError {
  const body = answer.body as { message?: string; reason?: string } | string | undefined;
  const reason =
    typeof body === 'object' && body !== null
      ? `${body.reason ?? 'Error'}: ${body.message ?? ''}`
      : String(body);
  return new KubernetesApiError(`${method} ${path} answered HTTP ${answer.status}: ${reason}`, answer.status);
}

/** The REST path of a namespaced or cluster-scoped collection, or of one object in it. */
export function resourcePath(apiVersion: string, plural: string, namespace?: string, name?: string): string {
  const base = apiVersion.includes('/') ? `/apis/${apiVersion}` : `/api/${apiVersion}`;
  const ns = namespace === undefined ? '' : `/namespaces/${namespace}`;
  return `${base}${ns}/${plural}${name === undefined ? '' : `/${name}`}`;
}
