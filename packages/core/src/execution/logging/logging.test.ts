import { once } from 'node:events';
import { MessageChannel } from 'node:worker_threads';
import { describe, expect, it } from 'vitest';
import { ConfigError } from '../../errors.ts';
import { callbackLogger, jobLogger, logLevelFromEnv } from './job-logger.ts';
import { LineLogger, type LogLine, levelOf, replay } from './line-logger.ts';
import { formatText } from './text-format.ts';
import { type LogMessage, workerLogger } from './worker-logger.ts';

function capture(level: ConstructorParameters<typeof LineLogger>[1] = 'trace') {
  const lines: LogLine[] = [];
  return { lines, logger: new LineLogger((line) => lines.push(line), level) };
}

describe('LineLogger: pino’s call signatures', () => {
  it('sorts (obj, msg), (msg) and (err) as pino does, and child bindings accumulate', () => {
    const { lines, logger } = capture();
    const child = logger.child({ job: 'j' }).child({ operator: 'op', subtask: 1 });
    child.info({ n: 1 }, 'with fields');
    child.warn('just text');
    const boom = new Error('boom');
    child.error(boom);
    expect(lines).toEqual([
      {
        level: 'info',
        bindings: { job: 'j', operator: 'op', subtask: 1 },
        fields: { n: 1 },
        msg: 'with fields',
      },
      {
        level: 'warn',
        bindings: { job: 'j', operator: 'op', subtask: 1 },
        fields: undefined,
        msg: 'just text',
      },
      {
        level: 'error',
        bindings: { job: 'j', operator: 'op', subtask: 1 },
        fields: { err: boom },
        msg: 'boom',
      },
    ]);
  });

  it('drops lines below its level; silent drops all', () => {
    const warn = capture('warn');
    warn.logger.info('no');
    warn.logger.debug('no');
    warn.logger.error('yes');
    expect(warn.lines.map((l) => l.msg)).toEqual(['yes']);
    const silent = capture('silent');
    silent.logger.fatal('no');
    expect(silent.lines).toEqual([]);
  });

  it('replay hands a line to another logger with its bindings, as the call was made', () => {
    const target = capture();
    replay(target.logger, { level: 'debug', bindings: { operator: 'x' }, fields: { a: 1 }, msg: 'm' });
    replay(target.logger, { level: 'info', bindings: {}, fields: undefined, msg: 'plain' });
    expect(target.lines).toEqual([
      { level: 'debug', bindings: { operator: 'x' }, fields: { a: 1 }, msg: 'm' },
      { level: 'info', bindings: {}, fields: undefined, msg: 'plain' },
    ]);
  });

  it('levelOf: pino’s level when the logger says, else every line', () => {
    expect(levelOf(capture('error').logger)).toBe('error');
    const { level: _, ...noLevel } = capture('error').logger;
    expect(levelOf({ ...noLevel, child: () => capture().logger } as never)).toBe('trace');
  });
});

describe('the worker threads’ logger', () => {
  it('posts one message per line at or above its level, and nothing below', () => {
    const posted: LogMessage[] = [];
    const logger = workerLogger((m) => posted.push(m), 'info').child({ operator: 'op', subtask: 0 });
    logger.debug('dropped in the worker');
    logger.info({ k: 'v' }, 'sent');
    expect(posted).toEqual([
      {
        type: 'log',
        line: { level: 'info', bindings: { operator: 'op', subtask: 0 }, fields: { k: 'v' }, msg: 'sent' },
      },
    ]);
  });

  it('a field a port cannot clone is sent as JSON can say it; errors keep message and stack', async () => {
    const { port1, port2 } = new MessageChannel();
    const arrived = once(port2, 'message') as Promise<[LogMessage]>;
    const logger = workerLogger((m) => port1.postMessage(m), 'trace');
    const err = new Error('inner');
    logger.warn({ callback: () => 1, nested: { ok: true }, err }, 'odd fields');
    const [message] = await arrived;
    port1.close();
    const fields = message.line.fields!;
    expect(fields.nested).toEqual({ ok: true });
    expect(fields.callback).toBeNull();
    expect(fields.err).toMatchObject({ type: 'Error', message: 'inner' });
  });
});

describe('the job’s logger from the options', () => {
  it('the log option: info and above, as human lines', () => {
    const messages: string[] = [];
    const logger = callbackLogger((m) => messages.push(m)).child({ job: 'j', attempt: 0 });
    logger.debug('hidden');
    logger.info({ operator: 'op', subtask: 2, extra: 5 }, 'hello');
    logger.child({ operator: 'op', subtask: 1 }).error(new Error('bad thing'));
    logger.warn({ event: 'job-restart', delayMs: 200, err: new Error('why') }, 'restart 1 in 200 ms');
    expect(messages).toEqual(['[op#2] hello extra=5', '[op#1] bad thing', 'restart 1 in 200 ms: why']);
  });

  it('the default: pino at SLUICE_LOG_LEVEL (info when unset), one per level for the process', () => {
    const warn = jobLogger({}, { SLUICE_LOG_LEVEL: 'warn' });
    expect(warn.level).toBe('warn');
    expect(jobLogger({}, { SLUICE_LOG_LEVEL: 'warn' })).toBe(warn);
    expect(jobLogger({}, {}).level).toBe('info');
  });

  it('rejects a bad log option, and a bad SLUICE_LOG_LEVEL, naming them', () => {
    expect(() => jobLogger({ log: 'stderr' as never })).toThrow(ConfigError);
    expect(() => logLevelFromEnv({ SLUICE_LOG_LEVEL: 'loud' })).toThrow(
      /SLUICE_LOG_LEVEL must be one of trace, debug, info, warn, error, fatal, silent, got "loud"/,
    );
    expect(logLevelFromEnv({ SLUICE_LOG_LEVEL: ' DEBUG ' })).toBe('debug');
    expect(logLevelFromEnv({ SLUICE_LOG_LEVEL: '' })).toBeUndefined();
  });

  it('formatText: the error message once, even when the text holds it', () => {
    const err = new Error('disk full');
    expect(
      formatText({ level: 'error', bindings: {}, fields: { err }, msg: 'checkpoint failed: disk full' }),
    ).toBe('checkpoint failed: disk full');
  });
});
