import {
  collectSink,
  defineJob,
  type ProcessFunction,
  type ProcessJoinFunction,
  session,
  sliding,
  tumbling,
  type WindowAssigner,
} from '@sluice/core';

/** A record of either side: `id` is unique within its side. */
export interface Side {
  readonly id: number;
  readonly key: string;
  readonly ts: number;
}

export type JoinKind = 'join' | 'flatJoin' | 'coGroup' | 'interval';
export type AssignerKind = 'tumbling' | 'sliding' | 'session';

export interface JoinArgs {
  readonly left: readonly Side[];
  readonly right: readonly Side[];
  readonly kind: JoinKind;
  /** The windows of `join`, `flatJoin` and `coGroup`. */
  readonly assigner?: AssignerKind;
  /** The interval of `interval`. */
  readonly lowerMs?: number;
  readonly upperMs?: number;
  readonly lowerExclusive?: boolean;
  readonly upperExclusive?: boolean;
  readonly maxOutOfOrderness: number;
}

/** One output record with the timestamp it carried out of the join. */
export interface Joined {
  /** `key|leftId|rightId` for joins; `key|left ids|right ids` (sorted) for co-groups. */
  readonly what: string;
  readonly ts: number;
}

export const SIZE = 100;
export const SLIDE = 40;
export const GAP = 30;

export function assignerFor(kind: AssignerKind): WindowAssigner {
  switch (kind) {
    case 'tumbling':
      return tumbling(SIZE);
    case 'sliding':
      return sliding(SIZE, SLIDE);
    case 'session':
      return session(GAP);
  }
}

/** How many copies of a pair the flat join emits: 0, 1 or 2, from the ids. */
export function copies(left: Side, right: Side): number {
  return (left.id + right.id) % 3;
}

const withTimestamp: ProcessFunction<string, Joined> = {
  processElement(what, ctx, out) {
    out.collect({ what, ts: ctx.timestamp! });
  },
};

const pairs: ProcessJoinFunction<Side, Side, Joined> = {
  processElement(left, right, ctx, out) {
    if (ctx.leftTimestamp !== left.ts || ctx.rightTimestamp !== right.ts) {
      throw new Error(
        `context timestamps ${ctx.leftTimestamp}/${ctx.rightTimestamp} for ${left.ts}/${right.ts}`,
      );
    }
    out.collect({ what: `${left.key}|${left.id}|${right.id}`, ts: ctx.timestamp });
  },
};

/** Both sides from collections, joined as `args.kind` says, every output with its timestamp collected. */
export default defineJob<JoinArgs>({ name: 'joins' }, (env, args) => {
  const left = env
    .fromCollection(args.left, { uid: 'left' })
    .assignTimestamps({ timestamp: (s) => s.ts, maxOutOfOrderness: args.maxOutOfOrderness });
  const right = env
    .fromCollection(args.right, { uid: 'right' })
    .assignTimestamps({ timestamp: (s) => s.ts, maxOutOfOrderness: args.maxOutOfOrderness });
  if (args.kind === 'interval') {
    const joined = left.keyBy((s) => s.key).intervalJoin(right.keyBy((s) => s.key));
    const between = joined.between(args.lowerMs!, args.upperMs!);
    if (args.lowerExclusive) between.lowerBoundExclusive();
    if (args.upperExclusive) between.upperBoundExclusive();
    between.process(pairs).uid('interval-join').sinkTo(collectSink('joined')).uid('joined');
    return;
  }
  const assigner = assignerFor(args.assigner!);
  const output =
    args.kind === 'coGroup'
      ? left
          .coGroup(right)
          .where((s) => s.key)
          .equalTo((s) => s.key)
          .window(assigner)
          .apply<string>((ls, rs, out) => {
            const key = (ls[0] ?? rs[0])!.key;
            const ids = (side: readonly Side[]) =>
              side
                .map((s) => s.id)
                .sort((a, b) => a - b)
                .join(',');
            out.collect(`${key}|${ids(ls)}|${ids(rs)}`);
          })
      : args.kind === 'join'
        ? left
            .join(right)
            .where((s) => s.key)
            .equalTo((s) => s.key)
            .window(assigner)
            .apply((l, r) => `${l.key}|${l.id}|${r.id}`)
        : left
            .join(right)
            .where((s) => s.key)
            .equalTo((s) => s.key)
            .window(assigner)
            .flatApply<string>((l, r, out) => {
              for (let i = 0; i < copies(l, r); i++) out.collect(`${l.key}|${l.id}|${r.id}`);
            });
  output.uid('join').process(withTimestamp).sinkTo(collectSink('joined')).uid('joined');
});
