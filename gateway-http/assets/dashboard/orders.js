// Orders: the no-code flow (amount → order → hosted checkout link to send the customer), the
// list filtered by status with pagination, and one order with its payments.

import { h, api, query, money, time, badge, table, dl, card, pager, field, errorSlot, copyButton, parseMajor, idempotency, keyId, CURRENCIES } from './lib.js';
import { paymentTable } from './payments.js';

const LIMIT = 20;
const STATUSES = ['created', 'attempted', 'paid'];

/** The hosted checkout page for an order: carries the publishable key id, never the secret. */
export const checkoutLink = (orderId) =>
  `${location.origin}/checkout?order_id=${encodeURIComponent(orderId)}&key=${encodeURIComponent(keyId())}`;

function linkBox(orderId) {
  const url = checkoutLink(orderId);
  const input = h('input', { id: 'link-' + orderId, class: 'mono', readonly: true, value: url, 'aria-label': 'Checkout link' });
  return h('div', { class: 'linkbox' }, input, copyButton(url, 'Copy link'),
    h('a', { class: 'btn small', href: url, target: '_blank', rel: 'noopener noreferrer' }, 'Open'));
}

export default async function orders(route) {
  if (route.id) return detail(route.id);
  const status = STATUSES.includes(route.params.get('status')) ? route.params.get('status') : '';
  const offset = Math.max(0, parseInt(route.params.get('offset'), 10) || 0);
  const list = h('div');
  const load = async () => {
    const page = await api('/orders' + query({ status, limit: LIMIT, offset }));
    list.replaceChildren(orderTable(page.data), pager(page, (o) => '#/orders' + query({ status, offset: o })));
  };
  await load();
  const filter = h('select', { id: 'order-status', onchange: (e) => { location.hash = '#/orders' + query({ status: e.target.value }); } },
    h('option', { value: '' }, 'All'), STATUSES.map((s) => h('option', { value: s, selected: s === status }, s)));
  return h('div', null,
    h('div', { class: 'head' }, h('h1', null, 'Orders')),
    createForm(load),
    card('All orders', h('div', { class: 'toolbar' }, field('Status', filter)), list));
}

function orderTable(rows) {
  return table([
    ['Order', (o) => h('a', { class: 'mono', href: '#/orders/' + o.id }, o.id)],
    ['Amount', (o) => money(o.amount, o.currency)],
    ['Status', (o) => badge(o.status)],
    ['Receipt', (o) => o.receipt || '—'],
    ['Created', (o) => time(o.created_at)],
  ], rows, 'No orders match.');
}

function createForm(reload) {
  const amount = h('input', { id: 'new-amount', name: 'amount', inputmode: 'decimal', autocomplete: 'off', placeholder: '500.00', required: true });
  const currency = h('select', { id: 'new-currency', name: 'currency' }, CURRENCIES.map((c) => h('option', { value: c }, c)));
  const receipt = h('input', { id: 'new-receipt', name: 'receipt', maxlength: 255, autocomplete: 'off', placeholder: 'receipt_123' });
  const err = errorSlot();
  const result = h('div', { 'aria-live': 'polite' });
  const submit = h('button', { type: 'submit', class: 'btn primary', id: 'create-order' }, 'Create checkout link');
  const idem = idempotency();
  const form = h('form', { class: 'grid-form', novalidate: true },
    field('Amount', amount, 'In major units, e.g. 500.00'), field('Currency', currency), field('Receipt (optional)', receipt), h('div', { class: 'actions' }, submit));
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    err.show('');
    let minor;
    try { minor = parseMajor(amount.value, currency.value); } catch (x) { err.show(x.message); amount.setAttribute('aria-invalid', 'true'); amount.focus(); return; }
    amount.removeAttribute('aria-invalid');
    const body = { amount: minor, currency: currency.value };
    if (receipt.value.trim()) body.receipt = receipt.value.trim();
    submit.disabled = true;
    try {
      const order = await api('/orders', { method: 'POST', body, key: idem.key(body) });
      idem.done();
      form.reset();
      result.replaceChildren(h('div', { class: 'created' },
        h('p', null, 'Order ', h('a', { class: 'mono', href: '#/orders/' + order.id }, order.id), ` created for ${money(order.amount, order.currency)}. Send your customer this link:`),
        linkBox(order.id)));
      await reload();
    } catch (x) {
      err.show(x.message);
    } finally {
      submit.disabled = false;
    }
  });
  return card('Create a checkout link', h('p', { class: 'hint' }, 'An order your customer pays on the hosted checkout page; no code needed.'), form, err, result);
}

async function detail(id) {
  const order = await api('/orders/' + encodeURIComponent(id));
  const payments = await api('/payments' + query({ order_id: order.id, limit: 100 }));
  return h('div', null,
    h('p', { class: 'crumbs' }, h('a', { href: '#/orders' }, '← Orders')),
    h('div', { class: 'head' }, h('h1', null, money(order.amount, order.currency), ' ', badge(order.status))),
    card('Order', dl([
      ['Id', h('span', { class: 'mono' }, order.id)],
      ['Receipt', order.receipt],
      ['Created', time(order.created_at)],
      ['Updated', time(order.updated_at)],
      ['Notes', Object.keys(order.notes || {}).length ? h('pre', null, JSON.stringify(order.notes, null, 2)) : null],
    ])),
    order.status === 'paid' ? null : card('Checkout link', linkBox(order.id)),
    card('Payments', paymentTable(payments.data)));
}
