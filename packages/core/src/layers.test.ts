import { readdirSync, readFileSync } from 'node:fs';
import { posix } from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';
import { describe, expect, it } from 'vitest';

/*
 * The layer rule of packages/core/src (docs/architecture.md, "Layers"): a layer imports only
 * the layers below it, never one above it or beside it.
 *
 *   index, cli, testing  →  execution  →  web  →  metrics
 *                           execution  →  api, runtime  →  checkpoint  →  plan, channels, connectors
 *     →  contracts  →  state, time  →  metrics, records  →  errors, threads, node-support
 *
 * `metrics/` sits low so that every layer that counts can write its counters (the runtime's
 * chains and tasks); `web/` serves what the job master (execution) hands it and imports only
 * metrics below it.
 *
 * A file's layer is the first folder of its path below src/ (`state/heap/x.ts` is in `state`),
 * or its own name for the files at the top (`index.ts`, `errors.ts`, `node-support.ts`). Every
 * import counts, type imports and re-exports included. Tests and their helpers (`*.test.ts`,
 * `*.test-worker.ts`, ...) and the job modules under `test-jobs/` (which import the package root,
 * as users do) are not checked. A new folder fails the check until it has a row here.
 */
// biome-ignore format: one row per layer, so that the table reads as the rule
const MAY_IMPORT: Readonly<Record<string, readonly string[]>> = {
  index:          ['execution', 'web', 'api', 'runtime', 'checkpoint', 'plan', 'channels', 'connectors', 'contracts', 'state', 'time', 'metrics', 'records', 'errors', 'threads', 'node-support'],
  cli:            ['execution', 'web', 'api', 'runtime', 'checkpoint', 'plan', 'channels', 'connectors', 'contracts', 'state', 'time', 'metrics', 'records', 'errors', 'threads', 'node-support'],
  testing:        ['execution', 'web', 'api', 'runtime', 'checkpoint', 'plan', 'channels', 'connectors', 'contracts', 'state', 'time', 'metrics', 'records', 'errors', 'threads', 'node-support'],
  execution:      [             'web', 'api', 'runtime', 'checkpoint', 'plan', 'channels', 'connectors', 'contracts', 'state', 'time', 'metrics', 'records', 'errors', 'threads', 'node-support'],
  web:            [                                                                                                                        'metrics',            'errors', 'threads', 'node-support'],
  api:            [                                      'checkpoint', 'plan', 'channels', 'connectors', 'contracts', 'state', 'time', 'metrics', 'records', 'errors', 'threads', 'node-support'],
  runtime:        [                                      'checkpoint', 'plan', 'channels', 'connectors', 'contracts', 'state', 'time', 'metrics', 'records', 'errors', 'threads', 'node-support'],
  checkpoint:     [                                                    'plan', 'channels', 'connectors', 'contracts', 'state', 'time', 'metrics', 'records', 'errors', 'threads', 'node-support'],
  plan:           [                                                                                      'contracts', 'state', 'time', 'metrics', 'records', 'errors', 'threads', 'node-support'],
  channels:       [                                                                                      'contracts', 'state', 'time', 'metrics', 'records', 'errors', 'threads', 'node-support'],
  connectors:     [                                                                                      'contracts', 'state', 'time', 'metrics', 'records', 'errors', 'threads', 'node-support'],
  contracts:      [                                                                                                   'state', 'time', 'metrics', 'records', 'errors', 'threads', 'node-support'],
  state:          [                                                                                                                    'metrics', 'records', 'errors', 'threads', 'node-support'],
  time:           [                                                                                                                    'metrics', 'records', 'errors', 'threads', 'node-support'],
  metrics:        [                                                                                                                                          'errors', 'threads', 'node-support'],
  records:        [                                                                                                                                          'errors'],
  errors:         [],
  threads:        [],
  'node-support': [],
};

interface SourceFile {
  /** Below src/, with forward slashes: `runtime/operators/window.ts`. */
  readonly path: string;
  readonly text: string;
}

function layerOf(path: string): string {
  const slash = path.indexOf('/');
  return slash === -1 ? path.replace(/\.[cm]?ts$/, '') : path.slice(0, slash);
}

function isChecked(path: string): boolean {
  return (
    /\.[cm]?ts$/.test(path) &&
    !/\.test(-[\w-]+)?\.[cm]?ts$/.test(path) &&
    !path.split('/').includes('test-jobs')
  );
}

/** Every import of `files` that breaks the rule, as `file:line: message`. */
function layerViolations(files: readonly SourceFile[]): string[] {
  const problems: string[] = [];
  for (const file of files) {
    const from = layerOf(file.path);
    const allowed = MAY_IMPORT[from];
    if (allowed === undefined) {
      problems.push(`${file.path}: '${from}' is not a layer of the rule; place it in MAY_IMPORT`);
      continue;
    }
    // The compiler's own scanner: static imports, `export ... from`, `import('...')`; not comments.
    for (const { fileName, pos } of ts.preProcessFile(file.text, true, true).importedFiles) {
      if (!fileName.startsWith('.')) continue; // a package or a node: built-in
      const target = posix.normalize(posix.join(posix.dirname(file.path), fileName));
      if (target.startsWith('../')) continue; // outside src/
      const to = layerOf(target);
      if (to === from || allowed.includes(to)) continue;
      const line = file.text.slice(0, pos).split('\n').length;
      problems.push(
        to in MAY_IMPORT
          ? `${file.path}:${line}: ${from} imports ${to} ('${fileName}'); ${from} may import only ${allowed.join(', ') || 'nothing'}`
          : `${file.path}:${line}: imports '${fileName}', in '${to}', which is not a layer of the rule`,
      );
    }
  }
  return problems;
}

function sourcesOf(root: string): SourceFile[] {
  return readdirSync(root, { recursive: true, encoding: 'utf8' })
    .map((path) => path.split('\\').join('/'))
    .filter(isChecked)
    .map((path) => ({ path, text: readFileSync(`${root}/${path}`, 'utf8') }));
}

describe('layers of packages/core/src', () => {
  it('import only the layers below them', () => {
    const files = sourcesOf(fileURLToPath(new URL('.', import.meta.url)));
    expect(files.length).toBeGreaterThan(50);
    expect(layerViolations(files)).toEqual([]);
  });

  it('the check fails on an import that points up, naming the file, the line and both layers', () => {
    const files: SourceFile[] = [
      { path: 'contracts/source.ts', text: "import type { Key } from '../state/key-groups.ts';\n" },
      {
        path: 'plan/stream-node.ts',
        text: "// import { x } from '../runtime/x.ts' (a comment)\nimport type {\n  StreamOperator,\n} from '../runtime/operator.ts';\n",
      },
      { path: 'state/heap/table.ts', text: "const api = await import('../../api/job.ts');\n" },
      {
        path: 'channels/frames.ts',
        text: "export { x } from '../channels/x.ts';\nexport * from './y.ts';\n",
      },
      {
        path: 'api/data-stream.ts',
        text: "import { MapOperator } from '../runtime/operators/stateless.ts';\n",
      },
      { path: 'dashboard/page.ts', text: "import { SluiceError } from '../errors.ts';\n" },
      { path: 'time/windows.ts', text: "import { x } from '../dashboard/x.ts';\n" },
      { path: 'metrics/counter.ts', text: "import { Task } from '../runtime/task.ts';\n" },
      { path: 'contracts/sink.test.ts', text: "import { x } from '../execution/x.ts';\n" },
      { path: 'channels/x.test-helper.ts', text: "import { x } from '../execution/x.ts';\n" },
      { path: 'execution/test-jobs/job.ts', text: "import { defineJob } from '../../index.ts';\n" },
    ];
    expect(layerViolations(files.filter((f) => isChecked(f.path)))).toEqual([
      "plan/stream-node.ts:4: plan imports runtime ('../runtime/operator.ts'); plan may import only contracts, state, time, metrics, records, errors, threads, node-support",
      "state/heap/table.ts:1: state imports api ('../../api/job.ts'); state may import only metrics, records, errors, threads, node-support",
      "api/data-stream.ts:1: api imports runtime ('../runtime/operators/stateless.ts'); api may import only checkpoint, plan, channels, connectors, contracts, state, time, metrics, records, errors, threads, node-support",
      "dashboard/page.ts: 'dashboard' is not a layer of the rule; place it in MAY_IMPORT",
      "time/windows.ts:1: imports '../dashboard/x.ts', in 'dashboard', which is not a layer of the rule",
      "metrics/counter.ts:1: metrics imports runtime ('../runtime/task.ts'); metrics may import only errors, threads, node-support",
    ]);
  });

  it('the allow-matrix is a strict order: no layer imports itself, and no two layers import each other', () => {
    for (const [layer, allowed] of Object.entries(MAY_IMPORT)) {
      expect(allowed).not.toContain(layer);
      for (const below of allowed) {
        expect(MAY_IMPORT[below], `${layer} → ${below}`).toBeDefined();
        expect(MAY_IMPORT[below], `${layer} ↔ ${below}`).not.toContain(layer);
        // Transitive: what a lower layer may import, a higher one may too.
        for (const further of MAY_IMPORT[below]!)
          expect(allowed, `${layer} → ${below} → ${further}`).toContain(further);
      }
    }
  });
});
