// A stacked bar chart of payments per bucket by status, drawn as SVG at the container's real
// width (redrawn on resize, so labels stay legible from 360 px to 1440 px). Every bar carries
// data-status / data-count / data-amount and an aria-label; a table of the same numbers follows
// for screen readers and keyboard users.

import { h, money } from './lib.js';

const STATUSES = ['success', 'failed', 'pending'];
const HEIGHT = 220;
const PAD = { top: 12, right: 8, bottom: 26, left: 56 };

function niceMax(v) {
  if (v <= 0) return 1;
  const p = 10 ** Math.floor(Math.log10(v));
  for (const m of [1, 2, 2.5, 5, 10]) if (m * p >= v) return m * p;
  return 10 * p;
}

/** series: the stats endpoint's buckets; metric: 'count' | 'amount'; bucket: 'hour' | 'day'. */
export function stackedBars({ series, metric, bucket, currency }) {
  const label = bucketLabel(bucket);
  const value = (b, s) => (b[s] ? b[s][metric] : 0);
  const fmt = metric === 'amount' ? (v) => money(v, currency) : (v) => String(v);
  const axis = metric === 'amount' ? compactMoney(currency) : (v) => String(v);
  const max = niceMax(Math.max(0, ...series.map((b) => STATUSES.reduce((t, s) => t + value(b, s), 0))));
  const total = (s) => series.reduce((t, b) => t + value(b, s), 0);
  const summary = `${metric === 'amount' ? 'Volume' : 'Payments'} per ${bucket}, ${series.length} ${bucket}s: ` +
    STATUSES.map((s) => `${s} ${fmt(total(s))}`).join(', ');

  const box = h('div', { class: 'chart' });
  const draw = (width) => {
    const w = Math.max(280, Math.floor(width));
    const plotW = w - PAD.left - PAD.right;
    const plotH = HEIGHT - PAD.top - PAD.bottom;
    const slot = plotW / series.length;
    const barW = Math.max(2, slot * 0.72);
    const y = (v) => PAD.top + plotH - (v / max) * plotH;
    const svg = h('svg:svg', { viewBox: `0 0 ${w} ${HEIGHT}`, width: w, height: HEIGHT, role: 'img', 'aria-label': summary, 'data-metric': metric });
    for (const f of [0, 0.5, 1]) {
      if (metric === 'count' && !Number.isInteger(max * f)) continue; // no half payments
      const gy = y(max * f);
      svg.append(h('svg:line', { x1: PAD.left, x2: w - PAD.right, y1: gy, y2: gy, class: 'grid' }),
        h('svg:text', { x: PAD.left - 6, y: gy + 4, 'text-anchor': 'end', class: 'axis' }, axis(max * f)));
    }
    const every = Math.ceil(series.length / Math.max(1, Math.floor(plotW / 64)));
    series.forEach((b, i) => {
      const x = PAD.left + i * slot + (slot - barW) / 2;
      const parts = STATUSES.map((s) => `${s} ${b[s] ? b[s].count : 0} (${money(b[s] ? b[s].amount : 0, currency)})`);
      const g = h('svg:g', { 'data-start': b.start }, h('svg:title', null, `${label(b.start)} — ${parts.join(', ')}`));
      let base = 0;
      for (const s of STATUSES) {
        const v = value(b, s);
        if (!v) continue;
        const top = y(base + v);
        g.append(h('svg:rect', {
          x: x.toFixed(1), y: top.toFixed(1), width: barW.toFixed(1), height: Math.max(1, y(base) - top).toFixed(1),
          class: 'bar s-' + s, 'data-status': s, 'data-count': b[s].count, 'data-amount': b[s].amount,
          'aria-label': `${label(b.start)}: ${b[s].count} ${s}, ${money(b[s].amount, currency)}`,
        }));
        base += v;
      }
      svg.append(g);
      if ((series.length - 1 - i) % every === 0) { // labels line up with the newest bucket
        const last = i === series.length - 1;
        svg.append(h('svg:text', { x: (last ? x + barW : x + barW / 2).toFixed(1), y: HEIGHT - 8, 'text-anchor': last ? 'end' : 'middle', class: 'axis' }, label(b.start, true)));
      }
    });
    box.replaceChildren(svg);
  };
  new ResizeObserver((entries) => {
    const width = entries[0].contentRect.width;
    if (width && Math.floor(width) !== box._w) { box._w = Math.floor(width); draw(width); }
  }).observe(box);

  const legend = h('ul', { class: 'legend' }, STATUSES.map((s) => h('li', null, h('span', { class: 'swatch s-' + s, 'aria-hidden': 'true' }), s)));
  const rows = series.filter((b) => STATUSES.some((s) => b[s] && b[s].count));
  const data = h('details', { class: 'chart-data' }, h('summary', null, 'Show the numbers'),
    rows.length ? h('table', { class: 'list' },
      h('thead', null, h('tr', null, h('th', { scope: 'col' }, bucket === 'hour' ? 'Hour' : 'Day'), STATUSES.map((s) => h('th', { scope: 'col' }, s)))),
      h('tbody', null, rows.map((b) => h('tr', null, h('td', { 'data-label': bucket }, label(b.start)),
        STATUSES.map((s) => h('td', { 'data-label': s }, `${b[s].count} · ${money(b[s].amount, currency)}`))))))
      : h('p', { class: 'empty' }, 'No payments in this range.'));
  return h('div', null, legend, box, data);
}

function bucketLabel(bucket) {
  const hour = new Intl.DateTimeFormat(undefined, { hour: '2-digit', minute: '2-digit' });
  const hourLong = new Intl.DateTimeFormat(undefined, { day: 'numeric', month: 'short', hour: '2-digit', minute: '2-digit' });
  const day = new Intl.DateTimeFormat(undefined, { day: 'numeric', month: 'short', timeZone: 'UTC' });
  return bucket === 'hour'
    ? (iso, short) => (short ? hour : hourLong).format(new Date(iso))
    : (iso, short) => day.format(new Date(iso)) + (short ? '' : ' (UTC)');
}

function compactMoney(currency) {
  let f;
  try { f = new Intl.NumberFormat(undefined, { style: 'currency', currency, notation: 'compact', maximumFractionDigits: 1 }); } catch { f = null; }
  const div = currency === 'JPY' ? 1 : 100;
  return (v) => (f ? f.format(v / div) : String(v / div)); // axis labels only, never amounts
}
