/**
 * A real Kubernetes control plane for tests, on 127.0.0.1 only: etcd, kube-apiserver (client
 * certificates, RBAC, service-account tokens, the PodSecurity admission plugin),
 * kube-controller-manager (service accounts, garbage collection, Deployments), kube-scheduler and
 * kwok, which plays one node and moves the pods scheduled on it to Running/Ready without
 * containers. Binaries come from `testbed/build.sh`'s cache (see testbed-paths.ts).
 *
 * Every wait is for a condition (an endpoint answering, a node Ready) with a generous hang guard,
 * never a fixed sleep: on a loaded two-core machine start-up takes from seconds to a minute.
 * `stop()` ends every process it started, each with its process group; so does the runner's exit.
 */
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { request } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { KubeConfig } from '@kubernetes/client-node';
import { makeCerts, type TestbedCerts } from './certs.ts';
import { freePort, ManagedProcess } from './processes.ts';
import { TestbedError } from './testbed-error.ts';
import { kwokStagesFile, missingTestbedFiles, testbedBinary } from './testbed-paths.ts';

/** Longest wait for any one component to become ready: a hang guard, not an expected time. */
const READY_TIMEOUT_MS = 180_000;
const POLL_MS = 200;
/** The node kwok plays; pods are scheduled onto it. */
export const TESTBED_NODE = 'kwok-node-0';
const KWOK_NODE_LABEL = 'sluice.dev/testbed-node';

export interface Testbed {
  /** The folder holding certificates, data and logs; removed by `stop()`. */
  readonly dir: string;
  /** A kubeconfig file with an admin (`system:masters`) user. */
  readonly kubeconfigPath: string;
  /** `https://127.0.0.1:<port>` */
  readonly server: string;
  readonly nodeName: string;
  /** A fresh client configuration for the admin user. */
  kubeConfig(): KubeConfig;
  /** Raw HTTPS request to the API server as the admin user; resolves with status and body. */
  request(method: string, path: string, body?: unknown): Promise<{ status: number; body: string }>;
  /** The components' process ids (each leads its own process group). */
  pids(): { name: string; pid: number | undefined }[];
  stop(): Promise<void>;
}

export interface TestbedOptions {
  /**
   * CustomResourceDefinitions to install before the controller manager starts. Its garbage
   * collector learns of resource types it did not know at start only on a periodic rediscovery
   * (30 s), so owner-based deletion of objects owned by custom resources would lag until then.
   */
  readonly crds?: readonly Record<string, unknown>[];
}

export async function startTestbed(options: TestbedOptions = {}): Promise<Testbed> {
  const missing = missingTestbedFiles();
  if (missing.length > 0) {
    throw new TestbedError(
      `the testbed is not built: missing ${missing.join(', ')} (run packages/k8s/testbed/build.sh)`,
    );
  }
  const dir = await mkdtemp(join(tmpdir(), 'sluice-k8s-testbed-'));
  const processes: ManagedProcess[] = [];
  const stop = async (): Promise<void> => {
    // Reverse order: clients before the API server, the API server before etcd.
    for (const child of processes.reverse()) await child.stop();
    processes.length = 0;
    await rm(dir, { recursive: true, force: true });
  };
  try {
    const certs = await makeCerts(dir);
    const apiPort = await freePort();
    const server = `https://127.0.0.1:${apiPort}`;
    const kubeconfigPath = join(dir, 'admin.kubeconfig');
    await writeFile(kubeconfigPath, kubeconfig(server, certs));
    const http = clientFor(server, certs);

    const etcdClient = await freePort();
    const etcdPeer = await freePort();
    const etcd = new ManagedProcess(
      'etcd',
      testbedBinary('etcd'),
      [
        '--name=testbed',
        `--data-dir=${join(dir, 'etcd')}`,
        `--listen-client-urls=http://127.0.0.1:${etcdClient}`,
        `--advertise-client-urls=http://127.0.0.1:${etcdClient}`,
        `--listen-peer-urls=http://127.0.0.1:${etcdPeer}`,
        `--initial-advertise-peer-urls=http://127.0.0.1:${etcdPeer}`,
        `--initial-cluster=testbed=http://127.0.0.1:${etcdPeer}`,
        '--listen-metrics-urls=',
        // A test cluster's data need not survive a power cut; fsync on a loaded disk is the
        // slowest part of every write.
        '--unsafe-no-fsync',
      ],
      dir,
    );
    processes.push(etcd);

    const apiserver = new ManagedProcess(
      'kube-apiserver',
      testbedBinary('kube-apiserver'),
      [
        `--etcd-servers=http://127.0.0.1:${etcdClient}`,
        '--bind-address=127.0.0.1',
        '--advertise-address=127.0.0.1',
        `--secure-port=${apiPort}`,
        `--tls-cert-file=${certs.serverCert}`,
        `--tls-private-key-file=${certs.serverKey}`,
        `--client-ca-file=${certs.caCert}`,
        '--authorization-mode=RBAC',
        `--service-account-key-file=${certs.serviceAccountPub}`,
        `--service-account-signing-key-file=${certs.serviceAccountKey}`,
        '--service-account-issuer=https://kubernetes.default.svc.cluster.local',
        '--service-cluster-ip-range=10.96.0.0/24',
        // PodSecurity is on by default; naming it keeps the restricted-namespace tests honest
        // should a default change.
        '--enable-admission-plugins=PodSecurity,NamespaceLifecycle,ServiceAccount,DefaultStorageClass',
        // Nothing on 127.0.0.1 can serve the `kubernetes` Service's endpoints to pods.
        '--endpoint-reconciler-type=none',
      ],
      dir,
    );
    processes.push(apiserver);
    await waitFor('kube-apiserver /readyz', [etcd, apiserver], async () => {
      const answer = await http('GET', '/readyz').catch(() => undefined);
      return answer?.status === 200;
    });

    for (const crd of options.crds ?? []) {
      const created = await http('POST', '/apis/apiextensions.k8s.io/v1/customresourcedefinitions', crd);
      if (created.status !== 201)
        throw new TestbedError(`installing a CRD failed: HTTP ${created.status} ${created.body}`);
      const name = (crd.metadata as { name: string }).name;
      await waitFor(`CRD ${name} established`, [etcd, apiserver], async () => {
        const answer = await http('GET', `/apis/apiextensions.k8s.io/v1/customresourcedefinitions/${name}`);
        const body = JSON.parse(answer.body) as {
          status?: { conditions?: { type: string; status: string }[] };
        };
        return body.status?.conditions?.some((c) => c.type === 'Established' && c.status === 'True') === true;
      });
    }

    const controllerManager = new ManagedProcess(
      'kube-controller-manager',
      testbedBinary('kube-controller-manager'),
      [
        `--kubeconfig=${kubeconfigPath}`,
        '--bind-address=127.0.0.1',
        `--secure-port=${await freePort()}`,
        '--leader-elect=false',
        // A node whose heartbeat is late is taken for Unknown and its pods marked NotReady for good
        // (kwok readies only pending pods). On a loaded machine kwok's Lease renewal can be late
        // by more than the default 50 s: allow five minutes.
        '--node-monitor-grace-period=5m',
        '--use-service-account-credentials',
        `--service-account-private-key-file=${certs.serviceAccountKey}`,
        `--root-ca-file=${certs.caCert}`,
        `--cluster-signing-cert-file=${certs.caCert}`,
        `--cluster-signing-key-file=${certs.caKey}`,
      ],
      dir,
    );
    processes.push(controllerManager);
    const scheduler = new ManagedProcess(
      'kube-scheduler',
      testbedBinary('kube-scheduler'),
      [
        `--kubeconfig=${kubeconfigPath}`,
        '--bind-address=127.0.0.1',
        `--secure-port=${await freePort()}`,
        '--leader-elect=false',
      ],
      dir,
    );
    processes.push(scheduler);
    const kwok = new ManagedProcess(
      'kwok',
      testbedBinary('kwok'),
      [
        `--kubeconfig=${kubeconfigPath}`,
        `--config=${kwokStagesFile()}`,
        `--manage-nodes-with-label-selector=${KWOK_NODE_LABEL}=kwok`,
        '--node-ip=127.0.0.1',
        // kwok renews the node's Lease only when given a duration (its default is 0: no Lease).
        // Without heartbeats the node lifecycle controller marks the node Unknown after its grace period and
        // every pod on it NotReady, in the middle of whatever test is running.
        '--node-lease-duration-seconds=40',
        '--cidr=10.244.0.0/16',
      ],
      dir,
    );
    processes.push(kwok);

    const created = await http('POST', '/api/v1/nodes', kwokNode());
    if (created.status !== 201) {
      throw new TestbedError(`creating the kwok node failed: HTTP ${created.status} ${created.body}`);
    }
    const all = [etcd, apiserver, controllerManager, scheduler, kwok];
    await waitFor(`node ${TESTBED_NODE} Ready`, all, async () => {
      const answer = await http('GET', `/api/v1/nodes/${TESTBED_NODE}`);
      if (answer.status !== 200) return false;
      const node = JSON.parse(answer.body) as {
        status?: { conditions?: { type: string; status: string }[] };
      };
      return node.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') === true;
    });
    // The controller manager is up once it has made the default namespace's ServiceAccount;
    // without it no pod can be created.
    await waitFor('ServiceAccount default/default', all, async () => {
      const answer = await http('GET', '/api/v1/namespaces/default/serviceaccounts/default');
      return answer.status === 200;
    });

    return {
      dir,
      kubeconfigPath,
      server,
      nodeName: TESTBED_NODE,
      kubeConfig() {
        const config = new KubeConfig();
        config.loadFromFile(kubeconfigPath);
        return config;
      },
      request: http,
      pids: () => all.map((p) => ({ name: p.name, pid: p.pid })),
      stop,
    };
  } catch (error) {
    const logs = processes.map((p) => `--- ${p.name} (${p.logFile})\n${p.logTail(15)}`).join('\n');
    await stop();
    if (error instanceof TestbedError) {
      throw new TestbedError(`${error.message}\ncomponent logs:\n${logs}`, { cause: error });
    }
    throw new TestbedError(`starting the testbed failed: ${String(error)}\ncomponent logs:\n${logs}`, {
      cause: error,
    });
  }
}

function kubeconfig(server: string, certs: TestbedCerts): string {
  return `apiVersion: v1
kind: Config
clusters:
- name: testbed
  cluster:
    server: ${server}
    certificate-authority: ${certs.caCert}
users:
- name: admin
  user:
    client-certificate: ${certs.adminCert}
    client-key: ${certs.adminKey}
contexts:
- name: testbed
  context:
    cluster: testbed
    user: admin
current-context: testbed
`;
}

function kwokNode(): unknown {
  return {
    apiVersion: 'v1',
    kind: 'Node',
    metadata: {
      name: TESTBED_NODE,
      labels: {
        [KWOK_NODE_LABEL]: 'kwok',
        'kubernetes.io/hostname': TESTBED_NODE,
        'kubernetes.io/os': 'linux',
      },
      annotations: { 'kwok.x-k8s.io/node': 'fake' },
    },
    status: {
      allocatable: { cpu: '64', memory: '256Gi', pods: '250' },
      capacity: { cpu: '64', memory: '256Gi', pods: '250' },
    },
  };
}

type HttpClient = (method: string, path: string, body?: unknown) => Promise<{ status: number; body: string }>;

function clientFor(server: string, certs: TestbedCerts): HttpClient {
  const url = new URL(server);
  let tls: Promise<{ ca: Buffer; cert: Buffer; key: Buffer }> | undefined;
  return async (method, path, body) => {
    tls ??= Promise.all([readFile(certs.caCert), readFile(certs.adminCert), readFile(certs.adminKey)]).then(
      ([ca, cert, key]) => ({ ca, cert, key }),
    );
    const { ca, cert, key } = await tls;
    const payload = body === undefined ? undefined : JSON.stringify(body);
    return new Promise((resolve, reject) => {
      const req = request(
        {
          host: url.hostname,
          port: url.port,
          path,
          method,
          ca,
          cert,
          key,
          headers: payload === undefined ? {} : { 'content-type': 'application/json' },
          timeout: 30_000,
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (chunk: Buffer) => chunks.push(chunk));
          res.on('end', () =>
            resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') }),
          );
          res.on('error', reject);
        },
      );
      req.on('timeout', () => req.destroy(new Error(`${method} ${path}: no answer within 30 s`)));
      req.on('error', reject);
      req.end(payload);
    });
  };
}

/** Polls `check` until it holds; fails at once if a component died, or after the hang guard. */
async function waitFor(
  what: string,
  components: ManagedProcess[],
  check: () => Promise<boolean>,
): Promise<void> {
  const deadline = Date.now() + READY_TIMEOUT_MS;
  for (;;) {
    for (const component of components) component.assertRunning();
    if (await check().catch(() => false)) return;
    if (Date.now() > deadline) {
      throw new TestbedError(`waited ${READY_TIMEOUT_MS / 1000} s for ${what}, in vain`);
    }
    await new Promise((resolve) => setTimeout(resolve, POLL_MS));
  }
}
