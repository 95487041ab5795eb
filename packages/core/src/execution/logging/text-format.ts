import type { LogLine } from './line-logger.ts';

/** Bindings the human form leaves out: the job and attempt are known to whoever reads the run's lines. */
const CONTEXT_KEYS = new Set(['job', 'attempt', 'operator', 'subtask', 'event']);

/**
 * A line as a human reads it: the message, where it came from (operator and subtask), the
 * error's message when the text does not already hold it, and other fields as `key=value` —
 * except on the runtime's own event lines (a field `event`), whose message already says what
 * their fields hold.
 * The form of the `log` option and of `sluice run --log-format text`.
 */
export function formatText(line: LogLine): string {
  const { bindings, fields } = line;
  let text = line.msg ?? '';
  const err = fields?.err;
  if (err instanceof Error || (err !== null && typeof err === 'object' && 'message' in err)) {
    const message = String((err as { message: unknown }).message);
    if (!text.includes(message)) text = text === '' ? message : `${text}: ${message}`;
  }
  const extra: string[] = [];
  const described = fields?.event !== undefined;
  for (const [key, value] of described ? [] : Object.entries(fields ?? {})) {
    if (key === 'err' || key === 'msg' || CONTEXT_KEYS.has(key)) continue;
    extra.push(`${key}=${typeof value === 'string' ? value : safeJson(value)}`);
  }
  if (extra.length > 0) text = `${text} ${extra.join(' ')}`;
  const operator = bindings.operator ?? fields?.operator;
  if (operator !== undefined) {
    const subtask = bindings.subtask ?? fields?.subtask;
    text = `[${String(operator)}${subtask === undefined ? '' : `#${String(subtask)}`}] ${text}`;
  }
  return text;
}

function safeJson(value: unknown): string {
  try {
    return JSON.stringify(value) ?? String(value);
  } catch {
    return String(value);
  }
}
