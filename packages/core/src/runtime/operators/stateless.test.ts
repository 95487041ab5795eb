import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { DataStream } from '../../api/data-stream.ts';
import { RecordNotSerializableError } from '../../channels/record-codec.ts';
import type { FlatMapFunction } from '../../contracts/functions.ts';
import { ConfigError, JobExecutionError } from '../../errors.ts';
import { createOperatorHarness } from '../../testing/index.ts';

describe('map, flatMap and filter through the operator harness', () => {
  it('keep each record with its timestamp, as plain loops over the input do', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.tuple(fc.integer(), fc.option(fc.nat(), { nil: undefined }))),
        async (input) => {
          const mapped = await createOperatorHarness((s: DataStream<number>) => s.map((n) => n * 2));
          const split = await createOperatorHarness((s: DataStream<number>) =>
            s.flatMap((n: number) => (n % 2 === 0 ? [n, n] : [])),
          );
          const kept = await createOperatorHarness((s: DataStream<number>) => s.filter((n) => n > 0));
          for (const [value, timestamp] of input) {
            for (const harness of [mapped, split, kept]) harness.processElement(value, timestamp);
          }
          const records = input.map(([value, timestamp]) => ({ value, timestamp }));
          expect(mapped.output()).toEqual(records.map((r) => ({ ...r, value: r.value * 2 })));
          expect(split.output()).toEqual(records.flatMap((r) => (r.value % 2 === 0 ? [r, r] : [])));
          expect(kept.output()).toEqual(records.filter((r) => r.value > 0));
        },
      ),
    );
  });

  it('flatMap emits through the collector too', async () => {
    const words: FlatMapFunction<string, string> = (line, out) => {
      for (const word of line.split(' ')) out.collect(word);
    };
    const harness = await createOperatorHarness((lines: DataStream<string>) => lines.flatMap(words));
    harness.processElement('to be or', 7);
    expect(harness.output()).toEqual(['to', 'be', 'or'].map((value) => ({ value, timestamp: 7 })));
    expect(harness.operatorId).toBe('flatMap-1');
  });

  it('forwards watermarks and idleness unchanged', async () => {
    const harness = await createOperatorHarness((s: DataStream<number>) => s.map((n) => n));
    harness.processWatermark(5);
    harness.processWatermarkStatus(true);
    expect(harness.events()).toEqual([
      { kind: 'watermark', watermark: 5 },
      { kind: 'watermark-status', idle: true },
    ]);
    harness.clearOutput();
    expect(harness.events()).toEqual([]);
  });

  it('names the operator and the record when a function throws', async () => {
    const harness = await createOperatorHarness((s: DataStream<string>) =>
      s.map((text) => JSON.parse(text) as unknown).name('parse'),
    );
    expect(() => harness.processElement('{oops')).toThrow(JobExecutionError);
    expect(() => harness.processElement('{oops')).toThrow(
      /^operator 'map-1' \(parse\) subtask 1\/1 of job 'operator-harness' failed while processing record '\{oops'/,
    );
  });

  it('refuses a record that cannot cross threads, even where a job would chain it', async () => {
    class Point {
      x = 1;
    }
    const harness = await createOperatorHarness((s: DataStream<number>) => s.map(() => new Point()));
    let error: unknown;
    try {
      harness.processElement(1);
    } catch (e) {
      error = e;
    }
    expect((error as JobExecutionError).cause).toBeInstanceOf(RecordNotSerializableError);
    expect((error as Error).message).toContain('registerType');
  });

  it('takes exactly one operator, and no sink', async () => {
    await expect(
      createOperatorHarness((s: DataStream<number>) => s.map((n) => n).map((n) => n)),
    ).rejects.toThrow(/exactly one operator .* it added 2: map, map/);
    await expect(createOperatorHarness((s: DataStream<number>) => s)).rejects.toThrow(/it added none/);
    await expect(
      createOperatorHarness((s: DataStream<number>) => {
        s.print();
        return s.map((n) => n);
      }),
    ).rejects.toThrow(/added a sink/);
    await expect(
      createOperatorHarness((s: DataStream<number>) => s.map((n) => n), { parallelism: 2, subtaskIndex: 2 }),
    ).rejects.toThrow(ConfigError);
  });
});
