// SPDX-License-Identifier: LGPL-2.1-or-later
// The page's views (Preact + htm): the hub, its pens, a pen's live session, alerts and summary.

import { html } from 'htm/preact';
import { useEffect, useRef } from 'preact/hooks';
import { makeChart } from './chart.js';
import { areaName, clock, duration, localTime, measure, num, percent, ruleName, RULES } from './format.js';
import { areaBands, limitsFor, sessionRunning, shownPens } from './model.js';

const STATUS_TEXT = {
  connecting: 'Connecting to the broker …',
  reconnecting: 'Broker disconnected, reconnecting …',
  error: 'Broker error',
};

export function App({ ui, model, actions }) {
  const pens = shownPens(model);
  return html`
    <header class="top">
      <h1>needlegate</h1>
      <span class="hub">hub <b data-testid="hub-id">${ui.hub || '…'}</b></span>
      <${HubBadge} ui=${ui} model=${model} />
      <${Settings} ui=${ui} actions=${actions} />
    </header>
    ${ui.status !== 'connected' &&
    html`<p class="banner ${ui.status}" role="status" data-testid="connection">
      ${STATUS_TEXT[ui.status] || ui.status}${ui.detail ? ': ' + ui.detail : ''}</p>`}
    ${ui.status === 'connected' && !ui.hub && html`<p class="banner">Waiting for a hub on the broker …</p>`}
    <section class="hub-actions">
      <button onClick=${() => actions.request('pairing', 'permit_pairing', { value: true, time: 120 })}>
        Open the pairing window (2 min)</button>
      <${Response} r=${ui.responses.pairing} />
      ${model.devices && html`<span class="count">${pens.length} pen${pens.length === 1 ? '' : 's'}</span>`}
    </section>
    <main class="pens">
      ${pens.map((pen) => html`<${PenCard} key=${pen.serial} pen=${pen} model=${model} ui=${ui} actions=${actions} />`)}
      ${model.devices && pens.length === 0 && html`<p class="empty">No pens registered on this hub yet: pair one.</p>`}
    </main>`;
}

function HubBadge({ ui, model }) {
  if (ui.status !== 'connected') return html`<span class="badge unknown" data-testid="hub-state">broker down</span>`;
  const s = model.bridge || 'unknown';
  return html`<span class="badge ${s}" data-testid="hub-state">${s === 'unknown' ? 'hub …' : 'hub ' + s}</span>`;
}

// defaultValue, not value: the page redraws four times a second, and must not undo the typing.
function Settings({ ui, actions }) {
  const submit = (e) => {
    e.preventDefault();
    const f = new FormData(e.target);
    actions.connect(Object.fromEntries(f.entries()));
  };
  return html`
    <details class="settings" open=${ui.status === 'error' || !ui.settings.url}>
      <summary>Connection</summary>
      <form onSubmit=${submit}>
        <label>Broker <input name="url" defaultValue=${ui.settings.url} placeholder="wss://hub.local:9001/" required /></label>
        <label>Hub <input name="hub" defaultValue=${ui.settings.hub} placeholder="first one heard of" /></label>
        <label>User <input name="username" defaultValue=${ui.settings.username} autocomplete="username" /></label>
        <label>Password <input name="password" type="password" autocomplete="current-password" /></label>
        <button type="submit">Connect</button>
      </form>
    </details>`;
}

function Response({ r }) {
  if (!r) return null;
  if (r.pending) return html`<span class="response pending">waiting for the hub …</span>`;
  return html`<span class="response ${r.ok ? 'ok' : 'error'}" data-testid="response">${r.text}</span>`;
}


/* The link's signal: the connection's RSSI and its 0-255 link quality when the hub can read them
 * (rssi_dbm, linkquality), else the RSSI last seen while scanning (rssi). */
function signal(st) {
  if (st.rssi_dbm != null) return `${st.rssi_dbm} dBm · ${st.linkquality}/255`;
  return st.rssi != null ? st.rssi + ' dBm' : '–';
}

function PenCard({ pen, model, ui, actions }) {
  const st = pen.state || {};
  const hubOffline = model.bridge === 'offline';
  const running = sessionRunning(model, pen);
  const link = hubOffline ? 'hub offline' : st.connected ? 'connected' : st.link || 'unknown';
  const key = (what) => `${pen.serial}:${what}`;
  const pickPlan = (e) => {
    const file = e.target.files[0];
    e.target.value = '';
    if (file) actions.assignPlan(key('plan'), pen.serial, file);
  };
  return html`
    <section class="pen ${st.connected && !hubOffline ? 'up' : 'down'}" data-pen=${pen.serial}>
      <header>
        <h2 data-testid="pen-serial">${pen.serial}</h2>
        <span class="model">${[st.name, st.model, st.firmware && 'fw ' + st.firmware].filter(Boolean).join(' · ')}</span>
        <span class="badge link" data-testid="pen-link">${link}</span>
      </header>
      <dl class="facts">
        <div><dt>Pen</dt><dd data-testid="pen-state">${st.pen_state || '–'}</dd></div>
        <div><dt>Battery</dt><dd>${st.battery != null ? st.battery + ' %' : '–'}</dd></div>
        <div><dt>Signal</dt><dd data-testid="pen-signal">${signal(st)}</dd></div>
        <div><dt>Cartridge</dt><dd>${st.cartridge ? `${st.cartridge.needles} needles (#${st.cartridge.id})` : 'none'}</dd></div>
        <div><dt>Plan</dt><dd data-testid="pen-plan">${st.plan || 'none'}${st.plan_assigned && st.plan_assigned !== st.plan ? ` (next: ${st.plan_assigned})` : ''}</dd></div>
        <div><dt>Session</dt><dd data-testid="pen-session">${running ? '#' + pen.sessionId + ' running' : 'none'}</dd></div>
        ${st.error && html`<div class="pen-error"><dt>Error</dt><dd>${st.error.name} (${st.error.code})</dd></div>`}
      </dl>
      <div class="actions">
        <button onClick=${() => actions.request(key('identify'), 'identify', { pen: pen.serial })}>Identify</button>
        <label class="button">Assign plan …<input type="file" accept=".json,application/json" onChange=${pickPlan} data-testid="plan-file" /></label>
        <button onClick=${() => actions.request(key('plan'), 'plan/clear', { pen: pen.serial })}>Clear plan</button>
        <${Response} r=${ui.responses[key('identify')] || ui.responses[key('plan')]} />
      </div>
      ${running && html`<${Live} pen=${pen} model=${model} />`}
      ${pen.series.x.length > 0 && html`<div class="charts">
        <${Chart} kind="depth" pen=${pen} model=${model} />
        <${Chart} kind="speed" pen=${pen} model=${model} />
      </div>`}
      <${Alerts} alerts=${pen.alerts} />
      ${pen.ended && html`<${Summary} s=${pen.ended} onPrint=${() => actions.print(pen.serial)} />`}
    </section>`;
}

function Live({ pen, model }) {
  const live = pen.live;
  const area = live?.area || pen.state?.area;
  const lim = area ? limitsFor(model, pen, area) : null;
  const over = (v, range) => v != null && range && ((range[1] != null && v > range[1]) || (range[0] != null && v < range[0]));
  const range = (r, unit, d) => (r ? `${r[0] != null ? num(r[0], d) : '0'}–${num(r[1], d)} ${unit}` : '');
  return html`
    <div class="live" data-testid="live">
      <div class="big ${over(live?.depth, lim?.depth) ? 'over' : ''}">
        <span class="label">Depth</span>
        <span class="value" data-testid="live-depth">${num(live?.depth, 2)}</span><span class="unit">mm</span>
        <span class="limit">${range(lim?.depth, 'mm', 2)}</span>
      </div>
      <div class="big ${over(live?.speed, lim?.speed) ? 'over' : ''}">
        <span class="label">Speed</span>
        <span class="value" data-testid="live-speed">${num(live?.speed, 0)}</span><span class="unit">Hz</span>
        <span class="limit">${range(lim?.speed, 'Hz', 0)}</span>
      </div>
      <div class="big area">
        <span class="label">Area</span>
        <span class="value" data-testid="live-area">${areaName(area)}</span>
        <span class="limit">${live && !live.active ? 'pen lifted or stopped' : lim ? `limits from the ${lim.from}` : 'no limits known'}</span>
      </div>
    </div>`;
}

function Chart({ kind, pen, model }) {
  const el = useRef(null);
  const chart = useRef(null);
  const seen = useRef(-1);
  const source = useRef(null);
  source.current = () => ({ series: pen.series, bands: areaBands(model, pen), alerts: pen.alerts });
  useEffect(() => {
    chart.current = makeChart(el.current, kind, () => source.current());
    return () => chart.current.destroy();
  }, [kind]);
  useEffect(() => {
    if (seen.current === model.version) return;
    seen.current = model.version;
    chart.current.update();
  });
  return html`<div class="chart ${kind}" ref=${el}></div>`;
}

function Alerts({ alerts }) {
  if (!alerts.length) return null;
  return html`
    <ul class="alerts" data-testid="alerts">
      ${alerts.map((a) => html`
        <li key=${a.id} class="alert ${a.severity} ${a.state}" data-rule=${a.rule}>
          <div class="head">
            <span class="sev">${a.severity}</span> <b>${ruleName(a.rule)}</b> <code>${a.rule}</code>
            <span class="state">${a.state === 'cleared' ? `cleared after ${duration((a.duration_ms || 0) / 1000)}` : a.state}</span>
            ${a.replayed && html`<span class="replayed">replayed</span>`}
          </div>
          <div class="detail">
            <time>${clock(a.raisedT)}</time> · ${areaName(a.area)}${a.measured != null ? ' · ' + measure(a.measured, a.unit) : ''}${a.limit != null ? ', limit ' + measure(a.limit, a.unit) : ''}
          </div>
          <p>${a.message}</p>
        </li>`)}
    </ul>`;
}

export function Summary({ s, onPrint }) {
  const sum = s.summary;
  const areas = Object.entries(sum?.areas || {});
  return html`
    <section class="summary" data-testid="summary" data-session=${s.session}>
      <header>
        <h3>Session ${s.session} of ${s.pen}: summary</h3>
        ${onPrint && html`<button class="print" onClick=${onPrint}>Print summary and aftercare</button>`}
      </header>
      <p class="meta">${summaryLine(s)}</p>
      ${s.alerts && html`<p class="counts">Alerts:
        <span class="sev critical">${s.alerts.critical} critical</span>
        <span class="sev warning">${s.alerts.warning} warning</span>
        <span class="sev info">${s.alerts.info} info</span></p>`}
      ${areas.length > 0 && html`
        <table class="areas">
          <thead><tr><th>Area</th><th>Time</th><th>Max depth</th><th>Mean depth</th><th>Mean speed</th><th>Within plan</th></tr></thead>
          <tbody>${areas.map(([name, a]) => html`
            <tr data-area=${name}><td>${areaName(name)}</td><td>${duration(a.time_s)}</td>
              <td>${num(a.max_depth_mm, 2)} mm</td><td>${num(a.mean_depth_mm, 2)} mm</td>
              <td>${num(a.mean_speed_hz, 0)} Hz</td><td>${percent(a.within_plan)}</td></tr>`)}
          </tbody>
        </table>`}
      ${sum?.compliance && html`
        <ul class="compliance">${Object.keys(RULES).filter((r) => sum.compliance[r]).map((r) => html`
          <li class=${sum.compliance[r].ok ? 'ok' : 'broken'} data-rule=${r}>
            ${sum.compliance[r].ok ? '✓' : '✗'} ${ruleName(r)}${sum.compliance[r].ok ? '' : ` (${sum.compliance[r].alerts})`}</li>`)}
        </ul>`}
      <${Aftercare} s=${s} />
    </section>`;
}

function summaryLine(s) {
  return [
    `Ended ${localTime(s.t)} after ${duration(s.duration_s)} (${s.reason}${s.end_event_lost ? ', end inferred' : ''})`,
    `plan ${s.plan_id || 'none'}`,
    s.course && `session ${s.course.session_number} of ${s.course.sessions_total}`,
    `${s.summary ? s.summary.records : 0} records`,
  ].filter(Boolean).join(' · ');
}

function Aftercare({ s }) {
  if (!s.aftercare?.length) return null;
  return html`
    <div class="aftercare" data-testid="aftercare">
      <h3>Aftercare: after your treatment on ${localTime(s.t)}</h3>
      <ul>${s.aftercare.map((a) => html`
        <li data-rule=${a.rule}><b>${a.advice || a.rule}</b> <span class="until">Until ${localTime(a.until)}.</span></li>`)}
      </ul>
      ${s.next_session_earliest && html`<p>Your next session can be on ${localTime(s.next_session_earliest)} at the earliest.</p>`}
      <p class="small">Times are local. Ask the clinic if anything worries you.</p>
    </div>`;
}
