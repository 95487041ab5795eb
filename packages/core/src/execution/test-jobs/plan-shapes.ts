import { collectSink, defineJob, outputTag, tumbling } from '../../index.ts';

interface Sale {
  readonly shop: string;
  readonly amount: number;
  readonly ts: number;
}

export const lateSales = outputTag<Sale>('late-sales');

/** A job with the shapes a plan picture must show: a union, a keyBy, a window with a side output, uids. */
export default defineJob({ name: 'plan-shapes' }, (env) => {
  const online = env.fromCollection<Sale>([{ shop: 'a', amount: 1, ts: 0 }]).uid('online-sales');
  const stores = env.fromCollection<Sale>([{ shop: 'b', amount: 2, ts: 5 }]).setParallelism(1);
  const totals = online
    .union(stores)
    .assignTimestamps({ timestamp: (s) => s.ts, maxOutOfOrderness: 0 })
    .keyBy((s) => s.shop)
    .window(tumbling(1000))
    .sideOutputLateData(lateSales)
    .reduce((a, b) => ({ shop: a.shop, amount: a.amount + b.amount, ts: Math.max(a.ts, b.ts) }))
    .uid('shop-totals');
  totals.sinkTo(collectSink('totals'));
  totals.getSideOutput(lateSales).sinkTo(collectSink('late'));
  // At another parallelism than its input: a side output that crosses to another task.
  totals
    .getSideOutput(lateSales)
    .map((s) => s.amount)
    .setParallelism(1)
    .sinkTo(collectSink('late-amounts'));
});
