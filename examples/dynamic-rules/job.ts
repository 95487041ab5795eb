import { defineJob } from '@sluice/core';
import { checkRules, type Payment, type RuleUpdate, rules, summaries } from './rules.ts';

export interface DynamicRulesArgs {
  /** Payments to generate (default 100,000). */
  readonly payments?: number;
  /** Payments per second over all subtasks (default 20,000). */
  readonly ratePerSecond?: number;
}

/** Payment i: one of 1,000 users, an amount from 0 to 9,999 picked by a fixed hash. */
export function payment(i: number): Payment {
  const mix = Math.imul(i ^ (i >>> 15), 0x2c1b3c6d) >>> 0;
  return { user: `user-${mix % 1_000}`, amount: (mix >>> 10) % 10_000 };
}

const initialRules: RuleUpdate[] = [
  { name: 'large', minAmount: 9_000 },
  { name: 'huge', minAmount: 9_900 },
];

/** Payments checked against rules that can change while the job runs. */
export default defineJob<DynamicRulesArgs | undefined>({ name: 'dynamic-rules' }, (env, args = {}) => {
  const ruleUpdates = env.fromCollection(initialRules, { uid: 'rules' }).setParallelism(1);
  const alerts = env
    .generate(payment, {
      count: args.payments ?? 100_000,
      ratePerSecond: args.ratePerSecond ?? 20_000,
      uid: 'payments',
    })
    .keyBy((p) => p.user)
    .connect(ruleUpdates.broadcast(rules))
    .process(checkRules)
    .uid('check-rules');
  alerts.print().uid('alerts');
  alerts.getSideOutput(summaries).print().uid('summaries');
});
