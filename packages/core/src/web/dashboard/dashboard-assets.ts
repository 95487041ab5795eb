import type { ServerResponse } from 'node:http';
import { DASHBOARD_FAVICON_SVG, DASHBOARD_HTML } from './dashboard-page.ts';
import { DASHBOARD_SCRIPT } from './dashboard-script.ts';
import { DASHBOARD_CSS } from './dashboard-style.ts';

/**
 * The web dashboard's files: a fixed map from request path to content, held in memory. A
 * request's path only selects an entry (an exact match); it never becomes a file name, so no
 * request can reach a file of the server (Flink's CVE-2020-17519 read files by request path).
 *
 * The page and its script carry no job data, so the server hands them out without the token even
 * when every API request needs one: a browser cannot send a bearer token when it opens a page.
 */
export interface DashboardAsset {
  readonly contentType: string;
  readonly body: Buffer;
}

/**
 * Only the server's own files, no inline script or style, no frames, no form posts, and requests
 * only back to the server: an operator name or a record shown on the page cannot run as code.
 */
const CONTENT_SECURITY_POLICY = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self'",
  "connect-src 'self'",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
].join('; ');

function asset(contentType: string, text: string): DashboardAsset {
  return { contentType, body: Buffer.from(text, 'utf8') };
}

const page = asset('text/html; charset=utf-8', DASHBOARD_HTML);

const ASSETS: ReadonlyMap<string, DashboardAsset> = new Map([
  ['/', page],
  ['/dashboard', page],
  ['/dashboard/dashboard.js', asset('text/javascript; charset=utf-8', DASHBOARD_SCRIPT)],
  ['/dashboard/dashboard.css', asset('text/css; charset=utf-8', DASHBOARD_CSS)],
  ['/dashboard/favicon.svg', asset('image/svg+xml', DASHBOARD_FAVICON_SVG)],
]);

/** The dashboard file served at `path` (already without its query and trailing slash), if any. */
export function dashboardAsset(path: string): DashboardAsset | undefined {
  return ASSETS.get(path);
}

export function sendDashboardAsset(response: ServerResponse, found: DashboardAsset, headOnly: boolean): void {
  response.writeHead(200, {
    'content-type': found.contentType,
    'content-length': found.body.length,
    // Small, and a new Sluice version serves new ones on the same port: always revalidate.
    'cache-control': 'no-cache',
    'content-security-policy': CONTENT_SECURITY_POLICY,
    'x-content-type-options': 'nosniff',
    'x-frame-options': 'DENY',
    'referrer-policy': 'no-referrer',
  });
  response.end(headOnly ? undefined : found.body);
}
