/**
 * Leader election on a coordination.k8s.io/v1 Lease, as client-go's `leaderelection` package
 * does it, so several operator replicas can run and exactly one acts:
 *
 * - A candidate takes the Lease when nobody holds it, or when the holder has not renewed it for
 *   `leaseDurationMs` — measured on the candidate's own clock from when it last saw the Lease
 *   change, never by comparing the holder's timestamps with ours (clocks differ between nodes).
 * - Every write carries the resourceVersion it read, so of two candidates racing for the same
 *   Lease the API server lets one win and refuses the other (409).
 * - The leader renews every `retryPeriodMs`; if it cannot renew for `renewDeadlineMs` (shorter
 *   than the lease) it stops acting before anyone else may start.
 * - On a clean stop the leader releases the Lease (empties the holder), so a successor takes over
 *   at once instead of waiting out the lease.
 */
import { KubernetesApiError } from '../errors.ts';
import type { KubeRest } from '../kube/rest.ts';

export interface LeaseElectorOptions {
  readonly namespace: string;
  readonly name: string;
  readonly identity: string;
  readonly leaseDurationMs?: number;
  readonly renewDeadlineMs?: number;
  readonly retryPeriodMs?: number;
  readonly now?: () => number;
  readonly onStartedLeading: () => void;
  readonly onStoppedLeading: () => void;
  readonly log?: (level: 'info' | 'warn' | 'error', message: string) => void;
}

interface Lease {
  apiVersion: 'coordination.k8s.io/v1';
  kind: 'Lease';
  metadata: { name: string; namespace: string; resourceVersion?: string };
  spec: {
    holderIdentity?: string;
    leaseDurationSeconds?: number;
    acquireTime?: string;
    renewTime?: string;
    leaseTransitions?: number;
  };
}

export class LeaseElector {
  readonly #rest: KubeRest;
  readonly #options: Required<Omit<LeaseElectorOptions, 'log'>> & Pick<LeaseElectorOptions, 'log'>;
  #leading = false;
  #lastRenewed = 0;
  #observedVersion: string | undefined;
  #observedAt = 0;
  #timer: NodeJS.Timeout | undefined;
  #stopped = true;
  #tick: Promise<void> = Promise.resolve();
  /** Attempts made to acquire or renew, for tests that wait for a candidate to have tried. */
  attempts = 0;

  constructor(rest: KubeRest, options: LeaseElectorOptions) {
    const leaseDurationMs = options.leaseDurationMs ?? 15_000;
    const renewDeadlineMs = options.renewDeadlineMs ?? 10_000;
    const retryPeriodMs = options.retryPeriodMs ?? 2_000;
    if (!(renewDeadlineMs < leaseDurationMs)) {
      throw new KubernetesApiError(
        `leader election: renewDeadlineMs (${renewDeadlineMs}) must be shorter than leaseDurationMs (${leaseDurationMs})`,
        undefined,
      );
    }
    if (!(retryPeriodMs < renewDeadlineMs)) {
      throw new KubernetesApiError(
        `leader election: retryPeriodMs (${retryPeriodMs}) must be shorter than renewDeadlineMs (${renewDeadlineMs})`,
        undefined,
      );
    }
    this.#rest = rest;
    this.#options = {
      ...options,
      leaseDurationMs,
      renewDeadlineMs,
      retryPeriodMs,
      now: options.now ?? Date.now,
    };
  }

  get leading(): boolean {
    return this.#leading;
  }

  get #path(): string {
    return `/apis/coordination.k8s.io/v1/namespaces/${this.#options.namespace}/leases/${this.#options.name}`;
  }

  start(): void {
    if (!this.#stopped) return;
    this.#stopped = false;
    this.#schedule(0);
  }

  /** Stops campaigning; a leader stops acting and releases the Lease. */
  async stop(): Promise<void> {
    this.#stopped = true;
    clearTimeout(this.#timer);
    await this.#tick;
    if (this.#leading) {
      this.#setLeading(false);
      await this.#release().catch((error: unknown) =>
        this.#options.log?.('warn', `releasing the Lease failed: ${String(error)}`),
      );
    }
  }

  #schedule(delayMs: number): void {
    this.#timer = setTimeout(() => {
      this.#tick = this.#round().finally(() => {
        if (!this.#stopped) this.#schedule(this.#options.retryPeriodMs);
      });
    }, delayMs);
  }

  async #round(): Promise<void> {
    let held = false;
    try {
      held = await this.#tryAcquireOrRenew();
    } catch (error) {
      this.#options.log?.(
        'warn',
        `leader election on Lease ${this.#options.namespace}/${this.#options.name}: ${String(error)}`,
      );
    }
    this.attempts++;
    if (this.#stopped) return;
    const now = this.#options.now();
    if (held) {
      this.#lastRenewed = now;
      if (!this.#leading) this.#setLeading(true);
    } else if (this.#leading && now - this.#lastRenewed > this.#options.renewDeadlineMs) {
      this.#options.log?.(
        'warn',
        `could not renew Lease ${this.#options.name} for ${this.#options.renewDeadlineMs} ms: no longer leading`,
      );
      this.#setLeading(false);
    }
  }

  #setLeading(leading: boolean): void {
    this.#leading = leading;
    this.#options.log?.(
      'info',
      `${this.#options.identity} ${leading ? 'is now the leader' : 'stopped leading'}`,
    );
    if (leading) this.#options.onStartedLeading();
    else this.#options.onStoppedLeading();
  }

  async #tryAcquireOrRenew(): Promise<boolean> {
    const { identity, namespace, name } = this.#options;
    const now = this.#options.now();
    const stamp = microTime(now);
    const leaseSeconds = Math.ceil(this.#options.leaseDurationMs / 1000);
    const current = await this.#rest.get<Lease>(this.#path);
    if (current === undefined) {
      const lease: Lease = {
        apiVersion: 'coordination.k8s.io/v1',
        kind: 'Lease',
        metadata: { name, namespace },
        spec: {
          holderIdentity: identity,
          leaseDurationSeconds: leaseSeconds,
          acquireTime: stamp,
          renewTime: stamp,
          leaseTransitions: 0,
        },
      };
      const answer = await this.#rest.send(
        'POST',
        `/apis/coordination.k8s.io/v1/namespaces/${namespace}/leases`,
        { body: lease },
      );
      return answer.status === 201;
    }
    if (current.metadata.resourceVersion !== this.#observedVersion) {
      this.#observedVersion = current.metadata.resourceVersion;
      this.#observedAt = now;
    }
    const holder = current.spec.holderIdentity ?? '';
    const mine = holder === identity;
    if (!mine && holder !== '' && now - this.#observedAt < this.#options.leaseDurationMs) return false;
    const spec = mine
      ? { ...current.spec, renewTime: stamp, leaseDurationSeconds: leaseSeconds }
      : {
          holderIdentity: identity,
          leaseDurationSeconds: leaseSeconds,
          acquireTime: stamp,
          renewTime: stamp,
          leaseTransitions: (current.spec.leaseTransitions ?? 0) + 1,
        };
    const answer = await this.#rest.send<Lease>('PUT', this.#path, { body: { ...current, spec } });
    if (answer.status === 200) {
      this.#observedVersion = answer.body.metadata.resourceVersion;
      this.#observedAt = now;
      return true;
    }
    if (answer.status === 409) return false;
    throw new KubernetesApiError(`PUT ${this.#path} answered HTTP ${answer.status}`, answer.status);
  }

  async #release(): Promise<void> {
    const current = await this.#rest.get<Lease>(this.#path);
    if (current === undefined || current.spec.holderIdentity !== this.#options.identity) return;
    const stamp = microTime(this.#options.now());
    const { holderIdentity: _released, ...rest } = current.spec;
    await this.#rest.call('PUT', this.#path, {
      body: { ...current, spec: { ...rest, leaseDurationSeconds: 1, renewTime: stamp, acquireTime: stamp } },
    });
  }
}

/** The API's MicroTime: RFC 3339 with exactly six fractional digits. */
function microTime(ms: number): string {
  return new Date(ms).toISOString().replace(/\.(\d{3})Z$/, '.$1000Z');
}
