// Webhook endpoints on the Webhooks page: each with its URL, event filter, status and health
// (why it was disabled; its latest attempt and recent failures, read from its delivery log); add
// one (event checkboxes), edit one (URL, description, events), turn one off and on, rotate its secret (shown once), recover its failed
// deliveries since a time, delete it, and open its own delivery log.

import { h, api, badge, table, card, field, errorSlot, copyButton, time, relative, idempotency } from './lib.js';

const EVENTS = ['payment.created', 'payment.pending', 'payment.success', 'payment.failed', 'refund.created', 'refund.processed', 'webhook_endpoint.disabled'];

/** How many of an endpoint's latest deliveries its health looks at. */
const RECENT = 10;

/** The Endpoints card; `changed` runs after anything that may add deliveries; `.refresh()` reads
 *  the endpoints again. While a recent delivery of an endpoint on screen is pending, its health
 *  refreshes every 2 s (ctx.poll). */
export function endpointsCard(changed, ctx) {
  const list = h('div', { 'aria-live': 'polite' });
  const once = h('div', { 'aria-live': 'polite' });
  const recoverSlot = h('div');
  const editSlot = h('div');
  const err = errorSlot();
  let shown = null;
  let polling = false;
  const load = async () => {
    const page = await api('/webhooks/endpoints?limit=16');
    const recent = await Promise.all(page.data.map((e) =>
      api('/webhooks?limit=' + RECENT + '&endpoint_id=' + encodeURIComponent(e.id)).then((p) => p.data, () => null)));
    if (ctx && !ctx.alive) return false;
    const seen = JSON.stringify([page.data, recent]);
    if (seen !== shown) {
      shown = seen;
      // After a row's action, the row is drawn again even when nothing changed (its button re-enabled).
      const redraw = () => { shown = null; return reload(); };
      list.replaceChildren(endpointTable(page.data, recent, { reload: redraw, showSecret, recover, edit, err }));
    }
    return recent.some((r) => r && r.some((d) => d.status === 'pending'));
  };
  const reload = async () => {
    if (!(await load()) || polling || !ctx) return;
    polling = true;
    ctx.poll(async () => (polling = await load()), 2000);
  };
  const edit = (e, opener) => {
    const close = () => { editSlot.replaceChildren(); opener.focus(); };
    editSlot.replaceChildren(endpointForm({
      endpoint: e,
      submit: (body) => api(`/webhooks/endpoints/${e.id}`, { method: 'PATCH', body }),
      done: async () => { close(); await reload(); },
      cancel: close,
    }));
    editSlot.querySelector('input').focus();
  };
  const recover = (e, opener) => {
    recoverSlot.replaceChildren(recoverForm(e, async () => { await reload(); await changed(); }, () => {
      recoverSlot.replaceChildren();
      opener.focus();
    }));
    recoverSlot.querySelector('input').focus();
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
  const el = card('Endpoints', list, err, once, recoverSlot, editSlot, endpointForm({
    submit: (body) => api('/webhooks/endpoints', { method: 'POST', key: crypto.randomUUID(), body }),
    done: async (created) => {
      showSecret(created.secret, 'Endpoint added. Its signing secret:');
      await reload();
      await changed();
    },
  }));
  /** Reads the endpoints and their health again (after something outside the card changed them). */
  el.refresh = () => reload().catch((x) => err.show(x.message));
  return el;
}

function endpointTable(rows, recent, { reload, showSecret, recover, edit, err }) {
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
    ['Health', (e) => health(e, recent[rows.indexOf(e)])],
    ['Deliveries', (e) => h('a', { href: '#/webhooks?endpoint_id=' + encodeURIComponent(e.id) }, 'Log')],
    ['', (e) => h('span', { class: 'actions', 'data-endpoint': e.id },
      e.status === 'enabled'
        ? act('Disable', '', () => api(`/webhooks/endpoints/${e.id}`, { method: 'PATCH', body: { status: 'disabled' } }))
        : act('Enable', '', () => api(`/webhooks/endpoints/${e.id}`, { method: 'PATCH', body: { status: 'enabled' } })),
      editButton(e, edit),
      recoverButton(e, recover),
      act('Rotate secret', '', async () => {
        const r = await api(`/webhooks/endpoints/${e.id}/secret/rotate`, { method: 'POST', key: crypto.randomUUID() });
        showSecret(r.secret, 'New signing secret; the old one keeps signing beside it for 24 h.');
      }),
      act('Delete', 'danger', () => api(`/webhooks/endpoints/${e.id}`, { method: 'DELETE' })))],
  ], rows, 'No endpoints yet. Add one below, or set the URL above.');
}

/** The form that adds an endpoint, or (given `endpoint`) edits its URL, description and events.
 *  `submit(body)` sends it; `done(answer)` runs after it was accepted. */
function endpointForm({ endpoint, submit, done, cancel }) {
  const editing = Boolean(endpoint);
  const prefix = editing ? 'edit-' : '';
  const url = h('input', { id: `${prefix}endpoint-url`, type: 'url', inputmode: 'url', autocomplete: 'off', spellcheck: 'false', placeholder: 'https://example.com/webhooks/refunds' });
  const description = h('input', { id: `${prefix}endpoint-description`, type: 'text', autocomplete: 'off', maxlength: 500 });
  const subscribed = endpoint ? endpoint.enabled_events : ['*'];
  const all = h('input', { type: 'checkbox', id: `${prefix}event-all`, checked: subscribed.includes('*') });
  const boxes = EVENTS.map((name) => h('input', { type: 'checkbox', value: name, 'data-event': name, checked: subscribed.includes(name), disabled: all.checked }));
  all.addEventListener('change', () => { for (const b of boxes) b.disabled = all.checked; });
  if (endpoint) {
    url.value = endpoint.url;
    description.value = endpoint.description || '';
  }
  const events = h('fieldset', { class: 'events' }, h('legend', null, 'Events'),
    h('label', null, all, ' All events'),
    boxes.map((b) => h('label', null, b, ' ', b.value)));
  const err = errorSlot();
  const save = h('button', { type: 'submit', class: 'btn primary', id: editing ? 'save-endpoint' : 'add-endpoint' }, editing ? 'Save changes' : 'Add endpoint');
  const buttons = [save];
  if (cancel) {
    const back = h('button', { type: 'button', class: 'btn' }, 'Cancel');
    back.addEventListener('click', cancel);
    buttons.push(back);
  }
  const fields = editing
    ? [h('h3', null, 'Edit endpoint ', h('span', { class: 'mono' }, endpoint.id)), field('URL', url), field('Description', description)]
    : [field('New endpoint URL', url)];
  const form = h('form', { class: 'inline-form', novalidate: true, id: editing ? 'edit-endpoint-form' : null, 'data-edit': editing ? endpoint.id : null },
    ...fields, events, h('div', { class: 'actions' }, ...buttons), err);
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    err.show('');
    const chosen = all.checked ? ['*'] : boxes.filter((b) => b.checked).map((b) => b.value);
    if (!chosen.length) return err.show('Choose at least one event, or All events.');
    const body = { url: url.value.trim(), enabled_events: chosen };
    if (editing) body.description = description.value.trim(); // "" clears it
    save.disabled = true;
    try {
      const answer = await submit(body);
      if (!editing) url.value = '';
      await done(answer);
    } catch (x) { err.show(x.message); } finally { save.disabled = false; }
  });
  return form;
}

function editButton(e, edit) {
  const b = h('button', { type: 'button', class: 'btn small', 'aria-controls': 'edit-endpoint-form' }, 'Edit…');
  b.addEventListener('click', () => edit(e, b));
  return b;
}

/** Status, why it was disabled, and what its latest deliveries say (null: the log was unreadable). */
function health(e, recent) {
  const kids = [badge(e.status)];
  if (e.disabled_reason) kids.push(h('p', { class: 'hint', 'data-disabled-reason': '' }, e.disabled_reason));
  if (e.failing_since && e.status === 'enabled') {
    kids.push(h('p', { class: 'hint code-bad', 'data-failing-since': e.failing_since }, 'No success since ',
      h('span', { title: e.failing_since }, new Date(e.failing_since).toLocaleString()), ` (first failure ${relative(e.failing_since)})`));
  }
  if (recent && recent.length) {
    const tried = recent.filter((d) => d.last_attempt_at).sort((a, b) => (a.last_attempt_at < b.last_attempt_at ? 1 : -1))[0];
    if (tried) {
      const ok = tried.response_code != null && tried.response_code < 300;
      const what = tried.response_code != null ? `HTTP ${tried.response_code}` : tried.error || tried.status;
      kids.push(h('p', { class: 'hint', 'data-last-attempt': ok ? 'ok' : 'bad' }, 'Last attempt: ',
        h('span', { class: ok ? 'code-ok' : 'code-bad' }, what), ' · ', h('span', { title: tried.last_attempt_at }, relative(tried.last_attempt_at))));
    }
    const failed = recent.filter((d) => d.status === 'failed').length;
    const pending = recent.filter((d) => d.status === 'pending').length;
    if (failed) kids.push(h('p', { class: 'hint code-bad', 'data-failed': failed }, `${failed} of the latest ${recent.length} failed`));
    if (pending) kids.push(h('p', { class: 'hint', 'data-pending': pending }, `${pending} pending`));
  } else if (recent) {
    kids.push(h('p', { class: 'hint' }, 'No deliveries yet.'));
  }
  return h('div', { class: 'health', 'data-health': e.id }, kids);
}

function recoverButton(e, recover) {
  const b = h('button', { type: 'button', class: 'btn small', 'aria-controls': 'recover-form' }, 'Recover…');
  b.addEventListener('click', () => recover(e, b));
  return b;
}

/** A datetime-local value (local time, to the minute) for a Date. */
const localInput = (d) => new Date(d.getTime() - d.getTimezoneOffset() * 60_000).toISOString().slice(0, 16);

/** Asks from when to resend the endpoint's failed deliveries (default 24 h ago), then shows how
 *  many were re-armed. */
function recoverForm(e, recovered, close) {
  const now = new Date();
  const since = h('input', { id: 'recover-since', type: 'datetime-local', value: localInput(new Date(now - 24 * 3600_000)), max: localInput(now) });
  const err = errorSlot();
  const result = h('p', { class: 'ok', role: 'status', id: 'recover-result' });
  const go = h('button', { type: 'submit', class: 'btn primary', id: 'recover-submit' }, 'Resend failed deliveries');
  const cancel = h('button', { type: 'button', class: 'btn' }, 'Close');
  cancel.addEventListener('click', close);
  const keys = idempotency();
  const form = h('form', { class: 'confirm', id: 'recover-form', 'data-recover': e.id, novalidate: true },
    h('p', null, h('strong', null, 'Recover '), h('span', { class: 'mono' }, e.url)),
    field('Resend deliveries that failed since', since, 'Your local time. Every delivery to this endpoint created since then that ended failed is sent again, oldest first, with its retries starting over.'),
    e.status === 'enabled' ? null : h('p', { class: 'hint' }, 'This endpoint is disabled: enable it first.'),
    h('div', { class: 'actions' }, go, cancel), err, result);
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    err.show('');
    result.textContent = '';
    const at = new Date(since.value);
    if (!since.value || isNaN(at)) return err.show('Enter a date and time.');
    if (at > new Date()) return err.show('Choose a time in the past.');
    const body = { since: Math.floor(at.getTime() / 1000) };
    go.disabled = true;
    try {
      const r = await api(`/webhooks/endpoints/${encodeURIComponent(e.id)}/recover`, { method: 'POST', body, key: keys.key([e.id, body]) });
      keys.done();
      result.replaceChildren(r.recovering
        ? `Resending ${r.recovering} failed ${r.recovering === 1 ? 'delivery' : 'deliveries'} created since `
        : 'No failed deliveries created since ', time(r.since), '.');
      result.dataset.recovering = String(r.recovering);
      await recovered(r);
    } catch (x) { err.show(x.message); } finally { go.disabled = false; }
  });
  return form;
}
