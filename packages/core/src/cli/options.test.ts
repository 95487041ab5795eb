import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ConfigError } from '../errors.ts';
import { jobModule } from './options.ts';

const project = mkdtempSync(join(tmpdir(), 'sluice-job-package-'));
afterAll(() => rmSync(project, { recursive: true, force: true }));

/** A project with a job file of its own and an installed package of jobs (as in a container image). */
function setUp(): void {
  writeFileSync(join(project, 'package.json'), '{"name":"app","type":"module"}');
  writeFileSync(join(project, 'local-job.mjs'), 'export default {};');
  const pkg = join(project, 'node_modules', '@acme', 'jobs');
  mkdirSync(join(pkg, 'dist'), { recursive: true });
  writeFileSync(
    join(pkg, 'package.json'),
    JSON.stringify({
      name: '@acme/jobs',
      exports: { '.': './dist/main.js', './clicks': './dist/clicks.js' },
    }),
  );
  writeFileSync(join(pkg, 'dist', 'main.js'), 'export default {};');
  writeFileSync(join(pkg, 'dist', 'clicks.js'), 'export default {};');
}
setUp();

describe('the job argument', () => {
  it('takes a path, relative to the working directory', () => {
    expect(jobModule('local-job.mjs', project)).toBe(join(project, 'local-job.mjs'));
    expect(jobModule('file:///x/job.mjs', project)).toBe('file:///x/job.mjs');
  });

  it('takes an installed package, by name or name/subpath (a job inside a container image)', () => {
    expect(jobModule('@acme/jobs', project)).toBe(join(project, 'node_modules/@acme/jobs/dist/main.js'));
    expect(jobModule('@acme/jobs/clicks', project)).toBe(
      join(project, 'node_modules/@acme/jobs/dist/clicks.js'),
    );
  });

  it('names what is missing: no file, and no package of that name', () => {
    expect(() => jobModule('./nothing.ts', project)).toThrow(
      /job module \.\/nothing\.ts not found \(no file at .*nothing\.ts\)$/,
    );
    expect(() => jobModule('@acme/none', project)).toThrow(ConfigError);
    expect(() => jobModule('@acme/none', project)).toThrow(/and no package of that name is installed here/);
  });
});
