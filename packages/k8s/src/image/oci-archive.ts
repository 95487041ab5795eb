/**
 * Writes a container image as one tar file from a root filesystem folder, with no base image and
 * no registry: an OCI image layout (`oci-layout`, `index.json`, `blobs/sha256/...`) that
 * `ctr images import` and `podman load` read, plus the `manifest.json` that `docker load` reads,
 * both pointing at the same blobs.
 *
 * One uncompressed layer, made by GNU tar with every entry owned by root, sorted, and dated at
 * the epoch, so the same files always give the same digest.
 */
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { mkdir, mkdtemp, rename, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

export interface ImageConfig {
  /** `name:tag`, recorded in both indexes. */
  readonly reference: string;
  readonly user: string;
  readonly entrypoint?: readonly string[];
  readonly cmd?: readonly string[];
  readonly env: readonly string[];
  readonly workingDir: string;
  readonly labels?: Readonly<Record<string, string>>;
}

export interface WrittenImage {
  readonly archive: string;
  readonly manifestDigest: string;
  readonly configDigest: string;
  readonly layerDigest: string;
  readonly layerBytes: number;
}

async function sha256File(path: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(path)) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

function sha256(data: string | Buffer): string {
  return createHash('sha256').update(data).digest('hex');
}

export async function writeOciArchive(
  rootfs: string,
  config: ImageConfig,
  archive: string,
): Promise<WrittenImage> {
  const work = await mkdtemp(join(tmpdir(), 'sluice-oci-'));
  try {
    const blobs = join(work, 'blobs', 'sha256');
    await mkdir(blobs, { recursive: true });
    const layerFile = join(work, 'layer.tar');
    await run(
      'tar',
      [
        '--sort=name',
        '--owner=0',
        '--group=0',
        '--numeric-owner',
        '--mtime=@0',
        '--format=gnu',
        '-C',
        rootfs,
        '-cf',
        layerFile,
        '.',
      ],
      { maxBuffer: 16 * 1024 * 1024 },
    );
    const layerDigest = await sha256File(layerFile);
    const layerBytes = (await stat(layerFile)).size;
    await rename(layerFile, join(blobs, layerDigest));

    const imageConfig = JSON.stringify({
      architecture: 'amd64',
      os: 'linux',
      created: '1970-01-01T00:00:00Z',
      config: {
        User: config.user,
        Env: [...config.env],
        WorkingDir: config.workingDir,
        ...(config.entrypoint === undefined ? {} : { Entrypoint: [...config.entrypoint] }),
        ...(config.cmd === undefined ? {} : { Cmd: [...config.cmd] }),
        ...(config.labels === undefined ? {} : { Labels: { ...config.labels } }),
      },
      rootfs: { type: 'layers', diff_ids: [`sha256:${layerDigest}`] },
      history: [{ created: '1970-01-01T00:00:00Z', created_by: 'sluice-k8s image builder' }],
    });
    const configDigest = sha256(imageConfig);
    await writeFile(join(blobs, configDigest), imageConfig);

    const manifest = JSON.stringify({
      schemaVersion: 2,
      mediaType: 'application/vnd.oci.image.manifest.v1+json',
      config: {
        mediaType: 'application/vnd.oci.image.config.v1+json',
        digest: `sha256:${configDigest}`,
        size: Buffer.byteLength(imageConfig),
      },
      layers: [
        {
          mediaType: 'application/vnd.oci.image.layer.v1.tar',
          digest: `sha256:${layerDigest}`,
          size: layerBytes,
        },
      ],
    });
    const manifestDigest = sha256(manifest);
    await writeFile(join(blobs, manifestDigest), manifest);

    await writeFile(join(work, 'oci-layout'), JSON.stringify({ imageLayoutVersion: '1.0.0' }));
    await writeFile(
      join(work, 'index.json'),
      JSON.stringify({
        schemaVersion: 2,
        mediaType: 'application/vnd.oci.image.index.v1+json',
        manifests: [
          {
            mediaType: 'application/vnd.oci.image.manifest.v1+json',
            digest: `sha256:${manifestDigest}`,
            size: Buffer.byteLength(manifest),
            annotations: {
              'io.containerd.image.name': qualified(config.reference),
              'org.opencontainers.image.ref.name': tagOf(config.reference),
            },
          },
        ],
      }),
    );
    await writeFile(
      join(work, 'manifest.json'),
      JSON.stringify([
        {
          Config: `blobs/sha256/${configDigest}`,
          RepoTags: [config.reference],
          Layers: [`blobs/sha256/${layerDigest}`],
        },
      ]),
    );
    await run('tar', [
      '--sort=name',
      '--owner=0',
      '--group=0',
      '--numeric-owner',
      '--mtime=@0',
      '-C',
      work,
      '-cf',
      archive,
      '.',
    ]);
    return { archive, manifestDigest, configDigest, layerDigest, layerBytes };
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}

function tagOf(reference: string): string {
  const slash = reference.lastIndexOf('/');
  const colon = reference.lastIndexOf(':');
  return colon > slash ? reference.slice(colon + 1) : 'latest';
}

/** containerd names images fully (`docker.io/library/x:tag`); a local name keeps its own host part. */
function qualified(reference: string): string {
  const first = reference.split('/')[0] ?? '';
  if (reference.includes('/') && (first.includes('.') || first.includes(':') || first === 'localhost'))
    return reference;
  return reference.includes('/') ? `docker.io/${reference}` : `docker.io/library/${reference}`;
}
