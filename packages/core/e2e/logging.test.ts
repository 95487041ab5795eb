import { JobExecutionError, type Logger, runJob } from '@sluice/core';
import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import type { LoggingArgs } from './jobs/logging.ts';

const job = new URL('./jobs/logging.ts', import.meta.url);

interface JsonLine {
  readonly level: number;
  readonly msg: string;
  readonly job?: string;
  readonly attempt?: number;
  readonly operator?: string;
  readonly subtask?: number;
  readonly event?: string;
  readonly value?: number;
  readonly err?: { readonly message: string; readonly code?: string };
  readonly [key: string]: unknown;
}

/** A real pino logger writing JSON lines into memory, parsed back. */
function pinoInMemory(level: string): { logger: Logger; lines: JsonLine[] } {
  const lines: JsonLine[] = [];
  const logger = pino({ level }, { write: (text: string) => lines.push(JSON.parse(text) as JsonLine) });
  return { logger, lines };
}

/** Which subtask of 2 reads `value` of 0..count-1 (the collection source's contiguous shares). */
const subtaskOf = (value: number, count: number): number => (value < Math.ceil(count / 2) ? 0 : 1);

describe('structured logs from a job at parallelism 2', () => {
  it('a user function logs through its context: JSON lines with level, job, operator, subtask and attempt', async () => {
    const { logger, lines } = pinoInMemory('debug');
    const count = 100;
    const result = await runJob<LoggingArgs>(job, { parallelism: 2, args: { count }, logger });
    expect(result.collected<number>('out').sort((a, b) => a - b)).toEqual(
      Array.from({ length: count }, (_, i) => i),
    );

    const opened = lines.filter((l) => l.msg === 'opened');
    expect(opened.map((l) => l.subtask).sort()).toEqual([0, 1]);
    for (const line of opened) {
      expect(line).toMatchObject({
        level: 30,
        job: 'logging',
        attempt: 0,
        operator: 'log-every',
        parallelism: 2,
      });
    }

    const expectedTenths: number[] = [];
    for (let i = 0; i < count; i++) if (i % 10 === 0) expectedTenths.push(i);
    const tenths = lines.filter((l) => l.msg === 'tenth record');
    expect(tenths.map((l) => l.value).sort((a, b) => a! - b!)).toEqual(expectedTenths);
    for (const line of tenths) {
      expect(line).toMatchObject({ level: 20, job: 'logging', operator: 'log-every', attempt: 0 });
      expect(line.subtask).toBe(subtaskOf(line.value!, count));
    }
    // Source readers and sink writers log through their contexts, bound the same way.
    const created = lines.filter((l) => l.msg === 'reader created');
    expect(created.map((l) => [l.operator, l.subtask]).sort()).toEqual([
      ['numbers', 0],
      ['numbers', 1],
    ]);
    const closed = lines.filter((l) => l.msg === 'sink closed');
    expect(closed.map((l) => [l.operator, l.subtask]).sort()).toEqual([
      ['logged-sink', 0],
      ['logged-sink', 1],
    ]);
    expect(closed.reduce((n, l) => n + (l.written as number), 0)).toBe(count);
    // The runtime's own lines from the slots come the same way, bound to the job.
    const finished = lines.filter((l) => l.event === 'task-finished');
    expect(finished.map((l) => l.subtask).sort()).toEqual([0, 1]);
    for (const line of finished) expect(line).toMatchObject({ level: 20, job: 'logging', attempt: 0 });
  }, 60_000);

  it('lines below the logger’s level are not written', async () => {
    const { logger, lines } = pinoInMemory('info');
    await runJob<LoggingArgs>(job, { parallelism: 2, args: { count: 50 }, logger });
    expect(lines.filter((l) => l.msg === 'opened')).toHaveLength(2);
    expect(lines.filter((l) => l.level < 30)).toEqual([]);
  }, 60_000);

  it('a logger object of the user’s own (pino’s methods, no level) receives the runtime’s lines and the functions’', async () => {
    const calls: { level: string; bindings: Record<string, unknown>; args: unknown[] }[] = [];
    const make = (bindings: Record<string, unknown>): Logger => {
      const at =
        (level: string) =>
        (...args: unknown[]): void => {
          calls.push({ level, bindings, args });
        };
      return {
        trace: at('trace'),
        debug: at('debug'),
        info: at('info'),
        warn: at('warn'),
        error: at('error'),
        fatal: at('fatal'),
        child: (more) => make({ ...bindings, ...more }),
      };
    };
    await runJob<LoggingArgs>(job, { parallelism: 2, args: { count: 30 }, logger: make({}) });
    const finished = calls.filter((c) => (c.args[0] as { event?: string })?.event === 'task-finished');
    expect(finished).toHaveLength(2);
    for (const call of finished) {
      expect(call.level).toBe('debug');
      expect(call.bindings).toEqual({ job: 'logging', attempt: 0 });
    }
    const opened = calls.filter((c) => c.args[1] === 'opened');
    expect(opened.map((c) => c.bindings).sort((a, b) => Number(a.subtask) - Number(b.subtask))).toEqual([
      { job: 'logging', attempt: 0, operator: 'log-every', subtask: 0 },
      { job: 'logging', attempt: 0, operator: 'log-every', subtask: 1 },
    ]);
    expect(opened[0]!.args[0]).toEqual({ parallelism: 2 });
  }, 60_000);

  it('the log option, the simple form, gets one human line per line at info and above', async () => {
    const messages: string[] = [];
    await runJob<LoggingArgs>(job, { parallelism: 2, args: { count: 30 }, log: (m) => messages.push(m) });
    expect(messages.sort()).toEqual([
      '[log-every#0] opened parallelism=2',
      '[log-every#1] opened parallelism=2',
      '[logged-sink#0] sink closed written=15',
      '[logged-sink#1] sink closed written=15',
      '[numbers#0] reader created',
      '[numbers#1] reader created',
    ]);
  }, 60_000);

  it('logger and log together are refused, as is a logger without pino’s methods', async () => {
    const { logger } = pinoInMemory('info');
    await expect(runJob(job, { args: { count: 1 }, logger, log: () => {} })).rejects.toThrow(
      /options "logger" and "log" both given/,
    );
    await expect(
      runJob(job, { args: { count: 1 }, logger: { info: () => {} } as unknown as Logger }),
    ).rejects.toThrow(/must be a pino-compatible logger .*missing: trace, debug, warn, error, fatal, child/);
  });

  it('a failing job: its error logged once with its context, and every line logged before it arrives', async () => {
    const { logger, lines } = pinoInMemory('debug');
    const count = 100;
    const failAt = 73;
    const run = runJob<LoggingArgs>(job, { parallelism: 2, args: { count, failAt }, logger });
    await expect(run).rejects.toThrow(JobExecutionError);

    const failed = lines.filter((l) => l.event === 'job-failed');
    expect(failed).toHaveLength(1);
    expect(failed[0]).toMatchObject({
      level: 50,
      job: 'logging',
      operator: 'log-every',
      subtask: subtaskOf(failAt, count),
      attempt: 0,
      err: { code: 'SLUICE_JOB_FAILED' },
    });
    expect(failed[0]!.err!.message).toContain(`refused record ${failAt}`);
    // The failing subtask read its share in order up to the record it refused: every line it
    // logged on the way reached the logger before the job ended.
    const failing = subtaskOf(failAt, count);
    const expected: number[] = [];
    for (let i = 0; i <= failAt; i++) if (i % 10 === 0 && subtaskOf(i, count) === failing) expected.push(i);
    const seen = lines.filter((l) => l.msg === 'tenth record' && l.subtask === failing).map((l) => l.value);
    expect(seen).toEqual(expected);
    const last = lines.filter((l) => l.msg === 'about to fail');
    expect(last).toHaveLength(1);
    expect(last[0]).toMatchObject({ level: 50, value: failAt, subtask: failing, operator: 'log-every' });
    expect(lines.indexOf(last[0]!)).toBeLessThan(lines.indexOf(failed[0]!));
  }, 60_000);
});
