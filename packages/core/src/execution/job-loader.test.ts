import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runTsWorker } from '../testing/run-ts-worker.ts';

type Loaded = { name: string } | { error: { name: string; code?: string; message: string } };

/** Loads a job module of test-jobs/ with Node's own loader, in a fresh worker thread. */
function load(relative: string): Promise<Loaded> {
  return loadUrl(new URL(`./test-jobs/${relative}`, import.meta.url).href, relative);
}

function loadUrl(url: string, label: string): Promise<Loaded> {
  return runTsWorker<Loaded>(new URL('./job-loader.test-worker.ts', import.meta.url), { url }, label);
}

/** Modules with a syntax error, written for the test (a broken file in the tree would fail lint and typecheck). */
const BROKEN_LINE = '\tenv.generate((i) => i, { count: 10 }).map((x) => x +).print();';
const broken = (types: string): string =>
  `import { defineJob } from '@sluice/core';\n\nexport default defineJob({ name: 'broken' }, (env${types}) => {\n${BROKEN_LINE}\n});\n`;
let brokenDir: string;
beforeAll(async () => {
  brokenDir = await mkdtemp(join(tmpdir(), 'sluice-job-loader-'));
  await writeFile(join(brokenDir, 'broken.ts'), broken(': unknown'));
  await writeFile(join(brokenDir, 'broken.mjs'), broken(''));
  await writeFile(join(brokenDir, 'imports-broken.ts'), "export { default } from './broken.ts';\n");
});
afterAll(async () => {
  await rm(brokenDir, { recursive: true, force: true });
});

describe('loadJob', () => {
  it.each([
    ['module.mts', 'module-mts'],
    ['commonjs.cts', 'commonjs-cts'],
    ['commonjs-project/commonjs.cjs', 'commonjs-cjs'],
    ['commonjs-project/commonjs.js', 'commonjs-js'],
    ['commonjs-project/compiled.js', 'compiled-js'],
    ['commonjs-project/commonjs-syntax.ts', 'commonjs-syntax-ts'],
  ])('loads %s as Node does', async (file, name) => {
    expect(await load(file)).toEqual({ name });
  });

  // `npm init -y` writes "type": "commonjs"; TypeScript users write import/export regardless.
  it.each([
    ['commonjs-project/esm-syntax.ts', 'esm-syntax-ts'],
    ['commonjs-project/esm-syntax.js', 'esm-syntax-js'],
  ])('loads %s (module syntax in a CommonJS project) as an ES module', async (file, name) => {
    expect(await load(file)).toEqual({ name });
  });

  it('falls back to tsx (an optional peer, present in this workspace) for syntax Node cannot strip', async () => {
    expect(await load('commonjs-project/uses-enum.ts')).toEqual({ name: 'uses-enum-ts' });
  });

  it('refuses a module whose default export is not a job, saying what to export', async () => {
    const loaded = await load('not-a-job.mjs');
    expect(loaded).toMatchObject({ error: { name: 'ConfigError', code: 'SLUICE_CONFIG' } });
    expect('error' in loaded && loaded.error.message).toMatch(/must export a job as its default export/);
  });

  it('names the module that cannot be found', async () => {
    const loaded = await load('missing.ts');
    expect(loaded).toMatchObject({ error: { name: 'ConfigError', code: 'SLUICE_CONFIG' } });
    expect('error' in loaded && loaded.error.message).toMatch(/cannot load job module .*missing\.ts/);
  });

  // The column of the `)` after `x +`, counting the tab as one.
  const column = BROKEN_LINE.indexOf('+)') + 2;
  it.each([
    ['broken.ts', 'broken.ts', 'Expression expected'],
    ['broken.mjs', 'broken.mjs', "Unexpected token ')'"],
    ['imports-broken.ts', 'broken.ts', 'Expression expected'],
  ])('says where the syntax error of %s is: file, line and column', async (entry, file, what) => {
    const loaded = await loadUrl(pathToFileURL(join(brokenDir, entry)).href, entry);
    expect(loaded).toMatchObject({ error: { name: 'ConfigError', code: 'SLUICE_CONFIG' } });
    const message = 'error' in loaded ? loaded.error.message : '';
    expect(message).toContain(
      `cannot load job module ${pathToFileURL(join(brokenDir, entry)).href}: ${what}`,
    );
    expect(message).toContain(`(at ${join(brokenDir, file)}:4:${column})`);
  });
});
