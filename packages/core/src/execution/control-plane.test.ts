import { MessageChannel } from 'node:worker_threads';
import { describe, expect, it } from 'vitest';
import { defineJob } from '../api/job.ts';
import { encodeRecords } from '../channels/record-codec.ts';
import type { CheckpointCoordinator } from '../checkpoint/checkpoint-coordinator.ts';
import type { CheckpointAck } from '../checkpoint/protocol.ts';
import { collectSink } from '../connectors/collect-sink.ts';
import { silentLogger } from '../contracts/logger.ts';
import { JobExecutionError, serializeError } from '../errors.ts';
import { COMMIT_AT_END } from '../runtime/operators/sink.ts';
import { ControlPlane } from './control-plane.ts';
import type { SlotMessage } from './messages.ts';
import { planJob } from './planner.ts';

const committedAtEnd: unknown[][] = [];
const job = defineJob<unknown>({ name: 'control-plane-test' }, (env) => {
  env.fromCollection([1, 2, 3]).sinkTo(collectSink('out'));
  env.fromCollection([4]).sinkTo(
    {
      name: 'exactly-once',
      createWriter: () => ({ write() {} }),
      commitAtEnd: (items) => {
        committedAtEnd.push([...items]);
      },
    },
    { uid: 'txn' },
  );
});

/** A control plane over one real MessagePort pair; `send` posts as a slot would. */
function harness() {
  const planned = planJob(job, undefined, { parallelism: 1 });
  const delivered: Array<[string, unknown[]]> = [];
  const failures: JobExecutionError[] = [];
  const calls: string[] = [];
  const plane = new ControlPlane(planned, {
    deliver: (channel, records) => delivered.push([channel, records]),
    committed: new Set(),
    logger: silentLogger,
    onFailure: (error) => failures.push(error),
    onIdle: (report) => calls.push(`idle ${report.slotIndex}@${report.epoch}`),
  });
  plane.attachCoordinator({
    onAck: (ack: CheckpointAck) => calls.push(`ack ${ack.checkpointId}`),
    onDecline: () => calls.push('decline'),
    taskFinished: () => calls.push('task-finished'),
  } as unknown as CheckpointCoordinator);
  const { port1, port2 } = new MessageChannel();
  const { closed } = plane.connect(port1);
  const send = (message: SlotMessage) => port2.postMessage(message);
  /** Everything posted so far has been handled once the slot's end closes. */
  const drain = async () => {
    port2.close();
    await closed;
  };
  return { plane, delivered, failures, calls, send, drain, port2 };
}

const data = (
  channel: string,
  records: unknown[],
  extra: Partial<Extract<SlotMessage, { type: 'data' }>> = {},
) =>
  ({
    type: 'data',
    channel,
    payload: encodeRecords(records),
    commitKey: undefined,
    onSuccess: false,
    ...extra,
  }) satisfies SlotMessage;

describe('ControlPlane', () => {
  it('delivers sink data decoded, takes a commit key once, and holds back what waits for success', async () => {
    const h = harness();
    h.send(data('collect:out', [1, { a: -0 }]));
    h.send(data('collect:out', [2], { commitKey: 'k1' }));
    h.send(data('collect:out', [2], { commitKey: 'k1' }));
    h.send(data('collect:out', [3], { onSuccess: true }));
    h.send(data(`${COMMIT_AT_END}txn`, ['t2'], { onSuccess: true }));
    await h.drain();
    expect(h.delivered.map(([, r]) => r)).toEqual([[1, { a: -0 }], [2]]);
    expect(Object.is((h.delivered[0]![1][1] as { a: number }).a, -0)).toBe(true);
    committedAtEnd.length = 0;
    await h.plane.commitAtEnd();
    expect(h.delivered.at(-1)).toEqual(['collect:out', [3]]);
    // Committables reach the sink's commitAtEnd once the attempt has finished.
    expect(committedAtEnd).toEqual([['t2']]);
  });

  it('hands acks, declines and finished tasks to the coordinator, idle reports to the driver', async () => {
    const h = harness();
    h.send({ type: 'task-finished', vertex: 0, subtaskIndex: 0 });
    h.send({ type: 'idle', slotIndex: 0, epoch: 3, doorbellSequence: 7 });
    h.send({
      type: 'ack',
      checkpointId: 9,
      vertex: 0,
      subtaskIndex: 0,
      parallelism: 1,
      operatorIds: [],
      listStateOperatorIds: [],
      keyGroupStart: 0,
      keyGroupEnd: -1,
      file: { path: 'x', bytes: 0, checksum: '' } as never,
      alignmentMs: 0,
    });
    h.send({ type: 'decline', checkpointId: 9, vertex: 0, subtaskIndex: 0, reason: 'x' });
    await h.drain();
    expect(h.calls).toEqual(['task-finished', 'idle 0@3', 'ack 9', 'decline']);
  });

  it('turns a slot failure into a JobExecutionError naming the job, operator, subtask and record', async () => {
    const h = harness();
    h.send({
      type: 'failed',
      error: serializeError(new TypeError('boom')),
      operatorId: 'map-1',
      operatorName: 'parse',
      subtaskIndex: 1,
      parallelism: 2,
      record: "{ id: 'r7' }",
    });
    await h.drain();
    expect(h.failures).toHaveLength(1);
    const error = h.failures[0]!;
    expect(error).toBeInstanceOf(JobExecutionError);
    expect(error.message).toMatch(/control-plane-test/);
    expect(error.message).toMatch(/parse/);
    expect(error.message).toMatch(/r7/);
    expect((error.cause as Error).message).toBe('boom');
  });
});
