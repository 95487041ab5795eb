import { type KeyedBroadcastProcessFunction, mapState, outputTag, valueState } from '@sluice/core';

export interface Payment {
  readonly user: string;
  readonly amount: number;
}

/** A rule is added (or replaced) by name, or removed by name. */
export type RuleUpdate =
  | { readonly name: string; readonly minAmount: number }
  | { readonly name: string; readonly remove: true };

export interface Rule {
  readonly name: string;
  readonly minAmount: number;
}

export interface Alert {
  readonly user: string;
  readonly rule: string;
  readonly amount: number;
}

/** A user's alerts per rule over the minute (processing time) after their first alert. */
export interface Summary {
  readonly user: string;
  readonly counts: ReadonlyArray<readonly [rule: string, alerts: number]>;
}

/** The rules, in broadcast state: every subtask holds them all. */
export const rules = mapState<string, Rule>('rules');
/** Per user (keyed state): alerts per rule since the user's minute started. */
const hits = mapState<string, number>('hits');
const minuteEnd = valueState<number>('minute-end');

export const summaries = outputTag<Summary>('summaries');

/**
 * The dynamic-rules pattern: rules arrive on a broadcast stream and change while the job runs;
 * payments arrive keyed by user and are checked against the rules in force. Removing a rule
 * also removes every user's count for it (`applyToKeyedState`).
 */
export const checkRules: KeyedBroadcastProcessFunction<string, Payment, RuleUpdate, Alert> = {
  processElement(payment, ctx, out) {
    for (const [name, rule] of ctx.getBroadcastState(rules).entries()) {
      if (payment.amount < rule.minAmount) continue;
      out.collect({ user: payment.user, rule: name, amount: payment.amount });
      const userHits = ctx.getState(hits);
      userHits.put(name, (userHits.get(name) ?? 0) + 1);
      const end = ctx.getState(minuteEnd);
      if (end.value() === undefined) {
        const at = ctx.timerService.currentProcessingTime() + 60_000;
        end.update(at);
        ctx.timerService.registerProcessingTimeTimer(at);
      }
    }
  },

  processBroadcastElement(update, ctx) {
    const state = ctx.getBroadcastState(rules);
    if ('remove' in update) {
      state.remove(update.name);
      ctx.applyToKeyedState(hits, (_user, userHits) => userHits.remove(update.name));
    } else {
      state.put(update.name, { name: update.name, minAmount: update.minAmount });
    }
  },

  onTimer(_timestamp, ctx) {
    const userHits = ctx.getState(hits);
    const counts = [...userHits.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    ctx.output(summaries, { user: ctx.key, counts });
    userHits.clear();
    ctx.getState(minuteEnd).clear();
  },
};
