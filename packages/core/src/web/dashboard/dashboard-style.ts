/**
 * The dashboard's style sheet. System fonts only: the page loads nothing from outside the job's
 * server. The back-pressure classes (`bp-*`) colour both the graph's tasks and the legend.
 */
export const DASHBOARD_CSS = `:root {
  --ink: #1d2430;
  --muted: #5d6878;
  --line: #d6dbe3;
  --panel: #ffffff;
  --page: #f3f5f8;
  --accent: #1f4e79;
  --danger: #b3261e;
  font-family: system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif;
  font-size: 14px;
  color: var(--ink);
  background: var(--page);
}
* { box-sizing: border-box; }
body { margin: 0; }
header {
  display: flex; flex-wrap: wrap; align-items: center; gap: 12px 28px;
  padding: 12px 20px; background: var(--panel); border-bottom: 1px solid var(--line);
}
.title { display: flex; align-items: center; gap: 10px; }
.logo { display: block; }
h1 { font-size: 20px; margin: 0; font-weight: 600; }
h2 { font-size: 15px; margin: 0 0 10px; font-weight: 600; }
.status {
  display: inline-block; padding: 2px 10px; border-radius: 999px; font-size: 12px; font-weight: 600;
  text-transform: uppercase; letter-spacing: 0.04em; background: #e6e9ee; color: var(--muted);
}
.status-running { background: #d9f2e0; color: #1e6b37; }
.status-restarting, .status-cancelling, .status-created { background: #fdecc8; color: #7a5300; }
.status-failed { background: #f8d0cc; color: #8c1d13; }
.status-finished, .status-cancelled, .status-stopped { background: #dde6f3; color: #1f4e79; }
.facts { display: flex; flex-wrap: wrap; gap: 6px 22px; margin: 0; }
.facts div { display: flex; flex-direction: column; }
.facts dt { font-size: 11px; color: var(--muted); text-transform: uppercase; letter-spacing: 0.04em; }
.facts dd { margin: 0; font-variant-numeric: tabular-nums; font-weight: 500; }
.actions { display: flex; flex-wrap: wrap; gap: 8px; margin-left: auto; }
button {
  font: inherit; padding: 6px 12px; border-radius: 6px; border: 1px solid var(--line);
  background: #fff; color: var(--ink); cursor: pointer;
}
button:hover:not(:disabled) { border-color: var(--accent); }
button:disabled { opacity: 0.45; cursor: not-allowed; }
button.primary { background: var(--accent); border-color: var(--accent); color: #fff; }
button.danger { color: var(--danger); }
button.quiet { border-style: dashed; color: var(--muted); }
.notices { padding: 10px 20px 0; }
.notice { margin: 0 0 8px; padding: 6px 10px; border-radius: 6px; border: 1px solid var(--line); background: #fff; }
.notice-info { color: var(--muted); }
.notice-live { color: #1e6b37; border-color: #b9e2c6; background: #f1faf4; }
.notice-error { color: #8c1d13; border-color: #f0b4ae; background: #fdf2f1; }
.notice-done { color: #1f4e79; border-color: #bcd0ea; background: #f2f6fc; }
main { display: grid; grid-template-columns: minmax(0, 3fr) minmax(0, 2fr); gap: 14px; padding: 10px 20px 24px; }
@media (max-width: 1100px) { main { grid-template-columns: minmax(0, 1fr); } }
.panel { background: var(--panel); border: 1px solid var(--line); border-radius: 8px; padding: 14px 16px; min-width: 0; }
.panel.wide { grid-column: 1 / -1; }
.legend { margin: 0 0 8px; color: var(--muted); font-size: 12px; }
.swatch { display: inline-block; width: 12px; height: 12px; border-radius: 3px; border: 1px solid; vertical-align: -2px; margin-left: 8px; }
.graph-scroll, .table-scroll { overflow-x: auto; }
#graph { display: block; max-width: none; }
#graph .node { stroke-width: 1.5; }
.bp-ok { fill: #e3f4e8; background: #e3f4e8; stroke: #3b8c55; border-color: #3b8c55; }
.bp-low { fill: #fdeccb; background: #fdeccb; stroke: #c98a00; border-color: #c98a00; }
.bp-high { fill: #f8d3cf; background: #f8d3cf; stroke: #c0392b; border-color: #c0392b; }
.bp-none { fill: #eef0f3; background: #eef0f3; stroke: #8a94a3; border-color: #8a94a3; }
#graph text { font-size: 12px; fill: var(--ink); }
#graph .vertex-name { font-weight: 600; font-size: 13px; }
#graph .vertex-parallelism { fill: var(--muted); }
#graph .operator { fill: var(--muted); }
#graph .live { font-variant-numeric: tabular-nums; }
#graph .divider { stroke: rgba(0, 0, 0, 0.12); }
#graph .busy-track { fill: rgba(0, 0, 0, 0.08); }
#graph .busy-bar { fill: #1f4e79; }
#graph .edge path { fill: none; stroke: #6c7787; stroke-width: 1.6; }
#graph .edge-label { font-size: 11px; fill: #3d4756; paint-order: stroke; stroke: #fff; stroke-width: 4px; stroke-linejoin: round; }
#graph .arrow { fill: #6c7787; }
table { border-collapse: collapse; width: 100%; font-size: 13px; font-variant-numeric: tabular-nums; }
th, td { text-align: left; padding: 5px 7px; border-bottom: 1px solid #edf0f4; white-space: nowrap; }
th { font-size: 11px; text-transform: uppercase; letter-spacing: 0.04em; color: var(--muted); font-weight: 600; }
.num { text-align: right; }
td .operators { display: block; color: var(--muted); font-size: 12px; }
#vertices td[data-field="name"] { white-space: normal; min-width: 160px; max-width: 280px; }
tr.abandoned td { color: var(--danger); }
tr.savepoint td:nth-child(2) { font-weight: 600; color: var(--accent); }
.empty { color: var(--muted); margin: 0; }
.exception { border-left: 3px solid var(--danger); padding: 4px 10px; margin: 0 0 10px; }
.exception .when { font-size: 12px; color: var(--muted); }
.exception .message { margin: 2px 0; white-space: pre-wrap; word-break: break-word; }
.exception .where { font-size: 12px; color: var(--muted); word-break: break-word; }
#exceptions .truncated { font-size: 12px; color: var(--muted); }
dialog { border: 1px solid var(--line); border-radius: 10px; padding: 18px; max-width: 440px; }
dialog::backdrop { background: rgba(20, 30, 45, 0.35); }
dialog label { display: block; margin: 10px 0; font-size: 13px; color: var(--muted); }
dialog input { display: block; width: 100%; margin-top: 4px; font: inherit; padding: 6px 8px; border: 1px solid var(--line); border-radius: 6px; }
.dialog-buttons { display: flex; justify-content: flex-end; gap: 8px; margin-top: 14px; }
[hidden] { display: none !important; }
`;
