import { request } from 'node:http';
import { Script } from 'node:vm';
import { afterEach, describe, expect, it } from 'vitest';
import type { JobEndpoints } from '../rest-types.ts';
import { startWebServer, validateWebOptions, type WebOptions, type WebServer } from '../web-server.ts';
import { DASHBOARD_HTML } from './dashboard-page.ts';
import { DASHBOARD_SCRIPT } from './dashboard-script.ts';

const TOKEN = 'assets-test-token-0123456789';

/** Every endpoint fails loudly: these tests must never reach the job. */
const unreachable = (): never => {
  throw new Error('a dashboard file request reached the job endpoints');
};
const endpoints: JobEndpoints = {
  job: unreachable,
  plan: unreachable,
  vertices: unreachable,
  checkpoints: unreachable,
  exceptions: unreachable,
  metrics: unreachable,
  triggerSavepoint: unreachable,
  savepointRequest: unreachable,
  cancel: unreachable,
};

const servers: WebServer[] = [];
afterEach(async () => {
  for (const server of servers.splice(0)) await server.close();
});

async function serve(options: WebOptions): Promise<WebServer> {
  const server = await startWebServer(validateWebOptions({ port: 0, ...options }), endpoints);
  servers.push(server);
  return server;
}

interface Answer {
  readonly status: number;
  readonly headers: Record<string, string | string[] | undefined>;
  readonly body: string;
}

/** A request with the path exactly as given (fetch would normalise it first). */
function raw(
  server: WebServer,
  path: string,
  init: { method?: string; headers?: Record<string, string> } = {},
): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const sent = request(
      {
        host: '127.0.0.1',
        port: server.address.port,
        path,
        method: init.method ?? 'GET',
        headers: init.headers,
      },
      (response) => {
        let body = '';
        response.setEncoding('utf8');
        response.on('data', (chunk: string) => {
          body += chunk;
        });
        response.on('end', () =>
          resolve({ status: response.statusCode ?? 0, headers: response.headers, body }),
        );
      },
    );
    sent.on('error', reject);
    sent.end();
  });
}

describe('the dashboard files', () => {
  it('serves the page, its script, style and icon from a fixed map, with a strict content security policy', async () => {
    const server = await serve({});
    const page = await raw(server, '/');
    expect(page.status).toBe(200);
    expect(page.headers['content-type']).toBe('text/html; charset=utf-8');
    expect(page.body).toBe(DASHBOARD_HTML);
    const csp = String(page.headers['content-security-policy']);
    expect(csp).toContain("default-src 'none'");
    expect(csp).toContain("script-src 'self'");
    expect(csp).toContain("connect-src 'self'");
    expect(csp).toContain("frame-ancestors 'none'");
    expect(page.headers['x-frame-options']).toBe('DENY');
    expect((await raw(server, '/dashboard/')).body).toBe(DASHBOARD_HTML);

    // Whatever the page links to is served, with its type.
    const linked = [...DASHBOARD_HTML.matchAll(/(?:src|href)="([^"]+)"/g)].map((m) => m[1]!);
    expect(linked.sort()).toEqual([
      '/dashboard/dashboard.css',
      '/dashboard/dashboard.js',
      '/dashboard/favicon.svg',
      '/dashboard/favicon.svg',
    ]);
    const types: Record<string, string> = {
      '/dashboard/dashboard.css': 'text/css; charset=utf-8',
      '/dashboard/dashboard.js': 'text/javascript; charset=utf-8',
      '/dashboard/favicon.svg': 'image/svg+xml',
    };
    for (const [path, type] of Object.entries(types)) {
      const answer = await raw(server, path);
      expect(answer.status, path).toBe(200);
      expect(answer.headers['content-type'], path).toBe(type);
      expect(answer.headers['x-content-type-options'], path).toBe('nosniff');
    }
    expect((await raw(server, '/dashboard/dashboard.js')).body).toBe(DASHBOARD_SCRIPT);

    const head = await raw(server, '/', { method: 'HEAD' });
    expect(head.status).toBe(200);
    expect(Number(head.headers['content-length'])).toBe(Buffer.byteLength(DASHBOARD_HTML));
    expect(head.body).toBe('');
    const posted = await raw(server, '/', { method: 'POST' });
    expect(posted.status).toBe(405);
    expect(posted.headers.allow).toBe('GET');
  });

  it('answers 404 to any other path: a request path never names a file', async () => {
    const server = await serve({});
    for (const path of [
      '/dashboard/../../../../etc/passwd',
      '/dashboard/%2e%2e/%2e%2e/%2e%2e/etc/passwd',
      '/dashboard/..%2f..%2fpackage.json',
      '/dashboard/dashboard-script.ts',
      '/dashboard/DASHBOARD.JS',
      '/dashboard/index.html',
      '/index.html',
      '/package.json',
      '//etc/passwd',
    ]) {
      const answer = await raw(server, path);
      expect(answer.status, path).toBe(404);
      expect(JSON.parse(answer.body).error, path).toMatch(/^no endpoint /);
    }
  });

  it('on loopback, refuses a Host that is not loopback (DNS rebinding), as for the API', async () => {
    const server = await serve({});
    expect((await raw(server, '/', { headers: { host: 'evil.example' } })).status).toBe(403);
  });

  it('off loopback, serves the page without the token while the API still needs it', async () => {
    const server = await serve({ host: '0.0.0.0', token: TOKEN });
    expect((await raw(server, '/')).status).toBe(200);
    expect((await raw(server, '/dashboard/dashboard.js')).status).toBe(200);
    // Refused before anything of the job is asked (the endpoints here would fail).
    expect((await raw(server, '/api/job')).status).toBe(401);
    expect(
      (await raw(server, '/api/overview', { headers: { authorization: 'Bearer wrong-token-0123456789' } }))
        .status,
    ).toBe(401);
  });
});

describe('the dashboard script', () => {
  it('parses as JavaScript (it is served as it is written: nothing compiles it)', () => {
    expect(() => new Script(DASHBOARD_SCRIPT, { filename: 'dashboard.js' })).not.toThrow();
  });

  it('puts what the API returns on the page as text, never as markup', () => {
    expect(DASHBOARD_SCRIPT).not.toMatch(
      /innerHTML|outerHTML|insertAdjacentHTML|document\.write|eval\(|new Function/,
    );
  });

  it('keeps the token in sessionStorage only', () => {
    expect(DASHBOARD_SCRIPT).toContain('sessionStorage.setItem(TOKEN_KEY');
    expect(DASHBOARD_SCRIPT).not.toMatch(/localStorage|document\.cookie/);
  });
});
