// SPDX-License-Identifier: LGPL-2.1-or-later
// Plain words for the payloads' names and numbers: areas, rules, times in the viewer's local time.

const AREAS = {
  unspecified: 'unspecified area',
  forehead: 'forehead',
  periorbital: 'around the eyes',
  nose: 'nose',
  cheeks: 'cheeks',
  perioral: 'around the mouth',
  chin_jawline: 'chin and jawline',
  neck: 'neck',
  decollete: 'décolleté',
  arms: 'arms',
  hands: 'hands',
  abdomen: 'abdomen',
  thighs: 'thighs',
  back: 'back',
  scalp: 'scalp',
  scar: 'scar',
  unknown: 'unknown area',
};

export const RULES = {
  depth_above_max: 'too deep',
  depth_below_min: 'shallower than planned',
  speed_out_of_range: 'speed out of range',
  area_not_in_plan: 'area not in the plan',
  area_time_exceeded: 'too long in the area',
  session_too_long: 'session too long',
  cartridge_reused: 'cartridge reused',
  cartridge_not_allowed: 'cartridge not allowed',
  session_too_soon: 'too soon after the last session',
  device_error: 'pen error',
  telemetry_gap: 'records lost',
  no_plan: 'no plan',
  clock_not_set: "pen's clock not set",
};

export const areaName = (a) => AREAS[a] || a || '–';
export const ruleName = (r) => RULES[r] || r;

export function num(v, digits) {
  return typeof v === 'number' && Number.isFinite(v) ? v.toFixed(digits) : '–';
}

export function percent(share) {
  return typeof share === 'number' ? Math.round(share * 100) + ' %' : '–';
}

export function duration(s) {
  if (typeof s !== 'number') return '–';
  const m = Math.floor(s / 60);
  return m ? `${m} min ${Math.round(s - m * 60)} s` : `${s.toFixed(1)} s`;
}

// "Tuesday 1 December, 10:47" in the viewer's time zone and language.
export function localTime(iso, withDay = true) {
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return '–';
  const opts = { hour: '2-digit', minute: '2-digit' };
  if (withDay) Object.assign(opts, { weekday: 'long', day: 'numeric', month: 'long' });
  return d.toLocaleString(undefined, opts);
}

export function clock(iso) {
  const d = new Date(iso);
  return Number.isNaN(d.getTime()) ? '' : d.toLocaleTimeString(undefined, { hour12: false });
}

// The value of an alert with its unit: "0.95 mm", "cheeks", "2 uses".
export function measure(v, unit) {
  if (v === null || v === undefined) return '';
  return unit ? `${v} ${unit}` : String(v);
}
