// Developers: the key id, a test-mode notice, curl examples (the secret is always a
// placeholder), and the API reference rendered from the gateway's own OpenAPI document.

import { h, api, card, dl, copyButton, keyId } from './lib.js';

const METHODS = ['get', 'post', 'put', 'patch', 'delete'];

export default async function developers() {
  const key = keyId();
  const test = /^key_test_/.test(key);
  let doc = null;
  let docError = null;
  try { doc = await api('/openapi.json', { auth: false }); } catch (e) { docError = e; }
  return h('div', null,
    h('div', { class: 'head' }, h('h1', null, 'Developers')),
    test ? h('div', { class: 'notice', role: 'note' }, h('strong', null, 'Test mode. '),
      'You are signed in with test credentials: payments are simulated and nothing is charged. UPI ',
      h('code', null, 'success@paytm'), ' succeeds and ', h('code', null, 'failure@paytm'), ' fails; card ',
      h('code', null, '4111 1111 1111 1111'), ' succeeds and ', h('code', null, '4000 0000 0000 0002'), ' is declined. Never use test keys in production.') : null,
    h('div', { class: 'cols' },
      card('Credentials', dl([
        ['Key id', h('span', null, h('code', { class: 'mono', id: 'key-id' }, key), ' ', copyButton(key))],
        ['API secret', 'Not shown. It was issued once; keep it on your server. Rotate it with gateway merchants rotate.'],
        ['Base URL', h('code', { class: 'mono' }, location.origin)],
      ])),
      card('Try it', curlExamples(key))),
    card('API reference', doc ? reference(doc) : h('p', { class: 'err' }, `The OpenAPI document could not be loaded: ${docError.message}`),
      h('p', { class: 'hint' }, 'Also browsable with Swagger UI at ', h('a', { href: '/docs/' }, '/docs/'), ', and as JSON at ', h('a', { href: '/api/v1/openapi.json' }, '/api/v1/openapi.json'), '.')));
}

function curlExamples(key) {
  const setup = `GW=${location.origin}\nKEY_ID=${key}\nAPI_SECRET=...   # your secret, from where you keep it\nH="-H X-Api-Key:$KEY_ID -H X-Api-Secret:$API_SECRET -H Content-Type:application/json"`;
  const examples = [
    ['Set up your shell', setup],
    ['Create an order (₹500.00)', `curl -s -X POST $GW/api/v1/orders $H \\\n  -d '{"amount": 50000, "currency": "INR", "receipt": "receipt_1"}'`],
    ['List payments', `curl -s "$GW/api/v1/payments?status=success&limit=10" $H`],
    ['Refund part of a payment', `curl -s -X POST $GW/api/v1/payments/pay_…/refunds $H \\\n  -H "Idempotency-Key: $(uuidgen)" -d '{"amount": 25000}'`],
    ['Checkout link for an order', `echo "$GW/checkout?order_id=order_…&key=$KEY_ID"`],
  ];
  return h('div', { class: 'curls' }, examples.map(([title, text]) =>
    h('div', { class: 'curl' }, h('div', { class: 'curl-head' }, h('h3', null, title), copyButton(text)), h('pre', { class: 'code', tabindex: '0' }, text))));
}

const refName = (s) => {
  if (!s) return null;
  if (s.$ref) return s.$ref.split('/').pop();
  if (s.oneOf || s.anyOf) return (s.oneOf || s.anyOf).map(refName).filter(Boolean).join(' | ');
  if (s.type === 'array') return `${refName(s.items) || 'any'}[]`;
  return Array.isArray(s.type) ? s.type.join(' | ') : s.type || null;
};
const bodyName = (content) => {
  const json = content && (content['application/json'] || Object.values(content)[0]);
  return json ? refName(json.schema) : null;
};

function reference(doc) {
  const byTag = new Map((doc.tags || []).map((t) => [t.name, { tag: t, ops: [] }]));
  for (const [path, item] of Object.entries(doc.paths || {})) {
    for (const m of METHODS) {
      const op = item[m];
      if (!op) continue;
      const tag = (op.tags && op.tags[0]) || 'other';
      if (!byTag.has(tag)) byTag.set(tag, { tag: { name: tag }, ops: [] });
      byTag.get(tag).ops.push({ method: m, path, op });
    }
  }
  const filter = h('input', { id: 'api-filter', type: 'search', placeholder: 'Filter operations', 'aria-label': 'Filter operations', autocomplete: 'off' });
  const groups = [...byTag.values()].filter((g) => g.ops.length).map(({ tag, ops }) =>
    h('section', { class: 'api-tag' }, h('h3', null, tag.name), tag.description ? h('p', { class: 'hint' }, tag.description) : null,
      h('ul', { class: 'ops' }, ops.map(operation))));
  filter.addEventListener('input', () => {
    const q = filter.value.trim().toLowerCase();
    for (const li of document.querySelectorAll('.ops > li')) li.hidden = !!q && !li.dataset.search.includes(q);
  });
  return h('div', null, h('p', null, `${doc.info.title} ${doc.info.version}: ${Object.keys(doc.paths).length} paths.`), filter, groups);
}

function operation({ method, path, op }) {
  const params = (op.parameters || []).map((p) =>
    h('li', null, h('code', null, p.name), ` (${p.in}${p.required ? ', required' : ''}${refName(p.schema) ? ', ' + refName(p.schema) : ''})`, p.description ? ` — ${p.description.split('\n')[0]}` : ''));
  const req = op.requestBody ? bodyName(op.requestBody.content) : null;
  const responses = Object.entries(op.responses || {}).map(([code, r]) => {
    const name = r.$ref ? r.$ref.split('/').pop() : bodyName(r.content);
    return h('li', null, h('code', null, code), ' ', name || r.description || '');
  });
  const auth = op.security && op.security.some((s) => Object.keys(s).length);
  return h('li', { 'data-search': `${method} ${path} ${op.summary || ''}`.toLowerCase(), 'data-operation': op.operationId || '' },
    h('details', null,
      h('summary', null, h('span', { class: 'method m-' + method }, method.toUpperCase()), ' ', h('code', { class: 'path' }, path), ' ', h('span', { class: 'summary' }, op.summary || '')),
      h('div', { class: 'op-body' },
        op.description ? h('p', null, op.description) : null,
        h('p', { class: 'hint' }, auth ? 'Needs X-Api-Key' + (op.security.some((s) => 'api_secret' in s) ? ' and X-Api-Secret.' : '.') : 'No authentication.'),
        params.length ? [h('h4', null, 'Parameters'), h('ul', null, params)] : null,
        req ? [h('h4', null, 'Request body'), h('p', null, h('code', null, req))] : null,
        h('h4', null, 'Responses'), h('ul', null, responses))));
}
