/**
 * The dashboard's browser script, served as `/dashboard/dashboard.js` (an ES module).
 *
 * Why a string in a TypeScript module rather than a compiled browser module or a file beside the
 * code: the same text is served however Sluice runs — from its TypeScript sources (Node strips
 * the types of modules, it cannot hand a browser a `.ts` file), from the published `dist/`
 * (tsc copies no non-TypeScript files), or bundled into a user's application (a bundler keeps
 * module strings, not files found at run time). Nothing is read from disk to serve it, so no
 * request can name a file. The script is checked by parsing in `dashboard-assets.test.ts` and by
 * driving it in Chromium in `e2e/dashboard.browser.test.ts`.
 *
 * What it does: draws the job graph once from `GET /api/plan` (tasks in layers from left to
 * right, by their longest path from a source), then every second reads `GET /api/overview` and
 * updates the live numbers of each task, the back-pressure colours, the checkpoint history and
 * the exceptions. Actions (savepoint, stop, cancel) ask for the bearer token, keep it in
 * `sessionStorage` (this tab only) and send it as `Authorization: Bearer`. Everything the API
 * returns is put on the page as text (`textContent`), never as markup: operator names, records
 * and error messages come from users' code.
 *
 * Written without template literals: it is itself the content of one.
 */
export const DASHBOARD_SCRIPT = `'use strict';

const POLL_MS = 1000;
const TOKEN_KEY = 'sluice.dashboard.token';
const SVG_NS = 'http://www.w3.org/2000/svg';
const NODE_WIDTH = 290;
const LINE_PX = 17;
const LAYER_GAP_PX = 130;
const ROW_GAP_PX = 34;
const MARGIN_PX = 16;
/** Characters of a name that fit on a task's line (12px system font); longer ones end with '…' (the full one in its tooltip). */
const NAME_CHARS_MAX = 40;
/** Watermarks at or after this (2000-01-01) are shown as a time too; smaller ones are plain event-time numbers. */
const EPOCH_2000_MS = 946684800000;

const byId = (id) => document.getElementById(id);
const integer = new Intl.NumberFormat('en-US', { maximumFractionDigits: 0 });

// ---------------------------------------------------------------------------------------------
// Formatting

function count(n) {
  return n === null || n === undefined ? '–' : integer.format(n);
}

function perSecond(n) {
  if (n === null || n === undefined) return '–';
  return (n < 10 ? n.toFixed(1) : integer.format(n)) + '/s';
}

/** ms per second as a share of the second. */
function share(msPerSecond) {
  return msPerSecond === null || msPerSecond === undefined ? '–' : Math.round(msPerSecond / 10) + '%';
}

function duration(ms) {
  if (ms === null || ms === undefined) return '–';
  if (ms < 1000) return Math.round(ms) + ' ms';
  if (ms < 60000) return (ms / 1000).toFixed(1) + ' s';
  const seconds = Math.floor(ms / 1000);
  const h = Math.floor(seconds / 3600);
  const m = Math.floor((seconds % 3600) / 60);
  const s = seconds % 60;
  const parts = [];
  if (h > 0) parts.push(h + ' h');
  if (m > 0) parts.push(m + ' min');
  if (s > 0 || parts.length === 0) parts.push(s + ' s');
  return parts.join(' ');
}

function size(bytes) {
  if (bytes === null || bytes === undefined) return '–';
  if (bytes < 1024) return bytes + ' B';
  const units = ['KiB', 'MiB', 'GiB', 'TiB'];
  let value = bytes / 1024;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  return value.toFixed(value < 10 ? 1 : 0) + ' ' + units[unit];
}

function watermark(value) {
  if (value === null || value === undefined) return 'none yet';
  if (value === 'end-of-input') return 'end of input';
  if (value >= EPOCH_2000_MS) return new Date(value).toISOString().replace('T', ' ').slice(0, 23);
  return integer.format(value);
}

/**
 * Lag behind processing time means something only when event time is wall-clock time: for a job
 * whose timestamps are small numbers (a sequence, a test), it would be decades.
 */
function lag(value, lagMs) {
  if (lagMs === null || typeof value !== 'number' || value < EPOCH_2000_MS) return '–';
  return duration(lagMs);
}

/** An operator by its name, and its id (the uid, which labels its metrics) when that differs. */
function operatorLabel(operator) {
  return operator.id === operator.name ? operator.name : operator.name + ' (' + operator.id + ')';
}

function clock(ms) {
  return new Date(ms).toISOString().replace('T', ' ').slice(0, 19) + ' UTC';
}

function truncate(text, max) {
  return text.length <= max ? text : text.slice(0, max - 1) + '…';
}

// ---------------------------------------------------------------------------------------------
// The REST API

function storedToken() {
  return sessionStorage.getItem(TOKEN_KEY);
}

function forgetToken() {
  sessionStorage.removeItem(TOKEN_KEY);
  byId('forget-token-button').hidden = true;
}

/** One request; the answer's status and JSON body (null when it has none). Rejects when the server does not answer. */
async function api(path, method) {
  const headers = {};
  const token = storedToken();
  if (token !== null) headers.authorization = 'Bearer ' + token;
  const response = await fetch(path, { method: method || 'GET', headers, cache: 'no-store' });
  let body = null;
  try {
    body = await response.json();
  } catch {
    body = null;
  }
  return { status: response.status, body };
}

function errorOf(answer) {
  return answer.body !== null && typeof answer.body.error === 'string'
    ? answer.body.error
    : 'HTTP ' + answer.status;
}

// ---------------------------------------------------------------------------------------------
// Notices

function notice(element, kind, text) {
  element.className = 'notice notice-' + kind;
  element.textContent = text;
  element.hidden = false;
}

function connection(kind, text) {
  notice(byId('connection'), kind, text);
}

function actionMessage(kind, text) {
  notice(byId('action-message'), kind, text);
}

// ---------------------------------------------------------------------------------------------
// The job graph

function svg(name, attributes, parent) {
  const element = document.createElementNS(SVG_NS, name);
  for (const key of Object.keys(attributes)) element.setAttribute(key, String(attributes[key]));
  if (parent) parent.appendChild(element);
  return element;
}

function svgText(parent, x, y, className, text) {
  const element = svg('text', { x, y, class: className }, parent);
  element.textContent = text;
  return element;
}

/**
 * Each vertex's layer: its longest path from a source, so that every edge points right. A cycle
 * (the API builds none today) would leave vertices unplaced: they go after the rest, still drawn.
 */
function layersOf(plan) {
  const n = plan.vertices.length;
  const outgoing = plan.vertices.map(() => []);
  const waiting = plan.vertices.map(() => 0);
  for (const edge of plan.edges) {
    outgoing[edge.source].push(edge.target);
    waiting[edge.target]++;
  }
  const layer = new Array(n).fill(0);
  const placed = new Array(n).fill(false);
  const queue = [];
  for (let v = 0; v < n; v++) if (waiting[v] === 0) queue.push(v);
  while (queue.length > 0) {
    const v = queue.shift();
    placed[v] = true;
    for (const t of outgoing[v]) {
      layer[t] = Math.max(layer[t], layer[v] + 1);
      if (--waiting[t] === 0) queue.push(t);
    }
  }
  const deepest = Math.max(0, ...layer);
  for (let v = 0, extra = 1; v < n; v++) if (!placed[v]) layer[v] = deepest + extra++;
  return layer;
}

function nodeHeight(vertex) {
  // Name line, one line per chained operator, a divider, three live lines, the busy bar.
  return 12 + LINE_PX + vertex.operators.length * LINE_PX + 10 + 3 * LINE_PX + 14;
}

/** Positions: layers left to right; within a layer, ordered by where their inputs sit (fewer crossings). */
function layoutOf(plan) {
  const layer = layersOf(plan);
  const columns = [];
  plan.vertices.forEach((vertex, v) => {
    (columns[layer[v]] = columns[layer[v]] || []).push(v);
  });
  const inputs = plan.vertices.map(() => []);
  for (const edge of plan.edges) inputs[edge.target].push(edge.source);
  const rank = new Array(plan.vertices.length).fill(0);
  const heights = plan.vertices.map(nodeHeight);
  const columnHeights = [];
  columns.forEach((column, c) => {
    if (c > 0) {
      const centre = (v) =>
        inputs[v].length === 0 ? v : inputs[v].reduce((sum, u) => sum + rank[u], 0) / inputs[v].length;
      column.sort((a, b) => centre(a) - centre(b) || a - b);
    }
    column.forEach((v, i) => {
      rank[v] = i;
    });
    columnHeights[c] = column.reduce((sum, v) => sum + heights[v], 0) + ROW_GAP_PX * (column.length - 1);
  });
  const tallest = Math.max(0, ...columnHeights);
  const boxes = [];
  columns.forEach((column, c) => {
    let y = MARGIN_PX + (tallest - columnHeights[c]) / 2;
    for (const v of column) {
      boxes[v] = { x: MARGIN_PX + c * (NODE_WIDTH + LAYER_GAP_PX), y, height: heights[v] };
      y += heights[v] + ROW_GAP_PX;
    }
  });
  return {
    boxes,
    width: MARGIN_PX * 2 + columns.length * NODE_WIDTH + Math.max(0, columns.length - 1) * LAYER_GAP_PX,
    height: MARGIN_PX * 2 + tallest,
  };
}

/** The live parts of each drawn task, updated in place on every refresh. */
let nodes = [];

function drawGraph(plan) {
  const graph = byId('graph');
  graph.replaceChildren();
  const layout = layoutOf(plan);
  graph.setAttribute('viewBox', '0 0 ' + layout.width + ' ' + layout.height);
  graph.setAttribute('width', String(layout.width));
  graph.setAttribute('height', String(layout.height));
  const defs = svg('defs', {}, graph);
  const marker = svg(
    'marker',
    { id: 'arrow', viewBox: '0 0 10 10', refX: 9, refY: 5, markerWidth: 7, markerHeight: 7, orient: 'auto' },
    defs,
  );
  svg('path', { d: 'M0,0 L10,5 L0,10 z', class: 'arrow' }, marker);

  // Edges first, so that tasks are drawn over them. Several edges between one pair fan out.
  const seenPairs = new Map();
  for (const edge of plan.edges) {
    const from = layout.boxes[edge.source];
    const to = layout.boxes[edge.target];
    const pair = edge.source + '>' + edge.target;
    const nth = seenPairs.get(pair) || 0;
    seenPairs.set(pair, nth + 1);
    const x1 = from.x + NODE_WIDTH;
    const y1 = from.y + from.height / 2 + nth * 10;
    const x2 = to.x;
    const y2 = to.y + to.height / 2 + nth * 10;
    const bend = Math.max(40, Math.abs(x2 - x1) / 2);
    const group = svg(
      'g',
      { class: 'edge', 'data-source': edge.source, 'data-target': edge.target, 'data-partitioner': edge.partitioner },
      graph,
    );
    const title = svg('title', {}, group);
    title.textContent =
      edge.partitioner + ' from ' + edge.sourceOperator + (edge.sideOutput === null ? '' : ' (side output ' + edge.sideOutput + ')');
    svg(
      'path',
      {
        d: 'M' + x1 + ',' + y1 + ' C' + (x1 + bend) + ',' + y1 + ' ' + (x2 - bend) + ',' + y2 + ' ' + x2 + ',' + y2,
        'marker-end': 'url(#arrow)',
      },
      group,
    );
    const label = edge.partitioner + (edge.sideOutput === null ? '' : ' · ' + edge.sideOutput);
    svgText(group, (x1 + x2) / 2, (y1 + y2) / 2 - 6 + nth * 14, 'edge-label', label).setAttribute('text-anchor', 'middle');
  }

  nodes = plan.vertices.map((vertex, v) => {
    const box = layout.boxes[v];
    const group = svg('g', { class: 'vertex', 'data-vertex': v, transform: 'translate(' + box.x + ',' + box.y + ')' }, graph);
    const title = svg('title', {}, group);
    title.textContent = vertex.name + ': ' + vertex.operators.map(operatorLabel).join(' → ');
    const rect = svg('rect', { class: 'node bp-none', width: NODE_WIDTH, height: box.height, rx: 8 }, group);
    let y = 12 + 12;
    svgText(group, 12, y, 'vertex-name', truncate(vertex.name, NAME_CHARS_MAX - 10));
    svgText(group, NODE_WIDTH - 12, y, 'vertex-parallelism', 'p=' + vertex.parallelism).setAttribute('text-anchor', 'end');
    for (const operator of vertex.operators) {
      y += LINE_PX;
      svgText(group, 18, y, 'operator', '▸ ' + truncate(operatorLabel(operator), NAME_CHARS_MAX));
    }
    y += 9;
    svg('line', { class: 'divider', x1: 8, x2: NODE_WIDTH - 8, y1: y - 4, y2: y - 4 }, group);
    const rates = svgText(group, 12, (y += LINE_PX), 'live rates', '–');
    const records = svgText(group, 12, (y += LINE_PX), 'live records', '–');
    const times = svgText(group, 12, (y += LINE_PX), 'live times', '–');
    svg('rect', { class: 'busy-track', x: 12, y: y + 6, width: NODE_WIDTH - 24, height: 4, rx: 2 }, group);
    const busy = svg('rect', { class: 'busy-bar', x: 12, y: y + 6, width: 0, height: 4, rx: 2 }, group);
    return { rect, rates, records, times, busy };
  });

  if (plan.edges.length === 0 && plan.vertices.length === 0) {
    svgText(graph, MARGIN_PX, MARGIN_PX + 12, 'operator', 'The job has no tasks.');
  }
}

function backPressureClass(msPerSecond) {
  if (msPerSecond === null || msPerSecond === undefined) return 'bp-none';
  if (msPerSecond > 500) return 'bp-high';
  if (msPerSecond >= 100) return 'bp-low';
  return 'bp-ok';
}

function updateGraph(vertices) {
  for (const vertex of vertices) {
    const node = nodes[vertex.index];
    if (node === undefined) continue;
    node.rect.setAttribute('class', 'node ' + backPressureClass(vertex.backPressuredTimeMsPerSecond));
    node.rates.textContent = 'in ' + perSecond(vertex.recordsInPerSecond) + ' · out ' + perSecond(vertex.recordsOutPerSecond);
    node.records.textContent = count(vertex.recordsIn) + ' in · ' + count(vertex.recordsOut) + ' out · wm ' + watermark(vertex.watermark);
    node.times.textContent =
      'busy ' + share(vertex.busyTimeMsPerSecond) + ' · back-pressured ' + share(vertex.backPressuredTimeMsPerSecond);
    const busyShare = Math.min(1, Math.max(0, (vertex.busyTimeMsPerSecond || 0) / 1000));
    node.busy.setAttribute('width', String(Math.round((NODE_WIDTH - 24) * busyShare)));
  }
}

// ---------------------------------------------------------------------------------------------
// Panels

function cell(row, text, field, numeric) {
  const td = document.createElement('td');
  td.textContent = text;
  if (field) td.dataset.field = field;
  if (numeric) td.className = 'num';
  row.appendChild(td);
  return td;
}

function renderJob(job, attempt) {
  byId('job-name').textContent = job.name;
  document.title = job.name + ' · Sluice';
  const status = byId('job-status');
  status.textContent = job.status;
  status.className = 'status status-' + job.status;
  byId('job-parallelism').textContent = job.parallelism + ' (max ' + job.maxParallelism + ')';
  byId('job-duration').textContent = duration(job.durationMs);
  byId('job-attempt').textContent = String(attempt);
  byId('job-restarts').textContent = String(job.restarts);
  byId('job-checkpointing').textContent =
    job.checkpointing === null ? 'off' : 'every ' + duration(job.checkpointing.intervalMs);
  const running = job.status === 'running';
  const reason = job.actions.reason === null ? '' : job.actions.reason;
  const savepoints = running && job.actions.enabled && job.actions.savepoints;
  for (const [id, enabled] of [
    ['savepoint-button', savepoints],
    ['stop-button', savepoints],
    ['cancel-button', running && job.actions.enabled],
  ]) {
    const button = byId(id);
    button.disabled = !enabled;
    button.title = enabled ? '' : running ? reason : 'the job is ' + job.status;
  }
}

function renderVertices(vertices) {
  const body = byId('vertices').tBodies[0];
  const rows = vertices.map((vertex) => {
    const row = document.createElement('tr');
    row.dataset.vertex = String(vertex.index);
    const name = cell(row, '', 'name');
    name.textContent = vertex.name;
    const operators = document.createElement('span');
    operators.className = 'operators';
    operators.textContent = vertex.operators.map(operatorLabel).join(' → ');
    name.appendChild(operators);
    cell(row, String(vertex.parallelism), 'parallelism', true);
    cell(row, count(vertex.recordsIn), 'recordsIn', true);
    cell(row, count(vertex.recordsOut), 'recordsOut', true);
    cell(row, perSecond(vertex.recordsInPerSecond), 'recordsInPerSecond', true);
    cell(row, perSecond(vertex.recordsOutPerSecond), 'recordsOutPerSecond', true);
    cell(row, share(vertex.busyTimeMsPerSecond), 'busy', true);
    cell(row, share(vertex.backPressuredTimeMsPerSecond), 'backPressured', true);
    cell(row, watermark(vertex.watermark), 'watermark', true);
    cell(row, lag(vertex.watermark, vertex.watermarkLagMs), 'watermarkLag', true);
    cell(row, count(vertex.lateRecordsDropped), 'lateRecordsDropped', true);
    cell(row, count(vertex.stateEntries), 'stateEntries', true);
    return row;
  });
  body.replaceChildren(...rows);
}

function renderCheckpoints(checkpoints) {
  byId('checkpoint-counts').textContent = checkpoints.enabled
    ? checkpoints.counts.completed + ' completed, ' + checkpoints.counts.abandoned + ' abandoned'
    : 'Checkpointing is off for this job.';
  const rows = checkpoints.history.map((checkpoint) => {
    const row = document.createElement('tr');
    row.dataset.checkpoint = String(checkpoint.id);
    row.dataset.kind = checkpoint.kind;
    row.dataset.status = checkpoint.status;
    row.className = checkpoint.kind + ' ' + checkpoint.status;
    cell(row, String(checkpoint.id), 'id', true);
    cell(row, checkpoint.kind, 'kind');
    const status = cell(row, checkpoint.status, 'status');
    if (checkpoint.reason !== null) status.title = checkpoint.reason;
    cell(row, clock(checkpoint.triggeredAtMs), 'triggered');
    cell(row, duration(checkpoint.durationMs), 'duration', true);
    cell(row, size(checkpoint.bytes), 'size', true);
    cell(row, checkpoint.alignmentMs === null ? '–' : duration(checkpoint.alignmentMs), 'alignment', true);
    return row;
  });
  byId('checkpoints').tBodies[0].replaceChildren(...rows);
}

function renderExceptions(exceptions) {
  const list = byId('exceptions');
  if (exceptions.exceptions.length === 0) {
    const empty = document.createElement('p');
    empty.className = 'empty';
    empty.textContent = 'None.';
    list.replaceChildren(empty);
    return;
  }
  const items = exceptions.exceptions.map((exception) => {
    const item = document.createElement('article');
    item.className = 'exception';
    const when = document.createElement('div');
    when.className = 'when';
    when.textContent =
      clock(exception.timestampMs) +
      ' · attempt ' + exception.attempt +
      (exception.restarted ? ' · the job restarted' : ' · the job did not restart') +
      (exception.code === null ? '' : ' · ' + exception.code);
    const message = document.createElement('p');
    message.className = 'message';
    message.textContent = exception.message;
    const where = document.createElement('div');
    where.className = 'where';
    const parts = [];
    if (exception.operatorName !== null || exception.operatorId !== null) {
      parts.push('operator ' + (exception.operatorName || exception.operatorId));
    }
    if (exception.subtaskIndex !== null) parts.push('subtask ' + exception.subtaskIndex);
    if (exception.userFunction !== null) parts.push('in ' + exception.userFunction);
    if (exception.record !== null) parts.push('record ' + exception.record);
    where.textContent = parts.join(' · ');
    item.append(when, message, where);
    return item;
  });
  if (exceptions.truncated > 0) {
    const more = document.createElement('p');
    more.className = 'truncated';
    more.textContent = exceptions.truncated + ' older ones not kept.';
    items.push(more);
  }
  list.replaceChildren(...items);
}

// ---------------------------------------------------------------------------------------------
// Refresh

let planText = null;

async function refresh() {
  let answer;
  try {
    if (planText === null) {
      const plan = await api('/api/plan');
      if (plan.status !== 200) {
        unreadable(plan);
        return;
      }
      drawGraph(plan.body);
      planText = JSON.stringify(plan.body);
    }
    answer = await api('/api/overview');
  } catch (error) {
    connection('error', "The job's server does not answer (" + error.message + '): the job may have ended.');
    return;
  }
  if (answer.status !== 200) {
    unreadable(answer);
    return;
  }
  const overview = answer.body;
  // The plan is fixed for a job; redraw only if the server ever serves another.
  const text = JSON.stringify(overview.plan);
  if (text !== planText) {
    drawGraph(overview.plan);
    planText = text;
  }
  renderJob(overview.job, overview.attempt);
  updateGraph(overview.vertices);
  renderVertices(overview.vertices);
  renderCheckpoints(overview.checkpoints);
  renderExceptions(overview.exceptions);
  byId('token-button').hidden = true;
  connection('live', 'Live: refreshed every second; last at ' + clock(overview.timestampMs) + ' (job clock).');
}

function unreadable(answer) {
  if (answer.status === 401) {
    if (storedToken() !== null) forgetToken();
    byId('token-button').hidden = false;
    connection('error', 'This server needs the bearer token for every request (' + errorOf(answer) + ').');
    return;
  }
  connection('error', 'The server answered ' + answer.status + ': ' + errorOf(answer));
}

async function loop() {
  try {
    await refresh();
  } catch (error) {
    // A bug in drawing must not stop the refreshes: say it and go on.
    connection('error', 'The dashboard failed to draw the answer: ' + (error && error.message));
    console.error(error);
  }
  setTimeout(loop, POLL_MS);
}

// ---------------------------------------------------------------------------------------------
// Actions

const ACTIONS = {
  savepoint: {
    path: '/api/savepoints',
    question: "Take a savepoint now? It goes to the savepoint directory the job was started with.",
    confirm: 'Trigger savepoint',
  },
  stop: {
    path: '/api/stop',
    question: 'Take a savepoint and then stop the job?',
    confirm: 'Stop job',
  },
  cancel: {
    path: '/api/cancel',
    question: 'Cancel the job now, without a savepoint?',
    confirm: 'Cancel job',
  },
  token: {
    path: null,
    question: 'This server needs its bearer token to show the job.',
    confirm: 'Use token',
  },
};

let pendingAction = null;

function ask(action) {
  pendingAction = action;
  const dialog = byId('action-dialog');
  const input = byId('token-input');
  const needToken = storedToken() === null;
  byId('action-question').textContent = action.question;
  byId('action-confirm').textContent = action.confirm;
  byId('token-field').hidden = !needToken;
  input.required = needToken;
  input.value = '';
  dialog.returnValue = '';
  dialog.showModal();
}

function closed() {
  const action = pendingAction;
  pendingAction = null;
  const input = byId('token-input');
  const entered = input.value.trim();
  input.value = '';
  if (byId('action-dialog').returnValue !== 'confirm' || action === null) return;
  if (entered !== '') {
    sessionStorage.setItem(TOKEN_KEY, entered);
    byId('forget-token-button').hidden = false;
  }
  if (action.path === null) {
    void refresh();
    return;
  }
  void perform(action);
}

async function perform(action) {
  let answer;
  try {
    answer = await api(action.path, 'POST');
  } catch (error) {
    actionMessage('error', action.confirm + ": the job's server does not answer (" + error.message + ').');
    return;
  }
  if (answer.status === 401) {
    forgetToken();
    actionMessage('error', action.confirm + ': the server refused the token (' + errorOf(answer) + ').');
    return;
  }
  if (answer.status !== 202) {
    actionMessage('error', action.confirm + ' failed: ' + errorOf(answer));
    return;
  }
  if (action === ACTIONS.cancel) {
    actionMessage('info', 'Cancelling the job.');
    return;
  }
  const request = answer.body;
  actionMessage('info', (request.stop ? 'Stop with savepoint ' : 'Savepoint ') + request.id + ' in progress…');
  void follow(request);
}

/** Follows a savepoint request until it completes or fails. */
async function follow(request) {
  const what = (request.stop ? 'Stop with savepoint ' : 'Savepoint ') + request.id;
  for (;;) {
    await new Promise((resolve) => setTimeout(resolve, POLL_MS));
    let answer;
    try {
      answer = await api('/api/savepoints/' + request.id);
    } catch {
      actionMessage(
        request.stop ? 'done' : 'error',
        request.stop
          ? what + ': the job stopped and its server closed.'
          : what + ": the job's server stopped answering.",
      );
      return;
    }
    if (answer.status !== 200) {
      actionMessage('error', what + ': ' + errorOf(answer));
      return;
    }
    const state = answer.body;
    if (state.status === 'completed') {
      actionMessage('done', what + ' completed: ' + state.folder);
      return;
    }
    if (state.status === 'failed') {
      actionMessage('error', what + ' failed: ' + state.error);
      return;
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Start

byId('savepoint-button').addEventListener('click', () => ask(ACTIONS.savepoint));
byId('stop-button').addEventListener('click', () => ask(ACTIONS.stop));
byId('cancel-button').addEventListener('click', () => ask(ACTIONS.cancel));
byId('token-button').addEventListener('click', () => ask(ACTIONS.token));
byId('forget-token-button').addEventListener('click', forgetToken);
byId('action-dialog').addEventListener('close', closed);
byId('forget-token-button').hidden = storedToken() === null;
void loop();
`;
