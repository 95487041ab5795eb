import type { Logger, LogLevel } from '../contracts/logger.ts';
import { stderrJsonLogger } from '../execution/logging/job-logger.ts';
import { LineLogger } from '../execution/logging/line-logger.ts';
import { formatText } from '../execution/logging/text-format.ts';

export type LogFormat = 'text' | 'json';
export const LOG_FORMATS: readonly LogFormat[] = ['text', 'json'];

export interface CliLoggerOptions {
  readonly format: LogFormat;
  readonly level: LogLevel;
  /** Called before a text line is written (the progress line clears itself). */
  readonly beforeWrite?: () => void;
  readonly write?: (text: string) => void;
}

/**
 * The logger of `sluice run`. `json`: pino, one JSON object per line on stderr (synchronous, so
 * that no line is lost when the process exits on a failure). `text`: the human lines the CLI has
 * always printed, `sluice: <message>`, with the level named unless it is info; the job's failure
 * is left out there because the CLI ends by printing it itself (with stacks under --debug).
 */
export function cliLogger(options: CliLoggerOptions): Logger {
  if (options.format === 'json') {
    return stderrJsonLogger(options.level);
  }
  const write = options.write ?? ((text: string) => process.stderr.write(text));
  return new LineLogger((line) => {
    if (line.fields?.event === 'job-failed') return;
    options.beforeWrite?.();
    write(`sluice: ${line.level === 'info' ? '' : `${line.level}: `}${formatText(line)}\n`);
  }, options.level);
}
