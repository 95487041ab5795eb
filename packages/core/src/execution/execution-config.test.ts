import { describe, expect, it } from 'vitest';
import {
  DEFAULT_EXECUTION_CONFIG,
  resolveExecutionConfig,
  slotResourceLimits,
  slotThreadFailure,
} from './execution-config.ts';

describe('slot heap limits', () => {
  it("are a 16 MB young generation by default, and each is set on its own (0: Node's own)", () => {
    expect(slotResourceLimits(DEFAULT_EXECUTION_CONFIG)).toEqual({ maxYoungGenerationSizeMb: 16 });
    expect(slotResourceLimits(resolveExecutionConfig({ slotYoungGenerationMaxMb: 0 }))).toBeUndefined();
    expect(
      slotResourceLimits(
        resolveExecutionConfig({ slotOldGenerationMaxMb: 1024, slotYoungGenerationMaxMb: 0 }),
      ),
    ).toEqual({ maxOldGenerationSizeMb: 1024 });
    expect(
      slotResourceLimits(
        resolveExecutionConfig({ slotOldGenerationMaxMb: 512, slotYoungGenerationMaxMb: 24 }),
      ),
    ).toEqual({ maxOldGenerationSizeMb: 512, maxYoungGenerationSizeMb: 24 });
  });

  it('refuses what is not a size in MB, naming the option', () => {
    expect(() => resolveExecutionConfig({ slotOldGenerationMaxMb: -1 })).toThrow(
      /"slotOldGenerationMaxMb" must be an integer from 0 to 1048576, got -1/,
    );
    expect(() => resolveExecutionConfig({ slotYoungGenerationMaxMb: 1.5 })).toThrow(
      /"slotYoungGenerationMaxMb" must be an integer from 0 to 65536, got 1.5/,
    );
  });

  it('turn a slot thread out of memory into an error naming the option; other deaths pass as they are', () => {
    const oom = Object.assign(new Error('Worker terminated due to reaching memory limit'), {
      code: 'ERR_WORKER_OUT_OF_MEMORY',
    });
    const slot = "slot 2/2 (subtask 2 of 'map')";
    const failure = slotThreadFailure(oom, resolveExecutionConfig({ slotOldGenerationMaxMb: 512 }), slot);
    expect(failure.message).toContain(
      'old-generation heap limit of 512 MB (option "slotOldGenerationMaxMb")',
    );
    expect(failure.message).toMatch(/^the thread of slot 2\/2 \(subtask 2 of 'map'\) ran out of memory/);
    expect(failure.cause).toBe(oom);
    const unlimited = slotThreadFailure(oom, DEFAULT_EXECUTION_CONFIG, slot);
    expect(unlimited.message).toContain("outgrew the process's heap limit");
    const other = new Error('terminated');
    const ended = slotThreadFailure(other, DEFAULT_EXECUTION_CONFIG, slot);
    expect(ended.message).toBe(`the thread of ${slot} ended: terminated`);
    expect(ended.cause).toBe(other);
    expect(slotThreadFailure('a string', DEFAULT_EXECUTION_CONFIG, slot).message).toBe(
      `the thread of ${slot} ended: a string`,
    );
    const exited = slotThreadFailure(new Error('worker exited with code: 3'), DEFAULT_EXECUTION_CONFIG, slot);
    expect(exited.message).toContain('(process.exit() in user code ends the thread it runs in)');
  });
});
