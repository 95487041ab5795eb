import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { findK8sBin } from './k8s-command.ts';
import { runCli } from './run-cli.test-helper.ts';

const ROOT = fileURLToPath(new URL('../../../../', import.meta.url));
const DEMO = join(ROOT, 'examples/click-counts/job.ts');

describe('sluice k8s', () => {
  it('runs the sluice-k8s command of @sluice/k8s with the same arguments', async () => {
    const rendered = await runCli(['k8s', 'render', DEMO, '--image', 'sluice-demo:1', '-p', '2'], {
      cwd: ROOT,
    });
    expect(rendered.stderr).toBe('');
    expect(rendered.code).toBe(0);
    expect(rendered.stdout).toMatch(/^kind: Deployment$/m);
    // One task-manager pod (of one slot) per slot of the job.
    expect(rendered.stdout).toMatch(/name: job-taskmanager\n[\s\S]*?replicas: 2\n/);
    const wrong = await runCli(['k8s', 'render', DEMO], { cwd: ROOT });
    expect(wrong.code).not.toBe(0);
    expect(wrong.stderr).toMatch(/--image/);
  }, 60_000);

  it('finds the bin of the @sluice/k8s nearest to a project', () => {
    expect(findK8sBin([join(ROOT, 'package.json')])).toMatch(/packages\/k8s\/src\/cli\/bin\.ts$/);
  });
});
