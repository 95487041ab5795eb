import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildImage } from './build-image.ts';

const run = promisify(execFile);
const REPO = fileURLToPath(new URL('../../../../', import.meta.url));
const JOB_DIR = join(REPO, 'examples', 'click-counts');
const BUILD_TIMEOUT_MS = 900_000;

/**
 * The image builder, end to end: it downloads Node from the npm registry and packs and installs
 * the packages (a minute or more), so it runs under CI (`CI=true`) or when asked
 * (`SLUICE_K8S_IMAGE_TEST=1`), and says so on stderr otherwise. Running the image needs root
 * (a chroot, a private mount namespace for the read-only root): CI runs as root.
 */
const runsHere = process.env.CI === 'true' || process.env.SLUICE_K8S_IMAGE_TEST === '1';
if (!runsHere) {
  process.stderr.write(
    'build-image.test.ts: SKIPPED (downloads Node and installs packages): set SLUICE_K8S_IMAGE_TEST=1 to run it; CI=true always does\n',
  );
}
const isRoot = process.getuid?.() === 0;

describe.runIf(runsHere)('a job image built without a base image or a registry', () => {
  let dir: string;
  let archive: string;
  let root: string;
  let digests: Awaited<ReturnType<typeof buildImage>>;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'sluice-image-test-'));
    archive = join(dir, 'click-counts.tar');
    digests = await buildImage({ jobDir: JOB_DIR, reference: 'sluice/click-counts:test', out: archive });
    await mkdir(join(dir, 'archive'));
    await run('tar', ['-xf', archive, '-C', join(dir, 'archive')]);
    root = join(dir, 'root');
    await mkdir(root);
    await run('tar', ['-xf', join(dir, 'archive', 'blobs', 'sha256', digests.layerDigest), '-C', root]);
  }, BUILD_TIMEOUT_MS);
  afterAll(async () => {
    if (dir !== undefined) await rm(dir, { recursive: true, force: true });
  });

  const blob = (digest: string) =>
    readFile(join(dir, 'archive', 'blobs', 'sha256', digest.replace(/^sha256:/, '')));
  const sha = (data: Buffer) => createHash('sha256').update(data).digest('hex');

  it('is an OCI image layout (and a docker archive) whose every digest and size checks out', async () => {
    const index = JSON.parse(await readFile(join(dir, 'archive', 'index.json'), 'utf8'));
    expect(JSON.parse(await readFile(join(dir, 'archive', 'oci-layout'), 'utf8'))).toEqual({
      imageLayoutVersion: '1.0.0',
    });
    const entry = index.manifests[0];
    expect(entry.annotations['io.containerd.image.name']).toBe('docker.io/sluice/click-counts:test');
    const manifestBytes = await blob(entry.digest);
    expect(`sha256:${sha(manifestBytes)}`).toBe(entry.digest);
    expect(manifestBytes.length).toBe(entry.size);
    const manifest = JSON.parse(manifestBytes.toString('utf8'));
    for (const descriptor of [manifest.config, ...manifest.layers]) {
      const bytes = await blob(descriptor.digest);
      expect(`sha256:${sha(bytes)}`).toBe(descriptor.digest);
      expect(bytes.length).toBe(descriptor.size);
    }
    const config = JSON.parse((await blob(manifest.config.digest)).toString('utf8'));
    expect(config.config.User).toBe('10001:10001');
    expect(config.config.Entrypoint).toEqual([
      '/usr/local/bin/node',
      '/app/node_modules/@sluice/core/dist/cli/bin.js',
    ]);
    expect(config.rootfs.diff_ids).toEqual([manifest.layers[0].digest]);
    const docker = JSON.parse(await readFile(join(dir, 'archive', 'manifest.json'), 'utf8'));
    expect(docker).toEqual([
      {
        Config: `blobs/sha256/${digests.configDigest}`,
        RepoTags: ['sluice/click-counts:test'],
        Layers: [`blobs/sha256/${digests.layerDigest}`],
      },
    ]);
  });

  it('holds Node, the built CLI, the job and the libraries Node links against; every file is root-owned', async () => {
    for (const path of [
      'usr/local/bin/node',
      'app/job.ts',
      'app/node_modules/@sluice/core/dist/cli/bin.js',
      'app/node_modules/@sluice/k8s/dist/cli/bin.js',
      'app/node_modules/@sluice/connectors/dist/index.js',
      'lib64/ld-linux-x86-64.so.2',
      'etc/passwd',
    ]) {
      expect(existsSync(join(root, path)), path).toBe(true);
    }
    expect(existsSync(join(root, 'app', 'click-counts.test.ts'))).toBe(false);
    expect(await readFile(join(root, 'etc', 'passwd'), 'utf8')).toMatch(/^sluice:x:10001:10001:/m);
    const listing = (
      await run(
        'tar',
        ['-tvf', join(dir, 'archive', 'blobs', 'sha256', digests.layerDigest), '--numeric-owner'],
        { maxBuffer: 256 * 1024 * 1024 },
      )
    ).stdout;
    const owners = new Set(
      listing
        .trim()
        .split('\n')
        .map((line) => line.split(/\s+/)[1]),
    );
    expect([...owners]).toEqual(['0/0']);
  });

  it.runIf(isRoot)(
    'runs the job as user 10001 on a read-only root, with the same output as on this machine',
    async () => {
      const args = ['run', '/app/job.ts', '-p', '2', '--arg', 'events=20000', '--state-backend', 'leveldb'];
      // A private mount namespace: the image's root bound read-only, a tmpfs on /tmp (the pod's
      // emptyDir), then chroot as the pods' user. Nothing outside this process sees the mounts.
      const script =
        'mount --bind "$ROOT" "$ROOT" && mount -o remount,bind,ro "$ROOT" && mount -t tmpfs -o mode=1777 tmpfs "$ROOT/tmp" && ' +
        'exec env -i PATH=/usr/local/bin /usr/sbin/chroot --userspec=10001:10001 "$ROOT" /usr/local/bin/node /app/node_modules/@sluice/core/dist/cli/bin.js "$@"';
      const inImage = await run(
        'unshare',
        ['--mount', '--propagation', 'private', 'sh', '-c', script, 'sh', ...args],
        {
          env: { ROOT: root, PATH: '/usr/sbin:/usr/bin:/sbin:/bin' },
          timeout: 300_000,
          maxBuffer: 64 * 1024 * 1024,
        },
      );
      const onHost = await run(
        process.execPath,
        [
          join(REPO, 'packages', 'core', 'src', 'cli', 'bin.ts'),
          ...args.map((a) => (a === '/app/job.ts' ? join(JOB_DIR, 'job.ts') : a)),
        ],
        {
          timeout: 300_000,
          maxBuffer: 64 * 1024 * 1024,
        },
      );
      expect(inImage.stderr).toMatch(/20000 records read/);
      const lines = (text: string) => text.trim().split('\n').sort();
      expect(lines(inImage.stdout).length).toBeGreaterThan(10);
      expect(lines(inImage.stdout)).toEqual(lines(onHost.stdout));
    },
  );
});
