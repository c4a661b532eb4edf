// Webhook endpoints on the Webhooks page: each with its URL, event filter and status; add one
// (event checkboxes), turn one off and on, rotate its secret (shown once), delete it, and open
// its own delivery log.

import { h, api, badge, table, card, field, errorSlot, copyButton } from './lib.js';

const EVENTS = ['payment.created', 'payment.pending', 'payment.success', 'payment.failed', 'refund.created', 'refund.processed'];

/** The Endpoints card; `changed` runs after anything that may add deliveries. */
export function endpointsCard(changed) {
  const list = h('div', { 'aria-live': 'polite' });
  const once = h('div', { 'aria-live': 'polite' });
  const err = errorSlot();
  const reload = async () => {
    const page = await api('/webhooks/endpoints?limit=16');
    list.replaceChildren(endpointTable(page.data, reload, showSecret, err));
  };
  const showSecret = (secret, what) => {
    const hide = h('button', { type: 'button', class: 'btn small', id: 'hide-endpoint-secret' }, 'I have saved it');
    once.replaceChildren(h('div', { class: 'once', id: 'endpoint-secret' },
      h('p', null, h('strong', null, `${what} `), 'It is shown once: copy it to your server now.'),
      h('code', { class: 'mono secret' }, secret), h('div', { class: 'actions' }, copyButton(secret), hide)));
    hide.addEventListener('click', () => once.replaceChildren());
    hide.focus();
  };
  reload().catch((x) => err.show(x.message));
  return card('Endpoints', list, err, once, addForm(async (created) => {
    showSecret(created.secret, 'Endpoint added. Its signing secret:');
    await reload();
    await changed();
  }));
}

function endpointTable(rows, reload, showSecret, err) {
  const act = (label, cls, run) => {
    const b = h('button', { type: 'button', class: 'btn small ' + cls }, label);
    b.addEventListener('click', async () => {
      b.disabled = true;
      err.show('');
      try { await run(); await reload(); } catch (x) { err.show(x.message); b.disabled = false; }
    });
    return b;
  };
  return table([
    ['URL', (e) => h('span', { class: 'mono clip', title: e.url }, e.url)],
    ['Events', (e) => e.enabled_events.join(', ')],
    ['Status', (e) => h('span', null, badge(e.status), e.disabled_reason ? h('span', { class: 'hint' }, ' ', e.disabled_reason) : null)],
    ['Deliveries', (e) => h('a', { href: '#/webhooks?endpoint_id=' + encodeURIComponent(e.id) }, 'Log')],
    ['', (e) => h('span', { class: 'actions', 'data-endpoint': e.id },
      e.status === 'enabled'
        ? act('Disable', '', () => api(`/webhooks/endpoints/${e.id}`, { method: 'PATCH', body: { status: 'disabled' } }))
        : act('Enable', '', () => api(`/webhooks/endpoints/${e.id}`, { method: 'PATCH', body: { status: 'enabled' } })),
      act('Rotate secret', '', async () => {
        const r = await api(`/webhooks/endpoints/${e.id}/secret/rotate`, { method: 'POST', key: crypto.randomUUID() });
        showSecret(r.secret, 'New signing secret; the old one keeps signing beside it for 24 h.');
      }),
      act('Delete', 'danger', () => api(`/webhooks/endpoints/${e.id}`, { method: 'DELETE' })))],
  ], rows, 'No endpoints yet. Add one below, or set the URL above.');
}

function addForm(added) {
  const url = h('input', { id: 'endpoint-url', type: 'url', inputmode: 'url', autocomplete: 'off', spellcheck: 'false', placeholder: 'https://example.com/webhooks/refunds' });
  const all = h('input', { type: 'checkbox', id: 'event-all', checked: true });
  const boxes = EVENTS.map((name) => h('input', { type: 'checkbox', value: name, 'data-event': name, disabled: true }));
  all.addEventListener('change', () => { for (const b of boxes) b.disabled = all.checked; });
  const events = h('fieldset', { class: 'events' }, h('legend', null, 'Events'),
    h('label', null, all, ' All events'),
    boxes.map((b) => h('label', null, b, ' ', b.value)));
  const err = errorSlot();
  const save = h('button', { type: 'submit', class: 'btn primary', id: 'add-endpoint' }, 'Add endpoint');
  const form = h('form', { class: 'inline-form', novalidate: true }, field('New endpoint URL', url), events, h('div', { class: 'actions' }, save), err);
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    err.show('');
    const chosen = all.checked ? ['*'] : boxes.filter((b) => b.checked).map((b) => b.value);
    if (!chosen.length) return err.show('Choose at least one event, or All events.');
    save.disabled = true;
    try {
      const created = await api('/webhooks/endpoints', { method: 'POST', key: crypto.randomUUID(), body: { url: url.value.trim(), enabled_events: chosen } });
      url.value = '';
      await added(created);
    } catch (x) { err.show(x.message); } finally { save.disabled = false; }
  });
  return form;
}
