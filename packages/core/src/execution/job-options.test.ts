import { describe, expect, it } from 'vitest';
import { ConfigError } from '../errors.ts';
import { type RunJobOptions, stateBackendFor, validateRunJobOptions } from './job-options.ts';

const refused = (options: object) => () => validateRunJobOptions(options as RunJobOptions);

describe('validateRunJobOptions', () => {
  it('fills in the defaults', () => {
    const validated = validateRunJobOptions({});
    expect(validated.parallelism).toBe(1);
    expect(validated.maxParallelism).toBeUndefined();
    expect(validated.checkpointing).toBeUndefined();
    expect(validated.restartStrategy).toEqual({ kind: 'none' });
  });

  it('restarts by default only with checkpointing', () => {
    const validated = validateRunJobOptions({ checkpointing: { directory: '/tmp/x', intervalMs: 1000 } });
    expect(validated.restartStrategy.kind).toBe('fixed-delay');
  });

  it('names a misspelt option, nested ones with their path', () => {
    expect(refused({ paralellism: 2 })).toThrow(ConfigError);
    expect(refused({ paralellism: 2 })).toThrow(/unknown option "paralellism" \(known: parallelism, /);
    expect(refused({ checkpointing: { directory: '/tmp/x', intervalMs: 5, interval: 5 } })).toThrow(
      /unknown option "checkpointing.interval"/,
    );
  });

  it.each([
    [{ parallelism: 0 }, /"parallelism" must be an integer >= 1, got 0/],
    [{ maxParallelism: 1.5 }, /"maxParallelism" must be an integer >= 1, got 1.5/],
    [{ checkpointing: { intervalMs: 5 } }, /"checkpointing.directory" must be a non-empty path/],
    [
      { checkpointing: { directory: '/tmp/x' } },
      /"checkpointing.intervalMs" must be an integer >= 1, got undefined/,
    ],
    [{ checkpointing: { directory: '/tmp/x', intervalMs: 2 ** 31 } }, /at most 2147483647 ms/],
    [{ checkpointing: { directory: '/tmp/x', intervalMs: 5, retain: 0 } }, /"checkpointing.retain"/],
  ])('refuses %j', (options, message) => {
    expect(refused(options)).toThrow(message);
  });
});

describe('stateBackendFor', () => {
  it('keeps state on the heap by default', () => {
    expect(stateBackendFor(undefined, 'job')).toEqual({ kind: 'heap' });
    expect(stateBackendFor('heap', 'job')).toEqual({ kind: 'heap' });
  });

  it('gives each attempt a LevelDB directory of its own below the one configured', () => {
    const a = stateBackendFor({ kind: 'leveldb', directory: '/var/state' }, 'my job/1');
    const b = stateBackendFor({ kind: 'leveldb', directory: '/var/state' }, 'my job/1');
    if (a.kind !== 'leveldb' || b.kind !== 'leveldb') throw new Error('expected LevelDB');
    expect(a.directory).toMatch(/^\/var\/state\/my_job_1-\d+-\d+-[a-z0-9]+$/);
    expect(a.directory).not.toBe(b.directory);
  });

  it('names a bad state backend option', () => {
    expect(() => stateBackendFor('disk' as never, 'job')).toThrow(/"stateBackend" must be 'heap' or/);
    expect(() => stateBackendFor({ kind: 'leveldb', cacheMaxKeys: 0 }, 'job')).toThrow(
      /"stateBackend.cacheMaxKeys" must be an integer from 1 to 16777216/,
    );
    // A V8 Map holds at most 2^24 entries: a larger cache could never be filled.
    expect(() => stateBackendFor({ kind: 'leveldb', cacheMaxKeys: 2 ** 24 + 1 }, 'job')).toThrow(
      /"stateBackend.cacheMaxKeys" must be an integer from 1 to 16777216 \(keys kept in memory\), got 16777217/,
    );
  });
});

describe('range checks of times and sizes', () => {
  it.each([
    [
      { restartStrategy: { kind: 'fixed-delay', attempts: 3, delayMs: 2 ** 31 } },
      /"restartStrategy.delayMs" must be a finite number from 0 to 2147483647, got 2147483648/,
    ],
    [
      { restartStrategy: { kind: 'exponential-backoff', attempts: 3, initialDelayMs: 1, maxDelayMs: 1e15 } },
      /"restartStrategy.maxDelayMs" must be a finite number from 0 to 2147483647/,
    ],
    [
      { restartStrategy: { kind: 'fixed-delay', attempts: 1e12, delayMs: 1 } },
      /"restartStrategy.attempts" must be a finite number from 0 to 1000000000/,
    ],
    [
      { checkpointing: { directory: 'c', intervalMs: 99_999_999_999_999 } },
      /"checkpointing.intervalMs" must be at most 2147483647 ms/,
    ],
    [
      { checkpointing: { directory: 'c', intervalMs: 10, timeoutMs: 2 ** 31 } },
      /"checkpointing.timeoutMs" must be at most 2147483647 ms/,
    ],
    [
      { checkpointing: { directory: 'c', intervalMs: 10, retain: 1001 } },
      /"checkpointing.retain" must be at most 1000, got 1001/,
    ],
    [
      { checkpointing: { directory: 'c', intervalMs: 10, maxConcurrent: 5000 } },
      /"checkpointing.maxConcurrent" must be at most 1000, got 5000/,
    ],
    [
      { taskHeartbeatTimeoutMs: 2 ** 31 },
      /"taskHeartbeatTimeoutMs" must be an integer from 100 to 2147483647/,
    ],
    [{ bufferTimeoutMs: 60_001 }, /"bufferTimeoutMs" must be an integer from 0 to 60000/],
    [{ channelCapacityBytes: 2 ** 31 }, /"channelCapacityBytes" must be an integer from 4096 to 1073741824/],
    [{ fresh: true, restoreFrom: 'x' }, /options "fresh" and "restoreFrom" exclude each other/],
  ] as const)('refuses %j, naming the option', (options, message) => {
    expect(() => validateRunJobOptions(options as never)).toThrow(message);
  });
});
