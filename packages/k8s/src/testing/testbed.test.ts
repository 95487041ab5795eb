import { existsSync } from 'node:fs';
import { describe, expect, it, vi } from 'vitest';
import { startTestbed } from './testbed.ts';
import { K8S_TIMEOUT_MS, testbedRuns } from './use-testbed.ts';
import { waitUntil } from './wait.ts';

vi.setConfig({ testTimeout: K8S_TIMEOUT_MS, hookTimeout: K8S_TIMEOUT_MS });

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** The testbed itself, on its own (not the run's shared one): what it promises the other tests. */
describe.runIf(testbedRuns(import.meta.url))('the Kubernetes testbed', () => {
  it('keeps its kwok node Ready by renewing the node Lease, and leaves no process or folder behind', async () => {
    const bed = await startTestbed();
    let pids: number[] = [];
    try {
      pids = bed.pids().map((p) => p.pid ?? -1);
      expect(bed.pids().map((p) => p.name)).toEqual([
        'etcd',
        'kube-apiserver',
        'kube-controller-manager',
        'kube-scheduler',
        'kwok',
      ]);
      expect(pids.every((pid) => pid > 0 && alive(pid))).toBe(true);
      // The node lifecycle controller takes a node without heartbeats for Unknown after its grace period and
      // marks its pods NotReady: kwok must renew the Lease.
      const leasePath = `/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases/${bed.nodeName}`;
      const renewTime = async () => {
        const answer = await bed.request('GET', leasePath);
        return answer.status === 200
          ? (JSON.parse(answer.body) as { spec: { renewTime?: string } }).spec.renewTime
          : undefined;
      };
      const first = await waitUntil('the node Lease', renewTime);
      await waitUntil('the node Lease renewed', async () => {
        const now = await renewTime();
        return now !== undefined && now !== first;
      });
      const node = JSON.parse((await bed.request('GET', `/api/v1/nodes/${bed.nodeName}`)).body) as {
        status: { conditions: { type: string; status: string }[] };
      };
      expect(node.status.conditions.find((c) => c.type === 'Ready')?.status).toBe('True');
    } finally {
      await bed.stop();
    }
    expect(pids.filter(alive)).toEqual([]);
    expect(existsSync(bed.dir)).toBe(false);
  });
});
