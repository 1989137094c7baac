// Qyvol's dashboard: a live graph of the node, its apps and their
// instances (WebGL), a list for narrow screens, an app's panel and a
// timeline of events. Everything comes from the node's API with the token
// the user typed, kept in this tab's sessionStorage only and sent in a
// header, never in a URL. Names, log lines and messages are set as text
// (textContent), never parsed as HTML.
'use strict';

const TOKEN_KEY = 'qyvol.token';
const LOG_LINES = 200;
const EVENTS_KEPT = 200;
const MEMORY_WINDOW_MS = 15 * 60 * 1000;
const PALETTE = {
  blue: [0x1e, 0x3a, 0x8a], chrome: [0xd1, 0xd5, 0xdb], violet: [0x4c, 0x1d, 0x95],
  orange: [0xf9, 0x73, 0x16], green: [0x10, 0xb9, 0x81],
};

const $ = (id) => document.getElementById(id);
const el = (tag, text, cls) => {
  const e = document.createElement(tag);
  if (text !== undefined && text !== null) e.textContent = String(text);
  if (cls) e.className = cls;
  return e;
};

// ---- state ------------------------------------------------------------------

const apps = new Map();      // name -> { status, gen, x, y, memory: [[t, bytes]] }
let events = [];             // newest last
let generation = 0;          // grows with each connection of the stream
let selected = null;         // the app whose panel is open
let detail = null;           // its GET /v1/apps/{name}, with revisions
let stream = null;           // { controller }
let retry = 500;
let hovered = null;

// ---- the token --------------------------------------------------------------

function token() { return sessionStorage.getItem(TOKEN_KEY); }

function showLogin(message) {
  sessionStorage.removeItem(TOKEN_KEY);
  if (stream) { stream.controller.abort(); stream = null; }
  apps.clear(); events = []; selected = null;
  $('dash').hidden = true;
  $('login').hidden = false;
  $('login-error').textContent = message || '';
  $('token').value = '';
  $('token').focus();
}

async function api(path, options) {
  const opts = Object.assign({}, options || {});
  opts.headers = Object.assign({ Authorization: 'Bearer ' + token() }, opts.headers || {});
  opts.cache = 'no-store';
  const r = await fetch(path, opts);
  if (r.status === 401) {
    showLogin('The node refused the token.');
    throw new Error('unauthorized');
  }
  return r;
}

async function login(event) {
  event.preventDefault();
  const typed = $('token').value.trim();
  if (!typed) return;
  const r = await fetch('/v1/node', { headers: { Authorization: 'Bearer ' + typed }, cache: 'no-store' })
    .catch(() => null);
  if (!r) { $('login-error').textContent = 'The node cannot be reached.'; return; }
  if (r.status === 401) { $('login-error').textContent = 'The node refused this token.'; return; }
  if (!r.ok) { $('login-error').textContent = 'The node answered ' + r.status + '.'; return; }
  sessionStorage.setItem(TOKEN_KEY, typed);
  $('token').value = '';
  open();
}

function open() {
  $('login').hidden = true;
  $('dash').hidden = false;
  resize();
  connect();
}

// ---- the stream -------------------------------------------------------------

function connect() {
  if (stream) stream.controller.abort();
  const controller = new AbortController();
  stream = { controller };
  const path = '/v1/stream' + (selected ? '?tail=' + LOG_LINES + '&logs=' + encodeURIComponent(selected) : '');
  read(path, controller).catch(() => {}).finally(() => {
    if (stream && stream.controller === controller) {
      setConn('reconnecting', false);
      setTimeout(() => { if (stream && stream.controller === controller) connect(); }, retry);
      retry = Math.min(retry * 2, 5000);
    }
  });
}

async function read(path, controller) {
  const r = await api(path, { signal: controller.signal });
  if (r.status === 404 && selected) {
    // The app is gone: follow the node without it.
    closePanel();
    return;
  }
  if (!r.ok || !r.body) throw new Error('stream ' + r.status);
  const reader = r.body.getReader();
  const decoder = new TextDecoder();
  let buffer = '';
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    buffer += decoder.decode(value, { stream: true });
    let end;
    while ((end = buffer.indexOf('\n\n')) >= 0) {
      const block = buffer.slice(0, end);
      buffer = buffer.slice(end + 2);
      let kind = 'message';
      const data = [];
      for (const line of block.split('\n')) {
        if (line.startsWith(':')) continue;
        if (line.startsWith('event:')) kind = line.slice(6).trim();
        else if (line.startsWith('data:')) data.push(line.slice(5).replace(/^ /, ''));
      }
      if (data.length) onEvent(kind, JSON.parse(data.join('\n')));
    }
  }
}

function onEvent(kind, data) {
  switch (kind) {
    case 'node':
      generation += 1;
      retry = 500;
      setConn('live', true);
      $('node-info').textContent = 'node ' + data.version + ' · ' + data.fingerprint.slice(0, 19) + '…';
      if (data.logs === selected) $('p-log').replaceChildren();
      break;
    case 'app': onApp(data); break;
    case 'removed':
      apps.delete(data.name);
      removeRow(data.name);
      if (data.name === selected) closePanel();
      break;
    case 'synced':
      for (const [name, a] of apps) {
        if (a.gen !== generation) { apps.delete(name); removeRow(name); }
      }
      counts();
      break;
    case 'event': onNodeEvent(data); break;
    case 'log': if (data.app === selected) addLog(data); break;
    case 'error': setConn(data.message, false); break;
    default: break;
  }
}

function setConn(text, live) {
  const c = $('conn');
  c.textContent = text;
  c.classList.toggle('live', live);
}

function onApp(status) {
  let a = apps.get(status.name);
  if (!a) {
    a = { status, gen: generation, x: null, y: null, memory: [] };
    apps.set(status.name, a);
  }
  const revisionChanged = a.status.revision !== status.revision;
  a.status = status;
  a.gen = generation;
  a.memory.push([Date.now(), status.memory_bytes]);
  // An HTTP app's requests: a rate over the counts of the last 10 s (a
  // lower count is a new revision's, counted from 0).
  if (status.http_requests !== undefined) {
    a.requests = (a.requests || []).filter((r) => r[0] > Date.now() - 10000 && r[1] <= status.http_requests);
    a.requests.push([Date.now(), status.http_requests]);
  }
  const old = Date.now() - MEMORY_WINDOW_MS;
  while (a.memory.length > 2 && a.memory[1][0] < old) a.memory.shift();
  row(status);
  counts();
  if (status.name === selected) {
    facts();
    if (revisionChanged) loadDetail();
  }
}

function counts() {
  let running = 0, failed = 0;
  for (const a of apps.values()) {
    if (a.status.state === 'running') running += 1;
    if (a.status.state === 'failed') failed += 1;
  }
  $('counts').textContent = apps.size + ' apps · ' + running + ' running · ' + failed + ' failed';
}

let lastEvent = 0;            // the newest event id shown: a reconnected stream sends the recent ones again

function onNodeEvent(e) {
  if (e.id <= lastEvent) return;
  lastEvent = e.id;
  events.push(e);
  if (events.length > EVENTS_KEPT) events = events.slice(-EVENTS_KEPT);
  const timeline = $('timeline');
  const li = el('li', time(e.time) + ' ' + e.app + ' ' + e.kind, e.kind);
  li.title = e.message;
  li.dataset.id = String(Number(e.id));
  timeline.append(li);
  while (timeline.children.length > 100) timeline.firstChild.remove();
  timeline.parentElement.scrollLeft = timeline.parentElement.scrollWidth;
  if (e.app === selected) addPanelEvent(e);
}

function time(rfc3339) {
  const t = new Date(rfc3339);
  return isNaN(t) ? '' : t.toLocaleTimeString([], { hour12: false });
}

// ---- the list (narrow screens) ----------------------------------------------

const rows = new Map();

function row(s) {
  let tr = rows.get(s.name);
  if (!tr) {
    tr = el('tr');
    for (let i = 0; i < 4; i += 1) tr.append(el('td'));
    tr.addEventListener('click', () => select(s.name));
    rows.set(s.name, tr);
    const body = $('list').tBodies[0];
    let after = null;
    for (const n of rows.keys()) if (n > s.name && (after === null || n < after)) after = n;
    body.insertBefore(tr, after === null ? null : rows.get(after));
  }
  tr.dataset.state = s.state;
  tr.cells[0].textContent = s.name;
  tr.cells[1].textContent = s.state;
  tr.cells[2].textContent = bytes(s.memory_bytes);
  tr.cells[3].textContent = String(s.restarts);
}

function removeRow(name) {
  const tr = rows.get(name);
  if (tr) tr.remove();
  rows.delete(name);
}

function bytes(n) {
  if (!n) return '0';
  const units = ['B', 'KiB', 'MiB', 'GiB'];
  let i = 0;
  while (n >= 1024 && i < units.length - 1) { n /= 1024; i += 1; }
  return (i ? n.toFixed(1) : n) + ' ' + units[i];
}

// ---- the panel --------------------------------------------------------------

function select(name) {
  if (!apps.has(name)) return;
  selected = name;
  detail = null;
  $('panel').hidden = false;
  $('p-name').textContent = name;
  $('p-log').replaceChildren();
  $('p-events').replaceChildren();
  $('p-revisions').tBodies[0].replaceChildren();
  $('p-grants').replaceChildren();
  $('p-action-error').textContent = '';
  facts();
  loadDetail();
  loadEvents();
  connect();
  resize();
}

function closePanel() {
  selected = null;
  $('panel').hidden = true;
  connect();
  resize();
}

function facts() {
  const a = apps.get(selected);
  if (!a) return;
  const s = a.status;
  const pill = $('p-state');
  pill.textContent = s.state;
  pill.className = 'pill ' + s.state;
  const exit = s.exit_code === null || s.exit_code === undefined ? '—'
    : s.exit_code + (s.reason ? ' (' + s.reason + ')' : '') + (s.ended_at ? ' at ' + time(s.ended_at) : '');
  const pairs = [
    ['type', s.type], ['revision', s.revision + (s.version ? ' · ' + s.version : '')],
    ['digest', s.digest.slice(0, 16) + '…'], ['desired', s.desired],
    ['instances', s.instances], ['restarts', s.restarts], ['last exit', exit],
    ['memory', bytes(s.memory_bytes)], ['CPU', (s.cpu_ms / 1000).toFixed(2) + ' s'],
    ['started', s.started_at ? time(s.started_at) : '—'], ['source', s.source],
  ];
  if (s.route) pairs.push(['route', s.route]);
  if (s.http_requests !== undefined) pairs.push(['requests', s.http_requests + ' · ' + rate(a).toFixed(1) + ' req/s']);
  if (s.restart) pairs.push(['restart', s.restart]);
  if (s.next_start_at) pairs.push(['next start', time(s.next_start_at)]);
  list($('p-facts'), pairs);
}

function rate(a) {
  const r = a.requests || [];
  if (r.length < 2) return 0;
  const [t0, n0] = r[0], [t1, n1] = r[r.length - 1];
  return t1 > t0 ? (n1 - n0) * 1000 / (t1 - t0) : 0;
}

function list(dl, pairs) {
  dl.replaceChildren(...pairs.flatMap(([k, v]) => [el('dt', k), el('dd', v)]));
}

async function loadDetail() {
  const name = selected;
  const r = await api('/v1/apps/' + encodeURIComponent(name)).catch(() => null);
  if (!r || !r.ok || name !== selected) return;
  detail = await r.json();
  const body = $('p-revisions').tBodies[0];
  body.replaceChildren(...detail.revisions.map((v) => {
    const tr = el('tr', null, v.current ? 'current' : '');
    tr.append(el('td', '#' + v.number + (v.current ? ' ●' : '')), el('td', v.version || ''),
      el('td', v.digest.slice(0, 12)), el('td', time(v.created_at)),
      el('td', v.rollback_of ? 'rollback of #' + v.rollback_of : (v.signer ? 'signed ' + v.signer : '')));
    return tr;
  }));
  const pairs = [];
  for (const [k, v] of Object.entries(detail.permissions || {})) pairs.push(['permissions.' + k, JSON.stringify(v)]);
  for (const [k, v] of Object.entries(detail.limits || {})) {
    if (v !== null) pairs.push(['limits.' + k, typeof v === 'number' && k === 'memory' ? bytes(v) : String(v)]);
  }
  list($('p-grants'), pairs);
}

async function loadEvents() {
  const name = selected;
  const r = await api('/v1/events?limit=50&app=' + encodeURIComponent(name)).catch(() => null);
  if (!r || !r.ok || name !== selected) return;
  const list = await r.json();
  $('p-events').replaceChildren();
  for (const e of list) addPanelEvent(e);
}

function addPanelEvent(e) {
  const ol = $('p-events');
  if (ol.querySelector('[data-id="' + Number(e.id) + '"]')) return;
  const li = el('li', time(e.time) + ' ' + e.kind + ': ' + e.message);
  li.dataset.id = String(Number(e.id));
  ol.prepend(li);
  while (ol.children.length > 50) ol.lastChild.remove();
}

function addLog(line) {
  const pre = $('p-log');
  const follow = pre.scrollTop + pre.clientHeight >= pre.scrollHeight - 4;
  const span = el('span', line.text + '\n', line.stream);
  span.title = line.time + ' · revision ' + line.revision;
  pre.append(span);
  while (pre.children.length > LOG_LINES) pre.firstChild.remove();
  if (follow) pre.scrollTop = pre.scrollHeight;
}

async function act(action) {
  const name = selected;
  if (!name) return;
  $('p-action-error').textContent = '';
  const r = await api('/v1/apps/' + encodeURIComponent(name) + '/' + action, { method: 'POST' }).catch(() => null);
  if (r && !r.ok) {
    const body = await r.json().catch(() => ({}));
    $('p-action-error').textContent = body.message || ('the node answered ' + r.status);
  }
}

function drawMemory() {
  const a = apps.get(selected);
  const c = $('p-memory');
  const ctx = c.getContext('2d');
  ctx.clearRect(0, 0, c.width, c.height);
  if (!a) return;
  const now = Date.now();
  const points = a.memory.concat([[now, a.status.memory_bytes]]);
  const max = Math.max(1, ...points.map((p) => p[1]));
  const x = (t) => c.width * (1 - (now - t) / MEMORY_WINDOW_MS);
  const y = (b) => c.height - 4 - (c.height - 12) * (b / max);
  ctx.strokeStyle = '#10B981';
  ctx.lineWidth = 2;
  ctx.beginPath();
  points.forEach((p, i) => {
    const px = Math.max(0, x(p[0]));
    if (i === 0) ctx.moveTo(px, y(p[1]));
    else { ctx.lineTo(px, y(points[i - 1][1])); ctx.lineTo(px, y(p[1])); }
  });
  ctx.stroke();
  ctx.fillStyle = '#D1D5DB';
  ctx.font = '11px system-ui, sans-serif';
  ctx.fillText(bytes(max) + ' · last 15 min', 6, 12);
}

// ---- the graph (WebGL) ------------------------------------------------------

const VERTEX = `
attribute vec2 a_pos; attribute float a_size; attribute vec4 a_color;
uniform vec2 u_view; uniform float u_dpr;
varying vec4 v_color;
void main() {
  vec2 p = a_pos / u_view * 2.0 - 1.0;
  gl_Position = vec4(p.x, -p.y, 0.0, 1.0);
  gl_PointSize = a_size * u_dpr;
  v_color = a_color;
}`;
const FRAGMENT = `
precision mediump float;
varying vec4 v_color; uniform float u_points;
void main() {
  if (u_points < 0.5) { gl_FragColor = v_color; return; }
  float d = length(gl_PointCoord - 0.5) * 2.0;
  if (d > 1.0) discard;
  float edge = 1.0 - smoothstep(0.82, 1.0, d);
  vec3 c = v_color.rgb * (1.08 - 0.3 * d * d);
  gl_FragColor = vec4(c, v_color.a * edge);
}`;

let gl = null, program = null, buffer = null, loc = {};
let view = { w: 1, h: 1, dpr: 1 };
let drawn = [];              // [{ name, x, y, r, state }] of the last frame
let frames = 0, fps = 0, fpsAt = performance.now();
let moving = false;           // some app is still easing to its place
let sorted = [], sortedFor = -1; // the apps' names in order, for the layout
let pixelAsks = [];          // readPixels wanted right after the next frame

function initGl() {
  const canvas = $('gl');
  // No multisampling and no kept buffer: both cost a software renderer
  // most of its frame; the shader smooths the circles' edges itself.
  gl = canvas.getContext('webgl', { antialias: false, preserveDrawingBuffer: false, alpha: false });
  if (!gl) { $('fps').textContent = 'WebGL is not available: see the list'; return; }
  const shader = (type, src) => {
    const s = gl.createShader(type);
    gl.shaderSource(s, src);
    gl.compileShader(s);
    if (!gl.getShaderParameter(s, gl.COMPILE_STATUS)) throw new Error(gl.getShaderInfoLog(s));
    return s;
  };
  program = gl.createProgram();
  gl.attachShader(program, shader(gl.VERTEX_SHADER, VERTEX));
  gl.attachShader(program, shader(gl.FRAGMENT_SHADER, FRAGMENT));
  gl.linkProgram(program);
  gl.useProgram(program);
  for (const n of ['a_pos', 'a_size', 'a_color']) loc[n] = gl.getAttribLocation(program, n);
  for (const n of ['u_view', 'u_dpr', 'u_points']) loc[n] = gl.getUniformLocation(program, n);
  buffer = gl.createBuffer();
  gl.enable(gl.BLEND);
  gl.blendFunc(gl.SRC_ALPHA, gl.ONE_MINUS_SRC_ALPHA);
  canvas.addEventListener('click', (e) => { const hit = pick(e); if (hit) select(hit); });
  canvas.addEventListener('mousemove', (e) => { hovered = pick(e); canvas.style.cursor = hovered ? 'pointer' : 'default'; });
}

function pick(e) {
  const rect = $('gl').getBoundingClientRect();
  const x = e.clientX - rect.left, y = e.clientY - rect.top;
  let best = null, bestD = Infinity;
  for (const d of drawn) {
    const dist = Math.hypot(d.x - x, d.y - y);
    if (dist <= d.r + 4 && dist < bestD) { best = d.name; bestD = dist; }
  }
  return best;
}

function resize() {
  const stage = $('stage');
  const dpr = window.devicePixelRatio || 1;
  view = { w: Math.max(1, stage.clientWidth), h: Math.max(1, stage.clientHeight), dpr };
  labelled = '';
  for (const c of [$('gl'), $('labels')]) {
    c.width = Math.round(view.w * dpr);
    c.height = Math.round(view.h * dpr);
  }
}

function rgba(name, alpha) {
  const c = PALETTE[name];
  return [c[0] / 255, c[1] / 255, c[2] / 255, alpha];
}

function colour(state, t) {
  const pulse = 0.55 + 0.45 * Math.sin(t / 180);
  switch (state) {
    case 'running': return rgba('green', 1);
    case 'failed': return rgba('orange', 1);
    case 'backoff': return rgba('orange', pulse);
    case 'pending': case 'starting': return rgba('green', pulse);
    case 'completed': return rgba('chrome', 0.9);
    default: return rgba('chrome', 0.35); // stopped
  }
}

function frame(t) {
  requestAnimationFrame(frame);
  frames += 1;
  if (t - fpsAt >= 1000) {
    fps = Math.round(frames * 1000 / (t - fpsAt));
    frames = 0; fpsAt = t;
    $('fps').textContent = fps + ' fps · ' + apps.size + ' apps';
    if (selected) drawMemory();
  }
  if (!gl || $('dash').hidden || $('stage').clientWidth === 0) return;
  if (sortedFor !== apps.size || sorted.some((n) => !apps.has(n))) {
    sorted = [...apps.keys()].sort();
    sortedFor = apps.size;
  }
  const names = sorted;
  const n = names.length;
  const cx = view.w / 2, cy = view.h / 2;
  const radius = Math.max(40, Math.min(view.w, view.h) / 2 - 30);
  const spacing = radius / Math.sqrt(n + 4);
  const nodeSize = Math.min(56, Math.max(18, spacing * 2.2));
  const points = [], lines = [];
  const vertex = (arr, x, y, size, c) => arr.push(x, y, size, c[0], c[1], c[2], c[3]);
  const edge = rgba('violet', 0.9), instEdge = rgba('chrome', 0.35);
  const next = [];
  moving = false;
  names.forEach((name, i) => {
    const a = apps.get(name);
    const k = i + 4;
    const angle = k * 2.399963;
    const tx = cx + spacing * Math.sqrt(k) * Math.cos(angle);
    const ty = cy + spacing * Math.sqrt(k) * Math.sin(angle);
    if (a.x === null) { a.x = cx; a.y = cy; }
    a.x += (tx - a.x) * 0.18;
    a.y += (ty - a.y) * 0.18;
    if (Math.abs(tx - a.x) + Math.abs(ty - a.y) > 0.5) moving = true;
    const mib = a.status.memory_bytes / 1048576;
    const size = Math.min(spacing * 1.6, 22 + 5 * Math.log2(1 + mib), 52);
    vertex(lines, cx, cy, 1, edge);
    vertex(lines, a.x, a.y, 1, edge);
    vertex(points, a.x, a.y, Math.max(4, size), colour(a.status.state, t));
    if (name === selected || name === hovered) vertex(points, a.x, a.y, Math.max(4, size) + 6, rgba('chrome', 0.25));
    for (let j = 0; j < a.status.instances; j += 1) {
      const dx = a.x - cx, dy = a.y - cy, len = Math.hypot(dx, dy) || 1;
      const off = size / 2 + Math.max(3, size * 0.35);
      const ix = a.x + dx / len * off, iy = a.y + dy / len * off;
      vertex(lines, a.x, a.y, 1, instEdge);
      vertex(lines, ix, iy, 1, instEdge);
      vertex(points, ix, iy, Math.max(3, size * 0.4), rgba('green', 0.95));
    }
    next.push({ name, x: a.x, y: a.y, r: Math.max(4, size) / 2, state: a.status.state });
  });
  vertex(points, cx, cy, nodeSize + 8, rgba('violet', 0.9));
  vertex(points, cx, cy, nodeSize, rgba('blue', 1));
  drawn = next;

  gl.viewport(0, 0, gl.drawingBufferWidth, gl.drawingBufferHeight);
  gl.clearColor(0x0a / 255, 0x12 / 255, 0x30 / 255, 1);
  gl.clear(gl.COLOR_BUFFER_BIT);
  gl.uniform2f(loc.u_view, view.w, view.h);
  gl.uniform1f(loc.u_dpr, view.dpr);
  const stride = 7 * 4;
  const draw = (data, mode, isPoints) => {
    if (!data.length) return;
    gl.bindBuffer(gl.ARRAY_BUFFER, buffer);
    gl.bufferData(gl.ARRAY_BUFFER, new Float32Array(data), gl.STREAM_DRAW);
    gl.enableVertexAttribArray(loc.a_pos);
    gl.vertexAttribPointer(loc.a_pos, 2, gl.FLOAT, false, stride, 0);
    gl.enableVertexAttribArray(loc.a_size);
    gl.vertexAttribPointer(loc.a_size, 1, gl.FLOAT, false, stride, 8);
    gl.enableVertexAttribArray(loc.a_color);
    gl.vertexAttribPointer(loc.a_color, 4, gl.FLOAT, false, stride, 12);
    gl.uniform1f(loc.u_points, isPoints ? 1 : 0);
    gl.drawArrays(mode, 0, data.length / 7);
  };
  draw(lines, gl.LINES, false);
  draw(points, gl.POINTS, true);
  // The buffer is not kept past the frame: pixels are read now.
  for (const ask of pixelAsks.splice(0)) {
    const out = new Uint8Array(4);
    gl.readPixels(Math.round(ask.x * view.dpr), gl.drawingBufferHeight - Math.round(ask.y * view.dpr), 1, 1, gl.RGBA, gl.UNSIGNED_BYTE, out);
    ask.done([...out]);
  }
  labels(cx, cy, nodeSize, n);
}

// Names as text on a 2D canvas above the graph: all of them while they
// fit, else the hovered and selected ones.
let labelled = '';

function labels(cx, cy, nodeSize, n) {
  // Drawn again only when they move or change: clearing a canvas the size
  // of the page is much of a software renderer's frame.
  const key = n + '|' + hovered + '|' + selected + '|' + view.w + 'x' + view.h;
  if (!moving && key === labelled) return;
  labelled = key;
  const c = $('labels');
  const ctx = c.getContext('2d');
  ctx.setTransform(view.dpr, 0, 0, view.dpr, 0, 0);
  ctx.clearRect(0, 0, view.w, view.h);
  ctx.font = '12px system-ui, sans-serif';
  ctx.textAlign = 'center';
  ctx.fillStyle = '#D1D5DB';
  ctx.fillText('node', cx, cy + 4);
  for (const d of drawn) {
    if (n <= 80 || d.name === hovered || d.name === selected) {
      ctx.fillStyle = d.name === selected ? '#10B981' : '#D1D5DB';
      ctx.fillText(d.name, d.x, d.y + d.r + 13);
    }
  }
}

// What tests and the curious can read: the graph as drawn last frame.
window.qyvolViz = {
  drawn: () => drawn.map((d) => ({ name: d.name, x: d.x, y: d.y, r: d.r, state: d.state })),
  fps: () => fps,
  settled: () => !moving,
  pixel: (x, y) => new Promise((done) => pixelAsks.push({ x, y, done })),
};

// ---- start ------------------------------------------------------------------

document.addEventListener('DOMContentLoaded', () => {
  $('login-form').addEventListener('submit', login);
  $('logout').addEventListener('click', () => showLogin(''));
  $('p-close').addEventListener('click', closePanel);
  for (const b of document.querySelectorAll('[data-action]')) {
    b.addEventListener('click', () => act(b.dataset.action));
  }
  window.addEventListener('resize', resize);
  initGl();
  requestAnimationFrame(frame);
  if (token()) open(); else showLogin('');
});
