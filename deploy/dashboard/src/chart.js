// SPDX-License-Identifier: LGPL-2.1-or-later
// One time series of a pen (depth or speed) with uPlot: the plan's limits of each area visit as a
// band, replayed records as dots, alerts as vertical lines in their severity's colour.

import uPlot from 'uplot';

const SEVERITY_COLOURS = { critical: '#c62828', warning: '#ef6c00', info: '#1565c0' };

// kind: 'depth' | 'speed'. get(): {series, bands, alerts} as they are now.
export function makeChart(el, kind, get) {
  const depth = kind === 'depth';
  const colour = depth ? '#00695c' : '#4527a0';
  const opts = {
    width: Math.max(el.clientWidth, 200),
    height: 160,
    legend: { show: false },
    cursor: { show: false },
    scales: { x: { time: true }, y: { range: (u, min, max) => [0, Math.max(max * 1.15, depth ? 1 : 160)] } },
    axes: [{ values: (u, splits) => splits.map(clockOf) }, { label: depth ? 'depth mm' : 'speed Hz', size: 55 }],
    series: [
      {},
      { stroke: colour, width: 1.5 },
      depth ? { stroke: '#ad1457', paths: () => null, points: { show: true, size: 6, fill: '#ad1457' } } : { show: false },
    ],
    hooks: {
      drawClear: [(u) => drawBands(u, get().bands, kind)],
      draw: [(u) => drawAlerts(u, get().alerts), (u) => drawAreaNames(u, get().bands)],
    },
  };
  const plot = new uPlot(opts, data(get().series, depth), el);
  const resize = new ResizeObserver(() => plot.setSize({ width: Math.max(el.clientWidth, 200), height: 160 }));
  resize.observe(el);
  return {
    update() {
      plot.setData(data(get().series, depth));
    },
    destroy() {
      resize.disconnect();
      plot.destroy();
    },
  };
}

const clockOf = (s) => new Date(s * 1000).toLocaleTimeString([], { hour12: false });

function data(s, depth) {
  return [s.x, depth ? s.depth : s.speed, depth ? s.replayed : s.x.map(() => null)];
}

// Each area visit from its start to the next one's: the allowed range filled, the limits drawn.
function drawBands(u, bands, kind) {
  const ctx = u.ctx;
  const { left, top, width, height } = u.bbox;
  ctx.save();
  ctx.beginPath();
  ctx.rect(left, top, width, height);
  ctx.clip();
  bands.forEach((b, i) => {
    const range = b.limits?.[kind];
    if (!range) return;
    const x0 = Math.max(u.valToPos(b.from, 'x', true), left);
    const x1 = i + 1 < bands.length ? u.valToPos(bands[i + 1].from, 'x', true) : left + width;
    if (x1 <= x0) return;
    const yMax = range[1] != null ? u.valToPos(range[1], 'y', true) : top;
    const yMin = range[0] != null ? u.valToPos(range[0], 'y', true) : top + height;
    ctx.fillStyle = 'rgba(46, 125, 50, 0.13)';
    ctx.fillRect(x0, yMax, x1 - x0, yMin - yMax);
    ctx.strokeStyle = 'rgba(198, 40, 40, 0.8)';
    ctx.setLineDash([6, 4]);
    ctx.lineWidth = 1.5;
    for (const [v, y] of [[range[1], yMax], [range[0], yMin]]) {
      if (v == null) continue;
      ctx.beginPath();
      ctx.moveTo(x0, y);
      ctx.lineTo(x1, y);
      ctx.stroke();
    }
    ctx.setLineDash([]);
  });
  ctx.restore();
}

// Over the lines: the name of each area visit, at its start.
function drawAreaNames(u, bands) {
  const ctx = u.ctx;
  const { left, top, width } = u.bbox;
  ctx.save();
  ctx.fillStyle = '#37474f';
  ctx.font = `${12 * devicePixelRatio}px system-ui, sans-serif`;
  ctx.textAlign = 'left'; // uPlot leaves its axes' alignment behind
  ctx.textBaseline = 'top';
  for (const b of bands) {
    const x = Math.max(u.valToPos(b.from, 'x', true), left) + 4;
    if (x < left + width - 20) ctx.fillText(b.area, x, top + 2);
  }
  ctx.restore();
}

function drawAlerts(u, alerts) {
  const ctx = u.ctx;
  const { left, top, width, height } = u.bbox;
  ctx.save();
  ctx.lineWidth = 2 * devicePixelRatio;
  for (const a of alerts) {
    if (a.tMs == null) continue;
    const x = u.valToPos(a.tMs / 1000, 'x', true);
    if (x < left || x > left + width) continue;
    ctx.strokeStyle = SEVERITY_COLOURS[a.severity] || '#555';
    ctx.beginPath();
    ctx.moveTo(x, top);
    ctx.lineTo(x, top + height);
    ctx.stroke();
  }
  ctx.restore();
}
