import { type KeyedProcessFunction, valueState } from '@sluice/core';

const clicks = valueState<number>('clicks', { defaultValue: 0 });

/** Counts each user's clicks, and reports the count one minute (processing time) after the first. */
export const clicksPerMinute: KeyedProcessFunction<string, string, string> = {
  processElement(_user, ctx) {
    const count = ctx.getState(clicks);
    if (count.value() === 0) {
      ctx.timerService.registerProcessingTimeTimer(ctx.timerService.currentProcessingTime() + 60_000);
    }
    count.update(count.value()! + 1);
  },
  onTimer(_timestamp, ctx, out) {
    out.collect(`${ctx.key}: ${ctx.getState(clicks).value()} clicks`);
    ctx.getState(clicks).clear();
  },
};
