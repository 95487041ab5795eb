import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { JobCancelledError, type PlanJson, startJob } from '@sluice/core';
import { type Browser, chromium, type Page } from 'playwright-core';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { DashboardArgs } from './jobs/dashboard.ts';
import { expectThreadsBackTo, warmThreadBaseline } from './os-threads.ts';

/**
 * The web dashboard in a real browser: Debian's Chromium (playwright-core's own browser download
 * is not used), headless, against a job at parallelism 2 whose source reads only as many records
 * as the test allows. Every wait is for a state the page certainly reaches; the timeouts only
 * guard against a hang. A missing Chromium fails the test: CI installs it (.ci/run).
 */

/** The page's document, as the functions below that run in the page use it (the project compiles without the DOM library). */
interface PageNode {
  readonly textContent: string | null;
}
declare const document: {
  querySelector(selector: string): PageNode | null;
  querySelectorAll(selector: string): ArrayLike<PageNode> & Iterable<PageNode>;
};

const job = new URL('./jobs/dashboard.ts', import.meta.url);
const CHROMIUM = process.env.SLUICE_CHROMIUM ?? '/usr/bin/chromium';
const ARTIFACTS = fileURLToPath(new URL('./artifacts/', import.meta.url));
const TOKEN = 'dashboard-test-token-0123456789';
const TOKEN_KEY = 'sluice.dashboard.token';
const HANG_GUARD_MS = 60_000;
const TEST_TIMEOUT_MS = 240_000;
/** Records the source may read: first this many, then (without reloading the page) that many. */
const FIRST = 120;
const SECOND = 300;

const folders: string[] = [];
afterEach(async () => {
  for (const folder of folders.splice(0)) await rm(folder, { recursive: true, force: true });
});
async function tempDir(): Promise<string> {
  const folder = await mkdtemp(join(tmpdir(), 'sluice-dashboard-'));
  folders.push(folder);
  return folder;
}

let baseline = 0;
beforeAll(async () => {
  baseline = await warmThreadBaseline();
});

async function launchChromium(): Promise<Browser> {
  if (!existsSync(CHROMIUM)) {
    throw new Error(
      `no Chromium at ${CHROMIUM}: install Debian's (apt-get install -y chromium), or set SLUICE_CHROMIUM to its path`,
    );
  }
  return chromium.launch({ executablePath: CHROMIUM, headless: true, timeout: HANG_GUARD_MS });
}

/** The text of one cell of the tasks table (`data-field`), per vertex in index order. */
function tableColumn(page: Page, field: string): Promise<string[]> {
  return page.$$eval(`#vertices tbody tr td[data-field="${field}"]`, (cells) =>
    cells.map((cell) => cell.textContent ?? ''),
  );
}

/** Waits until every task of the table shows `expected` in column `field`. */
async function waitForColumn(page: Page, field: string, expected: string, vertices: number): Promise<void> {
  await page.waitForFunction(
    ([f, e, n]) => {
      const cells = [...document.querySelectorAll(`#vertices tbody tr td[data-field="${f}"]`)];
      return cells.length === n && cells.every((cell) => cell.textContent === e);
    },
    [field, expected, vertices] as const,
    { timeout: HANG_GUARD_MS },
  );
}

async function waitForText(page: Page, selector: string, text: string): Promise<void> {
  await page.waitForFunction(
    ([s, t]) => document.querySelector(s)?.textContent?.includes(t) === true,
    [selector, text] as const,
    { timeout: HANG_GUARD_MS },
  );
}

async function confirmAction(page: Page, button: string, token: string | undefined): Promise<void> {
  await page.waitForSelector(`${button}:not([disabled])`, { timeout: HANG_GUARD_MS });
  await page.click(button);
  await page.waitForSelector('#action-dialog[open]', { timeout: HANG_GUARD_MS });
  expect(await page.isVisible('#token-input')).toBe(token !== undefined);
  if (token !== undefined) await page.fill('#token-input', token);
  await page.click('#action-confirm');
}

/**
 * CI (`.ci/run` sets CI=true and installs Debian's Chromium) always runs this file, and fails it
 * when Chromium is missing. Elsewhere — a new user's `pnpm test` on a machine with only Node — a
 * missing Chromium skips it, and says so on stderr, rather than failing a suite the user cannot fix
 * without root.
 */
const runsHere = existsSync(CHROMIUM) || process.env.CI === 'true';
if (!runsHere) {
  process.stderr.write(
    `dashboard.browser.test.ts: SKIPPED, no Chromium at ${CHROMIUM} (install Debian's: apt-get install -y chromium, or set SLUICE_CHROMIUM; CI=true never skips)\n`,
  );
}

describe.runIf(runsHere)('the web dashboard in Chromium', () => {
  it(
    'draws the job graph, shows live numbers as they change, takes a savepoint from its button and cancels the job',
    async () => {
      const credits = new SharedArrayBuffer(4);
      const allowed = new Int32Array(credits);
      const savepoints = await tempDir();
      const handle = await startJob<DashboardArgs>(job, {
        parallelism: 2,
        args: { credits },
        checkpointing: { directory: await tempDir(), intervalMs: 3_600_000 },
        web: { port: 0, token: TOKEN, savepointDirectory: savepoints },
        log: () => {},
      });
      let browser: Browser | undefined;
      try {
        browser = await launchChromium();
        const page = await browser.newPage({ viewport: { width: 1440, height: 900 } });
        const pageErrors: string[] = [];
        page.on('pageerror', (error) => pageErrors.push(String(error)));
        await page.goto(handle.web!.url, { timeout: HANG_GUARD_MS });

        // The graph: one task per vertex of the plan, one edge per edge, with its partitioner.
        const plan = (await (await fetch(`${handle.web!.url}/api/plan`)).json()) as PlanJson;
        expect(plan.vertices.map((v) => [v.parallelism, v.operators.map((o) => o.id)])).toEqual([
          [1, ['ticks', 'timestamps']],
          [2, ['tag']],
          [2, ['count', 'format', 'sink']],
        ]);
        await page.waitForFunction(
          (n) => document.querySelectorAll('#graph g.vertex').length === n,
          plan.vertices.length,
          { timeout: HANG_GUARD_MS },
        );
        const edges = await page.$$eval('#graph g.edge', (groups) =>
          groups.map((g) => ({
            source: Number(g.getAttribute('data-source')),
            target: Number(g.getAttribute('data-target')),
            partitioner: g.getAttribute('data-partitioner'),
          })),
        );
        expect(edges).toEqual(
          plan.edges.map((e) => ({ source: e.source, target: e.target, partitioner: e.partitioner })),
        );
        expect(edges.map((e) => e.partitioner)).toEqual(['rebalance', 'hash']);
        // Layers left to right: each edge starts left of where it ends.
        const xs = await page.$$eval('#graph g.vertex', (groups) =>
          groups.map((g) => g.getBoundingClientRect().x),
        );
        for (const edge of edges) expect(xs[edge.source]!).toBeLessThan(xs[edge.target]!);
        const nodeText = await page.$$eval('#graph g.vertex', (groups) => groups.map((g) => g.textContent));
        plan.vertices.forEach((vertex, v) => {
          for (const operator of vertex.operators) expect(nodeText[v]).toContain(operator.name);
        });

        // Live numbers: every record reaches every task, so each shows what the source was allowed.
        await waitForText(page, '#job-status', 'running');
        Atomics.store(allowed, 0, FIRST);
        await waitForColumn(page, 'recordsIn', FIRST.toLocaleString('en-US'), plan.vertices.length);
        // The same page, refreshed by itself: the numbers move when the source reads more.
        Atomics.store(allowed, 0, SECOND);
        await waitForColumn(page, 'recordsIn', SECOND.toLocaleString('en-US'), plan.vertices.length);
        expect(await tableColumn(page, 'recordsOut')).toEqual([
          SECOND.toLocaleString('en-US'),
          SECOND.toLocaleString('en-US'),
          // The last task ends in the sink: nothing leaves the job.
          '0',
        ]);
        // The graph says the same, and the watermark after the last record: (n - 1) * 10 - 1.
        await page.waitForFunction(
          (text) => document.querySelectorAll('#graph g.vertex')[2]?.textContent?.includes(text) === true,
          `${SECOND.toLocaleString('en-US')} in · 0 out · wm ${((SECOND - 1) * 10 - 1).toLocaleString('en-US')}`,
          { timeout: HANG_GUARD_MS },
        );
        // Rates exist once the server has two samples; the page shows them as numbers per second.
        await page.waitForFunction(
          () =>
            /\/s$/.test(
              document.querySelector('#vertices tbody tr td[data-field="recordsInPerSecond"]')?.textContent ??
                '',
            ),
          undefined,
          { timeout: HANG_GUARD_MS },
        );
        const colour = await page.$eval('#graph g.vertex rect.node', (rect) => rect.getAttribute('class'));
        expect(colour).toMatch(/^node bp-(ok|low|high)$/);
        expect(await page.textContent('#job-restarts')).toBe('0');

        // A wrong token is refused and forgotten; the right one takes the savepoint.
        await confirmAction(page, '#savepoint-button', 'not-the-token-0123456789');
        await waitForText(page, '#action-message', 'refused the token');
        expect(await page.evaluate((key) => sessionStorage.getItem(key), TOKEN_KEY)).toBeNull();
        await confirmAction(page, '#savepoint-button', TOKEN);
        await page.waitForSelector('#checkpoints tr[data-kind="savepoint"][data-status="completed"]', {
          timeout: HANG_GUARD_MS,
        });
        await waitForText(page, '#action-message', `Savepoint 1 completed: ${savepoints}`);
        expect(await page.evaluate((key) => sessionStorage.getItem(key), TOKEN_KEY)).toBe(TOKEN);
        expect(await page.evaluate(() => localStorage.length)).toBe(0);
        const written = await readdir(savepoints);
        expect(written).toHaveLength(1);
        expect(existsSync(join(savepoints, written[0]!, '_metadata'))).toBe(true);
        expect(await page.textContent('#checkpoint-counts')).toBe('1 completed, 0 abandoned');

        // For the screenshot, records flowing: the source gets credits in small steps until the page
        // shows a rate above zero (certain while they flow); nothing is asserted on the figures.
        const feeding = setInterval(() => Atomics.add(allowed, 0, 200), 20);
        try {
          await page.waitForFunction(
            () => {
              const rate = document.querySelector(
                '#vertices tbody tr td[data-field="recordsInPerSecond"]',
              )?.textContent;
              return rate !== undefined && rate !== null && /\/s$/.test(rate) && rate !== '0.0/s';
            },
            undefined,
            { timeout: HANG_GUARD_MS },
          );
          await mkdir(ARTIFACTS, { recursive: true });
          await page.screenshot({ path: join(ARTIFACTS, 'dashboard.png'), fullPage: true });
        } finally {
          clearInterval(feeding);
        }

        // Cancel: the token is kept for the tab, so the dialog does not ask again.
        await confirmAction(page, '#cancel-button', undefined);
        await expect(handle.result).rejects.toBeInstanceOf(JobCancelledError);
        // The server went with the job; the page says so instead of showing stale numbers as live.
        await waitForText(page, '#connection', 'does not answer');
        expect(pageErrors).toEqual([]);
      } finally {
        await browser?.close();
        handle.cancel();
        await handle.result.catch(() => {});
      }
      await expectThreadsBackTo(baseline);
    },
    TEST_TIMEOUT_MS,
  );

  it(
    'shows a failure among the exceptions, and the restart, with the counts of the new attempt',
    async () => {
      const credits = new SharedArrayBuffer(4);
      const failed = new SharedArrayBuffer(4);
      const handle = await startJob<DashboardArgs>(job, {
        parallelism: 2,
        args: { credits, failOnce: { at: 50, flag: failed } },
        checkpointing: { directory: await tempDir(), intervalMs: 3_600_000 },
        web: { port: 0 },
        log: () => {},
      });
      let browser: Browser | undefined;
      try {
        browser = await launchChromium();
        const page = await browser.newPage();
        const pageErrors: string[] = [];
        page.on('pageerror', (error) => pageErrors.push(String(error)));
        await page.goto(handle.web!.url, { timeout: HANG_GUARD_MS });
        Atomics.store(new Int32Array(credits), 0, FIRST);
        await waitForText(page, '#exceptions .exception .message', 'tag failed on purpose at record 50');
        expect(await page.textContent('#exceptions .exception .when')).toContain('the job restarted');
        // No checkpoint was taken: the new attempt reads from the start, and its counters start at 0.
        await page.waitForFunction(
          () => document.querySelector('#job-restarts')?.textContent === '1',
          undefined,
          { timeout: HANG_GUARD_MS },
        );
        await waitForColumn(page, 'recordsIn', FIRST.toLocaleString('en-US'), 3);
        expect(await page.textContent('#job-attempt')).toBe('1');
        expect(await page.$$('#exceptions .exception')).toHaveLength(1);
        expect(pageErrors).toEqual([]);
      } finally {
        await browser?.close();
        handle.cancel();
        await handle.result.catch(() => {});
      }
      await expectThreadsBackTo(baseline);
    },
    TEST_TIMEOUT_MS,
  );

  it(
    'off loopback, where reading the API needs the token, asks for it and then shows the job',
    async () => {
      const credits = new SharedArrayBuffer(4);
      const handle = await startJob<DashboardArgs>(job, {
        parallelism: 2,
        args: { credits },
        web: { host: '0.0.0.0', port: 0, token: TOKEN },
        log: () => {},
      });
      let browser: Browser | undefined;
      try {
        browser = await launchChromium();
        const page = await browser.newPage();
        const pageErrors: string[] = [];
        page.on('pageerror', (error) => pageErrors.push(String(error)));
        await page.goto(`http://127.0.0.1:${handle.web!.port}/`, { timeout: HANG_GUARD_MS });
        await waitForText(page, '#connection', 'needs the bearer token');
        expect(await page.$$('#graph g.vertex')).toHaveLength(0);
        await confirmAction(page, '#token-button', TOKEN);
        await waitForText(page, '#job-status', 'running');
        await page.waitForFunction(
          () => document.querySelectorAll('#graph g.vertex').length === 3,
          undefined,
          {
            timeout: HANG_GUARD_MS,
          },
        );
        expect(await page.evaluate((key) => sessionStorage.getItem(key), TOKEN_KEY)).toBe(TOKEN);
        expect(pageErrors).toEqual([]);
      } finally {
        await browser?.close();
        handle.cancel();
        await handle.result.catch(() => {});
      }
      await expectThreadsBackTo(baseline);
    },
    TEST_TIMEOUT_MS,
  );
});
