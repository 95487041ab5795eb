import { defineConfig } from 'vitest/config';

/**
 * End-to-end tests that compare jobs run with `runJob`/`startJob` against plain loops, run a
 * second and a third time on task-manager processes (`packages/core/e2e/support/on-cluster.ts`):
 * four task managers of one slot, and two of two. Tests on the JobTestDriver (simulated time, one
 * process) and tests whose arguments share memory with the test (SharedArrayBuffer crash
 * counters) are not in this list.
 */
const ON_CLUSTERS = [
  'async-io',
  'basic-pipeline',
  'joins',
  'keyed-routing',
  'local-aggregation',
  'operators',
  'records',
  'self-connected',
  'window-firings',
  'windows',
].map((name) => `packages/core/e2e/${name}.test.ts`);

export default defineConfig({
  test: {
    testTimeout: 60_000,
    hookTimeout: 60_000,
    // Jobs start their own worker threads; running test files one after another keeps the
    // two-core CI machine from oversubscribing and makes timings less noisy.
    fileParallelism: false,
    pool: 'forks',
    // A mitigation, not a fix: V8 13.6 (Node 24) sometimes aborts a process whose worker threads
    // come and go while running WebAssembly ("Check failed: end > addr" in
    // ThreadIsolation::UnregisterWasmAllocation; twice in full test runs on 2026-12-05, killing a
    // test file's runner). Here the WebAssembly is Node's own TypeScript stripper (amaro), loaded
    // by every slot thread that imports a .ts module. The stacks reported elsewhere free a tiered
    // wasm-to-JS import wrapper, which is shared across threads; a budget no call reaches keeps
    // those wrappers from being compiled at all.
    execArgv: ['--wasm-wrapper-tiering-budget=1000000000'],
    // One Kubernetes testbed for the run, started only if a k8s test file asks for it.
    globalSetup: ['packages/k8s/src/testing/vitest-global-setup.ts'],
    projects: [
      {
        extends: true,
        test: {
          name: 'sluice',
          include: [
            'packages/*/src/**/*.test.ts',
            'packages/*/e2e/**/*.test.ts',
            'examples/**/*.test.ts',
            'benchmarks/**/*.test.ts',
          ],
        },
      },
      ...['4x1', '2x2'].map((shape) => ({
        extends: true as const,
        test: {
          name: `on-cluster-${shape}`,
          include: ON_CLUSTERS,
          setupFiles: ['packages/core/e2e/support/on-cluster.ts'],
          env: { SLUICE_E2E_CLUSTER: shape },
        },
      })),
    ],
  },
});
