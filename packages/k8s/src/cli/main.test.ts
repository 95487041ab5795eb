import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { V1Deployment, V1Secret } from '@kubernetes/client-node';
import { afterEach, describe, expect, it } from 'vitest';
import { parseAllDocuments } from 'yaml';
import { main, nameFromJob } from './main.ts';

async function run(...argv: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  let stdout = '';
  let stderr = '';
  const code = await main(argv, { stdout: (t) => (stdout += t), stderr: (t) => (stderr += t) });
  return { code, stdout, stderr };
}

const folders: string[] = [];
afterEach(async () => {
  for (const folder of folders.splice(0)) await rm(folder, { recursive: true, force: true });
});

describe('sluice-k8s render', () => {
  it('prints the manifests of a job as YAML, the job path taken inside /app', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'sluice-k8s-cli-'));
    folders.push(dir);
    const secretFile = join(dir, 'secret');
    await writeFile(secretFile, '0123456789abcdef0123456789abcdef\n');
    const { code, stdout, stderr } = await run(
      'render',
      'jobs/Click_Counts.ts',
      '--image',
      'sluice/clicks:1',
      '-p',
      '3',
      '-n',
      'shop',
      '--arg',
      'topic=clicks',
      '--arg',
      'limit=10',
      '--secret-file',
      secretFile,
      '--taskmanager-memory',
      '2Gi',
    );
    expect(stderr).toBe('');
    expect(code).toBe(0);
    const objects = parseAllDocuments(stdout).map((d) => d.toJS()) as {
      kind: string;
      metadata: { name: string; namespace: string };
    }[];
    expect(
      objects.every((o) => o.metadata.namespace === 'shop' && o.metadata.name.startsWith('click-counts')),
    ).toBe(true);
    const tm = objects.find(
      (o) => o.metadata.name === 'click-counts-taskmanager' && o.kind === 'Deployment',
    ) as V1Deployment;
    expect(tm.spec?.replicas).toBe(3);
    expect(tm.spec?.template.spec?.containers[0]?.resources?.limits?.memory).toBe('2Gi');
    const jm = objects.find(
      (o) => o.metadata.name === 'click-counts-jobmanager' && o.kind === 'Deployment',
    ) as V1Deployment;
    expect(jm.spec?.template.spec?.containers[0]?.args?.[1]).toBe('/app/jobs/Click_Counts.ts');
    const config = objects.find((o) => o.kind === 'ConfigMap') as unknown as { data: Record<string, string> };
    expect(JSON.parse(config.data.SLUICE_JOB_ARGS ?? '')).toEqual({ limit: '10', topic: 'clicks' });
    const secret = objects.find((o) => o.kind === 'Secret') as V1Secret;
    // The file's trailing newline is not part of the secret.
    expect(Buffer.from(secret.data?.secret ?? '', 'base64').toString()).toBe(
      '0123456789abcdef0123456789abcdef',
    );
  });

  it('exits 2 with a message naming the problem on bad usage', async () => {
    expect(await run('render', 'job.ts', '-p', '2')).toMatchObject({
      code: 2,
      stderr: 'sluice-k8s: render needs --image <image>\n',
    });
    expect(await run('render', 'job.ts', '--image', 'x')).toMatchObject({
      code: 2,
      stderr: 'sluice-k8s: render needs -p, --parallelism <n>\n',
    });
    expect((await run('render', 'job.ts', '--image', 'x', '-p', 'four')).stderr).toBe(
      "sluice-k8s: --parallelism must be an integer, got 'four'\n",
    );
    expect((await run('render', 'job.ts', '--image', 'x', '-p', '0')).stderr).toMatch(
      /render options: parallelism must be an integer from 1 to 1024, got 0/,
    );
    expect((await run('render', 'job.ts', '--image', 'x', '-p', '1', '--arg', 'novalue')).stderr).toMatch(
      /--arg takes key=value, got 'novalue'/,
    );
    expect((await run('render', 'job.ts', '--image', 'x', '-p', '1', '--bogus')).code).toBe(2);
    expect((await run('render', 'a.ts', 'b.ts', '--image', 'x', '-p', '1')).stderr).toMatch(
      /exactly one job path, got 2/,
    );
    expect(
      (await run('render', 'job.ts', '--image', 'x', '-p', '1', '--secret-file', '/nonexistent/secret'))
        .stderr,
    ).toMatch(/--secret-file \/nonexistent\/secret: ENOENT/);
    expect(await run('undeploy')).toMatchObject({
      code: 2,
      stderr: expect.stringMatching(/unknown command 'undeploy'/),
    });
  });

  it('prints help', async () => {
    const { code, stdout } = await run('--help');
    expect(code).toBe(0);
    expect(stdout).toMatch(/render <job> --image <image> -p <n>/);
  });
});

describe('nameFromJob', () => {
  it('makes an object name prefix from a job file name', () => {
    expect(nameFromJob('/app/jobs/Click_Counts.ts')).toBe('click-counts');
    expect(nameFromJob('job.mjs')).toBe('job');
    expect(() => nameFromJob('___.ts')).toThrow(/give --name/);
  });
});
