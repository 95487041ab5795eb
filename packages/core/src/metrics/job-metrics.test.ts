import { describe, expect, it } from 'vitest';
import { CellRates, readOperatorMetrics, readTaskTimes } from './job-metrics.ts';
import { MetricsLayout, OperatorField } from './metrics-layout.ts';
import { OperatorCounters } from './operator-counters.ts';
import { TaskTimes } from './task-times.ts';

const shape = {
  vertices: [
    {
      parallelism: 1,
      operators: [
        { id: 'source', name: 'source' },
        { id: 'map', name: 'map' },
      ],
    },
    { parallelism: 2, operators: [{ id: 'sink', name: 'sink' }] },
  ],
};

function layoutOf() {
  return new MetricsLayout(
    shape.vertices.map((v) => ({ parallelism: v.parallelism, operatorCount: v.operators.length })),
  );
}

describe('MetricsLayout', () => {
  it('gives every subtask a block of its own, and every operator its cells in it', () => {
    const layout = layoutOf();
    const cells = new Set<number>();
    for (const [v, s, o] of [
      [0, 0, 0],
      [0, 0, 1],
      [1, 0, 0],
      [1, 1, 0],
    ] as const) {
      const base = layout.operatorBase(v, s, o);
      for (let f = 0; f < 5; f++) {
        expect(cells.has(base + f)).toBe(false);
        cells.add(base + f);
      }
    }
    for (const [v, s] of [
      [0, 0],
      [1, 0],
      [1, 1],
    ] as const) {
      const base = layout.taskBase(v, s);
      for (let f = 0; f < 3; f++) {
        expect(cells.has(base + f)).toBe(false);
        cells.add(base + f);
      }
    }
    expect(cells.size).toBe(layout.totalCells);
    expect(() => layout.operatorBase(1, 2, 0)).toThrow(/no metrics block/);
    expect(() => layout.operatorBase(0, 0, 2)).toThrow(/no operator 2/);
  });

  it('reads back what counters wrote, watermarks at -Infinity and state sizes unknown until set', () => {
    const layout = layoutOf();
    const cells = layout.allocate();
    expect(cells.buffer).toBeInstanceOf(SharedArrayBuffer);
    const sink1 = new OperatorCounters(cells, layout.operatorBase(1, 1, 0));
    sink1.countLateRecordDropped();
    sink1.countLateRecordDropped();
    sink1.setWatermark(42);
    sink1.setStateEntries(7);
    cells[layout.operatorBase(0, 0, 1) + OperatorField.recordsIn] = 5;
    const times = new TaskTimes(cells, layout.taskBase(1, 0));
    times.addBusy(10);
    times.addSleep(4);
    times.observeBackPressure(true, 100);
    times.addSleep(50); // back-pressured: not idle
    times.observeBackPressure(true, 130);
    times.observeBackPressure(false, 150);
    times.addSleep(1);
    const reports = readOperatorMetrics(shape, layout, cells);
    expect(reports.map((r) => `${r.operatorId}/${r.subtaskIndex}`)).toEqual([
      'source/0',
      'map/0',
      'sink/0',
      'sink/1',
    ]);
    expect(reports[1]).toMatchObject({
      recordsIn: 5,
      watermark: Number.NEGATIVE_INFINITY,
      stateEntries: undefined,
    });
    expect(reports[3]).toMatchObject({ lateRecordsDropped: 2, watermark: 42, stateEntries: 7, vertex: 1 });
    expect(readTaskTimes(shape, layout, cells)[1]).toEqual({
      vertex: 1,
      subtaskIndex: 0,
      busyMs: 10,
      idleMs: 5,
      backPressuredMs: 50,
    });
  });
});

describe('CellRates', () => {
  it('gives per-second rates over the last interval of at least minIntervalMs, and starts over with new cells', () => {
    const rates = new CellRates(1_000);
    const cells = new Float64Array(2);
    rates.sample(cells, 0);
    expect(rates.perSecond(0)).toBeUndefined();
    cells[0] = 500;
    rates.sample(cells, 500); // too soon: ignored
    expect(rates.perSecond(0)).toBeUndefined();
    cells[0] = 2_000;
    rates.sample(cells, 2_000);
    expect(rates.perSecond(0)).toBe(1_000);
    expect(rates.perSecond(1)).toBe(0);
    cells[0] = 2_500;
    rates.sample(cells, 3_000);
    expect(rates.perSecond(0)).toBe(500);
    rates.sample(new Float64Array(2), 4_000);
    expect(rates.perSecond(0)).toBeUndefined();
  });
});
