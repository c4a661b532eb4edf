// Shared helpers: DOM building (text only, never innerHTML), the API client holding the
// merchant's credentials for this tab, money and time formatting, copy to clipboard.

// ---------- DOM ----------

const SVG_NS = 'http://www.w3.org/2000/svg';

/** h('a', {href, class, onclick}, ...children): attributes are set as attributes, `on*` as
 *  listeners; strings become text nodes; null/false children are skipped. 'svg:rect' → SVG. */
export function h(tag, attrs, ...kids) {
  const el = tag.startsWith('svg:') ? document.createElementNS(SVG_NS, tag.slice(4)) : document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v == null || v === false) continue;
    if (k.startsWith('on')) el.addEventListener(k.slice(2), v);
    else el.setAttribute(k, v === true ? '' : String(v));
  }
  add(el, kids);
  return el;
}

function add(el, kids) {
  for (const k of kids) {
    if (k == null || k === false) continue;
    if (Array.isArray(k)) add(el, k);
    else el.append(k instanceof Node ? k : String(k));
  }
}

export const $ = (sel, root = document) => root.querySelector(sel);

/** A labelled form field: label, control, optional hint. */
export function field(label, control, hint) {
  const id = control.id || (control.id = 'f' + Math.random().toString(36).slice(2, 9));
  const hintEl = hint ? h('p', { class: 'hint', id: id + '-hint' }, hint) : null;
  if (hintEl) control.setAttribute('aria-describedby', hintEl.id);
  return h('div', { class: 'field' }, h('label', { for: id }, label), control, hintEl);
}

/** An inline error slot, announced when filled. */
export function errorSlot() {
  const el = h('p', { class: 'err', role: 'alert', hidden: true });
  el.show = (msg) => { el.textContent = msg || ''; el.hidden = !msg; };
  return el;
}

export function badge(status) {
  return h('span', { class: 'badge b-' + status }, status);
}

/** A table that turns into labelled cards on narrow screens. cols: [label, row => cell]. */
export function table(cols, rows, empty = 'Nothing here yet.') {
  if (!rows.length) return h('p', { class: 'empty' }, empty);
  return h('table', { class: 'list' },
    h('thead', null, h('tr', null, cols.map(([l]) => h('th', { scope: 'col' }, l)))),
    h('tbody', null, rows.map((r) => h('tr', null, cols.map(([l, f]) => h('td', { 'data-label': l }, f(r)))))));
}

/** A definition list from [term, value] pairs (null values skipped). */
export function dl(pairs) {
  return h('dl', { class: 'kv' }, pairs.filter((p) => p && p[1] != null && p[1] !== '').map(([k, v]) => [h('dt', null, k), h('dd', null, v)]));
}

export function card(title, ...kids) {
  return h('section', { class: 'card' }, title ? h('h2', null, title) : null, kids);
}

/** "1–10 of 23" with Previous/Next links to the same route with another offset. */
export function pager(page, hrefFor) {
  const { total, limit, offset, data } = page;
  if (!total) return null;
  const prev = offset > 0 ? Math.max(0, offset - limit) : null;
  const next = offset + data.length < total ? offset + limit : null;
  return h('nav', { class: 'pager', 'aria-label': 'Pages' },
    h('span', null, `${offset + 1}–${offset + data.length} of ${total}`),
    prev == null ? null : h('a', { class: 'btn small', href: hrefFor(prev) }, '← Previous'),
    next == null ? null : h('a', { class: 'btn small', href: hrefFor(next) }, 'Next →'));
}

// ---------- API ----------

const STORE = 'gw-dashboard';
let creds = null;
try { creds = JSON.parse(sessionStorage.getItem(STORE)); } catch { creds = null; }

export const signedIn = () => !!creds;
export const keyId = () => creds && creds.key;

/** Kept for this tab only (sessionStorage, cleared on sign-out and when the tab closes). */
export function setCredentials(key, secret) {
  creds = { key, secret };
  try { sessionStorage.setItem(STORE, JSON.stringify(creds)); } catch { /* memory only */ }
}

export function clearCredentials() {
  creds = null;
  try { sessionStorage.removeItem(STORE); } catch { /* nothing */ }
}

export class ApiError extends Error {
  constructor(status, code, description) {
    super(description);
    this.status = status;
    this.code = code;
  }
}

/** Called on a 401 from an authenticated call (the credentials stopped working). */
export const hooks = { unauthorized: () => {} };

/** fetch /api/v1{path}; JSON in, JSON out; errors become ApiError with the API's description. */
export async function api(path, { method = 'GET', body, key, auth = true } = {}) {
  const headers = { Accept: 'application/json' };
  if (auth && creds) {
    headers['X-Api-Key'] = creds.key;
    headers['X-Api-Secret'] = creds.secret;
  }
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  if (key) headers['Idempotency-Key'] = key;
  let res;
  try {
    res = await fetch('/api/v1' + path, {
      method, headers, cache: 'no-store', credentials: 'omit', referrerPolicy: 'no-referrer',
      body: body === undefined ? undefined : JSON.stringify(body),
    });
  } catch {
    throw new ApiError(0, 'NETWORK_ERROR', 'The gateway could not be reached. Is it running?');
  }
  let data = null;
  try { data = await res.json(); } catch { data = null; }
  if (!res.ok) {
    const e = (data && data.error) || {};
    if (res.status === 401 && auth) hooks.unauthorized();
    throw new ApiError(res.status, e.code || 'HTTP_' + res.status, e.description || `The gateway answered ${res.status}.`);
  }
  return data;
}

/** One Idempotency-Key per distinct request: a retry of the same body (after a network error, a
 *  double submit) replays instead of acting twice. Call done() after success. */
export function idempotency() {
  let last = null;
  return {
    key(body) {
      const sig = JSON.stringify(body ?? null);
      if (!last || last.sig !== sig) last = { sig, key: crypto.randomUUID() };
      return last.key;
    },
    done() { last = null; },
  };
}

export const query = (o) => {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(o)) if (v !== '' && v != null) q.set(k, v);
  const s = q.toString();
  return s ? '?' + s : '';
};

// ---------- money and time ----------

export const CURRENCIES = 'INR USD EUR GBP SGD AED AUD CAD JPY CHF HKD MYR NZD SAR SEK THB ZAR QAR BDT NPR LKR'.split(' ');
const digits = (cur) => (cur === 'JPY' ? 0 : 2);

/** 50000, 'INR' → '500.00' (string arithmetic, exact). */
export function toMajor(minor, cur) {
  const d = digits(cur);
  const neg = minor < 0;
  let s = String(Math.abs(minor));
  if (d) {
    s = s.padStart(d + 1, '0');
    s = s.slice(0, -d) + '.' + s.slice(-d);
  }
  return (neg ? '-' : '') + s;
}

/** '500.00', 'INR' → 50000, or throws a message. */
export function parseMajor(text, cur) {
  const d = digits(cur);
  const m = /^(\d{1,13})(?:\.(\d*))?$/.exec(String(text).trim());
  if (!m) throw new Error(d ? 'Enter an amount like 500.00 (digits and a dot only).' : 'Enter a whole amount like 500.');
  const frac = m[2] || '';
  if (frac.length > d) throw new Error(d ? `Use at most ${d} decimal places.` : `${cur} has no decimal places.`);
  const minor = BigInt(m[1] + frac.padEnd(d, '0'));
  if (minor > 1000000000000n) throw new Error('That amount is too large.');
  return Number(minor);
}

const moneyFormats = new Map();
/** 50000, 'INR' → '₹500.00'. Intl formats the exact decimal string, not a float. */
export function money(minor, cur = 'INR') {
  const major = toMajor(minor, cur);
  try {
    let f = moneyFormats.get(cur);
    if (!f) moneyFormats.set(cur, (f = new Intl.NumberFormat(undefined, { style: 'currency', currency: cur, minimumFractionDigits: digits(cur) })));
    return f.format(major);
  } catch {
    return `${cur} ${major}`;
  }
}

const timeFormat = new Intl.DateTimeFormat(undefined, { day: 'numeric', month: 'short', hour: '2-digit', minute: '2-digit', second: '2-digit' });
/** A <time> showing local time, with the UTC value as its datetime and title. */
export function time(iso) {
  if (!iso) return '—';
  const d = new Date(iso);
  return h('time', { datetime: iso, title: iso }, isNaN(d) ? iso : timeFormat.format(d));
}

/** "in 4 s", "3 min ago". */
export function relative(iso, now = Date.now()) {
  const s = Math.round((new Date(iso) - now) / 1000);
  const a = Math.abs(s);
  const t = a < 60 ? `${a} s` : a < 3600 ? `${Math.round(a / 60)} min` : a < 86400 ? `${Math.round(a / 3600)} h` : `${Math.round(a / 86400)} d`;
  return s >= 0 ? `in ${t}` : `${t} ago`;
}

// ---------- clipboard ----------

/** A Copy button for `text` (a string or a function returning one). */
export function copyButton(text, label = 'Copy') {
  const b = h('button', { type: 'button', class: 'btn small' }, label);
  b.addEventListener('click', async () => {
    const value = typeof text === 'function' ? text() : text;
    let ok = false;
    try { await navigator.clipboard.writeText(value); ok = true; } catch {
      const t = h('textarea', { class: 'sr', readonly: true });
      t.value = value;
      document.body.append(t);
      t.select();
      try { ok = document.execCommand('copy'); } catch { ok = false; }
      t.remove();
    }
    b.textContent = ok ? 'Copied' : 'Copy failed';
    setTimeout(() => { b.textContent = label; }, 1500);
  });
  return b;
}
