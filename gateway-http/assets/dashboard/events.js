// Events: everything the gateway recorded for the merchant (kept for the retention period,
// whether or not an endpoint received it), newest first, paged and filtered by type; one event
// shows its type, time and the payload its webhooks sent, pretty-printed.

import { h, api, query, time, table, dl, card, pager, field, copyButton } from './lib.js';

const LIMIT = 20;
/** The API's event types (gateway-core `EventType::ALL`). */
export const TYPES = [
  'payment.created', 'payment.pending', 'payment.success', 'payment.failed',
  'refund.created', 'refund.processed', 'webhook.test', 'webhook_endpoint.disabled',
];

export default async function events(route, ctx) {
  if (route.id) return detail(route.id);
  const type = TYPES.includes(route.params.get('type')) ? route.params.get('type') : '';
  const offset = Math.max(0, parseInt(route.params.get('offset'), 10) || 0);
  const page = await api('/events' + query({ type, limit: LIMIT, offset }));
  if (!ctx.alive) return null;
  const filter = h('select', { id: 'event-type', onchange: (e) => { location.hash = '#/events' + query({ type: e.target.value }); } },
    h('option', { value: '' }, 'All'), TYPES.map((t) => h('option', { value: t, selected: t === type }, t)));
  return h('div', null,
    h('div', { class: 'head' }, h('h1', null, 'Events')),
    card(null,
      h('div', { class: 'toolbar' }, field('Type', filter)),
      table([
        ['Event', (e) => h('a', { href: '#/events/' + encodeURIComponent(e.id), 'data-event-id': e.id }, e.type)],
        ['Id', (e) => h('span', { class: 'mono' }, e.id)],
        ['Subject', subject],
        ['Created', (e) => time(e.created_at)],
      ], page.data, type ? `No ${type} events.` : 'No events yet.'),
      pager(page, (o) => '#/events' + query({ type, offset: o })),
      h('p', { class: 'hint' }, 'Events are kept for the retention period (30 days by default), whether or not a webhook endpoint received them.')));
}

/** What the event is about: the payment, refund or endpoint id in its payload. */
function subject(e) {
  const d = (e.payload && e.payload.data) || {};
  if (d.payment) return h('a', { class: 'mono', href: '#/payments/' + encodeURIComponent(d.payment.id) }, d.payment.id);
  if (d.refund) return h('a', { class: 'mono', href: '#/refunds/' + encodeURIComponent(d.refund.id) }, d.refund.id);
  if (d.endpoint) return h('a', { class: 'mono', href: '#/webhooks?endpoint_id=' + encodeURIComponent(d.endpoint.id) }, d.endpoint.id);
  return '—';
}

async function detail(id) {
  let e;
  try {
    e = await api('/events/' + encodeURIComponent(id));
  } catch (x) {
    if (x.status !== 404) throw x;
    return card(null, h('h1', null, 'Event not found'), h('p', null, `No event ${id} for this merchant. `, h('a', { href: '#/events' }, 'All events')));
  }
  const payload = JSON.stringify(e.payload, null, 2);
  return h('div', null,
    h('p', { class: 'crumbs' }, h('a', { href: '#/events' }, '← Events')),
    h('div', { class: 'head' }, h('h1', null, e.type)),
    card('Event', dl([
      ['Id', h('span', { class: 'mono', id: 'event-id' }, e.id)],
      ['Type', h('span', { class: 'mono', id: 'event-type-value' }, e.type)],
      ['Created', time(e.created_at)],
      ['About', subject(e)],
      ['Deliveries', h('a', { href: '#/webhooks' + query({ event: e.type }) }, `Deliveries of ${e.type} events`)],
    ])),
    card('Payload',
      h('p', { class: 'hint' }, 'The JSON body its webhook deliveries sent and signed (pretty-printed here; same fields, same order).'),
      h('pre', { class: 'code', id: 'event-payload', tabindex: '0' }, payload),
      h('div', { class: 'actions' }, copyButton(payload, 'Copy JSON'))));
}
