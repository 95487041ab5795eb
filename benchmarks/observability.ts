/**
 * The cost of watching a job: the same Nexmark query at p=2 with the metrics and REST server off
 * and on (scraped every 200 ms, far more often than Prometheus would), run back to back in the
 * same suite run, and how long the server takes to answer while the job runs at full speed.
 * The targets: throughput on >= 97% of off (a cost <= 3%) for q0-q2 and q5, and
 * `/metrics` answering in < 50 ms.
 */
import type { ContestantResult } from './suite/contestant.ts';
import type { Target } from './suite/report.ts';

export const OBSERVED_QUERIES = ['q0', 'q1', 'q2', 'q5'] as const;
export const SCRAPE_EVERY_MS = 200;
const MAX_COST = 0.03;
const MAX_ANSWER_MS = 50;

export interface ObservabilityRow {
  readonly query: string;
  readonly offEventsPerSecond: number;
  readonly onEventsPerSecond: number;
  /** on / off. */
  readonly ratio: number;
  readonly scrapes: number;
  readonly metricsP50Ms: number;
  readonly metricsMaxMs: number;
  readonly overviewMaxMs: number;
}

function quantile(values: readonly number[], q: number): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!;
}

/** One row from the best off run and the best on run of a query. */
export function observabilityRow(
  query: string,
  off: ContestantResult,
  on: ContestantResult,
): ObservabilityRow {
  const metricsMs = on.scrapes?.metricsMs ?? [];
  const overviewMs = on.scrapes?.overviewMs ?? [];
  return {
    query,
    offEventsPerSecond: off.eventsPerSecond,
    onEventsPerSecond: on.eventsPerSecond,
    ratio: on.eventsPerSecond / off.eventsPerSecond,
    scrapes: metricsMs.length + overviewMs.length,
    metricsP50Ms: quantile(metricsMs, 0.5),
    metricsMaxMs: metricsMs.length === 0 ? Number.NaN : Math.max(...metricsMs),
    overviewMaxMs: overviewMs.length === 0 ? Number.NaN : Math.max(...overviewMs),
  };
}

export function formatObservabilityRow(row: ObservabilityRow): string {
  const rate = (n: number): string => Math.round(n).toLocaleString('en-US').padStart(11);
  return (
    `  ${row.query.padEnd(4)} off ${rate(row.offEventsPerSecond)} events/s, on ${rate(row.onEventsPerSecond)} events/s (${row.ratio.toFixed(3)}x); ` +
    `${row.scrapes} answers: /metrics p50 ${row.metricsP50Ms.toFixed(1)} ms, max ${row.metricsMaxMs.toFixed(1)} ms; /api/overview max ${row.overviewMaxMs.toFixed(1)} ms`
  );
}

export function observabilityTargets(rows: readonly ObservabilityRow[]): Target[] {
  const costName = `metrics and REST server on (scraped every ${SCRAPE_EVERY_MS} ms): throughput cost <= ${MAX_COST * 100}% on q0-q2 and q5 at p=2`;
  const answerName = `/metrics answers in < ${MAX_ANSWER_MS} ms while the job runs at full speed (p=2)`;
  if (rows.length === 0) {
    return [
      { name: costName, measured: 'not measured', pass: false },
      { name: answerName, measured: 'not measured', pass: false },
    ];
  }
  const maxAnswer = Math.max(...rows.map((r) => r.metricsMaxMs));
  return [
    {
      name: costName,
      measured: rows.map((r) => `${r.query} ${((1 - r.ratio) * 100).toFixed(1)}%`).join(', '),
      pass: rows.length === OBSERVED_QUERIES.length && rows.every((r) => r.ratio >= 1 - MAX_COST),
    },
    {
      name: answerName,
      measured: `max ${maxAnswer.toFixed(1)} ms over ${rows.reduce((n, r) => n + r.scrapes, 0)} answers`,
      pass: rows.every((r) => r.metricsMaxMs < MAX_ANSWER_MS),
    },
  ];
}

export function observabilityTable(rows: readonly ObservabilityRow[]): string {
  if (rows.length === 0) return 'Not measured.';
  return [
    '| query | off (events/s) | on (events/s) | on / off | answers | /metrics p50 (ms) | /metrics max (ms) | /api/overview max (ms) |',
    '| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |',
    ...rows.map(
      (r) =>
        `| ${r.query} | ${Math.round(r.offEventsPerSecond).toLocaleString('en-US')} | ${Math.round(r.onEventsPerSecond).toLocaleString('en-US')} | ${r.ratio.toFixed(3)} | ${r.scrapes} | ${r.metricsP50Ms.toFixed(1)} | ${r.metricsMaxMs.toFixed(1)} | ${r.overviewMaxMs.toFixed(1)} |`,
    ),
  ].join('\n');
}
