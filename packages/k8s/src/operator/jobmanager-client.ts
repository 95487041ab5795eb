/**
 * The operator's client of a job manager's REST API (`sluice jobmanager --web`, docs/observability.md):
 * the calls it makes, typed, each bounded in time. The job manager listens on its Service's
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
  /** running, restarting, ...; terminal: finished, failed, cancelled, stopped (with a savepoint). */
  readonly status: string;
  readonly startedAtMs: number;
  /** Running time so far, or until it ended. */
  readonly durationMs: number;
  readonly parallelism: number;
  readonly restarts: number;
  /** Status `stopped`: the savepoint it was stopped with (absent from job managers before it). */
  readonly finalSavepoint?: string | null;
}

/** The job statuses after which a job manager (kept serving) runs nothing. */
export const TERMINAL_JOB_STATUSES: ReadonlySet<string> = new Set([
  'finished',
  'failed',
  'cancelled',
  'stopped',
]);

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
  /**
   * Stops the job with a savepoint: the request completes once the savepoint is written and the
   * job has ended (nothing processed after it is committed); should the savepoint fail, the job
   * runs on. Its job manager serves on (`--keep-serving-after-end`), so the request can be read.
   */
  stop(): Promise<JobManagerSavepoint>;
  savepoint(id: number): Promise<JobManagerSavepoint>;
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

  async stop(): Promise<JobManagerSavepoint> {
    return this.#call<JobManagerSavepoint>('POST', '/api/stop');
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
