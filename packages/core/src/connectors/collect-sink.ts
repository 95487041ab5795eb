import type { Sink, SinkWriterContext } from '../contracts/sink.ts';
import { ConfigError } from '../errors.ts';

const CHUNK_RECORDS = 4096;

/** Records prepared for one checkpoint, waiting for it to complete. `origin` names who prepared them. */
type Pending = readonly [checkpointId: number, origin: string, records: unknown[]];

/**
 * Sends every record back to the process that runs the job; read them with
 * `result.collected(name)` or as they arrive with the `onSinkData` option. For tests and small
 * results: the coordinator keeps them all in memory.
 *
 * Without checkpoints, records go out after each input batch. With checkpoints the sink is
 * exactly-once, by two-phase commit: records written between barriers are prepared at the
 * barrier (and stored in the checkpoint), and sent when the checkpoint completes, under a commit
 * key the coordinator takes only once — so a restore that commits them again changes nothing.
 */
export function collectSink<T>(name: string): Sink<T> {
  if (typeof name !== 'string' || name.length === 0)
    throw new ConfigError('collectSink: expected a non-empty name');
  const channel = `collect:${name}`;
  return {
    name: `collect(${name})`,
    createWriter(context) {
      return context.checkpointing
        ? transactionalWriter<T>(context, channel)
        : directWriter<T>(context, channel);
    },
  };
}

function directWriter<T>(context: SinkWriterContext, channel: string) {
  let buffer: T[] = [];
  const send = (): void => {
    if (buffer.length === 0) return;
    context.sendToCoordinator(channel, buffer);
    buffer = [];
  };
  return {
    write(value: T) {
      if (buffer.push(value) >= CHUNK_RECORDS) send();
    },
    flush: send,
    close: send,
  };
}

function transactionalWriter<T>(context: SinkWriterContext, channel: string) {
  const origin = `${context.operatorId}/${context.subtaskIndex}`;
  let buffer: unknown[] = [];
  // Restored committables: prepared before the crash, maybe committed, maybe not; commit again.
  let pending: Pending[] = [...((context.restoredState ?? []) as Pending[])];
  const commit = (upTo: number): void => {
    const rest: Pending[] = [];
    for (const entry of pending) {
      const [checkpointId, from, records] = entry;
      if (checkpointId <= upTo)
        context.sendToCoordinator(channel, records, `${channel}/${from}/${checkpointId}`);
      else rest.push(entry);
    }
    pending = rest;
  };
  return {
    open() {
      commit(Number.POSITIVE_INFINITY);
    },
    write(value: T) {
      buffer.push(value);
    },
    snapshotState(checkpointId: number): readonly unknown[] {
      pending.push([checkpointId, origin, buffer]);
      buffer = [];
      return pending.map(([id, from, records]) => [id, from, records.slice()]);
    },
    notifyCheckpointComplete(checkpointId: number) {
      commit(checkpointId);
    },
    close() {
      // End of input: no checkpoint follows to commit what remains, so it is handed over to be
      // taken only if the whole run finishes; after a failure it is replayed from the checkpoint.
      for (const [, , records] of pending) context.sendOnSuccess(channel, records);
      context.sendOnSuccess(channel, buffer);
      pending = [];
      buffer = [];
    },
  };
}
