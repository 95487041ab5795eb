/**
 * The consumer test: Sluice as a user gets it from the registry, not as the workspace sees it.
 *
 * It packs @sluice/core and @sluice/connectors with `pnpm pack` (the build runs in prepack and
 * publishConfig rewrites the manifest), inspects the tarballs, then installs them into fresh
 * projects outside the workspace — with npm and with pnpm, an ES module project and a CommonJS
 * one (what `npm init -y` writes) — and uses them the ways a user would: the `sluice` bin on
 * .mjs, .cjs, .ts, .js and .mts jobs, `runJob` from an ES module and from a CommonJS script, an
 * operator harness test from `@sluice/core/testing` (ES module), the bin from another folder, a
 * TypeScript job Node cannot strip (needs tsx, an optional peer), tsc on a user file under the
 * strictest flags without skipLibCheck (node16 and bundler resolution), a global install and
 * npx, and an esbuild bundle. Every job computes something that this file
 * also computes with a plain loop, and the two answers are compared: an exit code alone proves
 * little.
 *
 * Run: node .ci/consumer/run.ts   (on the Node under test: children run on the same Node, its
 * folder is put first on their PATH; npm and pnpm come from PATH).
 *
 * Every check runs even after another failed (a check whose prerequisite failed fails too, saying
 * so); each prints `ok  <name>` or `FAIL <name>: <why>` with the tail of the command's output. The
 * last line is `consumer checks on Node vX: N ok, N failed`; the exit code is 1 when any failed.
 * Every child process has a timeout (a guard against hangs, generous so that a slow machine
 * never fails a check) after which its whole process group is killed and the check fails.
 *
 * Environment: SLUICE_CONSUMER_KEEP=1 keeps the temporary folder (printed at the start).
 */
import { spawn } from 'node:child_process';
import {
  copyFileSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  realpathSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { basename, delimiter, dirname, join, posix, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const REPO = fileURLToPath(new URL('../../', import.meta.url));
const FIXTURES = fileURLToPath(new URL('./fixtures/', import.meta.url));
const KEEP = process.env.SLUICE_CONSUMER_KEEP === '1';

// Hang guards, not performance targets: a check that needs longer than this is stuck.
const PACK_TIMEOUT_MS = 300_000;
const INSTALL_TIMEOUT_MS = 300_000;
const JOB_TIMEOUT_MS = 180_000;
const TSC_TIMEOUT_MS = 180_000;
const QUICK_TIMEOUT_MS = 60_000;
/** Output kept per child stream; a job that prints more than this is broken anyway. */
const OUTPUT_BYTES_MAX = 16 * 1024 * 1024;
/** Lines of a failed command's output shown in its FAIL report. */
const TAIL_LINES = 30;

// ---------------------------------------------------------------------------------------------
// Child processes

interface Ran {
  readonly command: string;
  readonly code: number | null;
  readonly signal: string | null;
  readonly timedOut: boolean;
  readonly timeoutMs: number;
  readonly stdout: string;
  readonly stderr: string;
  /** stdout and stderr interleaved as they arrived. */
  readonly output: string;
}

interface RunOptions {
  readonly cwd: string;
  readonly timeoutMs: number;
  readonly env?: NodeJS.ProcessEnv;
}

/**
 * Runs a command in its own process group, so that a timeout kills it with everything it started
 * (npm, pnpm and the job's worker processes); never rejects.
 */
function run(file: string, args: readonly string[], options: RunOptions): Promise<Ran> {
  const command = [file, ...args].map(quote).join(' ');
  return new Promise((resolve) => {
    const stdout: Buffer[] = [];
    const stderr: Buffer[] = [];
    const output: Buffer[] = [];
    const kept = { stdout: 0, stderr: 0 };
    let timedOut = false;
    let settled = false;
    const child = spawn(file, args, {
      cwd: options.cwd,
      env: options.env ?? childEnv,
      stdio: ['ignore', 'pipe', 'pipe'],
      detached: true,
    });
    const keep = (stream: 'stdout' | 'stderr', into: Buffer[]) => (chunk: Buffer) => {
      if (kept[stream] >= OUTPUT_BYTES_MAX) return;
      kept[stream] += chunk.length;
      into.push(chunk);
      output.push(chunk);
    };
    child.stdout.on('data', keep('stdout', stdout));
    child.stderr.on('data', keep('stderr', stderr));
    const timer = setTimeout(() => {
      timedOut = true;
      killGroup(child.pid);
    }, options.timeoutMs);
    const finish = (code: number | null, signal: string | null, extra = ''): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      resolve({
        command,
        code,
        signal,
        timedOut,
        timeoutMs: options.timeoutMs,
        stdout: Buffer.concat(stdout).toString('utf8'),
        stderr: Buffer.concat(stderr).toString('utf8') + extra,
        output: Buffer.concat(output).toString('utf8') + extra,
      });
    };
    child.on('error', (error) => finish(null, null, `\n${command}: ${error.message}\n`));
    child.on('close', (code, signal) => finish(code, signal));
  });
}

function killGroup(pid: number | undefined): void {
  if (pid === undefined) return;
  try {
    process.kill(-pid, 'SIGKILL');
  } catch {
    // Already gone.
  }
}

function quote(word: string): string {
  return /^[\w@%+=:,./-]+$/.test(word) ? word : `'${word.replaceAll("'", "'\\''")}'`;
}

/** The environment of every child: the runner's Node first on PATH, nothing of the parent's tooling. */
function makeChildEnv(npmCache: string): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [name, value] of Object.entries(process.env)) {
    // A package manager that started us, debugging switches and colour would leak into the
    // installs and jobs under test.
    if (
      /^(npm_(lifecycle|package|command|execpath|node_execpath)|npm_config_(prefix|global|local_prefix|dir|workspaces?|cache)$)/i.test(
        name,
      ) ||
      /^(INIT_CWD|PNPM_SCRIPT_SRC_DIR|NODE_OPTIONS|FORCE_COLOR|SLUICE_.*)$/.test(name)
    )
      continue;
    env[name] = value;
  }
  env.PATH = `${dirname(process.execPath)}${delimiter}${process.env.PATH ?? ''}`;
  env.npm_config_cache = npmCache;
  env.npm_config_update_notifier = 'false';
  env.npm_config_fund = 'false';
  env.npm_config_audit = 'false';
  env.NO_COLOR = '1';
  return env;
}

// ---------------------------------------------------------------------------------------------
// Checks

class CheckFailed extends Error {}

/** Fails the check; with `ran`, the report shows the tail of its output (or of its stderr alone). */
function fail(why: string, ran?: Ran, stream: 'output' | 'stderr' = 'output'): never {
  throw new CheckFailed(ran === undefined ? why : `${why}\n${tail(ran, stream)}`);
}

function tail(ran: Ran, stream: 'output' | 'stderr'): string {
  const lines = ran[stream].trimEnd().split('\n');
  const shown = lines.slice(-TAIL_LINES);
  const head = lines.length > TAIL_LINES ? [`    | ... (${lines.length - TAIL_LINES} lines before)`] : [];
  const what = stream === 'stderr' ? [`    | (stderr of the command)`] : [];
  return [`    | $ ${ran.command}`, ...what, ...head, ...shown.map((line) => `    | ${line}`)].join('\n');
}

function expectSuccess(ran: Ran): Ran {
  if (ran.code === null && ran.signal === null && !ran.timedOut)
    fail('could not be started (not on PATH?)', ran);
  if (ran.timedOut) fail(`timed out after ${ran.timeoutMs / 1000} s (process group killed)`, ran);
  if (ran.code !== 0) fail(`exited with ${ran.code ?? ran.signal}`, ran);
  return ran;
}

const outcomes: { readonly name: string; readonly ok: boolean; readonly seconds: number }[] = [];

async function check(name: string, body: () => Promise<void> | void): Promise<boolean> {
  const startedAt = performance.now();
  const seconds = (): number => (performance.now() - startedAt) / 1000;
  try {
    await body();
    outcomes.push({ name, ok: true, seconds: seconds() });
    console.log(`ok  ${name}`);
    return true;
  } catch (error) {
    const why =
      error instanceof CheckFailed
        ? error.message
        : `the check itself broke: ${(error as Error).stack ?? String(error)}`;
    outcomes.push({ name, ok: false, seconds: seconds() });
    console.log(`FAIL ${name}: ${why}`);
    return false;
  }
}

/** A line that informs and never fails the run. */
function info(name: string, text: string): void {
  console.log(`info ${name}: ${text}`);
}

/** Throws when a prerequisite is missing, so that dependent checks fail saying why. */
function need<T>(value: T | undefined, what: string): T {
  if (value === undefined) fail(`not run: ${what}`);
  return value;
}

// ---------------------------------------------------------------------------------------------
// Expected answers, by plain loops

interface WindowedEvents {
  readonly records: number;
  readonly key: (i: number) => string;
  readonly timestampMs: (i: number) => number;
  /** What the window adds up per record (1 for a count). */
  readonly value: (i: number) => number;
  readonly windowMs: number;
}

/** `<key> <window start> <aggregate>` per key and tumbling window. */
function windowTotals(spec: WindowedEvents): string[] {
  const totals = new Map<string, number>();
  for (let i = 0; i < spec.records; i++) {
    const ts = spec.timestampMs(i);
    const id = `${spec.key(i)} ${ts - (ts % spec.windowMs)}`;
    totals.set(id, (totals.get(id) ?? 0) + spec.value(i));
  }
  return [...totals].map(([id, total]) => `${id} ${total}`);
}

/** The summary of a running keyed sum: records per key and the final sum. */
function runningSumTotals(
  records: number,
  key: (i: number) => string,
  value: (i: number) => number,
): string[] {
  const totals = new Map<string, { count: number; sum: number }>();
  for (let i = 0; i < records; i++) {
    const t = totals.get(key(i)) ?? { count: 0, sum: 0 };
    t.count++;
    t.sum += value(i);
    totals.set(key(i), t);
  }
  return [...totals].map(([k, t]) => `${k}: ${t.count} records, final sum ${t.sum}`);
}

/**
 * A running sum prints every intermediate value, in an order that depends on how the source
 * subtasks interleave; what is deterministic is how many records each key had and its largest
 * (final) sum, the values being non-negative.
 */
function summarizeRunningSums(lines: readonly string[]): string[] {
  const totals = new Map<string, { count: number; sum: number }>();
  for (const line of lines) {
    const [k = '', v = ''] = line.split(' ');
    const t = totals.get(k) ?? { count: 0, sum: Number.NEGATIVE_INFINITY };
    t.count++;
    t.sum = Math.max(t.sum, Number(v));
    totals.set(k, t);
  }
  return [...totals].map(([k, t]) => `${k}: ${t.count} records, final sum ${t.sum}`);
}

interface JobFixture {
  /** File under fixtures/jobs/. */
  readonly fixture: string;
  readonly expected: () => string[];
  /** Turns result lines into what is compared (default: the lines themselves). */
  readonly summarize?: (lines: readonly string[]) => string[];
}

const WINDOW_COUNT: Omit<JobFixture, 'fixture'> = {
  expected: () =>
    windowTotals({
      records: 6000,
      key: (i) => `k${i % 7}`,
      timestampMs: (i) => i * 10,
      value: () => 1,
      windowMs: 1000,
    }),
};
const KEY_SUM: Omit<JobFixture, 'fixture'> = {
  expected: () =>
    runningSumTotals(
      5000,
      (i) => `k${i % 5}`,
      (i) => i,
    ),
  summarize: summarizeRunningSums,
};
const WINDOW_SUM: Omit<JobFixture, 'fixture'> = {
  expected: () =>
    windowTotals({
      records: 8000,
      key: (i) => `s${i % 4}`,
      timestampMs: (i) => i * 5,
      value: (i) => i % 10,
      windowMs: 1000,
    }),
};
const COLORS: Omit<JobFixture, 'fixture'> = {
  expected: () =>
    windowTotals({
      records: 3000,
      key: (i) => ['red', 'green', 'blue'][i % 3] ?? '?',
      timestampMs: (i) => i * 10,
      value: () => 1,
      windowMs: 1000,
    }),
};

/** Compares result lines as multisets; undefined when equal, else what differs. */
function difference(actual: readonly string[], expected: readonly string[]): string | undefined {
  const counts = new Map<string, number>();
  for (const line of expected) counts.set(line, (counts.get(line) ?? 0) + 1);
  const unexpected: string[] = [];
  for (const line of actual) {
    const n = counts.get(line) ?? 0;
    if (n === 0) unexpected.push(line);
    else counts.set(line, n - 1);
  }
  const missing = [...counts].flatMap(([line, n]) => Array<string>(n).fill(line));
  if (missing.length === 0 && unexpected.length === 0) return undefined;
  const few = (lines: string[]): string =>
    lines.length === 0
      ? 'none'
      : lines
          .slice(0, 3)
          .map((l) => JSON.stringify(l))
          .join(', ') + (lines.length > 3 ? ', ...' : '');
  return (
    `wrong answer: expected ${expected.length} result lines, got ${actual.length}; ` +
    `missing ${missing.length} (${few(missing)}), unexpected ${unexpected.length} (${few(unexpected)})`
  );
}

/** The `RESULT ` lines a job printed, without the prefix. */
function resultLines(stdout: string): string[] {
  return stdout
    .split('\n')
    .filter((line) => line.startsWith('RESULT '))
    .map((line) => line.slice('RESULT '.length).trimEnd());
}

function expectAnswer(ran: Ran, lines: readonly string[], job: Omit<JobFixture, 'fixture'>): void {
  const actual = job.summarize === undefined ? lines : job.summarize(lines);
  const diff = difference(actual, job.expected());
  if (diff !== undefined) fail(diff, ran, 'stderr');
}

/** The lines of the part files a job's fileSink wrote into `folder` (hidden in-progress files skipped). */
function fileSinkLines(ran: Ran, folder: string): string[] {
  if (!existsSync(folder)) fail(`the job wrote no output folder ${folder}`, ran);
  return readdirSync(folder)
    .filter((name) => !name.startsWith('.'))
    .flatMap((name) => readFileSync(join(folder, name), 'utf8').split('\n'))
    .filter((line) => line.length > 0);
}

/** The JSON array a run-from-code script printed as its last line. */
function collectedLines(ran: Ran): string[] {
  const last = ran.stdout.trimEnd().split('\n').at(-1) ?? '';
  try {
    const parsed: unknown = JSON.parse(last);
    if (Array.isArray(parsed) && parsed.every((x) => typeof x === 'string')) return parsed;
  } catch {
    // Reported below.
  }
  return fail('the script did not print the collected records as a JSON array of strings', ran);
}

// ---------------------------------------------------------------------------------------------
// Tarballs

interface Manifest {
  readonly name?: string;
  readonly version?: string;
  readonly license?: string;
  readonly engines?: { readonly node?: string };
  readonly exports?: unknown;
  readonly main?: string;
  readonly types?: string;
  readonly bin?: string | Record<string, string>;
  readonly dependencies?: Record<string, string>;
  readonly optionalDependencies?: Record<string, string>;
  readonly peerDependencies?: Record<string, string>;
  readonly peerDependenciesMeta?: Record<string, { readonly optional?: boolean }>;
}

interface Packed {
  readonly name: string;
  readonly version: string;
  readonly tarball: string;
}

interface PackageSpec {
  readonly name: string;
  readonly dir: string;
  readonly tarballStem: string;
}

const PACKAGES: readonly PackageSpec[] = [
  { name: '@sluice/core', dir: 'packages/core', tarballStem: 'sluice-core' },
  { name: '@sluice/connectors', dir: 'packages/connectors', tarballStem: 'sluice-connectors' },
];

/** Paths in a package tarball that a user must not get. */
const NOT_SHIPPED: readonly { readonly pattern: RegExp; readonly what: string }[] = [
  { pattern: /\.test[.-]|(^|\/)__tests__\/|(^|\/)test-jobs\//, what: 'test files' },
  { pattern: /\.bench\.|(^|\/)benchmarks?\//, what: 'benchmarks' },
  { pattern: /^package\/src\//, what: 'the src/ folder' },
  { pattern: /(?<!\.d)\.[cm]?tsx?$/, what: 'TypeScript sources' },
  { pattern: /(^|\/)\.tsbuildinfo$|\.tsbuildinfo$/, what: 'tsc build info' },
];

const REQUIRED_FILES = ['LICENSE', 'README.md', 'CHANGELOG.md'];

/** Every relative target named by an `exports` value (conditions and subpaths, nested). */
function exportTargets(value: unknown): string[] {
  if (typeof value === 'string') return [value];
  if (Array.isArray(value)) return value.flatMap(exportTargets);
  if (value !== null && typeof value === 'object') return Object.values(value).flatMap(exportTargets);
  return [];
}

/** Condition objects in `exports` where `types` is not the first key (TypeScript then misses it). */
function misplacedTypesConditions(value: unknown, at = 'exports'): string[] {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return [];
  const keys = Object.keys(value);
  const here = keys.includes('types') && keys[0] !== 'types' ? [at] : [];
  return [
    ...here,
    ...keys.flatMap((key) =>
      misplacedTypesConditions((value as Record<string, unknown>)[key], `${at}["${key}"]`),
    ),
  ];
}

/**
 * Relative module specifiers in shipped JavaScript and declarations: static and dynamic imports,
 * re-exports, require. (Comments are not skipped; an example in one would show up here.)
 */
const RELATIVE_SPECIFIER =
  /(?:\bfrom\s*|\bimport\s*\(\s*|\bimport\s+|\brequire\s*\(\s*)(['"])(\.{1,2}\/[^'"\n]+)\1/g;

/** The file a relative specifier in `file` names; a declaration's `./x.js` means `./x.d.ts`. */
function specifierTarget(file: string, specifier: string): string {
  const target = posix.normalize(posix.join(posix.dirname(file), specifier));
  if (!/\.d\.[cm]?ts$/.test(file)) return target;
  return target
    .replace(/\.js$/, '.d.ts')
    .replace(/\.mjs$/, '.d.mts')
    .replace(/\.cjs$/, '.d.cts');
}

async function inspectTarball(packed: Packed, unpackDir: string): Promise<void> {
  const listing = expectSuccess(
    await run('tar', ['-tzf', packed.tarball], { cwd: REPO, timeoutMs: QUICK_TIMEOUT_MS }),
  );
  const files = listing.stdout.split('\n').filter((line) => line.length > 0 && !line.endsWith('/'));
  mkdirSync(unpackDir, { recursive: true });
  expectSuccess(
    await run('tar', ['-xzf', packed.tarball, '-C', unpackDir], { cwd: REPO, timeoutMs: QUICK_TIMEOUT_MS }),
  );
  const manifest = JSON.parse(readFileSync(join(unpackDir, 'package', 'package.json'), 'utf8')) as Manifest;
  const fileSet = new Set(files.map((file) => file.replace(/^package\//, '')));
  const label = `${packed.name} tarball`;

  await check(`${label}: no tests, benchmarks or TypeScript sources`, () => {
    const bad = files.flatMap((file) =>
      NOT_SHIPPED.filter(({ pattern }) => pattern.test(file)).map(({ what }) => `${file} (${what})`),
    );
    if (bad.length > 0)
      fail(
        `${bad.length} files that must not ship:\n${bad
          .slice(0, 20)
          .map((b) => `    | ${b}`)
          .join('\n')}`,
      );
  });

  await check(`${label}: has ${REQUIRED_FILES.join(', ')}`, () => {
    const missing = REQUIRED_FILES.filter((file) => !fileSet.has(file));
    if (missing.length > 0) fail(`missing ${missing.join(', ')} (tarball: ${basename(packed.tarball)})`);
  });

  await check(`${label}: every exports/main/types/bin target is in the tarball`, () => {
    const targets = new Set<string>([
      ...exportTargets(manifest.exports),
      ...(manifest.main === undefined ? [] : [manifest.main]),
      ...(manifest.types === undefined ? [] : [manifest.types]),
      ...(typeof manifest.bin === 'string' ? [manifest.bin] : Object.values(manifest.bin ?? {})),
    ]);
    if (manifest.exports === undefined) fail('the packed package.json has no "exports"');
    if (manifest.types === undefined) fail('the packed package.json has no "types"');
    const problems: string[] = [];
    for (const target of targets) {
      const path = target.replace(/^\.\//, '');
      if (path.includes('*')) {
        const [head = '', rest = ''] = path.split('*', 2);
        if (![...fileSet].some((file) => file.startsWith(head) && file.endsWith(rest)))
          problems.push(`${target}: no file matches`);
      } else if (!fileSet.has(path)) problems.push(`${target}: not in the tarball`);
      if (/(^|\/)src\/|(?<!\.d)\.[cm]?ts$/.test(path))
        problems.push(`${target}: points at TypeScript sources`);
    }
    for (const at of misplacedTypesConditions(manifest.exports))
      problems.push(`${at}: "types" must be the first condition`);
    if (problems.length > 0) fail(problems.join('; '));
  });

  await check(`${label}: every relative import in the shipped .js and .d.ts files resolves`, () => {
    const broken: string[] = [];
    for (const file of fileSet) {
      if (!/\.(?:[cm]?js|d\.[cm]?ts)$/.test(file)) continue;
      const text = readFileSync(join(unpackDir, 'package', file), 'utf8');
      for (const match of text.matchAll(RELATIVE_SPECIFIER)) {
        const specifier = match[2] ?? '';
        if (!fileSet.has(specifierTarget(file, specifier))) broken.push(`${file}: '${specifier}'`);
      }
    }
    if (broken.length > 0)
      fail(
        `${broken.length} imports of files the tarball does not have:\n${broken
          .slice(0, 15)
          .map((b) => `    | ${b}`)
          .join('\n')}`,
      );
  });

  // Informational: maps whose sources are neither shipped nor embedded lead debuggers and editors
  // (go to definition through .d.ts.map) to files the user does not have.
  const maps = [...fileSet].filter((file) => file.endsWith('.map'));
  const dangling = maps.filter((file) => {
    const map = JSON.parse(readFileSync(join(unpackDir, 'package', file), 'utf8')) as {
      sources?: string[];
      sourcesContent?: unknown[];
    };
    return (
      map.sourcesContent === undefined &&
      (map.sources ?? []).some(
        (source) => !fileSet.has(posix.normalize(posix.join(posix.dirname(file), source))),
      )
    );
  });
  if (dangling.length > 0)
    info(
      label,
      `${dangling.length} of ${maps.length} source maps name sources the tarball does not have and embed no sourcesContent (e.g. ${dangling[0]})`,
    );

  await check(`${label}: license, engines and dependencies`, () => {
    const problems: string[] = [];
    if (manifest.license !== 'Apache-2.0')
      problems.push(`license is ${JSON.stringify(manifest.license)}, not "Apache-2.0"`);
    if (manifest.engines?.node !== '>=22.19')
      problems.push(`engines.node is ${JSON.stringify(manifest.engines?.node)}, not ">=22.19"`);
    for (const field of ['dependencies', 'optionalDependencies'] as const) {
      for (const tool of ['tsx', 'esbuild']) {
        if (manifest[field]?.[tool] !== undefined) problems.push(`${field} has ${tool} (users need neither)`);
      }
    }
    if (manifest.peerDependencies?.tsx !== undefined && manifest.peerDependenciesMeta?.tsx?.optional !== true)
      problems.push('tsx is a peer dependency but not an optional one');
    for (const field of ['dependencies', 'optionalDependencies', 'peerDependencies'] as const) {
      for (const [dep, range] of Object.entries(manifest[field] ?? {})) {
        if (/^(workspace|link|file|catalog):/.test(range))
          problems.push(`${field}.${dep} is "${range}" (not resolvable from the registry)`);
      }
    }
    if (problems.length > 0) fail(problems.join('; '));
  });

  if (packed.name === '@sluice/connectors') {
    await check(`${label}: @sluice/core is a peer dependency with a range`, () => {
      const peer = manifest.peerDependencies?.['@sluice/core'];
      const problems: string[] = [];
      if (peer === undefined) problems.push('peerDependencies has no @sluice/core');
      else if (/^v?\d+\.\d+\.\d+(-[\w.]+)?$/.test(peer.trim()) || /^=/.test(peer.trim()))
        problems.push(`peerDependencies["@sluice/core"] is the exact version "${peer}", not a range`);
      if (manifest.dependencies?.['@sluice/core'] !== undefined)
        problems.push(
          `dependencies has @sluice/core ("${manifest.dependencies['@sluice/core']}"): two copies of the runtime`,
        );
      if (problems.length > 0) fail(problems.join('; '));
    });
  }
}

// ---------------------------------------------------------------------------------------------
// Projects

type Installer = 'npm' | 'pnpm';
type ProjectKind = 'esm' | 'cjs';

interface Project {
  readonly label: string;
  readonly dir: string;
  readonly installer: Installer;
  readonly kind: ProjectKind;
}

/** pnpm skips dependencies' install scripts unless allowed, and pnpm 11 then fails `pnpm add`. */
const PNPM_ALLOWED_BUILDS = ['classic-level', 'msgpackr-extract'];

function writeJson(path: string, value: unknown): void {
  writeFileSync(path, `${JSON.stringify(value, null, 2)}\n`);
}

function copyFixture(from: string, to: string): void {
  copyFileSync(join(FIXTURES, from), to);
}

/** The command line that runs the project's `sluice` bin the installer's way. */
function binCommand(project: Project, args: readonly string[]): [string, string[]] {
  return project.installer === 'npm' ? ['npx', ['sluice', ...args]] : ['pnpm', ['exec', 'sluice', ...args]];
}

async function createProject(
  installer: Installer,
  kind: ProjectKind,
  temp: string,
  tarballs: readonly string[] | undefined,
): Promise<Project | undefined> {
  const project: Project = {
    label: `${installer}/${kind}`,
    dir: join(temp, `${installer}-${kind}`),
    installer,
    kind,
  };
  const ok = await check(`${project.label}: install both tarballs (${installer})`, async () => {
    const [core, connectors] = need(tarballs, 'packing failed');
    mkdirSync(project.dir);
    expectSuccess(await run('npm', ['init', '-y'], { cwd: project.dir, timeoutMs: QUICK_TIMEOUT_MS }));
    const manifestPath = join(project.dir, 'package.json');
    const manifest = JSON.parse(readFileSync(manifestPath, 'utf8')) as Record<string, unknown>;
    if (kind === 'esm') writeJson(manifestPath, { ...manifest, type: 'module' });
    else if (manifest.type !== undefined && manifest.type !== 'commonjs')
      fail(`npm init -y wrote "type": ${JSON.stringify(manifest.type)}; expected a CommonJS project`);
    const ran =
      installer === 'npm'
        ? await run('npm', ['install', '--no-audit', '--no-fund', core!, connectors!], {
            cwd: project.dir,
            timeoutMs: INSTALL_TIMEOUT_MS,
          })
        : await run(
            'pnpm',
            ['add', ...PNPM_ALLOWED_BUILDS.map((name) => `--allow-build=${name}`), core!, connectors!],
            {
              cwd: project.dir,
              timeoutMs: INSTALL_TIMEOUT_MS,
            },
          );
    expectSuccess(ran);
    if (!existsSync(join(project.dir, 'node_modules', '.bin', 'sluice')))
      fail('the install put no node_modules/.bin/sluice', ran);
    if (/ERESOLVE|unmet peer|missing peer|incorrect peer/i.test(ran.output))
      fail('the install warned about peer dependencies', ran);
  });
  return ok ? project : undefined;
}

interface BinJob extends Omit<JobFixture, 'fixture'> {
  readonly fixture: string;
  /** Name in the project. */
  readonly as: string;
}

function binJobs(kind: ProjectKind): BinJob[] {
  return [
    { ...WINDOW_COUNT, fixture: 'window-count.mjs', as: 'job.mjs' },
    { ...KEY_SUM, fixture: 'key-sum.cjs', as: 'job.cjs' },
    { ...WINDOW_SUM, fixture: 'window-sum.ts', as: 'job.ts' },
    kind === 'esm'
      ? { ...WINDOW_COUNT, fixture: 'window-count.mjs', as: 'job.js' }
      : { ...WINDOW_COUNT, fixture: 'window-count.cjs.js', as: 'job.js' },
    { ...KEY_SUM, fixture: 'key-sum.mts', as: 'job.mts' },
    // The loader's promise: import/export in a .js file of a CommonJS project runs as an ES module.
    ...(kind === 'cjs' ? [{ ...WINDOW_COUNT, fixture: 'window-count.mjs', as: 'esm-syntax.js' }] : []),
  ];
}

async function runBinJob(project: Project | undefined, label: string, job: BinJob): Promise<void> {
  const describe = job.as.endsWith('.js')
    ? `${job.as} (${job.fixture.endsWith('.cjs.js') ? 'CommonJS' : 'import/export'})`
    : job.as;
  await check(`${label}: sluice run ${describe} -p 2`, async () => {
    const p = need(project, 'the install failed');
    copyFixture(join('jobs', job.fixture), join(p.dir, job.as));
    const out = join(p.dir, 'out', job.as);
    const [file, args] = binCommand(p, ['run', job.as, '-p', '2', '-a', `out=${out}`]);
    const ran = expectSuccess(await run(file, args, { cwd: p.dir, timeoutMs: JOB_TIMEOUT_MS }));
    expectAnswer(ran, fileSinkLines(ran, out), job);
  });
}

async function projectChecks(
  project: Project | undefined,
  installer: Installer,
  kind: ProjectKind,
  elsewhere: string,
): Promise<void> {
  const label = `${installer}/${kind}`;
  for (const job of binJobs(kind)) await runBinJob(project, label, job);

  // The jobs above write files; these print, and stdout is a pipe, as under CI or `| grep`. Lines
  // still in flight when the job ends must not be lost: two runs, as one parallelism may hide it.
  for (const parallelism of ['1', '2']) {
    await check(
      `${label}: sluice run job.mjs -p ${parallelism} (print sink) writes every result line`,
      async () => {
        const p = need(project, 'the install failed');
        const [file, args] = binCommand(p, ['run', 'job.mjs', '-p', parallelism]);
        const ran = expectSuccess(await run(file, args, { cwd: p.dir, timeoutMs: JOB_TIMEOUT_MS }));
        expectAnswer(ran, resultLines(ran.stdout), WINDOW_COUNT);
      },
    );
  }

  // The same on task-manager processes started from the installed package (its built bin).
  await check(
    `${label}: sluice run job.mjs -p 2 --task-managers 2 (print sink) writes every result line`,
    async () => {
      const p = need(project, 'the install failed');
      const [file, args] = binCommand(p, ['run', 'job.mjs', '-p', '2', '--task-managers', '2']);
      const ran = expectSuccess(await run(file, args, { cwd: p.dir, timeoutMs: JOB_TIMEOUT_MS }));
      expectAnswer(ran, resultLines(ran.stdout), WINDOW_COUNT);
    },
  );

  if (kind === 'esm') {
    await check(`${label}: an operator harness test from @sluice/core/testing`, async () => {
      const p = need(project, 'the install failed');
      copyFixture('operator-harness.mjs', join(p.dir, 'operator-harness.mjs'));
      const ran = expectSuccess(
        await run(process.execPath, ['operator-harness.mjs'], { cwd: p.dir, timeoutMs: QUICK_TIMEOUT_MS }),
      );
      // The same counts as the colors job: a record every 10 ms of (harness) time, 1 s windows.
      expectAnswer(ran, collectedLines(ran), COLORS);
    });
  }

  for (const script of ['run-job.mjs', 'run-job.cjs']) {
    const style = script.endsWith('.mjs') ? 'an ES module' : 'a CommonJS script (require)';
    await check(`${label}: runJob from ${style} at parallelism 2`, async () => {
      const p = need(project, 'the install failed');
      copyFixture(script, join(p.dir, script));
      copyFixture('jobs/window-count.mjs', join(p.dir, 'collect-job.mjs'));
      const ran = expectSuccess(
        await run(process.execPath, [script, './collect-job.mjs'], { cwd: p.dir, timeoutMs: JOB_TIMEOUT_MS }),
      );
      expectAnswer(ran, collectedLines(ran), WINDOW_COUNT);
    });
  }

  await check(`${label}: sluice --version from another folder`, async () => {
    const p = need(project, 'the install failed');
    const ran = expectSuccess(
      await run(join(p.dir, 'node_modules', '.bin', 'sluice'), ['--version'], {
        cwd: elsewhere,
        timeoutMs: QUICK_TIMEOUT_MS,
      }),
    );
    if (!ran.stdout.includes(coreVersion ?? '?')) fail(`expected the version ${coreVersion} on stdout`, ran);
  });
  await check(`${label}: sluice --help from another folder`, async () => {
    const p = need(project, 'the install failed');
    const ran = expectSuccess(
      await run(join(p.dir, 'node_modules', '.bin', 'sluice'), ['--help'], {
        cwd: elsewhere,
        timeoutMs: QUICK_TIMEOUT_MS,
      }),
    );
    if (!/Usage: sluice/.test(ran.stdout) || !/\brun\b/.test(ran.stdout))
      fail('expected usage with the run command on stdout', ran);
  });
}

// ---------------------------------------------------------------------------------------------
// tsc on a user file

/** The repo's TypeScript and @types/node, so that the check downloads nothing. */
function repoTypeScript(): { tsc: string; typeRoots: string } | undefined {
  try {
    const require = createRequire(join(REPO, 'package.json'));
    const tsc = require.resolve('typescript/bin/tsc');
    const typesNode = dirname(require.resolve('@types/node/package.json'));
    return { tsc, typeRoots: dirname(typesNode) };
  } catch {
    return undefined;
  }
}

const STRICT_FLAGS = {
  strict: true,
  exactOptionalPropertyTypes: true,
  noPropertyAccessFromIndexSignature: true,
  noUncheckedIndexedAccess: true,
  skipLibCheck: false,
  noEmit: true,
  target: 'es2022',
  lib: ['es2023'],
};

const TSC_MODES: readonly { readonly name: string; readonly options: Record<string, string> }[] = [
  { name: 'module node16', options: { module: 'node16', moduleResolution: 'node16' } },
  {
    name: 'module esnext, moduleResolution bundler',
    options: { module: 'esnext', moduleResolution: 'bundler' },
  },
];

async function tscChecks(project: Project | undefined, label: string): Promise<void> {
  const ts = repoTypeScript();
  for (const mode of TSC_MODES) {
    await check(`${label}: tsc --noEmit user.ts (${mode.name}; strict flags, no skipLibCheck)`, async () => {
      const p = need(project, 'the install failed');
      const { tsc, typeRoots } = need(
        ts,
        `TypeScript or @types/node is not installed in ${REPO} (run pnpm install)`,
      );
      copyFixture('user.ts', join(p.dir, 'user.ts'));
      const config = `tsconfig.${mode.options.module}.json`;
      writeJson(join(p.dir, config), {
        compilerOptions: { ...STRICT_FLAGS, ...mode.options, types: ['node'], typeRoots: [typeRoots] },
        files: ['user.ts'],
      });
      expectSuccess(
        await run(process.execPath, [tsc, '-p', config], { cwd: p.dir, timeoutMs: TSC_TIMEOUT_MS }),
      );
    });
  }
}

// ---------------------------------------------------------------------------------------------
// A TypeScript job Node cannot strip: tsx, an optional peer, is needed only for it

async function tsxChecks(project: Project | undefined, label: string): Promise<void> {
  const job = 'colors-enum.ts';
  await check(`${label}: .ts job with an enum, without tsx: fails naming tsx, no stack trace`, async () => {
    const p = need(project, 'the install failed');
    if (existsSync(join(p.dir, 'node_modules', 'tsx')))
      fail('tsx is installed although nobody asked for it (it must be an optional peer)');
    copyFixture(join('jobs', job), join(p.dir, job));
    const [file, args] = binCommand(p, ['run', job, '-p', '2']);
    const ran = await run(file, args, { cwd: p.dir, timeoutMs: JOB_TIMEOUT_MS });
    if (ran.timedOut) fail(`timed out after ${ran.timeoutMs / 1000} s`, ran);
    if (ran.code === 0) fail('exited with 0 although the job needs tsx', ran);
    if (!/\btsx\b/.test(ran.stderr)) fail('the error does not mention tsx', ran);
    if (/^ {4}at /m.test(ran.output)) fail('the error comes with a stack trace', ran);
  });

  const installed = await check(`${label}: install tsx as a dev dependency`, async () => {
    const p = need(project, 'the install failed');
    const ran =
      p.installer === 'npm'
        ? await run('npm', ['install', '--save-dev', '--no-audit', '--no-fund', 'tsx'], {
            cwd: p.dir,
            timeoutMs: INSTALL_TIMEOUT_MS,
          })
        : await run('pnpm', ['add', '-D', '--allow-build=esbuild', 'tsx'], {
            cwd: p.dir,
            timeoutMs: INSTALL_TIMEOUT_MS,
          });
    expectSuccess(ran);
  });

  await check(`${label}: .ts job with an enum, with tsx: sluice run ${job} -p 2`, async () => {
    const p = need(project, 'the install failed');
    if (!installed) fail('not run: installing tsx failed');
    const out = join(p.dir, 'out', job);
    const [file, args] = binCommand(p, ['run', job, '-p', '2', '-a', `out=${out}`]);
    const ran = expectSuccess(await run(file, args, { cwd: p.dir, timeoutMs: JOB_TIMEOUT_MS }));
    expectAnswer(ran, fileSinkLines(ran, out), COLORS);
  });
}

// ---------------------------------------------------------------------------------------------
// Bundling with esbuild

/** The esbuild binary the workspace has (under tsx and vite), newest version first. */
function repoEsbuild(): string | undefined {
  const store = join(REPO, 'node_modules', '.pnpm');
  if (!existsSync(store)) return undefined;
  const versions = readdirSync(store)
    .filter((entry) => /^esbuild@\d/.test(entry))
    .sort((a, b) => b.localeCompare(a, 'en', { numeric: true }));
  for (const entry of versions) {
    const bin = join(store, entry, 'node_modules', 'esbuild', 'bin', 'esbuild');
    if (existsSync(bin)) return bin;
  }
  return undefined;
}

async function bundleChecks(project: Project | undefined, label: string): Promise<void> {
  const esbuild = repoEsbuild();
  await check(
    `${label}: esbuild --bundle --platform=node --format=esm --packages=external, run the bundle`,
    async () => {
      const p = need(project, 'the install failed');
      const bin = need(esbuild, `no esbuild under ${join(REPO, 'node_modules', '.pnpm')} (run pnpm install)`);
      copyFixture('bundle-entry.mjs', join(p.dir, 'bundle-entry.mjs'));
      copyFixture('jobs/window-count.mjs', join(p.dir, 'collect-job.mjs'));
      expectSuccess(
        await run(
          bin,
          [
            'bundle-entry.mjs',
            '--bundle',
            '--platform=node',
            '--format=esm',
            '--packages=external',
            '--outfile=bundle-external.mjs',
          ],
          { cwd: p.dir, timeoutMs: TSC_TIMEOUT_MS },
        ),
      );
      const ran = expectSuccess(
        await run(process.execPath, ['bundle-external.mjs', './collect-job.mjs'], {
          cwd: p.dir,
          timeoutMs: JOB_TIMEOUT_MS,
        }),
      );
      expectAnswer(ran, collectedLines(ran), WINDOW_COUNT);
    },
  );

  // Informational: with @sluice/core inside the bundle, the runtime's worker threads cannot load
  // their modules (and esbuild's ESM output has no require for node: built-ins).
  const name = `${label}: bundling @sluice/core itself (no --packages=external)`;
  if (project === undefined || esbuild === undefined)
    return info(name, 'not tried (no project or no esbuild)');
  const built = await run(
    esbuild,
    [
      'bundle-entry.mjs',
      '--bundle',
      '--platform=node',
      '--format=esm',
      '--outfile=bundle-all.mjs',
      '--log-level=error',
    ],
    { cwd: project.dir, timeoutMs: TSC_TIMEOUT_MS },
  );
  if (built.code !== 0)
    return info(name, `esbuild fails (exit ${built.code}): ${firstLines(built.output, 3)}`);
  const ran = await run(process.execPath, ['bundle-all.mjs', './collect-job.mjs'], {
    cwd: project.dir,
    timeoutMs: JOB_TIMEOUT_MS,
  });
  if (ran.timedOut)
    return info(name, `the bundle builds; running it timed out after ${ran.timeoutMs / 1000} s`);
  if (ran.code !== 0)
    return info(name, `the bundle builds; running it fails (exit ${ran.code}): ${errorLine(ran.stderr)}`);
  info(
    name,
    `the bundle builds and runs (exit 0); last line: ${ran.stdout.trimEnd().split('\n').at(-1)?.slice(0, 120)}`,
  );
}

/** The `SomeError: message` line of an uncaught error's report, else its first lines. */
function errorLine(text: string): string {
  return text.split('\n').find((line) => /^\w*Error\b/.test(line)) ?? firstLines(text, 2);
}

function firstLines(text: string, n: number): string {
  return text
    .split('\n')
    .map((line) => line.trim())
    .filter((line) => line.length > 0)
    .slice(0, n)
    .join(' / ');
}

// ---------------------------------------------------------------------------------------------
// Global install and npx

async function globalChecks(
  temp: string,
  coreTarball: string | undefined,
  jobProject: Project | undefined,
  elsewhere: string,
): Promise<void> {
  const prefix = join(temp, 'global');
  const sluice = join(prefix, 'bin', 'sluice');
  const installed = await check(
    'npm global: npm install --global --prefix <temp> sluice-core.tgz',
    async () => {
      const core = need(coreTarball, 'packing @sluice/core failed');
      const ran = expectSuccess(
        await run('npm', ['install', '--global', '--no-audit', '--no-fund', '--prefix', prefix, core], {
          cwd: elsewhere,
          timeoutMs: INSTALL_TIMEOUT_MS,
        }),
      );
      if (!existsSync(sluice)) fail(`no ${relative(temp, sluice)} after the install`, ran);
    },
  );
  await check('npm global: <prefix>/bin/sluice --version from another folder', async () => {
    if (!installed) fail('not run: the global install failed');
    const ran = expectSuccess(
      await run(sluice, ['--version'], { cwd: elsewhere, timeoutMs: QUICK_TIMEOUT_MS }),
    );
    if (!ran.stdout.includes(coreVersion ?? '?')) fail(`expected the version ${coreVersion} on stdout`, ran);
  });
  await check(
    "npm global: <prefix>/bin/sluice run <a project's job.mjs> -p 2 from another folder",
    async () => {
      if (!installed) fail('not run: the global install failed');
      const p = need(jobProject, 'the npm/esm project failed');
      const out = join(temp, 'global-out');
      const ran = expectSuccess(
        await run(sluice, ['run', join(p.dir, 'job.mjs'), '-p', '2', '-a', `out=${out}`], {
          cwd: elsewhere,
          timeoutMs: JOB_TIMEOUT_MS,
        }),
      );
      expectAnswer(ran, fileSinkLines(ran, out), WINDOW_COUNT);
    },
  );
  if (installed) {
    // Informational: a job in a folder without @sluice/core installed cannot import it (ES
    // modules ignore NODE_PATH and the global folder); what does the user see?
    const bare = join(temp, 'bare-job');
    mkdirSync(bare);
    copyFixture('jobs/window-count.mjs', join(bare, 'job.mjs'));
    const ran = await run(sluice, ['run', 'job.mjs'], { cwd: bare, timeoutMs: JOB_TIMEOUT_MS });
    info(
      'npm global: sluice run job.mjs in a folder without the packages installed',
      ran.code === 0 ? 'runs' : `exit ${ran.code}: ${firstLines(ran.stderr, 2)}`,
    );
  }

  await check('npx --yes -p sluice-core.tgz sluice --version (fresh npm cache)', async () => {
    const core = need(coreTarball, 'packing @sluice/core failed');
    const ran = await run('npx', ['--yes', '-p', core, 'sluice', '--version'], {
      cwd: elsewhere,
      timeoutMs: INSTALL_TIMEOUT_MS,
    });
    if (ran.code !== 0 && !ran.timedOut) {
      const help = await run('npx', ['--yes', '-p', core, 'sluice', '--help'], {
        cwd: elsewhere,
        timeoutMs: INSTALL_TIMEOUT_MS,
      });
      fail(
        `exited with ${ran.code ?? ran.signal} (npx ... sluice --help ${help.code === 0 ? 'works, so the bin runs' : `fails too, exit ${help.code}`})`,
        ran,
      );
    }
    expectSuccess(ran);
    if (!ran.stdout.includes(coreVersion ?? '?')) fail(`expected the version ${coreVersion} on stdout`, ran);
  });
}

// ---------------------------------------------------------------------------------------------
// Main

let coreVersion: string | undefined;
let childEnv: NodeJS.ProcessEnv = process.env;

async function main(): Promise<number> {
  const startedAt = performance.now();
  const temp = realpathSync(mkdtempSync(join(tmpdir(), 'sluice-consumer-')));
  if (!relative(REPO, temp).startsWith('..'))
    throw new Error(`the temp folder ${temp} is inside the repo ${REPO}`);
  childEnv = makeChildEnv(join(temp, 'npm-cache'));
  const packDir = join(temp, 'tarballs');
  const elsewhere = join(temp, 'elsewhere');
  mkdirSync(packDir);
  mkdirSync(elsewhere);

  const versions = await Promise.all(
    ['npm', 'pnpm'].map(async (tool) => {
      const ran = await run(tool, ['--version'], { cwd: elsewhere, timeoutMs: QUICK_TIMEOUT_MS });
      return `${tool} ${ran.code === 0 ? ran.stdout.trim() : 'not found'}`;
    }),
  );
  console.log(`consumer test on Node ${process.version} (${process.execPath}); ${versions.join(', ')}`);
  console.log(`temp folder: ${temp}${KEEP ? ' (kept: SLUICE_CONSUMER_KEEP=1)' : ''}`);

  try {
    // Pack and inspect.
    const packed = new Map<string, Packed>();
    for (const spec of PACKAGES) {
      await check(`pack ${spec.name} (pnpm pack)`, async () => {
        const cwd = join(REPO, spec.dir);
        const version =
          (JSON.parse(readFileSync(join(cwd, 'package.json'), 'utf8')) as Manifest).version ?? '?';
        const ran = expectSuccess(
          await run('pnpm', ['pack', '--pack-destination', packDir], { cwd, timeoutMs: PACK_TIMEOUT_MS }),
        );
        const tarball = join(packDir, `${spec.tarballStem}-${version}.tgz`);
        if (!existsSync(tarball))
          fail(
            `pnpm pack succeeded but wrote no ${basename(tarball)} (found: ${readdirSync(packDir).join(', ')})`,
            ran,
          );
        packed.set(spec.name, { name: spec.name, version, tarball });
        if (spec.name === '@sluice/core') coreVersion = version;
      });
    }
    for (const spec of PACKAGES) {
      const p = packed.get(spec.name);
      if (p !== undefined) await inspectTarball(p, join(temp, 'unpacked', spec.tarballStem));
      else await check(`${spec.name} tarball: contents and manifest`, () => fail('not run: packing failed'));
    }
    const core = packed.get('@sluice/core')?.tarball;
    const connectors = packed.get('@sluice/connectors')?.tarball;
    const tarballs = core !== undefined && connectors !== undefined ? [core, connectors] : undefined;

    // Install and use, per installer and kind of project.
    let npmEsm: Project | undefined;
    for (const installer of ['npm', 'pnpm'] as const) {
      for (const kind of ['esm', 'cjs'] as const) {
        const label = `${installer}/${kind}`;
        const project = await createProject(installer, kind, temp, tarballs);
        if (installer === 'npm' && kind === 'esm') npmEsm = project;
        await projectChecks(project, installer, kind, elsewhere);
        if (kind === 'esm') await tscChecks(project, label);
        if (label === 'npm/esm') await bundleChecks(project, label);
        // The tsx install changes the project, so it comes last, once per installer.
        if (label === 'npm/esm' || label === 'pnpm/cjs') await tsxChecks(project, label);
      }
    }

    await globalChecks(temp, core, npmEsm, elsewhere);
  } finally {
    if (!KEEP) rmSync(temp, { recursive: true, force: true });
  }

  const failed = outcomes.filter((o) => !o.ok);
  const seconds = ((performance.now() - startedAt) / 1000).toFixed(0);
  if (failed.length > 0) console.log(`\nfailed checks:\n${failed.map((o) => `  - ${o.name}`).join('\n')}`);
  const slowest = [...outcomes].sort((a, b) => b.seconds - a.seconds).slice(0, 5);
  console.log(`\nslowest checks: ${slowest.map((o) => `${o.name} (${o.seconds.toFixed(1)} s)`).join('; ')}`);
  console.log(`consumer test took ${seconds} s`);
  console.log(
    `consumer checks on Node ${process.version}: ${outcomes.length - failed.length} ok, ${failed.length} failed`,
  );
  return failed.length > 0 ? 1 : 0;
}

process.exitCode = await main();
