// SPDX-License-Identifier: LGPL-2.1-or-later
// What the page knows about one hub, built from its MQTT messages only (docs/mqtt-api.md).
// No DOM here: the views read it, main.js feeds it.

export const WINDOW_S = 300; // the charts show the last five minutes
const BUCKET_MS = 100; // at most one point per 100 ms per pen: 10 pens at 100 records/s stay fluid
const MAX_ALERTS = 50;

export function createModel() {
  return {
    bridge: null, // 'online' | 'offline' | null (not heard yet)
    info: null,
    devices: null, // serials of bridge/devices, in its order; null before it came
    pens: new Map(),
    plans: loadPlans(), // plan_id -> plan, for the plans assigned from this page
    version: 0, // bumped on every change the views must show
  };
}

function newSeries() {
  // x in seconds (uPlot's time scale); replayed: the depth of replayed records, else null
  return { x: [], depth: [], speed: [], replayed: [], version: 0 };
}

export function penOf(model, serial) {
  let pen = model.pens.get(serial);
  if (!pen) {
    pen = { serial, state: null, started: null, ended: null, sessionId: null, alerts: [],
      live: null, areas: [], series: newSeries() };
    model.pens.set(serial, pen);
  }
  return pen;
}

// The pens to show: those of bridge/devices (pens appear and disappear with it).
export function shownPens(model) {
  return (model.devices || []).map((s) => penOf(model, s));
}

function parseTime(iso) {
  const ms = Date.parse(iso);
  return Number.isNaN(ms) ? null : ms;
}

// ---- a new session resets what the page shows of the previous one -------------------------

function enterSession(pen, id) {
  if (pen.sessionId === id) return;
  pen.sessionId = id;
  pen.alerts = pen.alerts.filter((a) => a.session === id);
  pen.series = newSeries();
  pen.areas = [];
  pen.live = null;
}

// ---- telemetry ----------------------------------------------------------------------------

// Both forms: a batch {pen, session, records:[...]} and one record {pen, session, seq, ...}.
export function recordsOf(msg) {
  if (Array.isArray(msg.records)) return msg.records;
  return typeof msg.seq === 'number' ? [msg] : [];
}

function addPoint(s, tMs, rec) {
  const x = tMs / 1000;
  const bucket = Math.floor(tMs / BUCKET_MS);
  let i = s.x.length;
  while (i > 0 && s.x[i - 1] > x) i--; // replayed records come late: put them in their place
  const prev = i - 1;
  if (prev >= 0 && Math.floor((s.x[prev] * 1000) / BUCKET_MS) === bucket) {
    if (rec.depth_mm <= s.depth[prev]) return; // a bucket keeps its deepest record
    s.x[prev] = x;
    s.depth[prev] = rec.depth_mm;
    s.speed[prev] = rec.speed_hz;
    s.replayed[prev] = rec.replayed ? rec.depth_mm : null;
    return;
  }
  s.x.splice(i, 0, x);
  s.depth.splice(i, 0, rec.depth_mm);
  s.speed.splice(i, 0, rec.speed_hz);
  s.replayed.splice(i, 0, rec.replayed ? rec.depth_mm : null);
}

function trim(s) {
  const last = s.x[s.x.length - 1];
  let n = 0;
  while (n < s.x.length && s.x[n] < last - WINDOW_S) n++;
  if (n) for (const k of ['x', 'depth', 'speed', 'replayed']) s[k].splice(0, n);
}

function trackArea(model, pen, tMs, area) {
  const last = pen.areas[pen.areas.length - 1];
  if (last && last.area === area) return;
  if (last) last.limits = limitsFor(model, pen, last.area); // frozen: the pen's state moves on
  pen.areas.push({ from: tMs / 1000, area, limits: null });
}

function onTelemetry(model, pen, msg) {
  if (typeof msg.session !== 'number') return;
  if (pen.sessionId !== msg.session && pen.sessionId !== null && msg.session < pen.sessionId) return;
  enterSession(pen, msg.session);
  for (const rec of recordsOf(msg)) {
    const tMs = parseTime(rec.t);
    if (tMs === null || typeof rec.depth_mm !== 'number') continue;
    addPoint(pen.series, tMs, rec);
    if (rec.replayed) continue; // the big numbers show the pen now, not its past
    if (rec.area) trackArea(model, pen, tMs, rec.area);
    if (!pen.live || tMs >= pen.live.tMs) {
      pen.live = { tMs, depth: rec.depth_mm, speed: rec.speed_hz, area: rec.area,
        active: rec.motor && rec.contact };
    }
  }
  trim(pen.series);
  pen.series.version++;
}

// ---- limits: the plan's (when this page assigned it) or those the pen applies --------------

export function limitsFor(model, pen, area) {
  const planId = pen.started?.plan_id ?? (pen.state?.session != null ? pen.state?.plan : null);
  const plan = planId ? model.plans.get(planId) : null;
  const a = plan?.areas?.[area];
  if (a) {
    return { depth: [a.depth_mm?.min ?? null, a.depth_mm?.max ?? null],
      speed: [a.speed_hz?.min ?? null, a.speed_hz?.max ?? null], from: 'plan' };
  }
  const l = pen.state?.limits;
  if (l && pen.state?.area === area) {
    return { depth: [null, l.max_depth_mm], speed: [l.min_speed_hz, l.max_speed_hz], from: 'pen' };
  }
  return null;
}

// The limits of each area visit: the last one's as they are now.
export function areaBands(model, pen) {
  return pen.areas.map((seg, i) => ({
    ...seg,
    limits: i === pen.areas.length - 1 ? limitsFor(model, pen, seg.area) : seg.limits,
  }));
}

// ---- alerts --------------------------------------------------------------------------------

function onAlert(pen, a) {
  if (typeof a.session !== 'number' || typeof a.id !== 'number') return;
  if (pen.sessionId !== null && a.session < pen.sessionId) return;
  enterSession(pen, a.session);
  const found = pen.alerts.find((x) => x.session === a.session && x.id === a.id);
  if (!found) {
    pen.alerts.unshift({ ...a, tMs: parseTime(a.t), raisedT: a.t });
    pen.alerts.length = Math.min(pen.alerts.length, MAX_ALERTS);
  } else if (a.state === 'cleared') {
    Object.assign(found, a); // keeps raisedT: a cleared alert says when it started
  } else if (found.state !== 'cleared') {
    Object.assign(found, a, { raisedT: found.raisedT }); // a duplicate (QoS 1) or an update
  }
}

// ---- dispatch --------------------------------------------------------------------------------

// One message below needlegate/<hub>/: @path is the topic after the hub, split on '/'.
export function applyMessage(model, path, msg) {
  const [kind, a, b] = path;
  if (kind === 'bridge') {
    if (a === 'state') model.bridge = msg.state === 'online' ? 'online' : 'offline';
    else if (a === 'info') model.info = msg;
    else if (a === 'devices' && Array.isArray(msg.pens)) {
      model.devices = msg.pens.map((p) => p.pen).filter((s) => typeof s === 'string');
      for (const p of msg.pens) if (typeof p.pen === 'string') penOf(model, p.pen).state = p;
    } else return false;
  } else if (kind === 'pens' && typeof a === 'string' && path.length === 3) {
    const pen = penOf(model, a);
    if (b === 'state') onState(pen, msg);
    else if (b === 'session') onSession(pen, msg);
    else if (b === 'telemetry') onTelemetry(model, pen, msg);
    else if (b === 'alert') onAlert(pen, msg);
    else return false;
  } else return false;
  model.version++;
  return true;
}

function onState(pen, st) {
  pen.state = st;
  // A page opened in the middle of a session learns from the state what is wrong now.
  if (typeof st.session === 'number') {
    enterSession(pen, st.session);
    for (const a of st.open_alerts || []) onAlert(pen, a);
  }
}

function onSession(pen, msg) {
  if (typeof msg.session !== 'number') return;
  if (msg.event === 'started') {
    enterSession(pen, msg.session);
    pen.started = msg;
    if (pen.ended?.session === msg.session) pen.ended = null;
  } else if (msg.event === 'ended') {
    pen.ended = msg;
    if (pen.sessionId === null) enterSession(pen, msg.session);
  }
}

// Is a session running now (as far as the hub says)?
export function sessionRunning(model, pen) {
  if (model.bridge === 'offline') return false;
  if (pen.ended && pen.ended.session === pen.sessionId) return false;
  return typeof pen.state?.session === 'number' || (pen.started && !pen.ended) || false;
}

// ---- plans assigned from this page, kept in the browser (no patient names: plans carry none) ---

const PLANS_KEY = 'needlegate.dashboard.plans';

function loadPlans() {
  try {
    return new Map(JSON.parse(globalThis.localStorage?.getItem(PLANS_KEY) || '[]'));
  } catch {
    return new Map();
  }
}

export function rememberPlan(model, plan) {
  model.plans.delete(plan.plan_id);
  model.plans.set(plan.plan_id, plan);
  while (model.plans.size > 20) model.plans.delete(model.plans.keys().next().value);
  try {
    globalThis.localStorage?.setItem(PLANS_KEY, JSON.stringify([...model.plans]));
  } catch {
    // private mode or full: the bands fall back to the pen's limits
  }
  model.version++;
}
