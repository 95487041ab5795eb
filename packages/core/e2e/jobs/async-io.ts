import { collectSink, defineJob, type ProcessFunction } from '@sluice/core';

export interface AsyncIoArgs {
  readonly input: readonly number[];
  readonly ordered: boolean;
  readonly capacity: number;
  /**
   * How the lookup answers: after a few microtasks (settles without time passing: the test
   * driver sees it), after a few event-loop turns (runJob only), or never (requests stay in
   * flight until the job is stopped; for savepoints).
   */
  readonly respond: 'microtasks' | 'turns' | 'never';
  /** Records rejected on their first attempt(s): retried with a fixed backoff of 1 s. */
  readonly flakyEvery?: number;
  readonly maxAttempts?: number;
  readonly timeoutMs?: number;
  /** Records whose lookup never answers: the timeout handler gives their result, if set. */
  readonly hangEvery?: number;
  readonly withTimeoutHandler?: boolean;
  /** Records cross to other threads before the lookup (round-robin) instead of staying in their source's chain. */
  readonly rebalance?: boolean;
}

export interface Lookup {
  readonly seq: number;
  readonly out: number;
}

export interface Enriched extends Lookup {
  readonly subtask: number;
  /** Whether the record reached the next operator behind a watermark at or past its timestamp. */
  readonly late: boolean;
}

/** The "remote" answer for a value; the tests compute the same with a plain loop. */
export const answer = (v: number): number => v * 3 + 1;

/** How many turns a record's lookup takes: varied, so that requests complete out of order. */
const turnsOf = (seq: number): number => (Math.imul(seq + 1, 0x9e3779b1) >>> 28) % 5;

// Attempts so far per record: retries of a record run in the operator's subtask, in this thread.
const attempts = new Map<number, number>();

async function lookup(args: AsyncIoArgs, record: { seq: number; v: number }): Promise<Lookup> {
  if (args.respond === 'never' || (args.hangEvery !== undefined && record.seq % args.hangEvery === 0)) {
    return new Promise(() => {});
  }
  const turns = turnsOf(record.seq);
  for (let i = 0; i < turns; i++) {
    await (args.respond === 'turns' ? new Promise((resolve) => setImmediate(resolve)) : null);
  }
  if (args.flakyEvery !== undefined && record.seq % args.flakyEvery === 0) {
    const attempt = (attempts.get(record.seq) ?? 0) + 1;
    attempts.set(record.seq, attempt);
    if (attempt < (args.maxAttempts ?? 1)) throw new Error(`flaky service, attempt ${attempt}`);
  }
  if (record.v === 666) throw new Error('the service refused 666');
  return { seq: record.seq, out: answer(record.v) };
}

/** Tags each result with its subtask, and says whether a watermark had already passed it. */
class Tag implements ProcessFunction<Lookup, Enriched> {
  #subtask = -1;
  open(context: { subtaskIndex: number }): void {
    this.#subtask = context.subtaskIndex;
  }
  processElement(
    value: Lookup,
    ctx: Parameters<ProcessFunction<Lookup, Enriched>['processElement']>[1],
    out: { collect(v: Enriched): void },
  ): void {
    const late = ctx.timestamp !== undefined && ctx.timestamp <= ctx.timerService.currentWatermark();
    out.collect({ ...value, subtask: this.#subtask, late });
  }
}

/** Enriches numbered records through an async lookup; the records' event time is their number. */
export default defineJob<AsyncIoArgs>({ name: 'async-io' }, (env, args) => {
  const timed = env
    .fromCollection(
      args.input.map((v, seq) => ({ seq, v })),
      { uid: 'numbers' },
    )
    .assignTimestamps({ timestamp: (r) => r.seq });
  (args.rebalance ? timed.rebalance() : timed)
    .mapAsync((record) => lookup(args, record), {
      ordered: args.ordered,
      capacity: args.capacity,
      ...(args.timeoutMs === undefined ? {} : { timeoutMs: args.timeoutMs }),
      ...(args.withTimeoutHandler ? { onTimeout: (r) => ({ seq: r.seq, out: -1 }) } : {}),
      ...(args.maxAttempts === undefined
        ? {}
        : { retry: { maxAttempts: args.maxAttempts, backoff: { kind: 'fixed', delayMs: 1_000 } } }),
    })
    .uid('lookup')
    .process(new Tag())
    .sinkTo(collectSink('enriched'))
    .uid('enriched');
});
