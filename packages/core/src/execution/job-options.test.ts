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
      /"stateBackend.cacheMaxKeys" must be an integer >= 1/,
    );
  });
});
