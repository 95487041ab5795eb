import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { isJobDefinition, type JobDefinition } from '../api/job.ts';
import { ConfigError } from '../errors.ts';
import { loadUserModuleSyntaxAsEsm, MODULE_SYNTAX } from './esm-syntax-hook.ts';
import { syntaxErrorLocation } from './syntax-error-location.ts';

/** A job module given as a URL, a file URL string, or a path. */
export type JobModuleRef = URL | string;

export function jobModuleUrl(ref: JobModuleRef): string {
  if (ref instanceof URL) return ref.href;
  if (typeof ref !== 'string' || ref.length === 0)
    throw new ConfigError('job module: expected a URL or a path');
  return /^[a-z][a-z0-9+.-]*:/i.test(ref) && !/^[a-z]:[\\/]/i.test(ref) ? ref : pathToFileURL(ref).href;
}

/**
 * Why Node could not run a TypeScript job module by itself: syntax its type stripping does not
 * erase (enum, namespace, parameter properties), a `.ts` file under node_modules, or `.tsx`.
 * Only then is tsx needed.
 */
const NEEDS_TRANSPILER = new Set([
  'ERR_UNSUPPORTED_TYPESCRIPT_SYNTAX',
  'ERR_UNSUPPORTED_NODE_MODULES_TYPE_STRIPPING',
  'ERR_UNKNOWN_FILE_EXTENSION',
  'ERR_NO_TYPESCRIPT',
]);

let tsxRegistered = false;

/**
 * Registers tsx's ESM loader in this thread (every thread that loads the job decides the same
 * way, so slot threads follow the main thread). tsx is an optional peer dependency: found beside
 * @sluice/core, or else in the job's own project.
 */
async function registerTsx(jobUrl: string, cause: Error): Promise<void> {
  if (tsxRegistered) return;
  let api: { register(): unknown } | undefined;
  try {
    api = (await import('tsx/esm/api')) as { register(): unknown };
  } catch {
    api = await importTsxFromJobProject(jobUrl);
  }
  if (api === undefined) {
    throw new ConfigError(
      `cannot load job module ${jobUrl}: Node cannot run it by itself (${firstLine(cause.message)}). ` +
        "Install tsx in the job's project (npm install --save-dev tsx) and Sluice loads it with tsx; " +
        'or keep to TypeScript that Node strips (no enum, namespace or parameter properties; .ts, not .tsx).',
      { cause },
    );
  }
  api.register();
  tsxRegistered = true;
}

/** tsx as the job's project has it: its `./esm/api` export, resolved from the job's folder. */
async function importTsxFromJobProject(jobUrl: string): Promise<{ register(): unknown } | undefined> {
  if (!jobUrl.startsWith('file:')) return undefined;
  try {
    const require = createRequire(fileURLToPath(jobUrl));
    const manifestPath = require.resolve('tsx/package.json', { paths: [dirname(fileURLToPath(jobUrl))] });
    const manifest = JSON.parse(readFileSync(manifestPath, 'utf8')) as {
      exports?: Record<string, { import?: string | { default?: string } }>;
    };
    const entry = manifest.exports?.['./esm/api']?.import;
    const file = typeof entry === 'string' ? entry : entry?.default;
    if (file === undefined) return undefined;
    return (await import(pathToFileURL(join(dirname(manifestPath), file)).href)) as { register(): unknown };
  } catch {
    return undefined;
  }
}

function firstLine(text: string): string {
  return text.split('\n', 1)[0] ?? text;
}

/**
 * A CommonJS job (`module.exports = defineJob(...)`, or TypeScript compiled to CommonJS with
 * `exports.default = ...`) arrives as a namespace whose default is module.exports: one level
 * deeper in the second case.
 */
function jobOf(module: { default?: unknown }): unknown {
  const exported = module.default;
  if (isJobDefinition(exported)) return exported;
  const nested = (exported as { default?: unknown } | null | undefined)?.default;
  return isJobDefinition(nested) ? nested : exported;
}

/**
 * Whether the job is TypeScript that Node runs as CommonJS: `.cts`, or `.ts` written with
 * `require`/`module.exports`. Node 22 imports those through its ES module loader's CommonJS
 * translator, whose `require` of an ES module (`require('@sluice/core')`) fails ("request for
 * './node-support.js' is from a module not been linked"); Node's CommonJS loader gets it right.
 */
function isCommonJsTypeScript(url: string): boolean {
  if (!url.startsWith('file:')) return false;
  const path = fileURLToPath(url);
  if (path.endsWith('.cts')) return true;
  if (!path.endsWith('.ts') || path.endsWith('.d.ts')) return false;
  try {
    return !MODULE_SYNTAX.test(readFileSync(path, 'utf8'));
  } catch {
    return false; // missing: import() reports it
  }
}

async function importJobModule(url: string): Promise<{ default?: unknown }> {
  loadUserModuleSyntaxAsEsm();
  if (isCommonJsTypeScript(url)) {
    const path = fileURLToPath(url);
    return { default: createRequire(path)(path) as unknown };
  }
  try {
    return (await import(url)) as { default?: unknown };
  } catch (error) {
    const code = (error as { code?: unknown }).code;
    if (typeof code !== 'string' || !NEEDS_TRANSPILER.has(code) || tsxRegistered) throw error;
    await registerTsx(url, error as Error);
    return (await import(url)) as { default?: unknown };
  }
}

/**
 * Imports a job module — `.js`, `.mjs`, `.cjs`, `.ts`, `.mts` or `.cts`, from an ES module or a
 * CommonJS project — and returns its job. TypeScript runs on Node's own type stripping; tsx is
 * used only for a module Node cannot run by itself.
 */
export async function loadJob(url: string): Promise<JobDefinition<unknown>> {
  let module: { default?: unknown };
  try {
    module = await importJobModule(url);
  } catch (error) {
    if (error instanceof ConfigError) throw error;
    const location = url.startsWith('file:') ? syntaxErrorLocation(error, fileURLToPath(url)) : undefined;
    throw new ConfigError(
      `cannot load job module ${url}: ${(error as Error).message}${location === undefined ? '' : ` (at ${location})`}`,
      { cause: error },
    );
  }
  const job = jobOf(module);
  if (!isJobDefinition(job)) {
    throw new ConfigError(
      `job module ${url} must export a job as its default export: export default defineJob({ name }, (env) => { ... })` +
        ' (CommonJS: module.exports = defineJob(...))',
    );
  }
  return job;
}
