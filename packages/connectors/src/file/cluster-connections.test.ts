import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { request } from 'node:http';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import {
  CuttingProxy,
  committedLines,
  exactness,
  freePorts,
  type LogLine,
  latestCheckpoint,
  ProcessCluster,
  SluiceProcess,
  until,
} from '../test-support/cluster-processes.ts';
import type { GenerateRebalancedLinesArgs } from './test-jobs/generate-rebalanced-lines.ts';

/**
 * The connections of a cluster of processes under attack and failure: a job manager and two
 * task managers (one slot each, p=2, a rebalance between them) into the exactly-once file sink.
 * A TCP proxy in the test carries the data connection between the task managers and the control
 * connection of one of them; it cuts them mid-stream, and the job must restart and still write
 * every record once. Unauthenticated clients on every port must be refused without touching the
 * job. Every step waits for what the processes are seen to do (a completed checkpoint, a log
 * line), never for a time.
 */

const JOB = fileURLToPath(new URL('./test-jobs/generate-rebalanced-lines.ts', import.meta.url));
/** The task managers advertise this address; the proxies listen on it (Linux routes all of 127/8 to loopback). */
const PROXY_HOST = '127.0.0.2';

let dir: string;
let cluster: ProcessCluster | undefined;
const proxies: CuttingProxy[] = [];
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'sluice-cluster-connections-'));
});
afterEach(async () => {
  await cluster?.stop();
  cluster = undefined;
  for (const proxy of proxies.splice(0)) await proxy.close();
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** Resolves once `count` lines with `event` have been logged by the job managers (false: the job manager exited first). */
function awaitEvents(running: ProcessCluster, event: string, count: number): Promise<boolean> {
  return until(
    () => running.events(event).length >= count,
    () => running.stopped(),
  );
}

/** Resolves once a checkpoint newer than `than` has completed. */
function awaitCheckpointAfter(running: ProcessCluster, than: number): Promise<boolean> {
  return until(
    async () => (await latestCheckpoint(running.options.checkpointDir)) > than,
    () => running.stopped(),
  );
}

async function expectExactEnd(running: ProcessCluster, output: string, count: number): Promise<void> {
  expect(await running.jobManager.exited, running.describe()).toEqual({ code: 0, signal: null });
  expect(await running.taskManagerExits()).toEqual(
    running.taskManagers.map(() => ({ code: 0, signal: null })),
  );
  const { files, lines } = await committedLines(output);
  expect(exactness(lines, count), describeMissing(files, lines, count)).toEqual({
    duplicated: 0,
    missing: 0,
    unexpected: 0,
    lines: count,
  });
}

describe('the connections of a cluster of processes', () => {
  it('a data connection and a control connection cut mid-stream by a proxy: the job restarts each time and its output is exact', async () => {
    const output = join(dir, 'cut-out');
    const args: GenerateRebalancedLinesArgs = { count: 90_000, directory: output, ratePerSecond: 6_000 };
    const [port, ...dataPorts] = (await freePorts(3)) as [number, number, number];
    // tm1 reaches the job manager through a proxy; tm0 directly.
    const control = await CuttingProxy.start({ host: '127.0.0.1', port: 0 }, { host: '127.0.0.1', port });
    proxies.push(control);
    // Each task manager listens on a data port of its own and advertises the proxy in front of it:
    // whichever slot dials the other goes through a proxy.
    const data: CuttingProxy[] = [];
    for (const dataPort of dataPorts) {
      const proxy = await CuttingProxy.start(
        { host: PROXY_HOST, port: dataPort },
        { host: '127.0.0.1', port: dataPort },
      );
      proxies.push(proxy);
      data.push(proxy);
    }
    const running = await ProcessCluster.start({
      job: JOB,
      jobArgs: args,
      parallelism: 2,
      taskManagers: 2,
      checkpointDir: join(dir, 'cut-checkpoints'),
      checkpointIntervalMs: 200,
      port,
      jobManagerAddressFor: (index) => `127.0.0.1:${index === 1 ? control.port : port}`,
      taskManagerArgs: (index) => [
        '--bind-host',
        '127.0.0.1',
        '--data-port',
        String(dataPorts[index]),
        '--advertise-host',
        PROXY_HOST,
      ],
    });
    cluster = running;
    const dataBytes = (): number => data.reduce((sum, proxy) => sum + proxy.bytes, 0);
    const dataOpen = (): number => data.reduce((sum, proxy) => sum + proxy.open, 0);

    // 1. Records flow between the task managers through a data proxy, and a checkpoint has
    //    completed: cut the data connection.
    const flowing = await until(
      async () =>
        dataOpen() > 0 &&
        dataBytes() > 64 * 1024 &&
        (await latestCheckpoint(running.options.checkpointDir)) > 0,
      () => running.stopped(),
    );
    expect(flowing, running.describe()).toBe(true);
    const beforeDataCut = await latestCheckpoint(running.options.checkpointDir);
    const restartsBefore = running.events('job-restart').length;
    const deployedBefore = running.events('attempt-deployed').length;
    for (const proxy of data) proxy.cut();
    expect(data.reduce((sum, proxy) => sum + proxy.cutConnections, 0)).toBeGreaterThan(0);
    expect(await awaitEvents(running, 'job-restart', restartsBefore + 1), running.describe()).toBe(true);
    const restartAfterDataCut = running.events('job-restart')[restartsBefore]!;
    expect(restartAfterDataCut.msg).toMatch(/data connection|connection/);
    // The restarted attempt runs again through the proxy, and checkpoints.
    expect(await awaitEvents(running, 'attempt-deployed', deployedBefore + 1), running.describe()).toBe(true);
    expect(await awaitCheckpointAfter(running, beforeDataCut), running.describe()).toBe(true);

    // 2. Cut tm1's control connection: the job manager loses tm1, which dials again.
    const beforeControlCut = await latestCheckpoint(running.options.checkpointDir);
    const lostBefore = running.events('task-manager-lost').length;
    const restartsBeforeControlCut = running.events('job-restart').length;
    expect(control.open).toBe(1);
    control.cut();
    expect(await awaitEvents(running, 'task-manager-lost', lostBefore + 1), running.describe()).toBe(true);
    const lost = running.events('task-manager-lost')[lostBefore] as LogLine;
    expect(lost.taskManager).toBe('tm1');
    expect(lost.msg).toMatch(/ECONNRESET|closed by the peer|ended by the other party/);
    expect(await awaitEvents(running, 'job-restart', restartsBeforeControlCut + 1), running.describe()).toBe(
      true,
    );
    expect(await awaitCheckpointAfter(running, beforeControlCut), running.describe()).toBe(true);
    // tm1 came back through the proxy.
    expect(control.connections).toBeGreaterThanOrEqual(2);

    await expectExactEnd(running, output, args.count);
  }, 600_000);

  it('unauthenticated clients on the control port, every data port and the health ports are refused; the job runs on untouched', async () => {
    const output = join(dir, 'auth-out');
    const args: GenerateRebalancedLinesArgs = { count: 120_000, directory: output, ratePerSecond: 6_000 };
    const free = await freePorts(5);
    const dataPorts = free.slice(0, 2);
    const healthPorts = free.slice(2);
    const running = await ProcessCluster.start({
      job: JOB,
      jobArgs: args,
      parallelism: 2,
      taskManagers: 2,
      checkpointDir: join(dir, 'auth-checkpoints'),
      checkpointIntervalMs: 200,
      jobManagerArgs: ['--health-port', String(healthPorts[0])],
      taskManagerArgs: (index) => [
        '--data-port',
        String(dataPorts[index]),
        '--health-port',
        String(healthPorts[index + 1]),
      ],
    });
    cluster = running;
    // The job runs: every slot's data port is open, and a checkpoint has completed.
    expect(
      await until(
        async () => (await latestCheckpoint(running.options.checkpointDir)) > 0,
        () => running.stopped(),
      ),
      running.describe(),
    ).toBe(true);
    const refusedBefore = running.events('control-refused').length;

    // Every client gets the 37-byte challenge and nothing else, then is closed: a wrong proof
    // (claiming to be a task manager of this cluster), garbage of a hello's size, a flood, an
    // HTTP request, and silence (closed at the handshake timeout).
    const ports = [
      { name: 'control', port: running.port, id: 'tm0' },
      { name: 'data tm0', port: dataPorts[0]!, id: 'tm1/a0/s1' },
      { name: 'data tm1', port: dataPorts[1]!, id: 'tm0/a0/s0' },
    ];
    const probes = ports.flatMap(({ name, port, id }) =>
      Object.entries(unauthenticatedClients(id)).map(async ([kind, bytes]) => ({
        probe: `${name}: ${kind}`,
        ...(await rawClient(port, bytes)),
      })),
    );
    // A real task manager with the wrong secret, under the id of a registered one.
    const impostor = new SluiceProcess(
      'impostor taskmanager',
      ['taskmanager', '--jobmanager', `127.0.0.1:${running.port}`, '--id', 'tm0', '--log-format', 'json'],
      { SLUICE_CLUSTER_SECRET: randomBytes(32).toString('hex') },
    );
    const results = await Promise.all(probes);
    for (const result of results) {
      // The server never sends more than its challenge. A flood leaves unread bytes in the server's
      // socket when it refuses, so its close is a reset, and TCP lets a reset discard what the
      // client had received but not yet read (RFC 9293 3.10.7.4: "all segment queues should be
      // flushed"): for that client, the challenge may be all or nothing.
      const mayLoseChallenge =
        result.probe.endsWith(': flood') && (result.error === 'ECONNRESET' || result.error === 'EPIPE');
      const description = JSON.stringify(result);
      expect(result.connected, description).toBe(true);
      expect(mayLoseChallenge ? [0, 37] : [37], description).toContain(result.received);
    }
    const impostorExit = await impostor.exited;
    expect(impostorExit.code, impostor.stderr).not.toBe(0);
    expect(impostor.stderr).toMatch(/SLUICE_AUTH_FAILED/);
    // The job manager logs every refusal on its port (5 clients and the impostor); a line may
    // reach its stderr after the client saw the connection close.
    expect(
      await until(
        () => running.events('control-refused').length - refusedBefore >= 6,
        () => running.stopped(),
      ),
    ).toBe(true);

    // The health ports answer their two paths and nothing else, whatever is sent.
    for (const port of healthPorts) {
      expect(await httpGet(port, '/healthz')).toBe(200);
      expect(await httpGet(port, '/readyz')).toBe(200);
      for (const path of ['/', '/metrics', '/api/jobs', '/healthz/x', '/../readyz']) {
        expect(await httpGet(port, path)).toBe(404);
      }
      await rawClient(port, Buffer.alloc(64 * 1024, 0x41));
      expect(await httpGet(port, '/healthz')).toBe(200);
    }

    // Untouched: no attempt failed, no task manager was lost, and the output is exact.
    await expectExactEnd(running, output, args.count);
    expect(running.events('job-restart')).toEqual([]);
    expect(running.events('task-manager-lost')).toEqual([]);
    expect(running.events('attempt-deployed')).toHaveLength(1);
  }, 600_000);
});

/** What unauthenticated clients send: `undefined` is a client that connects and says nothing. */
function unauthenticatedClients(id: string): Record<string, Buffer | undefined> {
  const idBytes = Buffer.from(id);
  return {
    // A hello of the right shape (magic, nonce, proof, id) whose proof was made without the secret.
    'wrong proof': Buffer.concat([
      Buffer.from('SLK1', 'latin1'),
      randomBytes(32),
      randomBytes(32),
      Buffer.of(idBytes.byteLength),
      idBytes,
    ]),
    garbage: Buffer.alloc(69 + idBytes.byteLength, 0x41),
    flood: Buffer.alloc(1024 * 1024, 7),
    http: Buffer.from('GET /api/jobs HTTP/1.1\r\nHost: x\r\n\r\n'),
    silent: undefined,
  };
}

/** A raw TCP client: writes `bytes`, and counts what it read until the server closed the connection (and how, if it failed). */
function rawClient(
  port: number,
  bytes: Buffer | undefined,
): Promise<{ connected: boolean; received: number; error: string | undefined }> {
  return new Promise((resolve) => {
    let connected = false;
    let received = 0;
    let error: string | undefined;
    const socket = connect(port, '127.0.0.1', () => {
      connected = true;
      if (bytes !== undefined) socket.write(bytes);
    });
    socket.on('data', (chunk: Buffer) => {
      received += chunk.byteLength;
    });
    socket.on('error', (failure: NodeJS.ErrnoException) => {
      error = failure.code ?? failure.message;
    });
    socket.on('close', () => resolve({ connected, received, error }));
  });
}

function httpGet(port: number, path: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path, method: 'GET' }, (response) => {
      response.resume();
      resolve(response.statusCode ?? 0);
    });
    req.on('error', reject);
    req.end();
  });
}

/** For a failure message: the missing numbers as ranges, and the committed files. */
function describeMissing(files: readonly string[], lines: readonly string[], count: number): string {
  const seen = new Set(lines);
  const ranges: string[] = [];
  for (let i = 0; i < count; i++) {
    if (seen.has(String(i))) continue;
    let end = i;
    while (end + 1 < count && !seen.has(String(end + 1))) end++;
    ranges.push(end === i ? String(i) : `${i}-${end}`);
    i = end;
  }
  return `missing: ${ranges.slice(0, 50).join(', ')}\nfiles: ${files.join(' ')}`;
}
