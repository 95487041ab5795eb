/**
 * Where a job module's syntax error is, for the message that refuses the module: Node's own
 * message ("Expression expected", "Unexpected token ')'") names neither file nor line.
 */
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';

/** How Node heads a syntax error report: `path:line`, a few lines of source, a caret under the column. */
const HEADER = /^(\S.*):(\d+)\n/;
const CARET = /^([ \t]*)\^/;
/** Lines of source Node shows above its caret, at most. */
const MAX_SOURCE_LINES = 4;
const CHECK_TIMEOUT_MS = 30_000;
const TAB_AS_SPACES = '    ';

/** `path:line:column` from a report headed as Node heads one (`path:line` when the column is unclear), or undefined. */
export function locationInReport(report: string): string | undefined {
  const header = HEADER.exec(report);
  if (header === null) return undefined;
  const [, path, line] = header as unknown as [string, string, string];
  const lines = report.slice(header[0].length).split('\n', MAX_SOURCE_LINES + 1);
  const caretAt = lines.findIndex((text) => CARET.test(text));
  if (caretAt < 1) return `${path}:${line}`;
  const column = columnOf(
    lines[caretAt - 1]!,
    CARET.exec(lines[caretAt]!)![1]!,
    sourceLine(path, Number(line)),
  );
  return column === undefined ? `${path}:${line}` : `${path}:${line}:${column}`;
}

/**
 * The 1-based column the caret points at in the file's own line. V8 keeps the source's tabs in the
 * lines it prints; TypeScript's stripper prints each as four spaces.
 */
function columnOf(printed: string, beforeCaret: string, source: string | undefined): number | undefined {
  if (source === undefined || source === printed) return beforeCaret.length + 1;
  if (source.replaceAll('\t', TAB_AS_SPACES) !== printed) return undefined;
  let width = 0;
  for (let index = 0; index < source.length; index++) {
    if (width >= beforeCaret.length) return index + 1;
    width += source[index] === '\t' ? TAB_AS_SPACES.length : 1;
  }
  return source.length + 1;
}

function sourceLine(path: string, line: number): string | undefined {
  try {
    return readFileSync(path, 'utf8').split(/\r?\n/)[line - 1];
  } catch {
    return undefined;
  }
}

/**
 * The location of `error` when it is a syntax error: TypeScript's are headed with it; a
 * JavaScript module's location Node keeps to itself unless the error is uncaught, so the entry
 * module is checked with `node --check` (a syntax error in a module it imports is not found that
 * way: undefined).
 */
export function syntaxErrorLocation(error: unknown, entryPath: string): string | undefined {
  if (!(error instanceof Error) || error.name !== 'SyntaxError') return undefined;
  const headed = locationInReport(error.stack ?? '');
  if (headed !== undefined) return headed;
  const check = spawnSync(process.execPath, ['--check', entryPath], {
    encoding: 'utf8',
    timeout: CHECK_TIMEOUT_MS,
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  return locationInReport(check.stderr ?? '');
}
