import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  type CheckpointsJson,
  ConfigError,
  type ExceptionsJson,
  JobCancelledError,
  type JobHandle,
  type JobStatusJson,
  type OperatorMetricsReport,
  type PlanJson,
  runJob,
  type SavepointRequestJson,
  startJob,
  type VerticesJson,
} from '@sluice/core';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { assignToKeyGroup, computeOperatorIndexForKeyGroup } from '../src/state/key-groups.ts';
import type { BackpressuredArgs } from './jobs/backpressured.ts';
import type { ObservedArgs, Reading } from './jobs/observed.ts';
import { expectThreadsBackTo, osThreadCount, warmThreadBaseline } from './os-threads.ts';

const job = new URL('./jobs/observed.ts', import.meta.url);
const TOKEN = 'test-token-0123456789abcdef';
const BOUND = 10;

const folders: string[] = [];
afterEach(async () => {
  for (const folder of folders.splice(0)) await rm(folder, { recursive: true, force: true });
});
async function tempDir(): Promise<string> {
  const folder = await mkdtemp(join(tmpdir(), 'sluice-observability-'));
  folders.push(folder);
  return folder;
}

let baseline = 0;
beforeAll(async () => {
  baseline = await warmThreadBaseline();
});

/** Deterministic readings: five keys, timestamps rising with disorder (some records come late). */
function readingsOf(n: number): Reading[] {
  let seed = 12345;
  const next = (): number => {
    seed = (seed * 1103515245 + 12345) % 2147483648;
    return seed;
  };
  return Array.from({ length: n }, (_, i) => ({
    key: next() % 5,
    ts: Math.max(0, i * 5 + (next() % 80) - 40),
    v: next() % 10,
  }));
}

/**
 * The plain loop: one source subtask and a watermark after every record (sourceBatchSize 1), so
 * the watermark a record meets is max(ts before it) - bound - 1; a record whose window ended at
 * or before it is late and dropped. Window sums of what is accepted, as the job formats them.
 */
function plainLoop(readings: readonly Reading[]) {
  let maxTs = Number.NEGATIVE_INFINITY;
  let filtered = 0;
  let late = 0;
  const sums = new Map<string, number>();
  for (const r of readings) {
    const watermark = maxTs - BOUND - 1;
    maxTs = Math.max(maxTs, r.ts);
    if (r.v % 3 === 0) continue;
    filtered++;
    const start = Math.floor(r.ts / 100) * 100;
    if (start + 100 - 1 <= watermark) {
      late++;
      continue;
    }
    const id = `${r.key}@${start}`;
    sums.set(id, (sums.get(id) ?? 0) + r.v);
  }
  return { filtered, late, windows: [...sums].map(([id, sum]) => `${id}=${sum}`).sort() };
}

function sumOf(
  metrics: readonly OperatorMetricsReport[],
  operatorId: string,
  field: 'recordsIn' | 'recordsOut',
) {
  return metrics.filter((m) => m.operatorId === operatorId).reduce((n, m) => n + m[field], 0);
}

/** Waits for `condition` (an observable state the job certainly reaches); the timeout only guards a hang. */
async function waitFor(what: string, condition: () => Promise<boolean>, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`hang guard: still waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}

async function get<T>(handle: JobHandle, path: string, token?: string): Promise<{ status: number; body: T }> {
  const response = await fetch(`${handle.web!.url}${path}`, {
    headers: token === undefined ? {} : { authorization: `Bearer ${token}` },
  });
  const text = await response.text();
  return { status: response.status, body: (path === '/metrics' ? text : JSON.parse(text)) as T };
}

async function post<T>(
  handle: JobHandle,
  path: string,
  token?: string,
): Promise<{ status: number; body: T }> {
  const response = await fetch(`${handle.web!.url}${path}`, {
    method: 'POST',
    headers: token === undefined ? {} : { authorization: `Bearer ${token}` },
  });
  return { status: response.status, body: (await response.json()) as T };
}

describe('metrics of a bounded job', () => {
  it('count records in and out of every operator, and late records dropped, as the plain loop does (p=2)', async () => {
    const readings = readingsOf(2_000);
    const expected = plainLoop(readings);
    const result = await runJob<ObservedArgs>(job, {
      parallelism: 2,
      args: { readings, bound: BOUND },
      sourceBatchSize: 1,
    });
    expect(result.collected<string>('sums').sort()).toEqual(expected.windows);
    const { metrics } = result;
    const n = readings.length;
    const w = expected.windows.length;
    expect(sumOf(metrics, 'source', 'recordsIn')).toBe(n);
    expect(sumOf(metrics, 'source', 'recordsOut')).toBe(n);
    expect(sumOf(metrics, 'timestamps', 'recordsIn')).toBe(n);
    expect(sumOf(metrics, 'timestamps', 'recordsOut')).toBe(n);
    expect(sumOf(metrics, 'filter', 'recordsIn')).toBe(n);
    expect(sumOf(metrics, 'filter', 'recordsOut')).toBe(expected.filtered);
    expect(sumOf(metrics, 'window', 'recordsIn')).toBe(expected.filtered);
    expect(sumOf(metrics, 'window', 'recordsOut')).toBe(w);
    expect(sumOf(metrics, 'format', 'recordsIn')).toBe(w);
    expect(sumOf(metrics, 'format', 'recordsOut')).toBe(w);
    expect(sumOf(metrics, 'sink', 'recordsIn')).toBe(w);
    expect(sumOf(metrics, 'sink', 'recordsOut')).toBe(0);
    expect(expected.late).toBeGreaterThan(0);
    expect(result.lateRecordsDropped).toBe(expected.late);
    expect(
      metrics.filter((m) => m.operatorId === 'window').reduce((x, m) => x + m.lateRecordsDropped, 0),
    ).toBe(expected.late);
    expect(result.sourceRecords).toBe(n);
    // One report per operator and subtask: the chain at p1 and the window's chain at p2.
    expect(metrics.map((m) => `${m.operatorId}/${m.subtaskIndex}`).sort()).toEqual(
      [
        'filter/0',
        'format/0',
        'format/1',
        'sink/0',
        'sink/1',
        'source/0',
        'timestamps/0',
        'window/0',
        'window/1',
      ].sort(),
    );
    expect(metrics.find((m) => m.operatorId === 'source')!.watermark).toBe(Number.POSITIVE_INFINITY);
  });
});

describe('the web server', () => {
  const N = 400;
  const OPEN_AT = 150;

  async function startGated(savepointDirectory?: string) {
    const gate = new SharedArrayBuffer(4);
    const readings = readingsOf(N);
    const captured: string[] = [];
    const handle = await startJob<ObservedArgs>(job, {
      parallelism: 2,
      args: { readings, bound: BOUND, gate: { buffer: gate, openAt: OPEN_AT } },
      sourceBatchSize: 1,
      checkpointing: { directory: await tempDir(), intervalMs: 3_600_000 },
      onSinkData: (channel, payload) => {
        if (channel === 'collect:sums') captured.push(...(payload as string[]));
      },
      web: { port: 0, token: TOKEN, ...(savepointDirectory === undefined ? {} : { savepointDirectory }) },
      log: () => {},
    });
    return { handle, gate, readings, captured };
  }

  /**
   * Runs the rest of the input from a savepoint. The collect sink is exactly-once: what it prepared
   * before the savepoint's barrier is in the savepoint and is committed again by the restored run
   * (idempotently, within one run), so the restored run alone has the whole answer.
   */
  async function expectRestoredRunCompletes(
    folder: string,
    readings: readonly Reading[],
    before: readonly string[],
  ) {
    const restored = await runJob<ObservedArgs>(job, {
      parallelism: 2,
      args: { readings, bound: BOUND },
      sourceBatchSize: 1,
      restoreFrom: folder,
      checkpointing: { directory: await tempDir(), intervalMs: 3_600_000 },
      log: () => {},
    });
    // The source resumed at the savepoint's offset, and the windows' state came back with it.
    expect(restored.sourceRecords).toBe(N - OPEN_AT);
    const answer = plainLoop(readings).windows;
    expect(restored.collected<string>('sums').sort()).toEqual(answer);
    // What the first run delivered when the savepoint completed is part of it.
    expect(before.length).toBeGreaterThan(0);
    for (const window of before) expect(answer).toContain(window);
  }

  async function sourceCountReached(handle: JobHandle): Promise<boolean> {
    const { body } = await get<VerticesJson>(handle, '/api/vertices');
    const source = body.vertices[0]?.operators.find((o) => o.id === 'source');
    return source?.recordsIn === OPEN_AT;
  }

  it('serves metrics and the REST API while the job runs; a savepoint through REST completes and restores; cancel ends the job', async () => {
    const savepoints = await tempDir();
    const { handle, gate, readings, captured } = await startGated(savepoints);
    expect(handle.web?.host).toBe('127.0.0.1');
    expect(handle.web?.port).toBeGreaterThan(0);
    await waitFor('the source to read up to the gate', () => sourceCountReached(handle));
    const expectedFirst = plainLoop(readings.slice(0, OPEN_AT));
    // Records chained after the source are counted by the time the source's count is read.
    await waitFor('the window to take in the filtered records before the gate', async () => {
      const { body } = await get<VerticesJson>(handle, '/api/vertices');
      return body.vertices[1]?.recordsIn === expectedFirst.filtered;
    });

    const metrics = await get<string>(handle, '/metrics');
    expect(metrics.status).toBe(200);
    expect(metrics.body).toMatch(
      new RegExp(
        `sluice_operator_records_in_total\\{job="observed",task="[^"]+",operator="source",subtask="0"\\} ${OPEN_AT}\\n`,
      ),
    );
    expect(metrics.body).toMatch(
      new RegExp(
        `sluice_operator_records_out_total\\{job="observed",task="[^"]+",operator="filter",subtask="0"\\} ${expectedFirst.filtered}\\n`,
      ),
    );
    expect(metrics.body).toMatch(
      /sluice_task_back_pressured_time_ms_total\{job="observed",task="[^"]+",subtask="1"\} /,
    );
    expect(metrics.body).toContain('sluice_job_running{job="observed"} 1');
    expect(metrics.body).toContain('sluice_job_restarts_total{job="observed"} 0');

    const status = await get<JobStatusJson>(handle, '/api/job');
    expect(status.status).toBe(200);
    expect(status.body).toMatchObject({ name: 'observed', status: 'running', restarts: 0, parallelism: 2 });
    expect(status.body.actions).toEqual({ enabled: true, savepoints: true, reason: null });

    const plan = await get<PlanJson>(handle, '/api/plan');
    expect(plan.body.vertices.map((v) => [v.parallelism, v.operators.map((o) => o.id)])).toEqual([
      [1, ['source', 'timestamps', 'filter']],
      [2, ['window', 'format', 'sink']],
    ]);
    expect(plan.body.edges).toEqual([
      { source: 0, target: 1, partitioner: 'hash', sourceOperator: 'filter', sideOutput: null },
    ]);

    const vertices = await get<VerticesJson>(handle, '/api/vertices');
    const [first, second] = vertices.body.vertices;
    expect(first!.recordsIn).toBe(OPEN_AT);
    expect(first!.recordsOut).toBe(expectedFirst.filtered);
    expect(second!.subtasks.map((s) => s.subtaskIndex)).toEqual([0, 1]);
    expect(second!.operators.map((o) => o.id)).toEqual(['window', 'format', 'sink']);
    // The timestamps operator has emitted a watermark by now: the window's input has one.
    expect(typeof first!.operators[2]!.watermark).toBe('number');

    // Actions: no token, a wrong one, then the right one.
    expect((await post(handle, '/api/savepoints')).status).toBe(401);
    expect((await post(handle, '/api/savepoints', 'wrong-token-wrong-token')).status).toBe(401);
    expect((await get(handle, '/api/savepoints', TOKEN)).status).toBe(405);
    const triggered = await post<SavepointRequestJson>(handle, '/api/savepoints', TOKEN);
    expect(triggered.status).toBe(202);
    expect(triggered.body).toMatchObject({ id: 1, stop: false, status: 'in-progress' });
    let done: SavepointRequestJson | undefined;
    await waitFor('the savepoint to complete', async () => {
      done = (await get<SavepointRequestJson>(handle, '/api/savepoints/1')).body;
      return done.status !== 'in-progress';
    });
    expect(done!.status).toBe('completed');
    expect(done!.folder!.startsWith(savepoints)).toBe(true);
    const checkpoints = await get<CheckpointsJson>(handle, '/api/checkpoints');
    expect(checkpoints.body.counts.completed).toBe(1);
    expect(checkpoints.body.latest).toMatchObject({ kind: 'savepoint', status: 'completed' });
    expect(checkpoints.body.latest!.bytes).toBeGreaterThan(0);
    const before = captured.slice();

    const cancelled = await post<{ status: string }>(handle, '/api/cancel', TOKEN);
    expect(cancelled.status).toBe(202);
    await expect(handle.result).rejects.toBeInstanceOf(JobCancelledError);
    await expectThreadsBackTo(baseline);
    Atomics.store(new Int32Array(gate), 0, 1);
    // The server went with the job.
    await expect(fetch(`${handle.web!.url}/api/job`)).rejects.toThrow();

    await expectRestoredRunCompletes(done!.folder!, readings, before);
  });

  it('stops a job with a savepoint through REST, and the savepoint restores', async () => {
    const savepoints = await tempDir();
    const { handle, readings, captured } = await startGated(savepoints);
    await waitFor('the source to read up to the gate', () => sourceCountReached(handle));
    const stopped = await post<SavepointRequestJson>(handle, '/api/stop', TOKEN);
    expect(stopped.status).toBe(202);
    expect(stopped.body).toMatchObject({ stop: true, status: 'in-progress' });
    await expect(handle.result).rejects.toBeInstanceOf(JobCancelledError);
    await expectThreadsBackTo(baseline);
    const written = await readdir(savepoints);
    expect(written).toHaveLength(1);
    await expectRestoredRunCompletes(join(savepoints, written[0]!), readings, captured.slice());
  });

  it('refuses actions when no token is configured, and a request naming another host on loopback', async () => {
    const gate = new SharedArrayBuffer(4);
    const handle = await startJob<ObservedArgs>(job, {
      parallelism: 2,
      args: { readings: readingsOf(N), bound: BOUND, gate: { buffer: gate, openAt: OPEN_AT } },
      web: { port: 0 },
      log: () => {},
    });
    try {
      const refused = await post<{ error: string }>(handle, '/api/cancel', TOKEN);
      expect(refused.status).toBe(403);
      expect(refused.body.error).toMatch(/web\.token/);
      const status = await get<JobStatusJson>(handle, '/api/job');
      expect(status.body.actions.enabled).toBe(false);
      // A DNS-rebinding page names its own host: refused on loopback.
      const rebound = await new Promise<number>((resolve, reject) => {
        request(`${handle.web!.url}/api/job`, { headers: { host: 'evil.example' } }, (response) => {
          response.resume();
          resolve(response.statusCode ?? 0);
        })
          .on('error', reject)
          .end();
      });
      expect(rebound).toBe(403);
    } finally {
      Atomics.store(new Int32Array(gate), 0, 1);
      await handle.result;
    }
    await expectThreadsBackTo(baseline);
  });

  it('refuses to start on a non-loopback address without a token, before any thread starts', async () => {
    const threads = osThreadCount();
    await expect(
      startJob<ObservedArgs>(job, {
        parallelism: 2,
        args: { readings: readingsOf(10), bound: BOUND },
        web: { host: '0.0.0.0', port: 0 },
      }),
    ).rejects.toThrow(ConfigError);
    await expect(
      startJob<ObservedArgs>(job, {
        parallelism: 2,
        args: { readings: readingsOf(10), bound: BOUND },
        web: { host: '0.0.0.0', port: 0, token: 'short' },
      }),
    ).rejects.toThrow(/at least 16 characters/);
    expect(osThreadCount()).toBe(threads);
  });
});

/** A key whose key group sink subtask 1 of 2 owns (maxParallelism 128, the default). */
function keyOfSubtask1(): number {
  for (let key = 0; ; key++) {
    if (computeOperatorIndexForKeyGroup(128, 2, assignToKeyGroup(key, 128)) === 1) return key;
  }
}

describe('live metrics of a running job', () => {
  it('report a restart and the failure that caused it, with its operator, subtask and record', async () => {
    const gate = new SharedArrayBuffer(4);
    const crashes = new SharedArrayBuffer(4);
    const readings = readingsOf(300);
    const handle = await startJob<ObservedArgs>(job, {
      parallelism: 2,
      args: { readings, bound: BOUND, gate: { buffer: gate, openAt: 100 }, failAt: { index: 42, crashes } },
      sourceBatchSize: 1,
      checkpointing: { directory: await tempDir(), intervalMs: 3_600_000 },
      restartStrategy: { kind: 'fixed-delay', attempts: 3, delayMs: 10 },
      web: { port: 0 },
      log: () => {},
    });
    try {
      await waitFor('the second attempt to read up to the gate', async () => {
        const { body } = await get<VerticesJson>(handle, '/api/vertices');
        return body.attempt === 1 && body.vertices[0]?.recordsIn === 100;
      });
      expect((await get<JobStatusJson>(handle, '/api/job')).body).toMatchObject({
        status: 'running',
        restarts: 1,
      });
      const { body } = await get<ExceptionsJson>(handle, '/api/exceptions');
      expect(body.truncated).toBe(0);
      expect(body.exceptions).toHaveLength(1);
      expect(body.exceptions[0]).toMatchObject({
        attempt: 0,
        operatorId: 'filter',
        subtaskIndex: 0,
        restarted: true,
      });
      expect(body.exceptions[0]!.message).toContain('boom at record 42');
      expect(body.exceptions[0]!.record).toContain(String(readings[42]!.ts));
      const metrics = await get<string>(handle, '/metrics');
      expect(metrics.body).toContain('sluice_job_restarts_total{job="observed"} 1');
    } finally {
      Atomics.store(new Int32Array(gate), 0, 1);
    }
    const result = await handle.result;
    expect(result.restarts).toBe(1);
    expect(result.collected<string>('sums').sort()).toEqual(plainLoop(readings).windows);
  });

  it('report back-pressure upstream of a sink that takes nothing, and channels that fill up', async () => {
    const gate = new SharedArrayBuffer(8);
    const count = 200_000;
    const handle = await startJob<BackpressuredArgs>(new URL('./jobs/backpressured.ts', import.meta.url), {
      parallelism: 2,
      args: { count, gate, key: keyOfSubtask1() },
      channelCapacityBytes: 4096,
      web: { port: 0 },
      log: () => {},
    });
    try {
      // While the sink waits, the source fills the ring to it and waits for room: that is all it
      // can do. A writer waits only when the ring holds something (how much depends on where the
      // frames wrapped), and nothing is read from it any more.
      await waitFor('the source to be back-pressured with a filled output channel', async () => {
        const { body } = await get<VerticesJson>(handle, '/api/vertices');
        const source = body.vertices[0]?.subtasks[0];
        return (source?.backPressuredTimeMs ?? 0) > 0 && (source?.outputPoolUsage ?? 0) > 0;
      });
      const metrics = await get<string>(handle, '/metrics');
      const backPressured =
        /sluice_task_back_pressured_time_ms_total\{job="backpressured",task="numbers",subtask="0"\} (\d+)/.exec(
          metrics.body,
        );
      expect(Number(backPressured?.[1])).toBeGreaterThan(0);
    } finally {
      Atomics.store(new Int32Array(gate), 0, 1);
    }
    const result = await handle.result;
    expect(Atomics.load(new Int32Array(gate), 1)).toBe(count);
    expect(result.metrics.filter((m) => m.operatorId === 'gated').reduce((n, m) => n + m.recordsIn, 0)).toBe(
      count,
    );
  });
});
