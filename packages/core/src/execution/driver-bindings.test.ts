import { describe, expect, it } from 'vitest';
import { defineJob } from '../api/job.ts';
import { encodeRecords } from '../channels/record-codec.ts';
import { collectSink } from '../connectors/collect-sink.ts';
import { PollStatus, type SourceOutput } from '../contracts/source.ts';
import { bindDriver, type DriverInput, DriverSourceReader } from './driver-bindings.ts';
import { planJob } from './planner.ts';

type Event = ['record', unknown, number | undefined] | ['watermark', number];

function recorder(): SourceOutput<unknown> & { events: Event[] } {
  const events: Event[] = [];
  return {
    events,
    collect: (value, timestamp) => events.push(['record', value, timestamp]),
    emitWatermark: (watermark) => events.push(['watermark', watermark]),
    markIdle: () => {},
  };
}

const input = (fields: Partial<DriverInput>): DriverInput => ({
  type: 'driver-input',
  operatorId: 'src',
  subtaskIndex: 0,
  records: undefined,
  timestamps: null,
  watermark: undefined,
  end: false,
  ...fields,
});

describe('DriverSourceReader', () => {
  it('emits what the test sent, in order, with watermarks after the records before them', () => {
    let notified = 0;
    const reader = new DriverSourceReader(() => notified++, undefined);
    const out = recorder();
    expect(reader.poll(out, 10)).toBe(PollStatus.Pending);
    reader.push(input({ records: encodeRecords(['a', 'b', 'c']), timestamps: [5, 6, 7] }));
    reader.push(input({ watermark: 6 }));
    reader.push(input({ records: encodeRecords(['d']) }));
    expect(notified).toBe(3);
    expect(reader.poll(out, 2)).toBe(PollStatus.More);
    expect(reader.poll(out, 10)).toBe(PollStatus.Pending);
    expect(out.events).toEqual([
      ['record', 'a', 5],
      ['record', 'b', 6],
      ['record', 'c', 7],
      ['watermark', 6],
      ['record', 'd', undefined],
    ]);
    reader.push(input({ end: true }));
    expect(reader.poll(out, 10)).toBe(PollStatus.End);
  });

  it('keeps what it has not emitted in its checkpoint, and reads it back on restore', () => {
    const reader = new DriverSourceReader(() => {}, undefined);
    reader.push(input({ records: encodeRecords([1, 2, 3]), timestamps: [10, 20, 30], end: true }));
    reader.poll(recorder(), 1);
    const restored = new DriverSourceReader(() => {}, reader.snapshotState());
    const out = recorder();
    expect(restored.poll(out, 10)).toBe(PollStatus.End);
    expect(out.events).toEqual([
      ['record', 2, 20],
      ['record', 3, 30],
    ]);
  });
});

describe('bindDriver', () => {
  const job = defineJob<unknown>({ name: 'bound' }, (env) => {
    env.fromCollection([1], { uid: 'numbers' }).sinkTo(collectSink('out')).uid('out');
  });

  it('swaps the named source and sink, keeping the graph', () => {
    const planned = planJob(job, undefined, { parallelism: 2 });
    const before = planned.fingerprint;
    bindDriver(planned, { sources: ['numbers'], sinks: ['out'] });
    const [source, sink] = [planned.env.nodes[0]!, planned.env.nodes[1]!];
    expect(source.source?.name).toBe("test input 'numbers' (in place of collection)");
    expect(sink.sink?.name).toBe("test output 'out'");
    expect(sink.operator).toEqual({ kind: 'sink', sink: sink.sink });
    expect(planJob(job, undefined, { parallelism: 2 }).fingerprint).toBe(before);
  });

  it('names what it cannot find', () => {
    const planned = planJob(job, undefined, { parallelism: 1 });
    expect(() => bindDriver(planned, { sources: ['out'], sinks: [] })).toThrow(
      /cannot find a source with id 'out' in job 'bound' \(its sources: 'numbers'\)/,
    );
  });
});
