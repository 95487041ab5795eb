/**
 * The throughput chart: grouped bars of events/s per query, one bar per contestant, rendered to
 * SVG by Vega-Lite (compiled to a Vega spec, rendered headless by `View.toSVG()`).
 */
import * as vega from 'vega';
import * as vl from 'vega-lite';
import type { ThroughputRow } from './report.ts';

const ORDER = ['sluice p=1', 'sluice p=2', 'plain loop', 'rxjs', 'node stream'];
const COLORS = ['#9ecae1', '#2171b5', '#636363', '#e6550d', '#31a354'];

export function throughputChartSpec(rows: readonly ThroughputRow[], title: string): vl.TopLevelSpec {
  const queries = [...new Set(rows.map((r) => r.query))];
  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
    title: { text: title, fontSize: 13 },
    width: { step: 16 },
    height: 260,
    background: 'white',
    data: {
      values: rows.map((r) => ({
        query: r.query,
        contestant: r.contestant,
        meps: r.eventsPerSecond / 1e6,
        label: r.ratioToLoop === null ? '' : `${r.ratioToLoop.toFixed(1)}x`,
      })),
    },
    encoding: {
      x: { field: 'query', type: 'nominal', sort: queries, title: null, axis: { labelAngle: 0 } },
      xOffset: { field: 'contestant', type: 'nominal', sort: ORDER },
      y: { field: 'meps', type: 'quantitative', title: 'million events / s' },
      color: {
        field: 'contestant',
        type: 'nominal',
        sort: ORDER,
        scale: { domain: ORDER, range: COLORS },
        title: null,
        legend: { orient: 'top' },
      },
    },
    layer: [
      { mark: { type: 'bar' } },
      {
        mark: { type: 'text', angle: 270, align: 'left', dx: 3, fontSize: 8 },
        encoding: { text: { field: 'label' } },
      },
    ],
  } as vl.TopLevelSpec;
}

export async function renderThroughputSvg(rows: readonly ThroughputRow[], title: string): Promise<string> {
  const compiled = vl.compile(throughputChartSpec(rows, title)).spec;
  const view = new vega.View(vega.parse(compiled), { renderer: 'none' });
  const svg = await view.toSVG();
  view.finalize();
  return svg;
}
