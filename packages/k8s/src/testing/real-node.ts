/**
 * A real node for the testbed's API server: Debian's containerd (1.6) with runc, and a kubelet
 * (built by `testbed/node/build-kubelet.sh`) registered as `sluice-real-node`, so that pods run
 * as real containers. Installed by `testbed/node/install.sh`; needs root.
 *
 * What /work/shared/K8S-TESTBED.md found to work here, and why each setting is there:
 * - containerd's CRI plugin with `restrict_oom_score_adj` (runc may not lower its own OOM score
 *   in this sandbox) and a CNI configuration holding only the `loopback` plugin, which makes the
 *   node Ready: only pods on the host's network (`hostNetwork: true`) can run — there is no pod
 *   network, everything listens on 127.0.0.1;
 * - a pod sandbox ("pause") image built here from Debian's static `catatonit -P`, since no
 *   registry can be reached to pull `registry.k8s.io/pause`;
 * - the kubelet with `failCgroupV1: false` (these machines run cgroup v1), the cgroupfs driver,
 *   listening on 127.0.0.1 only; it refuses a loopback node address, so the node has none:
 *   `kubectl logs` cannot reach it, and tests read container logs from its pod log folder.
 *
 * Everything lives under one folder of its own (containerd's root and state, the kubelet's root,
 * the pod logs), with containerd on its own socket, so it disturbs no other containerd. `stop()`
 * stops the kubelet, kills every container left, stops containerd and its shims, unmounts what
 * the kubelet mounted and removes the folder.
 */
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import {
  chmod,
  copyFile,
  mkdir,
  mkdtemp,
  readdir,
  readFile,
  readlink,
  rm,
  writeFile,
} from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { writeOciArchive } from '../image/oci-archive.ts';
import { freePort, ManagedProcess } from './processes.ts';
import { TestbedError } from './testbed-error.ts';
import { testbedCacheDir } from './testbed-paths.ts';
import { waitUntil } from './wait.ts';

const run = promisify(execFile);

export const REAL_NODE_NAME = 'sluice-real-node';
/** containerd's namespace for images and containers the kubelet uses. */
const K8S_NAMESPACE = 'k8s.io';
export const PAUSE_IMAGE = 'sluice.local/pause:catatonit';
const CATATONIT = '/usr/bin/catatonit';
const CNI_BIN_DIR = '/usr/lib/cni';
/** A hang guard for the node's start: the kubelet registers and turns Ready within seconds here. */
const READY_TIMEOUT_MS = 180_000;

export interface RealNode {
  readonly name: string;
  readonly dir: string;
  /** The kubelet's pod log folder: `<namespace>_<pod>_<uid>/<container>/<restart>.log`. */
  readonly podLogsDir: string;
  /** Imports an image archive (OCI layout or docker archive) into the kubelet's namespace. */
  importImage(archive: string): Promise<void>;
  /** SIGKILL to a container's process, as the OOM killer or a crash would end it. */
  killContainer(containerId: string): Promise<void>;
  /** Every line a pod's container wrote (stdout and stderr, all restarts), oldest first. */
  containerLog(namespace: string, pod: string, container: string): Promise<string>;
  stop(): Promise<void>;
}

/** What `install.sh` must have put on the machine; empty when the node can start. */
export function missingRealNodeFiles(): string[] {
  const needed = [
    '/usr/bin/containerd',
    '/usr/bin/ctr',
    '/usr/sbin/runc',
    `${CNI_BIN_DIR}/loopback`,
    CATATONIT,
    kubeletBinary(),
  ];
  return needed.filter((path) => !existsSync(path));
}

export function kubeletBinary(): string {
  return join(testbedCacheDir(), 'bin', 'kubelet');
}

export async function startRealNode(options: { readonly kubeconfigPath: string }): Promise<RealNode> {
  const missing = missingRealNodeFiles();
  if (missing.length > 0)
    throw new TestbedError(
      `the real node is not installed: missing ${missing.join(', ')} (run packages/k8s/testbed/node/install.sh as root)`,
    );
  if (process.getuid?.() !== 0)
    throw new TestbedError('the real node needs root (containerd, runc, kubelet)');
  // Not under /tmp: the kubelet's root folder holds mounts, and tests clean /tmp.
  await mkdir('/var/lib/sluice-k8s-node', { recursive: true });
  const dir = await mkdtemp('/var/lib/sluice-k8s-node/run-');
  const socket = join(dir, 'containerd.sock');
  const podLogsDir = join(dir, 'pod-logs');
  const processes: ManagedProcess[] = [];
  const ctr = async (...args: string[]): Promise<string> => {
    try {
      const { stdout } = await run('ctr', ['--address', socket, '--namespace', K8S_NAMESPACE, ...args], {
        maxBuffer: 16 * 1024 * 1024,
        timeout: 300_000,
      });
      return stdout;
    } catch (error) {
      const { stderr } = error as { stderr?: string };
      throw new TestbedError(`ctr ${args.join(' ')} failed: ${(stderr ?? String(error)).trim()}`, {
        cause: error,
      });
    }
  };

  const stop = async (): Promise<void> => {
    const kubelet = processes.find((p) => p.name === 'kubelet');
    await kubelet?.stop();
    const containerd = processes.find((p) => p.name === 'containerd');
    if (containerd?.running) {
      // Containers the kubelet did not stop (the test failed before deleting its pods).
      const tasks = (await ctr('tasks', 'ls', '-q').catch(() => '')).split('\n').filter(Boolean);
      for (const task of tasks) await ctr('tasks', 'kill', '-s', 'SIGKILL', task).catch(() => {});
    }
    await containerd?.stop();
    await killShimsOf(socket);
    await unmountUnder(dir);
    await rm(dir, { recursive: true, force: true }).catch(() => {});
  };

  try {
    await writeContainerdConfig(dir, socket);
    const containerd = new ManagedProcess(
      'containerd',
      '/usr/bin/containerd',
      ['--config', join(dir, 'containerd.toml')],
      dir,
    );
    processes.push(containerd);
    await waitUntil(
      'containerd answering',
      async () => {
        containerd.assertRunning();
        return (await ctr('version').catch(() => undefined)) !== undefined;
      },
      READY_TIMEOUT_MS,
    );

    const pause = join(dir, 'pause.tar');
    const pauseRoot = join(dir, 'pause-rootfs');
    await mkdir(pauseRoot);
    await copyFile(CATATONIT, join(pauseRoot, 'catatonit'));
    await chmod(join(pauseRoot, 'catatonit'), 0o755);
    await writeOciArchive(
      pauseRoot,
      {
        reference: PAUSE_IMAGE,
        user: '65535:65535',
        entrypoint: ['/catatonit', '-P'],
        env: [],
        workingDir: '/',
      },
      pause,
    );
    await ctr('images', 'import', pause);

    const kubeletPort = await freePort();
    await writeKubeletConfig(dir, socket, podLogsDir, kubeletPort);
    const kubelet = new ManagedProcess(
      'kubelet',
      kubeletBinary(),
      [
        `--config=${join(dir, 'kubelet.yaml')}`,
        `--kubeconfig=${options.kubeconfigPath}`,
        `--hostname-override=${REAL_NODE_NAME}`,
        `--root-dir=${join(dir, 'kubelet')}`,
        `--cert-dir=${join(dir, 'kubelet-pki')}`,
        '--v=2',
      ],
      dir,
    );
    processes.push(kubelet);
    await waitUntil(
      `node ${REAL_NODE_NAME} Ready`,
      async () => {
        containerd.assertRunning();
        kubelet.assertRunning();
        const { stdout } = await run(join(testbedCacheDir(), 'bin', 'kubectl'), [
          `--kubeconfig=${options.kubeconfigPath}`,
          'get',
          'node',
          REAL_NODE_NAME,
          '-o',
          'jsonpath={.status.conditions[?(@.type=="Ready")].status}',
        ]);
        return stdout.trim() === 'True';
      },
      READY_TIMEOUT_MS,
    );
  } catch (error) {
    const logs = processes.map((p) => `--- ${p.name} (${p.logFile})\n${p.logTail(25)}`).join('\n');
    await stop();
    throw new TestbedError(`starting the real node failed: ${String(error)}\ncomponent logs:\n${logs}`, {
      cause: error,
    });
  }

  return {
    name: REAL_NODE_NAME,
    dir,
    podLogsDir,
    importImage: async (archive) => {
      await ctr('images', 'import', archive);
    },
    killContainer: async (containerId) => {
      await ctr('tasks', 'kill', '-s', 'SIGKILL', containerId.replace(/^containerd:\/\//, ''));
    },
    containerLog: async (namespace, pod, container) => {
      const folders = (await readdir(podLogsDir).catch(() => [] as string[]))
        .filter((name) => name.startsWith(`${namespace}_${pod}_`))
        .sort();
      const lines: string[] = [];
      for (const folder of folders) {
        const files = await readdir(join(podLogsDir, folder, container)).catch(() => [] as string[]);
        // `<restart>.log`, plus rotated `<restart>.log.<time>` files; restarts in order.
        const ordered = files
          .filter((file) => /^\d+\.log$/.test(file))
          .sort((a, b) => Number.parseInt(a, 10) - Number.parseInt(b, 10));
        for (const file of ordered) {
          const text = await readFile(join(podLogsDir, folder, container, file), 'utf8').catch(() => '');
          // CRI log format: `<time> <stream> <P|F> <text>`.
          for (const line of text.split('\n')) {
            const match = /^\S+ (?:stdout|stderr) [PF] (.*)$/.exec(line);
            if (match?.[1] !== undefined) lines.push(match[1]);
          }
        }
      }
      return lines.join('\n');
    },
    stop,
  };
}

async function writeContainerdConfig(dir: string, socket: string): Promise<void> {
  const cniDir = join(dir, 'cni');
  await mkdir(cniDir, { recursive: true });
  await writeFile(
    join(cniDir, '10-loopback.conf'),
    `${JSON.stringify({ cniVersion: '0.3.1', name: 'sluice-loopback', type: 'loopback' })}\n`,
  );
  await writeFile(
    join(dir, 'containerd.toml'),
    `version = 2
root = "${join(dir, 'containerd', 'root')}"
state = "${join(dir, 'containerd', 'state')}"

[grpc]
  address = "${socket}"

[ttrpc]
  address = "${socket}.ttrpc"

[plugins."io.containerd.internal.v1.opt"]
  path = "${join(dir, 'containerd', 'opt')}"

[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "${PAUSE_IMAGE}"
  restrict_oom_score_adj = true
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "${CNI_BIN_DIR}"
    conf_dir = "${cniDir}"
`,
  );
}

async function writeKubeletConfig(
  dir: string,
  socket: string,
  podLogsDir: string,
  port: number,
): Promise<void> {
  await mkdir(podLogsDir, { recursive: true });
  await writeFile(
    join(dir, 'kubelet.yaml'),
    `apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
address: 127.0.0.1
port: ${port}
readOnlyPort: 0
healthzPort: 0
authentication:
  anonymous: { enabled: false }
  webhook: { enabled: false }
authorization:
  mode: AlwaysAllow
containerRuntimeEndpoint: unix://${socket}
cgroupDriver: cgroupfs
failCgroupV1: false
failSwapOn: false
podLogsDir: ${podLogsDir}
resolvConf: /etc/resolv.conf
# A shared, loaded test machine: never evict the test's pods nor collect its images.
evictionHard: { memory.available: 1Mi, nodefs.available: 1%, imagefs.available: 1%, nodefs.inodesFree: 1% }
imageGCHighThresholdPercent: 100
imageGCLowThresholdPercent: 99
serializeImagePulls: false
`,
  );
}

/** containerd's shims outlive it (they hold the containers); end those started for `socket`. */
async function killShimsOf(socket: string): Promise<void> {
  for (const entry of await readdir('/proc').catch(() => [] as string[])) {
    if (!/^\d+$/.test(entry)) continue;
    const cmdline = await readFile(`/proc/${entry}/cmdline`, 'utf8').catch(() => '');
    const argv = cmdline.split('\0');
    if (!argv[0]?.endsWith('containerd-shim-runc-v2')) continue;
    const at = argv.indexOf('-address');
    if (at >= 0 && argv[at + 1] === socket) {
      try {
        process.kill(Number(entry), 'SIGKILL');
      } catch {
        // gone already
      }
    }
  }
  // Let the kernel reap them before their mounts are undone.
  await waitUntil(
    `containerd shims of ${socket} gone`,
    async () => {
      for (const entry of await readdir('/proc').catch(() => [] as string[])) {
        if (!/^\d+$/.test(entry)) continue;
        const exe = await readlink(`/proc/${entry}/exe`).catch(() => '');
        if (!exe.endsWith('containerd-shim-runc-v2')) continue;
        const cmdline = await readFile(`/proc/${entry}/cmdline`, 'utf8').catch(() => '');
        if (cmdline.split('\0').includes(socket)) return false;
      }
      return true;
    },
    30_000,
  ).catch(() => {});
}

/** Unmounts everything mounted under `dir` (secret tmpfs, overlay roots, sandbox shm), deepest first. */
async function unmountUnder(dir: string): Promise<void> {
  const mounts = (await readFile('/proc/self/mounts', 'utf8'))
    .split('\n')
    .map((line) => line.split(' ')[1]?.replace(/\\040/g, ' '))
    .filter((point): point is string => point?.startsWith(`${dir}/`) === true)
    .sort((a, b) => b.length - a.length);
  for (const point of mounts) await run('umount', ['-l', point]).catch(() => {});
}

/** A scratch folder for image archives, outside the node's own folder. */
export async function imageScratchDir(): Promise<string> {
  return mkdtemp(join(tmpdir(), 'sluice-real-node-images-'));
}
