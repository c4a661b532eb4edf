// Overview: payments over time by status (GET /stats), success rate, refunds, the job queue
// (GET /test/jobs/status) and webhook health. Range, metric and currency live in the hash.

import { h, api, money, card, CURRENCIES } from './lib.js';
import { stackedBars } from './chart.js';

export default async function overview(route, ctx) {
  const state = {
    range: route.params.get('range') === '30d' ? '30d' : '24h',
    metric: route.params.get('metric') === 'amount' ? 'amount' : 'count',
    currency: CURRENCIES.includes(route.params.get('currency')) ? route.params.get('currency') : 'INR',
  };
  const kpis = h('div', { class: 'kpis', 'aria-live': 'polite' });
  const chart = h('div', { class: 'chart-slot' });
  let last = null; // what the chart shows
  const buttons = [];
  const pressed = (key, value, text) => {
    const b = h('button', { type: 'button', class: 'btn small toggle', 'data-key': key, 'data-value': value, onclick: () => { state[key] = value; update(); } }, text);
    buttons.push(b);
    return b;
  };
  const currency = h('select', { id: 'ov-currency', 'aria-label': 'Currency', onchange: (e) => { state.currency = e.target.value; update(); } },
    CURRENCIES.map((c) => h('option', { value: c, selected: c === state.currency }, c)));
  const toggles = h('div', { class: 'toolbar' },
    h('div', { class: 'group', role: 'group', 'aria-label': 'Range' }, pressed('range', '24h', 'Last 24 h'), pressed('range', '30d', 'Last 30 days')),
    h('div', { class: 'group', role: 'group', 'aria-label': 'Measure' }, pressed('metric', 'count', 'Count'), pressed('metric', 'amount', 'Volume')),
    currency);

  async function update() {
    history.replaceState(null, '', `#/overview?range=${state.range}&metric=${state.metric}&currency=${state.currency}`);
    for (const b of buttons) b.setAttribute('aria-pressed', String(state[b.dataset.key] === b.dataset.value));
    await refresh();
  }

  async function refresh() {
    const [stats, jobs] = await Promise.allSettled([
      api(`/stats?range=${state.range}&currency=${state.currency}`),
      api('/test/jobs/status', { auth: false }),
    ]);
    if (!ctx.alive) return;
    kpis.replaceChildren(...tiles(stats, jobs, state.currency));
    if (stats.status === 'fulfilled') {
      const s = stats.value;
      const seen = state.metric + JSON.stringify(s.series);
      if (seen === last) return true; // unchanged: keep the chart (and an open table) as it is
      last = seen;
      chart.replaceChildren(stackedBars({ series: s.series, metric: state.metric, bucket: s.bucket, currency: s.currency }));
    } else {
      last = null;
      chart.replaceChildren(h('div', { class: 'error-panel' },
        h('p', null, h('strong', null, 'Statistics are unavailable. '), stats.reason.message),
        h('p', { class: 'hint' }, 'The other pages work without them.')));
    }
    return true;
  }

  await update();
  ctx.poll(refresh, 10000);
  return h('div', null,
    h('div', { class: 'head' }, h('h1', null, 'Overview'), toggles),
    kpis,
    card(null, h('h2', { id: 'chart-title' }, 'Payments by status'), chart));
}

function tile(label, value, detail, tone) {
  return h('div', { class: 'kpi' + (tone ? ' ' + tone : '') }, h('p', { class: 'kpi-label' }, label), h('p', { class: 'kpi-value' }, value), detail ? h('p', { class: 'kpi-detail' }, detail) : null);
}

function tiles(stats, jobs, currency) {
  const out = [];
  if (stats.status === 'fulfilled') {
    const s = stats.value;
    const t = s.totals;
    const rate = s.success_rate == null ? '—' : `${(Math.round(s.success_rate * 1000) / 10).toFixed(1)} %`;
    out.push(
      tile('Volume (succeeded)', money(t.success.amount, s.currency), `${t.success.count} payment${t.success.count === 1 ? '' : 's'}`),
      tile('Payments', String(t.success.count + t.failed.count + t.pending.count), `${t.success.count} succeeded · ${t.failed.count} failed · ${t.pending.count} pending`),
      tile('Success rate', rate, s.success_rate == null ? 'No settled payments yet' : 'succeeded / settled', s.success_rate != null && s.success_rate < 0.8 ? 'warn' : null),
      tile('Refunded', money(s.refunds.amount, s.currency), `${s.refunds.count} refund${s.refunds.count === 1 ? '' : 's'} · ${money(s.refunds.processed_amount, s.currency)} processed`),
    );
    const w = s.webhooks;
    const health = w.failed > 0 ? 'Failing' : w.pending > 0 ? 'Delivering' : w.success > 0 ? 'Healthy' : 'No deliveries';
    out.push(tile('Webhooks', health, h('a', { href: '#/webhooks' }, `${w.success} delivered · ${w.pending} pending · ${w.failed} failed`), w.failed > 0 ? 'bad' : null));
  } else {
    out.push(tile('Payments', '—', `Volume and rates for ${currency} are unavailable`));
  }
  if (jobs.status === 'fulfilled') {
    const j = jobs.value;
    const lagging = j.lag_seconds >= LAG_WARNING_SECONDS;
    out.push(tile('Pending jobs', String(j.pending + j.processing),
      `${j.processing} processing · ${j.failed} failed · lag ${duration(j.lag_seconds)} · worker ${j.worker_status}`,
      j.worker_status !== 'running' || j.failed ? 'bad' : lagging ? 'warn' : null));
  } else {
    out.push(tile('Pending jobs', '—', jobs.reason.message, 'bad'));
  }
  return out;
}

// A due job waiting this long means the workers are stopped, too few or stuck.
const LAG_WARNING_SECONDS = 60;

// The queue's lag (seconds, fractional) as a short human duration.
function duration(seconds) {
  if (!(seconds > 0)) return '0 s';
  if (seconds < 1) return `${Math.round(seconds * 1000)} ms`;
  if (seconds < 120) return `${Math.round(seconds)} s`;
  if (seconds < 7200) return `${Math.round(seconds / 60)} min`;
  return `${Math.round(seconds / 3600)} h`;
}
