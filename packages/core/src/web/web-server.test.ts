import { afterEach, describe, expect, it } from 'vitest';
import type { JobEndpoints, SavepointRequestJson } from './rest-types.ts';
import { startWebServer, validateWebOptions, type WebServer } from './web-server.ts';

const TOKEN = 'server-test-token-0123456789';

/** Endpoints that answer with fixed data and record the actions they were asked for. */
function fakeEndpoints() {
  const actions: string[] = [];
  const request = (id: number, stop: boolean): SavepointRequestJson => ({
    id,
    stop,
    status: 'in-progress',
    requestedAtMs: 1,
    folder: null,
    error: null,
  });
  const endpoints: JobEndpoints = {
    job: () => ({
      name: 'fake',
      status: 'running',
      startedAtMs: 0,
      durationMs: 1,
      parallelism: 1,
      maxParallelism: 128,
      restarts: 0,
      checkpointing: null,
      finalSavepoint: null,
      actions: { enabled: true, savepoints: true, reason: null },
    }),
    plan: () => ({ jobName: 'fake', maxParallelism: 128, vertices: [], edges: [] }),
    vertices: () => ({ timestampMs: 0, attempt: 0, vertices: [] }),
    checkpoints: () => ({
      enabled: false,
      counts: { completed: 0, abandoned: 0 },
      latest: null,
      history: [],
    }),
    exceptions: () => ({ exceptions: [], truncated: 0 }),
    metrics: async () => ({ contentType: 'text/plain; version=0.0.4; charset=utf-8', body: 'sluice_x 1\n' }),
    triggerSavepoint: (stop) => {
      actions.push(stop ? 'stop' : 'savepoint');
      return request(actions.length, stop);
    },
    savepointRequest: (id) => (id <= actions.length ? request(id, false) : undefined),
    cancel: () => {
      actions.push('cancel');
    },
  };
  return { endpoints, actions };
}

const servers: WebServer[] = [];
afterEach(async () => {
  for (const server of servers.splice(0)) await server.close();
});

async function serve(options: Parameters<typeof validateWebOptions>[0]) {
  const fake = fakeEndpoints();
  const server = await startWebServer(validateWebOptions({ port: 0, ...options }), fake.endpoints);
  servers.push(server);
  // Reached through loopback whatever the address it listens on.
  const base = `http://127.0.0.1:${server.address.port}`;
  const call = (path: string, init: RequestInit = {}) => fetch(`${base}${path}`, init);
  return { ...fake, server, call };
}

const bearer = (token: string): RequestInit => ({ headers: { authorization: `Bearer ${token}` } });

describe('the web server', () => {
  it('routes reads, refuses wrong methods and unknown paths, and never takes a path from a request', async () => {
    const { call, actions, server } = await serve({ token: TOKEN });
    expect(server.address.url).toBe(`http://127.0.0.1:${server.address.port}`);
    expect(((await (await call('/api/job')).json()) as { name: string }).name).toBe('fake');
    expect((await call('/api/job/')).status).toBe(200);
    expect(await (await call('/metrics')).text()).toBe('sluice_x 1\n');
    const overview = (await (await call('/api/overview')).json()) as object;
    expect(Object.keys(overview).sort()).toEqual([
      'attempt',
      'checkpoints',
      'exceptions',
      'job',
      'plan',
      'timestampMs',
      'vertices',
    ]);
    expect((await call('/api/job', { method: 'POST', ...bearer(TOKEN) })).status).toBe(405);
    expect((await call('/api/cancel', bearer(TOKEN))).status).toBe(405);
    expect((await call('/api/nothing')).status).toBe(404);
    expect((await call('/api/savepoints/99')).status).toBe(404);
    expect((await call('/api/savepoints/..%2F..%2Fetc')).status).toBe(404);
    // A body naming a folder is never read: the action takes none.
    const started = await call('/api/savepoints', {
      method: 'POST',
      body: JSON.stringify({ folder: '/etc/evil' }),
      ...bearer(TOKEN),
    });
    expect(started.status).toBe(202);
    expect(started.headers.get('location')).toBe('/api/savepoints/1');
    expect((await call('/api/savepoints/1')).status).toBe(200);
    expect((await call('/api/stop', { method: 'POST', ...bearer(TOKEN) })).status).toBe(202);
    expect((await call('/api/cancel', { method: 'POST', ...bearer(TOKEN) })).status).toBe(202);
    expect(actions).toEqual(['savepoint', 'stop', 'cancel']);
  });

  it('off loopback, every request needs the token', async () => {
    const { call, actions } = await serve({ host: '0.0.0.0', token: TOKEN });
    expect((await call('/api/job')).status).toBe(401);
    expect((await call('/metrics')).status).toBe(401);
    expect((await call('/api/job', bearer('not-the-token-at-all'))).status).toBe(401);
    expect((await call('/api/job', bearer(TOKEN))).status).toBe(200);
    expect((await call('/api/cancel', { method: 'POST', ...bearer(`${TOKEN}x`) })).status).toBe(401);
    expect(actions).toEqual([]);
  });

  it('maps the job refusing an action to 409 with its code', async () => {
    const fake = fakeEndpoints();
    const server = await startWebServer(validateWebOptions({ port: 0, token: TOKEN }), {
      ...fake.endpoints,
      triggerSavepoint: () => {
        throw Object.assign(new Error('job is restarting, not running'), { code: 'SLUICE_JOB_NOT_RUNNING' });
      },
    });
    servers.push(server);
    const response = await fetch(`${server.address.url}/api/savepoints`, {
      method: 'POST',
      ...bearer(TOKEN),
    });
    expect(response.status).toBe(409);
    expect(await response.json()).toEqual({
      error: 'job is restarting, not running',
      code: 'SLUICE_JOB_NOT_RUNNING',
    });
  });

  it('fails with SLUICE_WEB_LISTEN when the port is taken', async () => {
    const { server } = await serve({});
    await expect(
      startWebServer(validateWebOptions({ port: server.address.port }), fakeEndpoints().endpoints),
    ).rejects.toMatchObject({ code: 'SLUICE_WEB_LISTEN' });
  });
});
