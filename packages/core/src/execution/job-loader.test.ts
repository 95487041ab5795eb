import { describe, expect, it } from 'vitest';
import { runTsWorker } from '../testing/run-ts-worker.ts';

type Loaded = { name: string } | { error: { name: string; code?: string; message: string } };

/** Loads a job module of test-jobs/ with Node's own loader, in a fresh worker thread. */
function load(relative: string): Promise<Loaded> {
  const url = new URL(`./test-jobs/${relative}`, import.meta.url).href;
  return runTsWorker<Loaded>(new URL('./job-loader.test-worker.ts', import.meta.url), { url }, relative);
}

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
});
