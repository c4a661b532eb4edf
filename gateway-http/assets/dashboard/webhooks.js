// Webhooks: the default endpoint's URL, a test event, its signing secret (masked; revealed on
// request; a rotated one shown once), every endpoint (see endpoints.js), and the delivery log
// (of one endpoint with #/webhooks?endpoint_id=we_…, of one event type with ?event=…; a filtered
// log comes first) with each delivery's attempts, payload and a manual retry. Lists refresh every
// 2 s while a delivery on screen is pending.

import { h, api, query, time, relative, badge, table, dl, card, pager, field, errorSlot, copyButton } from './lib.js';
import { endpointsCard } from './endpoints.js';

const LIMIT = 20;
const MASK = 'whsec_••••••••••••';

export default async function webhooks(route, ctx) {
  if (route.id) return detail(route.id, ctx);
  const offset = Math.max(0, parseInt(route.params.get('offset'), 10) || 0);
  const endpoint = route.params.get('endpoint_id') || '';
  const event = route.params.get('event') || '';
  const filtered = { endpoint_id: endpoint, event };
  const config = await api('/webhooks/config');
  const list = h('div', { 'aria-live': 'polite' });
  let shown = null;
  let polling = false;
  const load = async () => {
    const page = await api('/webhooks' + query({ limit: LIMIT, offset, ...filtered }));
    if (!ctx.alive) return false;
    const seen = JSON.stringify(page);
    if (seen !== shown) {
      shown = seen;
      list.replaceChildren(deliveryTable(page.data, anyChanged), pager(page, (o) => '#/webhooks' + query({ offset: o, ...filtered })));
    }
    return page.data.some((d) => d.status === 'pending');
  };
  const follow = () => {
    if (polling) return;
    polling = true;
    ctx.poll(async () => (polling = await load()), 2000);
  };
  const retried = async () => { await load(); follow(); };
  let endpoints = null;
  // A test event or a retry also changes the endpoints' health.
  const anyChanged = async () => { await retried(); if (endpoints) await endpoints.refresh(); };
  if (await load()) follow();
  const filter = endpoint || event;
  const log = card(['Deliveries', event ? ` of ${event}` : '', endpoint ? ` to ${endpoint}` : ''].join(''),
    filter ? h('p', { class: 'hint' }, h('a', { href: '#/webhooks', id: 'all-deliveries' }, endpoint ? 'Show every endpoint\'s deliveries' : 'Show every delivery')) : null,
    list);
  log.id = 'deliveries';
  return h('div', null,
    h('div', { class: 'head' }, h('h1', null, 'Webhooks')),
    filter ? log : null,
    h('div', { class: 'cols' }, endpointCard(config.webhook_url, anyChanged), secretCard()),
    (endpoints = endpointsCard(retried, ctx)),
    filter ? null : log);
}

function endpointCard(url, changed) {
  const input = h('input', { id: 'webhook-url', type: 'url', inputmode: 'url', autocomplete: 'off', spellcheck: 'false', placeholder: 'https://example.com/webhooks', value: url || '' });
  const err = errorSlot();
  const ok = h('p', { class: 'ok', role: 'status' });
  const save = h('button', { type: 'submit', class: 'btn primary', id: 'save-url' }, 'Save');
  const form = h('form', { class: 'inline-form', novalidate: true }, field('Endpoint URL', input), h('div', { class: 'actions' }, save));
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    err.show('');
    ok.textContent = '';
    save.disabled = true;
    try {
      const c = await api('/webhooks/config', { method: 'PUT', body: { webhook_url: input.value.trim() || null } });
      ok.textContent = c.webhook_url ? 'Saved. Events go to this URL from now on.' : 'Cleared. Webhooks are off.';
    } catch (x) { err.show(x.message); } finally { save.disabled = false; }
  });
  const testErr = errorSlot();
  const test = h('button', { type: 'button', class: 'btn', id: 'send-test' }, 'Send test event');
  test.addEventListener('click', async () => {
    testErr.show('');
    ok.textContent = '';
    test.disabled = true;
    try {
      await api('/webhooks/test', { method: 'POST', key: crypto.randomUUID() });
      ok.textContent = 'Test event queued; see it below.';
      await changed();
    } catch (x) { testErr.show(x.message); } finally { test.disabled = false; }
  });
  return card('Endpoint', form, h('p', { class: 'hint' }, 'Every payment and refund event is POSTed here, signed with the secret.'),
    err, h('div', { class: 'actions' }, test), testErr, ok);
}

function secretCard() {
  const value = h('code', { id: 'secret-value', class: 'mono' }, MASK);
  const err = errorSlot();
  const once = h('div', { 'aria-live': 'polite' });
  const reveal = h('button', { type: 'button', class: 'btn small', id: 'reveal-secret', 'aria-pressed': 'false', 'aria-controls': 'secret-value' }, 'Reveal');
  reveal.addEventListener('click', async () => {
    err.show('');
    if (reveal.getAttribute('aria-pressed') === 'true') {
      value.textContent = MASK;
      reveal.setAttribute('aria-pressed', 'false');
      reveal.textContent = 'Reveal';
      return;
    }
    try {
      value.textContent = (await api('/webhooks/config')).webhook_secret;
      reveal.setAttribute('aria-pressed', 'true');
      reveal.textContent = 'Hide';
    } catch (x) { err.show(x.message); }
  });
  const rotate = h('button', { type: 'button', class: 'btn danger', id: 'rotate-secret' }, 'Rotate secret…');
  const confirmBox = h('div', { class: 'confirm', hidden: true, role: 'group', 'aria-label': 'Confirm rotation' },
    h('p', null, 'Deliveries are signed with the new secret at once, retries included. Your endpoint rejects them until it uses the new one.'));
  const yes = h('button', { type: 'button', class: 'btn danger', id: 'rotate-confirm' }, 'Rotate now');
  const no = h('button', { type: 'button', class: 'btn' }, 'Cancel');
  confirmBox.append(h('div', { class: 'actions' }, yes, no));
  rotate.addEventListener('click', () => { confirmBox.hidden = false; yes.focus(); });
  no.addEventListener('click', () => { confirmBox.hidden = true; rotate.focus(); });
  yes.addEventListener('click', async () => {
    yes.disabled = true;
    err.show('');
    try {
      const { webhook_secret: secret } = await api('/webhooks/secret/regenerate', { method: 'POST', key: crypto.randomUUID() });
      confirmBox.hidden = true;
      value.textContent = MASK;
      reveal.setAttribute('aria-pressed', 'false');
      reveal.textContent = 'Reveal';
      const hide = h('button', { type: 'button', class: 'btn small', id: 'hide-new-secret' }, 'I have saved it');
      const box = h('div', { class: 'once', id: 'new-secret' },
        h('p', null, h('strong', null, 'New signing secret. '), 'It is shown once: copy it to your server now.'),
        h('code', { class: 'mono secret' }, secret), h('div', { class: 'actions' }, copyButton(secret), hide));
      hide.addEventListener('click', () => { once.replaceChildren(); rotate.focus(); });
      once.replaceChildren(box);
      hide.focus();
    } catch (x) { err.show(x.message); } finally { yes.disabled = false; }
  });
  return card('Signing secret',
    h('div', { class: 'secret-row' }, value, reveal),
    h('p', { class: 'hint' }, 'Verify X-Webhook-Signature (hex HMAC-SHA256 of the body) or the Standard Webhooks headers with it.'),
    h('div', { class: 'actions' }, rotate), confirmBox, err, once);
}

function attemptResult(d) {
  if (d.response_code != null) return h('span', { class: d.response_code < 300 ? 'code-ok' : 'code-bad' }, `HTTP ${d.response_code}`);
  return d.error || '—';
}

function retryButton(id, after) {
  const b = h('button', { type: 'button', class: 'btn small', 'data-retry': id }, 'Retry');
  const err = errorSlot();
  b.addEventListener('click', async () => {
    b.disabled = true;
    err.show('');
    try {
      await api(`/webhooks/${id}/retry`, { method: 'POST', key: crypto.randomUUID() });
      await after();
    } catch (x) { err.show(x.message); b.disabled = false; }
  });
  return h('span', null, b, err);
}

function deliveryTable(rows, after) {
  return table([
    ['Event', (d) => h('a', { href: '#/webhooks/' + d.id }, d.event)],
    ['Status', (d) => badge(d.status)],
    ['Attempts', (d) => String(d.attempts)],
    ['Response', attemptResult],
    ['Duration', (d) => (d.duration_ms == null ? '—' : `${d.duration_ms} ms`)],
    ['Next retry', (d) => (d.next_retry_at ? h('span', { title: d.next_retry_at }, relative(d.next_retry_at)) : '—')],
    ['Created', (d) => time(d.created_at)],
    ['', (d) => retryButton(d.id, after)],
  ], rows, 'No deliveries yet. Set a URL and send a test event.');
}

async function detail(id, ctx) {
  const root = h('div');
  let polling = false;
  const load = async () => {
    const d = await api('/webhooks/' + encodeURIComponent(id));
    if (!ctx.alive) return false;
    root.replaceChildren(
      h('div', { class: 'head' }, h('h1', null, d.event, ' ', badge(d.status)), retryButton(d.id, follow)),
      card('Delivery', dl([
        ['Id (webhook-id)', h('span', { class: 'mono' }, d.id)],
        ['Attempts', String(d.attempts)],
        ['Created', time(d.created_at)],
        ['Last attempt', d.last_attempt_at ? time(d.last_attempt_at) : 'none yet'],
        ['Next retry', d.next_retry_at ? h('span', null, time(d.next_retry_at), ` (${relative(d.next_retry_at)})`) : null],
        ['Latest response', attemptResult(d)],
        ['Duration', d.duration_ms == null ? null : `${d.duration_ms} ms`],
      ])),
      card('Attempts', table([
        ['#', (a) => String(a.attempt)],
        ['At', (a) => time(a.attempted_at)],
        ['Response', attemptResult],
        ['Duration', (a) => (a.duration_ms == null ? '—' : `${a.duration_ms} ms`)],
        ['Then', (a) => badge(a.status)],
        ['Next retry', (a) => (a.next_retry_at ? time(a.next_retry_at) : '—')],
        ['Body', (a) => (a.response_body ? h('code', { class: 'clip' }, a.response_body.slice(0, 200)) : '—')],
      ], d.attempt_log || [], 'No attempt yet.')),
      card('Payload', h('pre', { class: 'code', tabindex: '0' }, JSON.stringify(d.payload, null, 2))));
    return d.status === 'pending';
  };
  async function follow() {
    await load();
    if (polling) return;
    polling = true;
    ctx.poll(async () => (polling = await load()), 2000);
  }
  if (await load()) { polling = true; ctx.poll(async () => (polling = await load()), 2000); }
  return h('div', null, h('p', { class: 'crumbs' }, h('a', { href: '#/webhooks' }, '← Webhooks')), root);
}
