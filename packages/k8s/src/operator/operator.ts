/**
 * The SluiceJob operator: watches SluiceJobs and the pods and Deployments it made in one
 * namespace, and reconciles each SluiceJob that changed (reconcile.ts). Only the replica holding
 * the Lease acts (leader-election.ts); the others wait to take over.
 *
 * Events only say *which* job to look at: a reconciliation always reads the current state, so a
 * missed or repeated event costs nothing but a pass. A periodic resync looks at every job anyway,
 * so a watch that broke unnoticed delays a repair, never prevents it. Jobs are reconciled one at a
 * time; a failed pass is retried with a capped exponential backoff. A pass waiting on a job
 * manager (a savepoint being written) asks to be run again after a short delay, since nothing in
 * Kubernetes changes meanwhile to wake it.
 */
import { hostname } from 'node:os';
import { type KubeConfig, Watch } from '@kubernetes/client-node';
import { KubeRest } from '../kube/rest.ts';
import { LABELS } from '../manifests/names.ts';
import { defaultJobManagerUrl } from './jobmanager-client.ts';
import { LeaseElector } from './leader-election.ts';
import { MANAGED_BY } from './owned.ts';
import { type ReconcileContext, reconcileSluiceJob, sluiceJobPath } from './reconcile.ts';
import type { SluiceJob } from './sluice-job.ts';

export type OperatorLog = (level: 'info' | 'warn' | 'error', message: string) => void;

export interface SluiceJobOperatorOptions {
  readonly kubeConfig: KubeConfig;
  /** The namespace whose SluiceJobs this operator manages (and where its Lease lives). */
  readonly namespace: string;
  /** This replica's name in the Lease (default: host name and process id). */
  readonly identity?: string;
  readonly leaseName?: string;
  readonly leaseDurationMs?: number;
  readonly renewDeadlineMs?: number;
  readonly retryPeriodMs?: number;
  /** How often every SluiceJob is reconciled even without an event (default 30 s). */
  readonly resyncMs?: number;
  readonly now?: () => number;
  readonly log?: OperatorLog;
  /**
   * Base URL of a job's job-manager REST API. Default: its Service's cluster DNS name,
   * `http://<name>-jobmanager.<namespace>.svc:8081`; tests point it at a local process.
   */
  readonly jobManagerUrl?: (namespace: string, name: string) => string;
}

const RETRY_BASE_MS = 500;
const RETRY_MAX_MS = 30_000;
const WATCH_RESTART_MS = 1_000;

export class SluiceJobOperator {
  readonly identity: string;
  readonly #namespace: string;
  readonly #kubeConfig: KubeConfig;
  readonly #context: ReconcileContext;
  readonly #elector: LeaseElector;
  readonly #resyncMs: number;
  readonly #pending = new Set<string>();
  readonly #failures = new Map<string, number>();
  readonly #timers = new Set<NodeJS.Timeout>();
  #watches: AbortController[] = [];
  #acting = false;
  #draining: Promise<void> | undefined;
  /** Reconciliations finished, for tests and logs. */
  reconciliations = 0;

  constructor(options: SluiceJobOperatorOptions) {
    this.identity = options.identity ?? `${hostname()}-${process.pid}`;
    this.#namespace = options.namespace;
    this.#kubeConfig = options.kubeConfig;
    this.#resyncMs = options.resyncMs ?? 30_000;
    const log = options.log ?? (() => {});
    const rest = new KubeRest(options.kubeConfig);
    this.#context = {
      rest,
      now: options.now ?? Date.now,
      log,
      jobManagerUrl: options.jobManagerUrl ?? defaultJobManagerUrl,
    };
    this.#elector = new LeaseElector(rest, {
      namespace: options.namespace,
      name: options.leaseName ?? 'sluice-operator',
      identity: this.identity,
      ...(options.leaseDurationMs === undefined ? {} : { leaseDurationMs: options.leaseDurationMs }),
      ...(options.renewDeadlineMs === undefined ? {} : { renewDeadlineMs: options.renewDeadlineMs }),
      ...(options.retryPeriodMs === undefined ? {} : { retryPeriodMs: options.retryPeriodMs }),
      ...(options.now === undefined ? {} : { now: options.now }),
      log,
      onStartedLeading: () => this.#startActing(),
      onStoppedLeading: () => this.#stopActing(),
    });
  }

  /** True while this replica holds the Lease and reconciles. */
  get leading(): boolean {
    return this.#elector.leading;
  }

  /** Attempts this replica made to acquire or renew the Lease. */
  get electionAttempts(): number {
    return this.#elector.attempts;
  }

  start(): void {
    this.#elector.start();
  }

  /** Stops acting, releases the Lease, and waits for the reconciliation in progress. */
  async stop(): Promise<void> {
    await this.#elector.stop();
    this.#stopActing();
    await this.#draining;
  }

  #startActing(): void {
    this.#acting = true;
    const ns = this.#namespace;
    const managed = `${LABELS.managedBy}=${MANAGED_BY}`;
    this.#watch(sluiceJobPath(ns), {}, (object) => object.metadata?.name);
    this.#watch(
      `/api/v1/namespaces/${ns}/pods`,
      { labelSelector: managed },
      (object) => object.metadata?.labels?.[LABELS.instance],
    );
    this.#watch(
      `/apis/apps/v1/namespaces/${ns}/deployments`,
      { labelSelector: managed },
      (object) => object.metadata?.labels?.[LABELS.instance],
    );
    void this.#resync();
  }

  #stopActing(): void {
    this.#acting = false;
    for (const watch of this.#watches) watch.abort();
    this.#watches = [];
    for (const timer of this.#timers) clearTimeout(timer);
    this.#timers.clear();
    this.#pending.clear();
  }

  #later(delayMs: number, action: () => void): void {
    const timer = setTimeout(() => {
      this.#timers.delete(timer);
      action();
    }, delayMs);
    this.#timers.add(timer);
  }

  async #resync(): Promise<void> {
    if (!this.#acting) return;
    try {
      const list = await this.#context.rest.call<{ items: SluiceJob[] }>(
        'GET',
        sluiceJobPath(this.#namespace),
      );
      for (const job of list.items) this.enqueue(job.metadata.name);
    } catch (error) {
      this.#context.log('warn', `listing SluiceJobs in ${this.#namespace} failed: ${String(error)}`);
    }
    if (this.#acting) this.#later(this.#resyncMs, () => void this.#resync());
  }

  #watch(
    path: string,
    query: Record<string, string>,
    jobOf: (object: { metadata?: { name?: string; labels?: Record<string, string> } }) => string | undefined,
  ): void {
    if (!this.#acting) return;
    const restart = (why: unknown) => {
      if (!this.#acting) return;
      if (why !== null && why !== undefined) this.#context.log('warn', `watch ${path} ended: ${String(why)}`);
      this.#later(WATCH_RESTART_MS, () => this.#watch(path, query, jobOf));
    };
    new Watch(this.#kubeConfig)
      .watch(
        path,
        query,
        (_type: string, object: { metadata?: { name?: string; labels?: Record<string, string> } }) => {
          const name = jobOf(object);
          if (name !== undefined) this.enqueue(name);
        },
        restart,
      )
      .then((controller) => {
        if (this.#acting) this.#watches.push(controller);
        else controller.abort();
      }, restart);
  }

  /** Asks for a reconciliation of SluiceJob `name` (deduplicated while one is pending). */
  enqueue(name: string): void {
    if (!this.#acting) return;
    this.#pending.add(name);
    this.#draining ??= this.#drain();
  }

  async #drain(): Promise<void> {
    try {
      await this.#drainPending();
    } finally {
      // Synchronously after the loop's last check: an enqueue cannot slip in between.
      this.#draining = undefined;
    }
  }

  async #drainPending(): Promise<void> {
    while (this.#acting && this.#pending.size > 0) {
      const name = this.#pending.values().next().value as string;
      this.#pending.delete(name);
      try {
        const result = await reconcileSluiceJob(this.#context, this.#namespace, name);
        this.#failures.delete(name);
        // Nothing in Kubernetes changes while a savepoint is written: look again by the clock.
        if (result.requeueAfterMs !== undefined) this.#later(result.requeueAfterMs, () => this.enqueue(name));
      } catch (error) {
        const failures = (this.#failures.get(name) ?? 0) + 1;
        this.#failures.set(name, failures);
        const delayMs = Math.min(RETRY_MAX_MS, RETRY_BASE_MS * 2 ** (failures - 1));
        this.#context.log(
          'warn',
          `reconciling SluiceJob ${this.#namespace}/${name} failed (retry in ${delayMs} ms): ${String(error)}`,
        );
        this.#later(delayMs, () => this.enqueue(name));
      }
      this.reconciliations++;
    }
  }
}
