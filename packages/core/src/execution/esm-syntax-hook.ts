import { readFileSync } from 'node:fs';
// A namespace import: a named one would fail to link on a Node without registerHooks, before
// node-support.ts could say which Node is needed.
import * as nodeModule from 'node:module';

/**
 * A job written with `import`/`export` in a `.ts` or `.js` file of a CommonJS project (`npm init`
 * writes `"type": "commonjs"`) is CommonJS to Node by that file's extension, and fails with
 * "Cannot use import statement outside a module". TypeScript users write `import` everywhere and
 * expect their compiler's choice, not the file name, to decide; so for the user's own files (not
 * under node_modules) that Node would load as CommonJS although they use module syntax, this hook
 * loads them as ES modules instead — with Node's own type stripping for `.ts`. Every other file
 * loads exactly as Node decides. Registered once per thread that loads a job (hooks from
 * `registerHooks` run in the thread, synchronously).
 */
export const MODULE_SYNTAX =
  /^[ \t]*(?:import[ \t]*[\w{*'"]|import[ \t]+type[ \t]|export[ \t]+(?:default|const|function|async|class|let|var|type|interface|\{|\*))/m;

let registered = false;

export function loadUserModuleSyntaxAsEsm(): void {
  if (registered) return;
  registered = true;
  nodeModule.registerHooks({
    load(url, context, nextLoad) {
      const result = nextLoad(url, context);
      const format = result.format;
      if ((format !== 'commonjs' && format !== 'commonjs-typescript') || !url.startsWith('file:'))
        return result;
      if (url.includes('/node_modules/')) return result;
      const source = result.source == null ? readFileSync(new URL(url), 'utf8') : String(result.source);
      if (!MODULE_SYNTAX.test(source)) return result;
      return { ...result, format: format === 'commonjs' ? 'module' : 'module-typescript', source };
    },
  });
}
