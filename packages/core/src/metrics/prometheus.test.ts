import { describe, expect, it } from 'vitest';
import { PrometheusExporter, type PrometheusView } from './prometheus.ts';
import type { VertexSnapshot } from './vertex-snapshot.ts';

const vertex: VertexSnapshot = {
  index: 0,
  id: 'source',
  name: 'source -> map',
  parallelism: 1,
  recordsIn: 10,
  recordsOut: 9,
  recordsInPerSecond: 5,
  recordsOutPerSecond: null,
  busyTimeMsPerSecond: 300,
  idleTimeMsPerSecond: 700,
  backPressuredTimeMsPerSecond: 0,
  watermark: 1_000,
  watermarkLagMs: 25,
  lateRecordsDropped: 0,
  stateEntries: null,
  inputPoolUsage: null,
  outputPoolUsage: 0.5,
  subtasks: [
    {
      subtaskIndex: 0,
      busyTimeMsPerSecond: 300,
      idleTimeMsPerSecond: 700,
      backPressuredTimeMsPerSecond: 0,
      busyTimeMs: 1234,
      idleTimeMs: 50,
      backPressuredTimeMs: 0,
      inputPoolUsage: null,
      outputPoolUsage: 0.5,
    },
  ],
  operators: [
    {
      id: 'map',
      name: 'map',
      recordsIn: 10,
      recordsOut: 9,
      recordsInPerSecond: 5,
      recordsOutPerSecond: null,
      lateRecordsDropped: 0,
      watermark: 'end-of-input',
      watermarkLagMs: null,
      stateEntries: null,
      subtasks: [
        {
          subtaskIndex: 0,
          recordsIn: 10,
          recordsOut: 9,
          recordsInPerSecond: 5,
          recordsOutPerSecond: null,
          lateRecordsDropped: 0,
          watermark: 'end-of-input',
          watermarkLagMs: null,
          stateEntries: null,
        },
      ],
    },
  ],
};

describe('PrometheusExporter', () => {
  it('exposes each view in Prometheus text, leaving out what has no value yet', async () => {
    let view: PrometheusView = {
      jobName: 'j',
      running: true,
      restarts: 2,
      vertices: [vertex],
      checkpoints: { completed: 3, abandoned: 1, last: { durationMs: 40, bytes: 1024, alignmentMs: 2 } },
    };
    const exporter = new PrometheusExporter(() => view, { processMetrics: false });
    const text = await exporter.scrape();
    expect(exporter.contentType).toMatch(/^text\/plain/);
    expect(text).toContain('# TYPE sluice_operator_records_in_total counter');
    expect(text).toContain(
      'sluice_operator_records_in_total{job="j",task="source",operator="map",subtask="0"} 10',
    );
    expect(text).toContain(
      'sluice_operator_records_out_total{job="j",task="source",operator="map",subtask="0"} 9',
    );
    expect(text).toContain(
      'sluice_operator_records_in_per_second{job="j",task="source",operator="map",subtask="0"} 5',
    );
    expect(text).not.toContain('sluice_operator_records_out_per_second{');
    expect(text).not.toContain('sluice_operator_current_input_watermark_ms{');
    expect(text).toContain('sluice_task_busy_time_ms_total{job="j",task="source",subtask="0"} 1234');
    expect(text).toContain('sluice_task_output_pool_usage{job="j",task="source",subtask="0"} 0.5');
    expect(text).not.toContain('sluice_task_input_pool_usage{');
    expect(text).toContain('sluice_job_restarts_total{job="j"} 2');
    expect(text).toContain('sluice_checkpoints_completed_total{job="j"} 3');
    expect(text).toContain('sluice_checkpoint_last_size_bytes{job="j"} 1024');
    // The next scrape reads the view again: nothing stays from the last one.
    view = { ...view, vertices: [], restarts: 3 };
    const next = await exporter.scrape();
    expect(next).toContain('sluice_job_restarts_total{job="j"} 3');
    expect(next).not.toContain('sluice_operator_records_in_total{');
  });
});
