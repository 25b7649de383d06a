// SPDX-License-Identifier: LGPL-2.1-or-later
// The dashboard as a person checks it, in Debian's chromium driven by playwright-core: run by
// test-dashboard.py, which owns the pens and the broker and does what this script asks of it
// ("harness: COMMAND ARGS" on stdout, one JSON answer line on stdin). Every wait is bounded; the
// exit status is the verdict. Screenshots go to DASHBOARD_LOG_DIR.
'use strict';

const fs = require('fs');
const path = require('path');
const readline = require('readline');
const { chromium } = require(path.join(process.env.PLAYWRIGHT_MODULES, 'playwright-core'));

const URL = process.env.DASHBOARD_URL;
const PENS = process.env.PENS.split(' ');
const LOG_DIR = process.env.DASHBOARD_LOG_DIR;
const TZ = 'Asia/Kolkata'; // UTC+05:30: a local time cannot be mistaken for UTC
const [P1, P2] = PENS;

// ---- the harness, over stdin/stdout ------------------------------------------------------------

const answers = [];
let waiting = null;
readline.createInterface({ input: process.stdin }).on('line', (line) => {
  const a = JSON.parse(line);
  if (waiting) {
    const w = waiting;
    waiting = null;
    w(a);
  } else answers.push(a);
});

async function harness(...words) {
  console.log('harness: ' + words.join(' '));
  const a = await bounded(new Promise((resolve) => (answers.length ? resolve(answers.shift()) : (waiting = resolve))),
    60000, 'the harness to ' + words.join(' '));
  if (!a.ok) throw new Error(`harness ${words[0]}: ${a.error}`);
  return a.result;
}

function bounded(promise, ms, what) {
  let timer;
  const late = new Promise((_, reject) => (timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms waiting for ${what}`)), ms)));
  return Promise.race([promise, late]).finally(() => clearTimeout(timer));
}

function ok(what) {
  console.log('ok: ' + what);
}

function check(cond, what) {
  if (!cond) throw new Error('FAILED: ' + what);
  ok(what);
}

// ---- the page ------------------------------------------------------------------------------------

const pen = (page, serial) => page.locator(`[data-pen="${serial}"]`);

async function text(locator, timeout = 5000) {
  return (await locator.first().textContent({ timeout })).trim();
}

// Waits until fn(text of @locator) is true; returns the text.
async function waitText(locator, fn, what, timeout = 10000) {
  const end = Date.now() + timeout;
  let last = null;
  while (Date.now() < end) {
    last = (await locator.count()) ? (await locator.first().textContent()).trim() : null;
    if (last !== null && fn(last)) return last;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`timed out after ${timeout} ms waiting for ${what} (last seen: ${JSON.stringify(last)})`);
}

async function liveDepths(page, serial, seconds) {
  const seen = [];
  for (let i = 0; i < seconds * 4; i++) {
    seen.push(await text(pen(page, serial).getByTestId('live-depth')));
    await page.waitForTimeout(250);
  }
  return seen;
}

const localParts = (iso) => {
  const d = new Date(iso);
  const f = (o) => new Intl.DateTimeFormat('en-GB', { timeZone: TZ, ...o }).format(d);
  return { hm: f({ hour: '2-digit', minute: '2-digit', hour12: false }), day: f({ day: 'numeric' }), month: f({ month: 'long' }) };
};

async function checkStart(page) {
  await page.goto(URL, { timeout: 15000 }); // no ?hub=: the page finds the hub on the broker
  await waitText(page.getByTestId('hub-state'), (t) => t === 'hub online', 'the hub online', 15000);
  check((await text(page.getByTestId('hub-id'))) === 'dash', 'the hub found on the broker: dash');
  const fontPx = await page.locator('.hub').evaluate((el) => parseFloat(getComputedStyle(el.closest('header')).paddingTop));
  check(fontPx > 0, 'app.css applies (served by Mosquitto)');
  await waitText(page.locator('body'), () => true, 'the page');
  const end = Date.now() + 15000;
  let serials = [];
  while (Date.now() < end) {
    serials = (await page.getByTestId('pen-serial').allTextContents()).sort();
    if (JSON.stringify(serials) === JSON.stringify(PENS)) break;
    await page.waitForTimeout(100);
  }
  check(JSON.stringify(serials) === JSON.stringify(PENS), `the pens listed by serial: ${serials.join(', ')}`);
  for (const s of PENS) await waitText(pen(page, s).getByTestId('pen-link'), (t) => t === 'connected', `${s} connected`);
  ok('both pens connected');
}

async function checkRequests(page) {
  const resp = (s) => pen(page, s).getByTestId('response');
  await pen(page, P1).getByTestId('plan-file').setInputFiles(process.env.BAD_PLAN_FILE);
  const bad = await waitText(resp(P1), (t) => t.includes('invalid_plan'), 'the refusal of the bad plan');
  check(bad.includes('$.areas.forehead.depth_mm.max: 3.5'), 'the bad plan refused, its error shown: ' + bad);
  await pen(page, P1).getByTestId('plan-file').setInputFiles(process.env.PLAN_FILE);
  const good = await waitText(resp(P1), (t) => t.startsWith('ok'), 'the plan assigned');
  check(good.includes('plan dash-face-1 assigned'), 'the plan assigned: ' + good);
  await waitText(pen(page, P1).getByTestId('pen-plan'), (t) => t.startsWith('dash-face-1'), 'the pen state naming the plan');
  await pen(page, P2).getByRole('button', { name: 'Identify' }).click();
  check((await waitText(resp(P2), (t) => !t.startsWith('waiting'), 'the identify answer')) === `ok: ${P2} beeps and blinks`,
    'identify answered ok');
  await page.getByRole('button', { name: /pairing window/ }).click();
  const pairing = await waitText(page.locator('.hub-actions').getByTestId('response'), () => true, 'the pairing answer');
  check(pairing.startsWith('not_permitted:'), 'the pairing window refused (remote pairing not allowed), shown: ' + pairing);
}

async function checkLive(page) {
  const session = await harness('start-session', P1, 'forehead', '0.40');
  await waitText(pen(page, P1).getByTestId('pen-session'), (t) => t === `#${session} running`, 'the session running');
  await waitText(pen(page, P1).getByTestId('live-depth'), (t) => t !== '–', 'a live depth');
  const depths = await liveDepths(page, P1, 3);
  const values = depths.map(Number);
  check(values.every((v) => Math.abs(v - 0.4) <= 0.2), `live depths near the pen's 0.40 mm: ${depths.join(' ')}`);
  check(new Set(depths).size >= 3, `the live depth updates (${new Set(depths).size} distinct values in 3 s)`);
  check((await text(pen(page, P1).getByTestId('live-area'))) === 'forehead', 'the current area: forehead');
  const limit = await text(pen(page, P1).locator('.big .limit'));
  check(limit === '0.20–0.60 mm', "the plan's depth range for the forehead shown: " + limit);
  check((await pen(page, P1).locator('.chart canvas').count()) >= 2, 'depth and speed charts drawn');
  const speed = Number(await text(pen(page, P1).getByTestId('live-speed')));
  check(speed >= 100 && speed <= 140, `the live speed near the pen's 120 Hz: ${speed}`);

  // Too deep for the forehead: the alert must be on the page within 1 s of the pen going there
  // (the rule's 200 ms debounce and the gateway included).
  const alert = pen(page, P1).locator('li.alert[data-rule="depth_above_max"]');
  const setAt = await harness('set-depth-in-contact', P1, '0.90');
  await alert.first().waitFor({ timeout: Math.max(1, 1000 - (Date.now() - setAt)) }).catch(() => {
    throw new Error('FAILED: no depth_above_max alert on the page within 1 s of the depth going to 0.90 mm');
  });
  const onPage = Math.round(Date.now() - setAt);
  const onBroker = await harness('alert-latency', P1, 'depth_above_max');
  check(onPage <= 1000, `the depth_above_max alert on the page ${onPage} ms after the violation began (on the broker after ${onBroker} ms)`);
  const a = await text(alert);
  check(a.includes('too deep') && a.includes('depth_above_max') && a.includes('limit 0.6 mm'), 'the alert names its rule and limit: ' + a);
  check(await alert.first().evaluate((el) => el.classList.contains('critical') && el.classList.contains('raised')), 'the alert is critical and raised');
  await waitText(pen(page, P1).getByTestId('live-depth'), (t) => Number(t) > 0.8, 'the live depth at 0.90 mm');
  check(await pen(page, P1).locator('.big.over').count() > 0, 'the depth shown as over the limit');
  await page.waitForTimeout(1200); // the chart shows the excursion
  await page.screenshot({ path: path.join(LOG_DIR, 'dashboard-live-session.png'), fullPage: true });
  ok('screenshot dashboard-live-session.png');
  const figure = pen(page, P1).getByTestId('live-depth');
  const px = async () => parseFloat(await figure.evaluate((el) => getComputedStyle(el).fontSize));
  check((await px()) >= 48, `the depth in figures readable across a room on a desktop (${await px()} px)`);
  const desktop = page.viewportSize();
  await page.setViewportSize({ width: 768, height: 1024 }); // a tablet, upright
  const width = await pen(page, P1).evaluate((el) => el.getBoundingClientRect().width);
  check(width <= 768 && (await px()) >= 40, `on a tablet: one pen a row (${width} px), the depth at ${await px()} px`);
  await page.screenshot({ path: path.join(LOG_DIR, 'dashboard-tablet.png') });
  await page.setViewportSize(desktop);
  await harness('set-depth', P1, '0.40');
  await pen(page, P1).locator('li.alert.cleared[data-rule="depth_above_max"]').waitFor({ timeout: 5000 });
  ok('the alert cleared when the depth came back');
  return session;
}

async function checkSummary(page, session) {
  const ended = await harness('stop-session', P1);
  const summary = pen(page, P1).locator(`[data-testid="summary"][data-session="${session}"]`);
  await summary.waitFor({ timeout: 10000 });
  const meta = await text(summary.locator('.meta'));
  check(meta.includes(`${ended.summary.records} records`) && meta.includes('session 1 of 4') && meta.includes('dash-face-1'),
    'the summary names the records, the course and the plan: ' + meta);
  const forehead = ended.summary.areas.forehead;
  const row = await text(summary.locator('tr[data-area="forehead"]'));
  check(row.includes(`${forehead.max_depth_mm.toFixed(2)} mm`) && row.includes(`${forehead.mean_depth_mm.toFixed(2)} mm`) &&
    row.includes(`${Math.round(forehead.within_plan * 100)} %`), 'the forehead row: ' + row);
  const deep = await text(summary.locator('.compliance li[data-rule="depth_above_max"]'));
  check(deep.includes(`(${ended.summary.compliance.depth_above_max.alerts})`) && ended.summary.compliance.depth_above_max.alerts >= 1,
    'compliance: depth_above_max broken: ' + deep);
  check(await summary.locator('.compliance li.ok[data-rule="speed_out_of_range"]').count() === 1, 'compliance: speed kept');
  const items = summary.locator('.aftercare li');
  check((await items.count()) === ended.aftercare.length && ended.aftercare.length === 11, `${ended.aftercare.length} aftercare restrictions listed`);
  for (const r of ended.aftercare) {
    const t = await text(summary.locator(`.aftercare li[data-rule="${r.rule}"]`));
    const p = localParts(r.until);
    if (!(t.includes(r.advice) && t.includes(p.hm) && t.includes(`${p.day} ${p.month}`))) {
      throw new Error(`FAILED: aftercare ${r.rule} until ${r.until}: want ${p.day} ${p.month} ${p.hm} (${TZ}) in "${t}"`);
    }
  }
  const shaving = ended.aftercare.find((r) => r.rule === 'no_shaving');
  check(Date.parse(shaving.until) - Date.parse(ended.t) === 12 * 3600e3, "the plan's 12 h no-shaving shown with its local end");
  ok('every restriction with its end in local time (' + TZ + ')');
  await summary.scrollIntoViewIfNeeded();
  await pen(page, P1).screenshot({ path: path.join(LOG_DIR, 'dashboard-summary.png') });
  ok('screenshot dashboard-summary.png');

  // Printed: the summary and the aftercare sheet alone, on one A4 page.
  await page.emulateMedia({ media: 'print' });
  check(await page.locator('#app').isHidden() && await page.locator('#print-sheet [data-testid="aftercare"]').isVisible(),
    'printing shows the sheet alone');
  const viewport = page.viewportSize();
  await page.setViewportSize({ width: 688, height: 1017 }); // A4 less the @page margins, in CSS px
  await page.screenshot({ path: path.join(LOG_DIR, 'dashboard-summary-print.png'), fullPage: true });
  await page.setViewportSize(viewport);
  await page.emulateMedia({ media: null }); // not 'screen': page.pdf() would print the screen's layout
  const pdf = await page.pdf({ path: path.join(LOG_DIR, 'dashboard-summary-print.pdf'), format: 'A4', preferCSSPageSize: true });
  const pages = Number((pdf.toString('latin1').match(/\/Count (\d+)/) || [])[1]); // the page tree's
  check(pages === 1, `the printed summary and aftercare sheet fit one A4 page (${pages})`);
}

async function checkBrokerRestart(page) {
  await harness('stop-broker');
  const down = await waitText(page.getByTestId('connection'), (t) => t.includes('reconnecting'), 'the broker down on the page');
  check(down.startsWith('Broker disconnected, reconnecting'), 'the page says: ' + down);
  await page.screenshot({ path: path.join(LOG_DIR, 'dashboard-broker-down.png') });
  await harness('start-broker');
  const since = Date.now();
  await page.getByTestId('connection').waitFor({ state: 'detached', timeout: 20000 });
  await waitText(page.getByTestId('hub-state'), (t) => t === 'hub online', 'the hub online again', 10000);
  check(true, `the page connected again ${Date.now() - since} ms after the broker came back`);
  const serials = (await page.getByTestId('pen-serial').allTextContents()).sort();
  check(JSON.stringify(serials) === JSON.stringify(PENS), 'both pens listed again');
  // Telemetry is not retained: live numbers now prove the page subscribed again.
  const session = await harness('start-session', P2, 'cheeks', '0.70');
  await waitText(pen(page, P2).getByTestId('pen-session'), (t) => t === `#${session} running`, 'the second pen\'s session');
  await waitText(pen(page, P2).getByTestId('live-depth'), (t) => t !== '–', 'the second pen\'s live depth');
  const depths = await liveDepths(page, P2, 2);
  check(depths.every((d) => Math.abs(Number(d) - 0.7) <= 0.2) && new Set(depths).size >= 2,
    'live telemetry after the restart: ' + depths.join(' '));
}

async function main() {
  fs.mkdirSync(LOG_DIR, { recursive: true });
  const started = Date.now();
  const browser = await chromium.launch({ executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    headless: true, args: ['--no-sandbox'], timeout: 30000 });
  const pageErrors = [];
  try {
    const context = await browser.newContext({ viewport: { width: 1280, height: 900 }, locale: 'en-GB', timezoneId: TZ });
    context.setDefaultTimeout(10000);
    const page = await context.newPage();
    page.on('pageerror', (e) => pageErrors.push(e.message));
    page.on('console', (m) => m.type() === 'error' && console.log('browser console: ' + m.text()));
    await checkStart(page);
    await checkRequests(page);
    const session = await checkLive(page);
    await checkSummary(page, session);
    await checkBrokerRestart(page);
    check(pageErrors.length === 0, 'no uncaught error in the page' + (pageErrors.length ? ': ' + pageErrors.join('; ') : ''));
  } finally {
    await browser.close();
  }
  console.log(`browser test passed in ${((Date.now() - started) / 1000).toFixed(1)} s`);
}

main().then(() => process.exit(0), (e) => {
  console.log(e.stack || String(e));
  process.exit(1);
});
