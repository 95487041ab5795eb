/**
 * CI summary: reads vitest JSON reports (one per Node version) and prints the counts per run,
 * then, as its very last line, `N passed, N failed` (`, N skipped` appended when tests were
 * skipped), totalled over all runs.
 *
 *   node .ci/summary.ts <vitest-report.json>...
 *
 * Beside each report, `.ci/run` writes `<report>.meta`: {"label","node","exitCode","reason"}.
 * It also passes the names of its failed steps (lint, typecheck, demo...), one a line, in
 * SLUICE_CI_FAILED_STEPS: they are named in the verdict and make the exit code 1.
 * Exits 1 when any test failed, when a run failed by its exit code whatever its report says,
 * when a report is missing or unreadable (a crash before vitest wrote it), when a test file
 * failed to load, or when a run (or all of them) ran no test. A failed run that counted no
 * failed test adds one to the failed count, so the closing line never says `0 failed` for a
 * failing run.
 */
import { existsSync, readFileSync } from 'node:fs';
import { basename, relative } from 'node:path';

interface AssertionResult {
  fullName?: string;
  title?: string;
  status?: string;
  failureMessages?: string[];
}

interface FileResult {
  name?: string;
  status?: string;
  message?: string;
  assertionResults?: AssertionResult[];
}

interface VitestReport {
  success?: boolean;
  numTotalTests?: number;
  testResults?: FileResult[];
}

interface RunMeta {
  label?: string;
  node?: string;
  exitCode?: number;
  reason?: string;
}

interface RunCounts {
  label: string;
  passed: number;
  failed: number;
  skipped: number;
  problems: string[];
  failures: string[];
  /** The run failed with no failing test to show: its one failure is the run itself. */
  failedRunCounted: boolean;
}

const SKIPPED = new Set(['pending', 'skipped', 'todo', 'disabled']);
const MAX_LISTED_FAILURES = 40;

function firstLine(text: string | undefined, max = 300): string {
  const line = (text ?? '').split('\n').find((l) => l.trim() !== '') ?? '';
  return line.length > max ? `${line.slice(0, max)}…` : line.trim();
}

function readJson<T>(file: string): { value?: T; error?: string } {
  if (!existsSync(file)) return { error: 'report file is missing' };
  try {
    return { value: JSON.parse(readFileSync(file, 'utf8')) as T };
  } catch (err) {
    return { error: `report file is unreadable: ${(err as Error).message}` };
  }
}

function labelFor(file: string, meta: RunMeta | undefined): string {
  if (meta?.label) return meta.label;
  const m = /node[-_]?(\d+)/i.exec(basename(file));
  return m ? `Node ${m[1]}` : basename(file);
}

function summarise(file: string): RunCounts {
  const meta = existsSync(`${file}.meta`) ? readJson<RunMeta>(`${file}.meta`).value : undefined;
  const nodeVersion = meta?.node && meta.node !== 'none' ? ` (${meta.node})` : '';
  const run: RunCounts = {
    label: `${labelFor(file, meta)}${nodeVersion}`,
    passed: 0,
    failed: 0,
    skipped: 0,
    problems: [],
    failures: [],
    failedRunCounted: false,
  };

  if (meta?.reason) run.problems.push(meta.reason);

  const { value: report, error } = readJson<VitestReport>(file);
  if (!report) {
    // A run that never started (meta.reason says why) has no report to miss.
    if (!meta?.reason) run.problems.push(`${error} (${file})`);
  } else {
    for (const fileResult of report.testResults ?? []) {
      const path = fileResult.name ? relative(process.cwd(), fileResult.name) : '(unknown file)';
      let failedHere = 0;
      for (const test of fileResult.assertionResults ?? []) {
        if (test.status === 'passed') {
          run.passed++;
        } else if (test.status === 'failed') {
          run.failed++;
          failedHere++;
          run.failures.push(
            `${path} > ${test.fullName ?? test.title ?? '?'}\n      ${firstLine(test.failureMessages?.[0])}`,
          );
        } else if (test.status && SKIPPED.has(test.status)) {
          run.skipped++;
        }
      }
      // A file that failed to load (syntax error, failed import, error in a hook outside any
      // test) has no failed test to show for it: count it as one failure.
      if (fileResult.status === 'failed' && failedHere === 0) {
        run.failed++;
        run.failures.push(`${path} (the file itself failed)\n      ${firstLine(fileResult.message)}`);
      }
    }
    if (run.passed + run.failed === 0) run.problems.push('ran no test');
    if (report.success === false && run.failed === 0) run.problems.push('the report says the run failed');
  }

  // vitest's exit code rules even when its report looks clean (an unhandled error after the tests
  // passed leaves `success: true` in the report and exit 1). Said only when no failed test
  // already explains it.
  const exitCode = meta?.exitCode;
  if (exitCode !== undefined && exitCode !== 0 && !meta?.reason) {
    if (exitCode === 124 || exitCode === 137) {
      run.problems.push(`vitest was stopped by the CI time limit (exit ${exitCode})`);
    } else if (!report) {
      run.problems.push(`vitest exited ${exitCode} without writing its report (see its output above)`);
    } else if (run.failed === 0) {
      run.problems.push(
        `vitest exited ${exitCode} though its report shows no failed test (an unhandled error? see its output above)`,
      );
    }
  }

  // A run that failed without a failing test to show (crash, timeout, unhandled error, no report,
  // no Node 24) counts as one failure, so the totals line agrees with the exit code.
  if (run.problems.length > 0 && run.failed === 0) {
    run.failed = 1;
    run.failedRunCounted = true;
  }
  return run;
}

function countsLine(passed: number, failed: number, skipped: number): string {
  return `${passed} passed, ${failed} failed${skipped > 0 ? `, ${skipped} skipped` : ''}`;
}

function main(files: string[]): number {
  if (files.length === 0) {
    console.error('usage: node .ci/summary.ts <vitest-report.json>...');
    console.log('0 passed, 0 failed');
    return 2;
  }

  const runs = files.map(summarise);
  let passed = 0;
  let failed = 0;
  let skipped = 0;
  const reasons: string[] = [];

  for (const run of runs) {
    passed += run.passed;
    failed += run.failed;
    skipped += run.skipped;
    const ok = run.problems.length === 0 && run.failed === 0;
    console.log(
      `${ok ? 'ok    ' : 'FAILED'} ${run.label}: ${countsLine(run.passed, run.failed, run.skipped)}`,
    );
    for (const problem of run.problems) {
      console.log(`         ! ${problem}`);
      reasons.push(`${run.label}: ${problem}`);
    }
    for (const failure of run.failures.slice(0, MAX_LISTED_FAILURES)) console.log(`    FAIL ${failure}`);
    if (run.failures.length > MAX_LISTED_FAILURES) {
      console.log(`    … and ${run.failures.length - MAX_LISTED_FAILURES} more failures`);
    }
    if (run.failedRunCounted) console.log('         (the failed run itself is counted as 1 failed)');
    else if (run.failed > 0) reasons.push(`${run.label}: ${run.failed} failed`);
  }

  if (passed + failed === 0) reasons.push('ran no test at all');
  const failedSteps = (process.env.SLUICE_CI_FAILED_STEPS ?? '')
    .split('\n')
    .map((s) => s.trim())
    .filter((s) => s !== '');
  const exitCode = reasons.length > 0 || failedSteps.length > 0 ? 1 : 0;
  console.log(
    reasons.length === 0 ? 'tests: all passed' : `tests FAILED: ${[...new Set(reasons)].join('; ')}`,
  );
  if (failedSteps.length > 0) console.log(`CI FAILED: failed steps: ${failedSteps.join('; ')}`);
  else if (exitCode === 0) console.log('CI PASSED');
  // The closing line CI reads: nothing may be printed after it.
  console.log(countsLine(passed, failed, skipped));
  return exitCode;
}

process.exitCode = main(process.argv.slice(2));
