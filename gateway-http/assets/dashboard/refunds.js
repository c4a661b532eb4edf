// Refunds: the list (optionally of one payment) and one refund. Refunds are created from a
// payment's page. The currency is the payment's, read once per page of refunds.

import { h, api, query, money, time, badge, table, dl, card, pager, field, errorSlot } from './lib.js';

const LIMIT = 20;

async function currencies(refunds) {
  const ids = [...new Set(refunds.map((r) => r.payment_id))];
  const found = await Promise.all(ids.map((id) => api('/payments/' + id).then((p) => [id, p.currency], () => [id, 'INR'])));
  return new Map(found);
}

export default async function refunds(route, ctx) {
  if (route.id) return detail(route.id, ctx);
  const paymentId = route.params.get('payment_id') || '';
  const offset = Math.max(0, parseInt(route.params.get('offset'), 10) || 0);
  const page = await api('/refunds' + query({ payment_id: paymentId, limit: LIMIT, offset }));
  const cur = await currencies(page.data);
  const input = h('input', { id: 'refund-payment', type: 'search', autocomplete: 'off', spellcheck: 'false', placeholder: 'pay_…', value: paymentId });
  const err = errorSlot();
  const form = h('form', { class: 'search', role: 'search' }, field('Payment id', input), h('button', { class: 'btn', type: 'submit' }, 'Filter'));
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    const id = input.value.trim();
    if (id && !/^pay_[A-Za-z0-9]+$/.test(id)) return err.show('Enter a payment id (pay_…), or nothing for all refunds.');
    location.hash = '#/refunds' + query({ payment_id: id });
  });
  return h('div', null,
    h('div', { class: 'head' }, h('h1', null, 'Refunds')),
    card(null, h('div', { class: 'toolbar' }, form), err,
      table([
        ['Refund', (r) => h('a', { class: 'mono', href: '#/refunds/' + r.id }, r.id)],
        ['Amount', (r) => money(r.amount, cur.get(r.payment_id))],
        ['Status', (r) => badge(r.status)],
        ['Payment', (r) => h('a', { class: 'mono', href: '#/payments/' + r.payment_id }, r.payment_id)],
        ['Reason', (r) => r.reason || '—'],
        ['Created', (r) => time(r.created_at)],
      ], page.data, 'No refunds yet. Refund a payment from its page.'),
      pager(page, (o) => '#/refunds' + query({ payment_id: paymentId, offset: o }))));
}

async function detail(id, ctx) {
  const root = h('div');
  const load = async () => {
    const r = await api('/refunds/' + encodeURIComponent(id));
    const p = await api('/payments/' + r.payment_id);
    if (!ctx.alive) return false;
    root.replaceChildren(
      h('div', { class: 'head' }, h('h1', null, 'Refund ', money(r.amount, p.currency), ' ', badge(r.status))),
      card('Refund', dl([
        ['Id', h('span', { class: 'mono' }, r.id)],
        ['Payment', h('a', { class: 'mono', href: '#/payments/' + r.payment_id }, r.payment_id)],
        ['Payment amount', money(p.amount, p.currency)],
        ['Reason', r.reason],
        ['Created', time(r.created_at)],
        ['Processed', r.processed_at ? time(r.processed_at) : 'not yet'],
      ])));
    return r.status === 'pending';
  };
  if (await load()) ctx.poll(load, 1000);
  return h('div', null, h('p', { class: 'crumbs' }, h('a', { href: '#/refunds' }, '← Refunds')), root);
}
