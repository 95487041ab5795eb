import { inspect } from 'node:util';
import { SluiceError } from '../errors.ts';

/**
 * How the CLI shows an error. By default: `sluice: <message> [CODE]`, no stack — the message
 * already names the operator, the record and the cause, and a stack of our code only hides that.
 * With --debug: every stack of the `cause` chain, the user's own (thrown in a worker thread and
 * carried over, see serializeError) included: that is where the bug is.
 */

/** A chain deeper than this is a loop of causes, or of no more use to a reader. */
const CAUSE_DEPTH_MAX = 16;

/** `--debug`, or SLUICE_DEBUG set to anything but '', '0' or 'false'. */
export function debugFromEnv(env: NodeJS.ProcessEnv): boolean {
  const value = env.SLUICE_DEBUG?.trim().toLowerCase();
  return value !== undefined && value !== '' && value !== '0' && value !== 'false';
}

function codeOf(error: unknown): string | undefined {
  const code = (error as { code?: unknown } | null | undefined)?.code;
  return typeof code === 'string' ? code : undefined;
}

function causeOf(error: unknown): unknown {
  return error instanceof Error ? error.cause : undefined;
}

/** `Name: message` and the frames; for a thrown non-error, what it was. */
function stackOf(error: unknown): string {
  if (!(error instanceof Error)) return `non-error thrown: ${inspect(error, { depth: 2 })}`;
  return typeof error.stack === 'string' && error.stack.length > 0
    ? error.stack
    : `${error.name}: ${error.message}`;
}

/** Every stack from the error down its causes, Java style ("Caused by: ..."). */
export function stackChain(error: unknown): string {
  const parts: string[] = [];
  const seen = new Set<unknown>();
  let current: unknown = error;
  for (let depth = 0; current !== undefined && current !== null; depth++) {
    if (seen.has(current) || depth === CAUSE_DEPTH_MAX) {
      parts.push('Caused by: ... (the chain goes on: a cycle or too deep)');
      break;
    }
    seen.add(current);
    const code = codeOf(current);
    const text = `${code === undefined ? '' : `[${code}] `}${stackOf(current)}`;
    parts.push(depth === 0 ? text : `Caused by: ${text}`);
    current = causeOf(current);
  }
  return parts.join('\n');
}

/** What to write to stderr for an error that ends the command. */
export function describeError(error: unknown, debug: boolean): string {
  const message = error instanceof Error ? error.message : `non-error thrown: ${inspect(error)}`;
  const code = codeOf(error);
  const summary = `sluice: ${message}${code === undefined ? '' : ` [${code}]`}`;
  if (debug) return `${summary}\n\n${stackChain(error)}\n`;
  // A bad flag or path says all there is to say; a failure with a cause or of unknown kind has
  // stacks that may help.
  const hint =
    causeOf(error) !== undefined || !(error instanceof SluiceError)
      ? '\nsluice: run with --debug (or SLUICE_DEBUG=1) for the stack traces and causes'
      : '';
  return `${summary}${hint}\n`;
}
