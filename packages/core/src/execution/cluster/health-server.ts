/**
 * The probes of a cluster process (Kubernetes liveness and readiness): `GET /healthz` answers 200
 * while the process serves, `GET /readyz` 200 once it is ready (503 before). Nothing else is
 * served and nothing is read from the request, so the port needs no secret.
 */
import { createServer, type Server } from 'node:http';

export interface HealthServer {
  readonly port: number;
  close(): Promise<void>;
}

export async function startHealthServer(options: {
  readonly host: string;
  readonly port: number;
  readonly ready: () => boolean;
}): Promise<HealthServer> {
  const server: Server = createServer((request, response) => {
    const path = (request.url ?? '').split('?')[0];
    const status = path === '/healthz' ? 200 : path === '/readyz' ? (options.ready() ? 200 : 503) : 404;
    response.writeHead(status, { 'content-type': 'text/plain' }).end(status === 200 ? 'ok\n' : `${status}\n`);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, options.host, () => resolve());
  });
  const address = server.address();
  return {
    port: typeof address === 'object' && address !== null ? address.port : options.port,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
