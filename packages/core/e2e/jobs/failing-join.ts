import { collectSink, defineJob, tumbling } from '@sluice/core';

export interface FailingJoinArgs {
  readonly kind: 'window' | 'interval';
  /** The join function throws on the pair whose left record is this number. */
  readonly poison: number;
}

/** Numbers joined with themselves; the join function throws on one pair. */
export default defineJob<FailingJoinArgs>({ name: 'failing-join' }, (env, args) => {
  const numbers = Array.from({ length: 1_000 }, (_, i) => i);
  const left = env.fromCollection(numbers).assignTimestamps({ timestamp: (n) => n });
  const right = env.fromCollection(numbers).assignTimestamps({ timestamp: (n) => n });
  const check = (n: number): number => {
    if (n === args.poison) throw new Error(`no pairs for ${n}`);
    return n;
  };
  const joined =
    args.kind === 'window'
      ? left
          .join(right)
          .where((n) => n % 10)
          .equalTo((n) => n % 10)
          .window(tumbling(100))
          .apply((l) => check(l))
          .uid('window-join')
      : left
          .keyBy((n) => n % 10)
          .intervalJoin(right.keyBy((n) => n % 10))
          .between(0, 5)
          .process<number>({ processElement: (l, _r, _ctx, out) => out.collect(check(l)) })
          .uid('interval-join');
  joined.sinkTo(collectSink('joined'));
});
