/**
 * The dashboard's page: fixed markup, filled in by `dashboard-script.ts` from the REST API. It
 * holds no job data itself, which is why the server may hand it out without the token (the
 * script then asks for the token where the API needs it). No inline script or style: the page's
 * Content-Security-Policy allows only the server's own files (`dashboard-assets.ts`).
 */
export const DASHBOARD_HTML = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Sluice dashboard</title>
<link rel="icon" type="image/svg+xml" href="/dashboard/favicon.svg">
<link rel="stylesheet" href="/dashboard/dashboard.css">
<script type="module" src="/dashboard/dashboard.js"></script>
</head>
<body>
<header>
  <div class="title">
    <img class="logo" src="/dashboard/favicon.svg" alt="" width="28" height="28">
    <h1 id="job-name">Sluice</h1>
    <span id="job-status" class="status status-unknown">connecting</span>
  </div>
  <dl class="facts">
    <div><dt>Parallelism</dt><dd id="job-parallelism">–</dd></div>
    <div><dt>Running for</dt><dd id="job-duration">–</dd></div>
    <div><dt>Attempt</dt><dd id="job-attempt">–</dd></div>
    <div><dt>Restarts</dt><dd id="job-restarts">–</dd></div>
    <div><dt>Checkpoints</dt><dd id="job-checkpointing">–</dd></div>
  </dl>
  <div class="actions">
    <button type="button" id="savepoint-button" disabled>Trigger savepoint</button>
    <button type="button" id="stop-button" disabled>Stop with savepoint</button>
    <button type="button" id="cancel-button" class="danger" disabled>Cancel job</button>
    <button type="button" id="token-button" class="quiet" hidden>Enter token</button>
    <button type="button" id="forget-token-button" class="quiet" hidden>Forget token</button>
  </div>
</header>
<div class="notices">
  <p id="connection" class="notice notice-info" role="status">Connecting to the job…</p>
  <p id="action-message" class="notice" role="status" hidden></p>
</div>
<main>
  <section id="graph-panel" class="panel wide">
    <h2>Job graph</h2>
    <p class="legend">
      Back-pressure per task (the most back-pressured subtask, share of each second):
      <span class="swatch bp-ok"></span> under 10%
      <span class="swatch bp-low"></span> 10–50%
      <span class="swatch bp-high"></span> over 50%
      <span class="swatch bp-none"></span> not measured yet.
      The bar under each task is its busiest subtask's busy share.
    </p>
    <div class="graph-scroll"><svg id="graph" role="img" aria-label="Job graph"></svg></div>
  </section>
  <section id="vertices-panel" class="panel wide">
    <h2>Tasks</h2>
    <div class="table-scroll">
      <table id="vertices">
        <thead><tr>
          <th>Task</th><th class="num">Parallelism</th><th class="num">Records in</th><th class="num">Records out</th>
          <th class="num">In/s</th><th class="num">Out/s</th><th class="num">Busy</th><th class="num">Back-pressured</th>
          <th class="num">Watermark</th><th class="num">Watermark lag</th><th class="num">Late dropped</th><th class="num">State entries</th>
        </tr></thead>
        <tbody></tbody>
      </table>
    </div>
  </section>
  <section id="checkpoints-panel" class="panel">
    <h2>Checkpoints</h2>
    <p id="checkpoint-counts">–</p>
    <div class="table-scroll">
      <table id="checkpoints">
        <thead><tr>
          <th class="num">ID</th><th>Kind</th><th>Status</th><th>Triggered</th>
          <th class="num">Duration</th><th class="num">Size</th><th class="num">Alignment</th>
        </tr></thead>
        <tbody></tbody>
      </table>
    </div>
  </section>
  <section id="exceptions-panel" class="panel">
    <h2>Exceptions</h2>
    <div id="exceptions"><p class="empty">None.</p></div>
  </section>
</main>
<dialog id="action-dialog">
  <form method="dialog">
    <p id="action-question"></p>
    <label id="token-field">Bearer token (kept in this tab only)
      <input type="password" id="token-input" autocomplete="off" spellcheck="false">
    </label>
    <div class="dialog-buttons">
      <button value="dismiss" formnovalidate>Close</button>
      <button value="confirm" id="action-confirm" class="primary">Confirm</button>
    </div>
  </form>
</dialog>
</body>
</html>
`;

/** The tab icon and header logo: three channels narrowing into a sluice. */
export const DASHBOARD_FAVICON_SVG = `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 32 32">
<rect width="32" height="32" rx="7" fill="#1f4e79"/>
<path d="M5 9h9l4 5h9M5 16h22M5 23h9l4-5h9" fill="none" stroke="#9fd3ff" stroke-width="2.6" stroke-linecap="round" stroke-linejoin="round"/>
</svg>
`;
