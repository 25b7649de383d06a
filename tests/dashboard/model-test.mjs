// SPDX-License-Identifier: LGPL-2.1-or-later
// The dashboard's model (deploy/dashboard/src/model.js) fed with the payloads of docs/mqtt-api.md:
// both telemetry forms, the 100 ms decimation, replayed records in their place, alerts raised and
// cleared once each, pens coming and going with bridge/devices.
import assert from 'node:assert/strict';
import { applyMessage, areaBands, createModel, rememberPlan, sessionRunning, shownPens } from '../../deploy/dashboard/src/model.js';

const T0 = Date.parse('2026-11-24T10:31:36.000Z');
const iso = (ms) => new Date(T0 + ms).toISOString();
const rec = (seq, ms, depth, extra = {}) => ({ seq, t: iso(ms), offset_ms: ms, depth_mm: depth, speed_hz: 120.2,
  area: 'forehead', motor: true, contact: true, replayed: false, ...extra });
const send = (m, topic, msg) => applyMessage(m, topic.split('/'), msg);
const tests = {};

tests['pens come and go with bridge/devices'] = () => {
  const m = createModel();
  send(m, 'bridge/devices', { pens: [{ pen: 'NP1', connected: true }, { pen: 'NP2', connected: false }], t: iso(0) });
  assert.deepEqual(shownPens(m).map((p) => p.serial), ['NP1', 'NP2']);
  send(m, 'bridge/devices', { pens: [{ pen: 'NP2', connected: true }], t: iso(1) });
  assert.deepEqual(shownPens(m).map((p) => [p.serial, p.state.connected]), [['NP2', true]]);
};

tests['a batch and single records are the same records'] = () => {
  const m = createModel();
  send(m, 'pens/NP1/telemetry', { pen: 'NP1', session: 7, records: [rec(1, 0, 0.41), rec(2, 150, 0.42)] });
  send(m, 'pens/NP1/telemetry', { pen: 'NP1', session: 7, ...rec(3, 300, 0.43) });
  const p = m.pens.get('NP1');
  assert.deepEqual(p.series.depth, [0.41, 0.42, 0.43]);
  assert.deepEqual(p.series.x, [T0 / 1000, (T0 + 150) / 1000, (T0 + 300) / 1000]);
  assert.equal(p.live.depth, 0.43);
  assert.equal(p.sessionId, 7);
};

tests['at most one point per 100 ms, the deepest'] = () => {
  const m = createModel();
  const recs = [];
  for (let i = 0; i < 100; i++) recs.push(rec(i + 1, i * 10, i === 42 ? 0.9 : 0.4)); // 100 records/s for 1 s
  send(m, 'pens/NP1/telemetry', { pen: 'NP1', session: 1, records: recs.slice(0, 64) });
  send(m, 'pens/NP1/telemetry', { pen: 'NP1', session: 1, records: recs.slice(64) });
  const s = m.pens.get('NP1').series;
  assert.equal(s.x.length, 10);
  assert.equal(s.depth[4], 0.9, 'the spike at 420 ms survives the decimation');
  assert.equal(m.pens.get('NP1').live.depth, 0.4);
};

tests['replayed records go in their place, marked, and leave the live numbers alone'] = () => {
  const m = createModel();
  send(m, 'pens/NP1/telemetry', { pen: 'NP1', session: 1, records: [rec(1, 0, 0.4), rec(9, 900, 0.45)] });
  send(m, 'pens/NP1/telemetry', { pen: 'NP1', session: 1, records: [rec(5, 500, 0.7, { replayed: true, area: 'cheeks' })] });
  const p = m.pens.get('NP1');
  assert.deepEqual(p.series.depth, [0.4, 0.7, 0.45]);
  assert.deepEqual(p.series.replayed, [null, 0.7, null]);
  assert.equal(p.live.depth, 0.45);
  assert.deepEqual(p.areas.map((a) => a.area), ['forehead']);
};

tests['an alert raised, duplicated, then cleared is one entry'] = () => {
  const m = createModel();
  const raised = { pen: 'NP1', session: 3, seq: 62, t: iso(1000), severity: 'critical', rule: 'depth_above_max', area: 'forehead',
    measured: 0.95, limit: 0.6, unit: 'mm', message: 'Too deep.', state: 'raised', id: 2, replayed: false };
  send(m, 'pens/NP1/alert', raised);
  send(m, 'pens/NP1/alert', raised); // QoS 1 may deliver twice
  send(m, 'pens/NP1/alert', { ...raised, seq: 112, t: iso(2000), measured: 0.98, state: 'cleared', duration_ms: 1000 });
  send(m, 'pens/NP1/alert', raised); // a late duplicate of the raise does not reopen it
  const alerts = m.pens.get('NP1').alerts;
  assert.equal(alerts.length, 1);
  assert.equal(alerts[0].state, 'cleared');
  assert.equal(alerts[0].measured, 0.98);
  assert.equal(alerts[0].raisedT, iso(1000));
};

tests['a page opened mid-session learns the open alerts from the state'] = () => {
  const m = createModel();
  send(m, 'pens/NP1/state', { pen: 'NP1', session: 4, connected: true, open_alerts: [
    { session: 4, seq: 9, t: iso(0), severity: 'warning', rule: 'no_plan', area: 'cheeks', measured: null, limit: null,
      unit: null, message: 'No plan.', state: 'raised', id: 1, replayed: false }] });
  const p = m.pens.get('NP1');
  assert.deepEqual(p.alerts.map((a) => a.rule), ['no_plan']);
  m.bridge = 'online';
  assert.equal(sessionRunning(m, p), true);
};

tests['a new session starts clean; its end shows the summary; offline hub: nothing runs'] = () => {
  const m = createModel();
  send(m, 'bridge/state', { state: 'online' });
  send(m, 'pens/NP1/telemetry', { pen: 'NP1', session: 1, records: [rec(1, 0, 0.4)] });
  send(m, 'pens/NP1/session', { pen: 'NP1', session: 2, event: 'started', seq: 5, t: iso(10), area: 'forehead', plan_id: 'p1' });
  const p = m.pens.get('NP1');
  assert.equal(p.series.x.length, 0);
  assert.equal(sessionRunning(m, p), true);
  send(m, 'bridge/state', { state: 'offline' });
  assert.equal(sessionRunning(m, p), false);
  send(m, 'bridge/state', { state: 'online' });
  send(m, 'pens/NP1/session', { pen: 'NP1', session: 2, event: 'ended', seq: 9, t: iso(20), reason: 'stopped' });
  assert.equal(sessionRunning(m, p), false);
  assert.equal(p.ended.session, 2);
};

tests["bands: the plan's range per area visit, else the pen's limits"] = () => {
  const m = createModel();
  rememberPlan(m, { plan_id: 'p1', areas: { forehead: { depth_mm: { min: 0.2, max: 0.6 }, speed_hz: { min: 80, max: 150 } } } });
  send(m, 'pens/NP1/state', { pen: 'NP1', session: 1, area: 'cheeks', plan: 'p1',
    limits: { max_depth_mm: 1.2, min_speed_hz: 80, max_speed_hz: 150 } });
  send(m, 'pens/NP1/session', { pen: 'NP1', session: 1, event: 'started', seq: 1, t: iso(0), area: 'forehead', plan_id: 'p1' });
  send(m, 'pens/NP1/telemetry', { pen: 'NP1', session: 1, records: [rec(2, 0, 0.4), rec(3, 500, 1.0, { area: 'cheeks' })] });
  const bands = areaBands(m, m.pens.get('NP1'));
  assert.deepEqual(bands.map((b) => [b.area, b.limits.from, b.limits.depth]), [['forehead', 'plan', [0.2, 0.6]], ['cheeks', 'pen', [null, 1.2]]]);
};

let failed = 0;
for (const [name, fn] of Object.entries(tests)) {
  try {
    fn();
    console.log('ok ' + name);
  } catch (e) {
    failed++;
    console.log('FAIL ' + name + '\n' + e.stack);
  }
}
process.exit(failed ? 1 : 0);
