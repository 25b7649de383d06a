// SPDX-License-Identifier: LGPL-2.1-or-later
// The dashboard's entry: settings from the URL, the MQTT connection, the model, throttled drawing.

import { html, render } from 'htm/preact';
import { openConnection } from './connection.js';
import { applyMessage, createModel, rememberPlan } from './model.js';
import { App, Summary } from './views.js';

const DRAW_EVERY_MS = 250; // 10 pens at 100 records/s: one draw per frame would be wasted

const params = new URLSearchParams(location.search);
// Mosquitto serves this page on its WebSockets listener: the broker is where the page came from.
const sameOrigin = location.host ? `${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}/` : '';
const ui = {
  status: 'connecting',
  detail: '',
  hub: params.get('hub') || null,
  settings: { url: params.get('broker') || sameOrigin, hub: params.get('hub') || '', username: params.get('user') || '' },
  responses: {},
  printSerial: null,
};
const base = params.get('base') || 'needlegate';
let model = createModel();
let conn = null;

function connect(settings) {
  conn?.close();
  model = createModel();
  Object.assign(ui, { status: 'connecting', detail: '', hub: settings.hub || null, responses: {} });
  ui.settings = { url: settings.url, hub: settings.hub || '', username: settings.username || '' };
  changed();
  if (!settings.url) {
    setStatus('error', 'no broker URL: fill in the connection settings');
    return;
  }
  try {
    conn = openConnection({
      url: settings.url, username: settings.username, password: settings.password, base, hub: ui.hub,
      onStatus: setStatus,
      onHub: (hub) => { ui.hub = hub; changed(); },
      // telemetry waits for the next draw; anything else (an alert) is drawn in the next frame
      onMessage: (path, msg) => applyMessage(model, path, msg) && changed(path[2] !== 'telemetry'),
    });
  } catch (e) {
    setStatus('error', e.message);
  }
}

function setStatus(status, detail = '') {
  if (status === 'reconnecting' && ui.status === 'error') return; // keep the reason on screen
  ui.status = status;
  ui.detail = detail;
  changed();
}

async function request(key, action, payload) {
  if (!conn || ui.status !== 'connected' || model.bridge !== 'online') {
    ui.responses[key] = { ok: false, text: 'the hub is not online: nothing was sent' };
    changed();
    return null;
  }
  ui.responses[key] = { pending: true };
  changed();
  const r = await conn.request(action, payload);
  ui.responses[key] = r.status === 'ok'
    ? { ok: true, text: 'ok: ' + describe(action, r.data || {}) }
    : { ok: false, text: `${r.error?.code || 'error'}: ${r.error?.message || 'no reason given'}` };
  changed();
  return r;
}

function describe(action, d) {
  switch (action) {
    case 'permit_pairing': return d.value ? `pairing window open for ${d.time} s` : 'pairing window closed';
    case 'identify': return `${d.pen} beeps and blinks`;
    case 'plan/assign': return `plan ${d.plan_id} assigned to ${d.pen} for its next session`;
    case 'plan/clear': return `plan ${d.plan_id} removed from ${d.pen}`;
    default: return JSON.stringify(d);
  }
}

async function assignPlan(key, serial, file) {
  let plan;
  try {
    plan = JSON.parse(await file.text());
  } catch (e) {
    ui.responses[key] = { ok: false, text: `${file.name} is not JSON: ${e.message}` };
    changed();
    return;
  }
  const r = await request(key, 'plan/assign', { pen: serial, plan });
  if (r?.status === 'ok' && plan && typeof plan.plan_id === 'string') rememberPlan(model, plan);
}

function print(serial) {
  ui.printSerial = serial;
  draw();
  window.print();
}

const actions = { connect, request, assignPlan, print };

// ---- drawing: at most every DRAW_EVERY_MS, in an animation frame; at once when urgent ------------

let dirty = false;
let hurry = false;
let frameAsked = false;
let timer = 0;
let lastDraw = -Infinity;

function changed(urgent = true) {
  dirty = true;
  hurry ||= urgent;
  if (hurry && timer) {
    clearTimeout(timer);
    timer = 0;
  }
  if (!frameAsked && !timer) {
    frameAsked = true;
    requestAnimationFrame(frame);
  }
}

function frame(now) {
  frameAsked = false;
  const wait = hurry ? 0 : lastDraw + DRAW_EVERY_MS - now;
  if (wait > 0) {
    timer = setTimeout(() => {
      timer = 0;
      frameAsked = true;
      requestAnimationFrame(frame);
    }, wait);
    return;
  }
  if (!dirty) return;
  dirty = hurry = false;
  lastDraw = now;
  draw();
}

// What the printer gets (Ctrl+P too): the summary the technician chose, else the latest one.
function printSheet() {
  const chosen = ui.printSerial && model.pens.get(ui.printSerial)?.ended;
  if (chosen) return chosen;
  let latest = null;
  for (const pen of model.pens.values()) if (pen.ended && (!latest || pen.ended.t > latest.t)) latest = pen.ended;
  return latest;
}

function draw() {
  const sheet = printSheet();
  render(html`<${App} ui=${ui} model=${model} actions=${actions} />`, document.getElementById('app'));
  render(sheet ? html`<${Summary} s=${sheet} />` : null, document.getElementById('print-sheet'));
}

connect({ ...ui.settings, password: '' });
