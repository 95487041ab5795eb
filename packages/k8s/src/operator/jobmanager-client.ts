/**
 * The operator's client of a job manager's REST API (`sluice jobmanager --web`, docs/observability.md):
 * the four calls it makes, typed, each bounded in time. The job manager listens on its Service's
 * `rest` port; every request carries the job's REST token (the Secret `<name>-rest-token`).
 *
 * The base URL comes from a function, so tests can point the operator at a job manager running
 * as a local process while kwok plays the pods.
 */

import { JobManagerApiError } from '../errors.ts';
import { PORTS } from '../job-spec.ts';

/** `GET /api/job`, the fields the operator reads. */
export interface JobManagerJob {
  readonly name: string;
  readonly status: string;
  readonly startedAtMs: number;
  readonly parallelism: number;
  readonly restarts: number;
}

/** One entry of `GET /api/checkpoints`' history. */
export interface JobManagerCheckpoint {
  readonly id: number;
  readonly kind: 'checkpoint' | 'savepoint';
  readonly status: 'completed' | 'abandoned';
  readonly triggeredAtMs: number;
  readonly durationMs: number;
  readonly bytes: number | null;
}

/** `POST /api/savepoints`, `GET /api/savepoints/:id` */
export interface JobManagerSavepoint {
  readonly id: number;
  readonly status: 'in-progress' | 'completed' | 'failed';
  readonly requestedAtMs: number;
  readonly folder: string | null;
  readonly error: string | null;
}

export interface JobManagerClient {
  job(): Promise<JobManagerJob>;
  /** Newest first. */
  checkpoints(): Promise<readonly JobManagerCheckpoint[]>;
  /** Takes a savepoint; the job runs on. Answers at once with the request to poll. */
  triggerSavepoint(): Promise<JobManagerSavepoint>;
  savepoint(id: number): Promise<JobManagerSavepoint>;
  /** Cancels the job (no savepoint): its job manager's process then ends. */
  cancel(): Promise<void>;
}

/** Where a job's job manager answers: its Service's cluster DNS name and `rest` port. */
export function defaultJobManagerUrl(namespace: string, name: string): string {
  return `http://${name}-jobmanager.${namespace}.svc:${PORTS.rest}`;
}

/** Long enough for a loaded job manager, short enough not to hold up a reconciliation. */
const REQUEST_TIMEOUT_MS = 5_000;

export class HttpJobManagerClient implements JobManagerClient {
  readonly #base: string;
  readonly #token: string;

  constructor(baseUrl: string, token: string) {
    this.#base = baseUrl.replace(/\/+$/, '');
    this.#token = token;
  }

  async job(): Promise<JobManagerJob> {
    return this.#call<JobManagerJob>('GET', '/api/job');
  }

  async checkpoints(): Promise<readonly JobManagerCheckpoint[]> {
    return (await this.#call<{ history: JobManagerCheckpoint[] }>('GET', '/api/checkpoints')).history;
  }

  async triggerSavepoint(): Promise<JobManagerSavepoint> {
    return this.#call<JobManagerSavepoint>('POST', '/api/savepoints');
  }

  async savepoint(id: number): Promise<JobManagerSavepoint> {
    return this.#call<JobManagerSavepoint>('GET', `/api/savepoints/${id}`);
  }

  async cancel(): Promise<void> {
    await this.#call('POST', '/api/cancel');
  }

  async #call<T>(method: 'GET' | 'POST', path: string): Promise<T> {
    const url = `${this.#base}${path}`;
    let response: Response;
    try {
      response = await fetch(url, {
        method,
        headers: { authorization: `Bearer ${this.#token}`, accept: 'application/json' },
        signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS),
      });
    } catch (error) {
      const cause = (error as { cause?: { code?: string } }).cause?.code;
      throw new JobManagerApiError(
        `${method} ${url}: no answer (${cause ?? (error as Error).message})`,
        undefined,
        { cause: error },
      );
    }
    const text = await response.text();
    let body: unknown;
    try {
      body = text === '' ? undefined : JSON.parse(text);
    } catch {
      body = text;
    }
    if (!response.ok) {
      const reason = (body as { error?: string } | undefined)?.error ?? text;
      throw new JobManagerApiError(
        `${method} ${url} answered HTTP ${response.status}: ${reason}`,
        response.status,
      );
    }
    return body as T;
  }
}
