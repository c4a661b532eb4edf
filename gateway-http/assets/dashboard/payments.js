// Payments: the list (status filter, search by id), and one payment with its timeline, capture
// and refunds. The API's validation messages are shown next to the action that caused them.

import { h, api, query, money, time, badge, table, dl, card, pager, field, errorSlot, parseMajor, toMajor, idempotency } from './lib.js';

const LIMIT = 20;
const STATUSES = ['pending', 'success', 'failed'];

const method = (p) => (p.method === 'card' ? `card ${p.card_network || ''} •••• ${p.card_last4 || ''}` : `UPI ${p.vpa || ''}`);

export function paymentTable(rows) {
  return table([
    ['Payment', (p) => h('a', { class: 'mono', href: '#/payments/' + p.id }, p.id)],
    ['Amount', (p) => money(p.amount, p.currency)],
    ['Method', method],
    ['Status', (p) => badge(p.status)],
    ['Captured', (p) => (p.captured ? 'yes' : '—')],
    ['Created', (p) => time(p.created_at)],
  ], rows, 'No payments match.');
}

export default async function payments(route, ctx) {
  if (route.id) return detail(route.id, ctx);
  const status = STATUSES.includes(route.params.get('status')) ? route.params.get('status') : '';
  const orderId = route.params.get('order_id') || '';
  const offset = Math.max(0, parseInt(route.params.get('offset'), 10) || 0);
  const page = await api('/payments' + query({ status, order_id: orderId, limit: LIMIT, offset }));

  const filter = h('select', { id: 'payment-status', onchange: (e) => { location.hash = '#/payments' + query({ status: e.target.value, order_id: orderId }); } },
    h('option', { value: '' }, 'All'), STATUSES.map((s) => h('option', { value: s, selected: s === status }, s)));
  const search = h('input', { id: 'payment-search', type: 'search', autocomplete: 'off', spellcheck: 'false', placeholder: 'pay_… or order_…' });
  const err = errorSlot();
  const form = h('form', { class: 'search', role: 'search' }, field('Find by id', search), h('button', { class: 'btn', type: 'submit' }, 'Find'));
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    const id = search.value.trim();
    if (/^pay_[A-Za-z0-9]+$/.test(id)) location.hash = '#/payments/' + id;
    else if (/^order_[A-Za-z0-9]+$/.test(id)) location.hash = '#/payments' + query({ order_id: id });
    else err.show('Enter a payment id (pay_…) or an order id (order_…).');
  });
  return h('div', null,
    h('div', { class: 'head' }, h('h1', null, 'Payments')),
    card(null, h('div', { class: 'toolbar' }, field('Status', filter), form), err,
      orderId ? h('p', { class: 'hint' }, `Payments of order ${orderId} · `, h('a', { href: '#/payments' }, 'show all')) : null,
      paymentTable(page.data), pager(page, (o) => '#/payments' + query({ status, order_id: orderId, offset: o }))));
}

async function detail(id, ctx) {
  const summary = h('div');
  const actions = h('div');
  const notice = h('p', { class: 'ok', role: 'status' });
  let actionState = null;
  let polling = false;
  const follow = () => { // poll until the payment and its refunds have settled
    if (polling) return;
    polling = true;
    ctx.poll(async () => (polling = await load()), 1000);
  };
  const acted = async (message) => { notice.textContent = message; await load(); follow(); };

  const load = async () => {
    const [p, refunds] = await Promise.all([
      api('/payments/' + encodeURIComponent(id)),
      api('/payments/' + encodeURIComponent(id) + '/refunds?limit=100'),
    ]);
    if (!ctx.alive) return false;
    const refunded = refunds.data.filter((r) => r.status !== 'failed').reduce((t, r) => t + r.amount, 0);
    const remaining = p.amount - refunded;
    summary.replaceChildren(
      h('div', { class: 'head' }, h('h1', null, money(p.amount, p.currency), ' ', badge(p.status))),
      h('div', { class: 'cols' },
        card('Payment', dl([
          ['Id', h('span', { class: 'mono' }, p.id)],
          ['Order', h('a', { class: 'mono', href: '#/orders/' + p.order_id }, p.order_id)],
          ['Method', method(p)],
          ['Captured', p.captured ? 'yes' : 'no'],
          ['Refunded', refunded ? money(refunded, p.currency) : null],
          ['Error', p.error_description ? `${p.error_description} (${p.error_code})` : null],
          ['Created', time(p.created_at)],
          ['Updated', time(p.updated_at)],
        ])),
        card('Timeline', timeline(p, refunds.data))),
      card('Refunds', table([
        ['Refund', (r) => h('a', { class: 'mono', href: '#/refunds/' + r.id }, r.id)],
        ['Amount', (r) => money(r.amount, p.currency)],
        ['Status', (r) => badge(r.status)],
        ['Reason', (r) => r.reason || '—'],
        ['Created', (r) => time(r.created_at)],
      ], refunds.data, 'No refunds.')));
    const next = `${p.status}/${p.captured}/${remaining}`;
    if (next !== actionState) {
      actionState = next;
      actions.replaceChildren(...actionCards(p, remaining, acted));
    }
    return p.status === 'pending' || refunds.data.some((r) => r.status === 'pending');
  };

  try {
    if (await load()) follow();
  } catch (e) {
    if (e.status !== 404) throw e;
    return card(null, h('h1', null, 'Payment not found'), h('p', null, `No payment ${id} for this merchant. `, h('a', { href: '#/payments' }, 'All payments')));
  }
  return h('div', null, h('p', { class: 'crumbs' }, h('a', { href: '#/payments' }, '← Payments')), summary, notice, actions);
}

function timeline(p, refunds) {
  const item = (event, label, at, extra) => ({ event, label, at, extra });
  const first = [item('created', 'Created', p.created_at), item('pending', 'Pending: sent to the bank', p.created_at)];
  if (p.status === 'success') first.push(item('success', 'Succeeded', p.captured ? null : p.updated_at));
  if (p.status === 'failed') first.push(item('failed', 'Failed', p.updated_at, p.error_description));
  const later = [];
  if (p.captured) later.push(item('captured', 'Captured', p.updated_at));
  for (const r of refunds) {
    later.push(item('refund', `Refund of ${money(r.amount, p.currency)} requested`, r.created_at, h('span', null, badge(r.status), ' ', h('a', { class: 'mono', href: '#/refunds/' + r.id }, r.id))));
    if (r.processed_at) later.push(item('refund-' + r.status, `Refund of ${money(r.amount, p.currency)} ${r.status}`, r.processed_at));
  }
  later.sort((a, b) => (a.at < b.at ? -1 : a.at > b.at ? 1 : 0));
  return h('ol', { class: 'timeline' }, [...first, ...later].map((e) =>
    h('li', { 'data-event': e.event, class: 't-' + e.event.replace(/^refund-?/, 'refund') },
      h('span', { class: 't-label' }, e.label), ' ', e.at ? time(e.at) : null, e.extra ? h('div', { class: 'hint' }, e.extra) : null)));
}

function actionCards(p, remaining, acted) {
  const cards = [];
  if (p.status === 'success' && !p.captured) {
    const err = errorSlot();
    const idem = idempotency();
    const button = h('button', { type: 'button', class: 'btn primary', id: 'capture' }, `Capture ${money(p.amount, p.currency)}`);
    button.addEventListener('click', async () => {
      const body = { amount: p.amount };
      button.disabled = true;
      err.show('');
      try {
        await api(`/payments/${p.id}/capture`, { method: 'POST', body, key: idem.key(body) });
        idem.done();
        await acted(`Captured ${money(p.amount, p.currency)}.`);
      } catch (e) { err.show(e.message); button.disabled = false; }
    });
    cards.push(card('Capture', h('p', { class: 'hint' }, 'Capture settles the full amount. It happens once.'), button, err));
  }
  if (p.status === 'success' && remaining > 0) cards.push(refundCard(p, remaining, acted));
  else if (p.status === 'success') cards.push(card('Refund', h('p', null, 'This payment is fully refunded.')));
  return cards;
}

function refundCard(p, remaining, acted) {
  const amount = h('input', { id: 'refund-amount', inputmode: 'decimal', autocomplete: 'off', value: toMajor(remaining, p.currency), required: true });
  const reason = h('input', { id: 'refund-reason', maxlength: 255, autocomplete: 'off', placeholder: 'Customer requested a refund' });
  const err = errorSlot();
  const submit = h('button', { type: 'submit', class: 'btn danger', id: 'refund' }, 'Refund');
  const idem = idempotency();
  const form = h('form', { class: 'grid-form', novalidate: true },
    field('Amount', amount, `Up to ${money(remaining, p.currency)} is refundable; leave it for a full refund.`),
    field('Reason (optional)', reason), h('div', { class: 'actions' }, submit));
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    err.show('');
    let minor;
    try { minor = parseMajor(amount.value, p.currency); } catch (x) { err.show(x.message); amount.focus(); return; }
    if (minor < 1) { err.show('Enter an amount above zero.'); return; }
    const body = { amount: minor };
    if (reason.value.trim()) body.reason = reason.value.trim();
    submit.disabled = true;
    try {
      const r = await api(`/payments/${p.id}/refunds`, { method: 'POST', body, key: idem.key(body) });
      idem.done();
      await acted(`Refund ${r.id} of ${money(r.amount, p.currency)} created (${r.status}).`);
    } catch (x) {
      err.show(x.message);
    } finally {
      submit.disabled = false;
    }
  });
  return card('Refund', form, err);
}
