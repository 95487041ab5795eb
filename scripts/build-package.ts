/**
 * Builds one workspace package into its dist/: `tsc -p tsconfig.build.json` (JavaScript,
 * declarations and source maps from the sources), then two fixes tsc leaves to us.
 *
 * - tsc rewrites relative `.ts` imports to `.js` in JavaScript but keeps them in declarations;
 *   a user's compiler would then look for `.ts` files the package does not ship. The rewrite is
 *   purely textual and only touches relative specifiers ending in `.ts`, `.mts` or `.cts`.
 * - The CLI entry, if the package has a `bin`, becomes executable.
 *
 * Usage (from a package folder): node ../../scripts/build-package.ts
 */
import { execFileSync } from 'node:child_process';
import { chmodSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';

const packageDir = process.cwd();
const dist = join(packageDir, 'dist');
const manifest = JSON.parse(readFileSync(join(packageDir, 'package.json'), 'utf8')) as {
  name: string;
  publishConfig?: { bin?: Record<string, string> };
};

rmSync(dist, { recursive: true, force: true });
const tsc = createRequire(import.meta.url).resolve('typescript/bin/tsc');
execFileSync(process.execPath, [tsc, '-p', 'tsconfig.build.json'], { cwd: packageDir, stdio: 'inherit' });

const RELATIVE_TS_SPECIFIER = /((?:from|import)\s*\(?\s*)(['"])(\.{1,2}\/[^'"]*?)\.([cm]?)ts\2/g;
let rewritten = 0;
for (const entry of readdirSync(dist, { recursive: true, withFileTypes: true })) {
  if (!entry.isFile() || !/\.d\.[cm]?ts$/.test(entry.name)) continue;
  const file = join(entry.parentPath, entry.name);
  const text = readFileSync(file, 'utf8');
  const fixed = text.replace(RELATIVE_TS_SPECIFIER, (_all, head, quote, path, kind) => {
    rewritten++;
    return `${head}${quote}${path}.${kind}js${quote}`;
  });
  if (fixed !== text) writeFileSync(file, fixed);
}

for (const target of Object.values(manifest.publishConfig?.bin ?? {})) {
  chmodSync(join(packageDir, target), 0o755);
}
console.log(`${manifest.name}: built into dist/ (${rewritten} declaration imports rewritten to .js)`);
