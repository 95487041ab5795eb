import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import type { KubeRest } from '../kube/rest.ts';
import { createNamespace, deleteNamespace } from '../testing/namespaces.ts';
import { K8S_TIMEOUT_MS, testbedRuns, useTestbed } from '../testing/use-testbed.ts';
import { waitUntil } from '../testing/wait.ts';
import { LeaseElector } from './leader-election.ts';
import { SluiceJobOperator } from './operator.ts';

interface Lease {
  spec: { holderIdentity?: string; leaseTransitions?: number };
}

vi.setConfig({ testTimeout: K8S_TIMEOUT_MS, hookTimeout: K8S_TIMEOUT_MS });

/**
 * Leader election against a real API server. The lease is long (15 s) next to the retry period,
 * so a loaded machine delays a renewal without letting the follower in; the handover after a stop
 * does not wait for the lease to run out, since a stopping leader releases it.
 */
describe.runIf(testbedRuns(import.meta.url))('leader election on a Lease', () => {
  const testbed = useTestbed();
  let rest: KubeRest;
  let namespace: string;
  const operators: SluiceJobOperator[] = [];
  beforeAll(async () => {
    rest = testbed().rest;
    namespace = await createNamespace(rest, 'election');
  });
  afterAll(async () => {
    for (const operator of operators) await operator.stop();
    if (namespace !== undefined) await deleteNamespace(rest, namespace);
  });

  const lease = (name: string) =>
    rest.get<Lease>(`/apis/coordination.k8s.io/v1/namespaces/${namespace}/leases/${name}`);

  it('of two operator replicas exactly one leads; when it stops, the other takes over', async () => {
    const { kubeConfig } = testbed();
    const make = (identity: string) =>
      new SluiceJobOperator({
        kubeConfig,
        namespace,
        identity,
        leaseDurationMs: 15_000,
        renewDeadlineMs: 10_000,
        retryPeriodMs: 500,
      });
    const a = make('replica-a');
    const b = make('replica-b');
    operators.push(a, b);
    a.start();
    b.start();
    const leader = await waitUntil('a leader', async () => (a.leading ? a : b.leading ? b : undefined));
    const follower = leader === a ? b : a;
    // The follower has tried several times since, and still does not lead.
    const attemptsAtElection = follower.electionAttempts;
    await waitUntil(
      'the follower to try three more times',
      async () => follower.electionAttempts >= attemptsAtElection + 3,
    );
    expect(follower.leading).toBe(false);
    expect(leader.leading).toBe(true);
    expect((await lease('sluice-operator'))?.spec.holderIdentity).toBe(leader.identity);

    await leader.stop();
    expect(leader.leading).toBe(false);
    await waitUntil('the follower to lead', async () => follower.leading);
    const after = await lease('sluice-operator');
    expect(after?.spec.holderIdentity).toBe(follower.identity);
    expect(after?.spec.leaseTransitions).toBe(1);
  });

  it('takes over a lease whose holder vanished without releasing it, once the lease has run out', async () => {
    // A holder that crashed: it holds the Lease and never renews.
    await rest.call('POST', `/apis/coordination.k8s.io/v1/namespaces/${namespace}/leases`, {
      body: {
        apiVersion: 'coordination.k8s.io/v1',
        kind: 'Lease',
        metadata: { name: 'crashed' },
        spec: {
          holderIdentity: 'gone',
          leaseDurationSeconds: 2,
          renewTime: new Date().toISOString().replace('Z', '000Z'),
        },
      },
    });
    let clock = 0;
    let leading = false;
    const elector = new LeaseElector(rest, {
      namespace,
      name: 'crashed',
      identity: 'heir',
      leaseDurationMs: 2_000,
      renewDeadlineMs: 1_500,
      retryPeriodMs: 100,
      // The heir's own clock, moved by the test: the lease runs out when the test says so.
      now: () => clock,
      onStartedLeading: () => {
        leading = true;
      },
      onStoppedLeading: () => {
        leading = false;
      },
    });
    elector.start();
    try {
      await waitUntil('the heir to have looked at the lease twice', async () => elector.attempts >= 2);
      expect(leading).toBe(false);
      clock += 2_001;
      await waitUntil('the heir to lead', async () => leading);
      expect((await lease('crashed'))?.spec.holderIdentity).toBe('heir');
    } finally {
      await elector.stop();
    }
    // Released on stop.
    expect((await lease('crashed'))?.spec.holderIdentity).toBeUndefined();
  });
});
