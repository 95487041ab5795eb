import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: [
      'packages/*/src/**/*.test.ts',
      'packages/*/e2e/**/*.test.ts',
      'examples/**/*.test.ts',
      'benchmarks/**/*.test.ts',
    ],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    // Jobs start their own worker threads; running test files one after another keeps the
    // two-core CI machine from oversubscribing and makes timings less noisy.
    fileParallelism: false,
    pool: 'forks',
    // One Kubernetes testbed for the run, started only if a k8s test file asks for it.
    globalSetup: ['packages/k8s/src/testing/vitest-global-setup.ts'],
  },
});
