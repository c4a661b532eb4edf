// The dashboard's shell: sign-in, sign-out, the hash router (#/section/id?query) and the
// lifetime of each view (its timers stop when the merchant navigates away).

import { $, h, api, hooks, signedIn, keyId, setCredentials, clearCredentials } from './lib.js';

const PAGES = {
  overview: () => import('./overview.js'),
  orders: () => import('./orders.js'),
  payments: () => import('./payments.js'),
  refunds: () => import('./refunds.js'),
  webhooks: () => import('./webhooks.js'),
  events: () => import('./events.js'),
  developers: () => import('./developers.js'),
};

let view = null; // the current view's context
let shownKey = null; // section/id on screen: focus moves to the heading only when it changes

/** What a page gets: the route, and timers that die with the view. */
function context() {
  const timers = new Set();
  const ctx = {
    alive: true,
    /** Runs fn every ms while it returns true and the view is shown. */
    poll(fn, ms = 2000) {
      const tick = async () => {
        timers.delete(t);
        if (!ctx.alive) return;
        let again = false;
        try { again = await fn(); } catch { again = true; }
        if (again && ctx.alive) { t = setTimeout(tick, ms); timers.add(t); }
      };
      let t = setTimeout(tick, ms);
      timers.add(t);
    },
    stop() { ctx.alive = false; timers.forEach(clearTimeout); timers.clear(); },
  };
  return ctx;
}

function parse() {
  const raw = location.hash.replace(/^#/, '') || '/overview';
  const [path, qs] = raw.split('?');
  const parts = path.split('/').filter(Boolean).map((p) => { try { return decodeURIComponent(p); } catch { return p; } });
  return { section: parts[0] || 'overview', id: parts[1] || null, params: new URLSearchParams(qs || '') };
}

async function render(focus) {
  if (view) view.stop();
  if (!signedIn()) return showSignIn();
  $('#signin').hidden = true;
  $('#shell').hidden = false;
  $('#who').textContent = keyId();
  const route = parse();
  for (const a of document.querySelectorAll('#nav a')) {
    if (a.dataset.section === route.section) a.setAttribute('aria-current', 'page');
    else a.removeAttribute('aria-current');
  }
  const key = route.section + '/' + route.id;
  const keep = key === shownKey && document.activeElement ? document.activeElement.id : null;
  shownKey = key;
  const ctx = (view = context());
  const main = $('#main');
  main.setAttribute('aria-busy', 'true');
  main.replaceChildren(h('p', { class: 'muted' }, 'Loading…'));
  let node;
  try {
    const load = PAGES[route.section];
    node = load ? await (await load()).default(route, ctx) : notFound();
  } catch (e) {
    node = h('section', { class: 'card error-panel' }, h('h1', null, 'Something went wrong'), h('p', null, e.message));
  }
  if (!ctx.alive) return;
  main.replaceChildren(node);
  main.removeAttribute('aria-busy');
  const title = main.querySelector('h1');
  document.title = `${title ? title.textContent : 'Dashboard'} · Gateway`;
  const again = keep && document.getElementById(keep);
  if (again) again.focus(); // a filter changed: stay on it
  else if (focus && title) { title.tabIndex = -1; title.focus({ preventScroll: true }); }
}

function notFound() {
  return h('section', { class: 'card' }, h('h1', null, 'Page not found'), h('p', null, h('a', { href: '#/overview' }, 'Back to the overview')));
}

function showSignIn(message) {
  shownKey = null;
  $('#shell').hidden = true;
  $('#main').replaceChildren();
  $('#signin').hidden = false;
  const err = $('#signin-err');
  err.textContent = message || '';
  err.hidden = !message;
  $(message ? '#secret' : '#key').focus();
}

async function signIn(event) {
  event.preventDefault();
  const form = event.target;
  const key = form.key.value.trim();
  const secret = form.secret.value.trim();
  const err = $('#signin-err');
  if (!key || !secret) {
    err.textContent = 'Enter both the key id and the API secret.';
    err.hidden = false;
    return;
  }
  const button = $('#signin-btn');
  button.disabled = true;
  err.hidden = true;
  setCredentials(key, secret);
  try {
    await api('/orders?limit=1');
    form.secret.value = '';
    render(true);
  } catch (e) {
    clearCredentials();
    err.textContent = e.status === 401
      ? 'Sign-in failed: the gateway did not accept this key id and secret. Check both and try again.'
      : `Sign-in failed: ${e.message}`;
    err.hidden = false;
    form.secret.focus();
  } finally {
    button.disabled = false;
  }
}

function signOut() {
  clearCredentials();
  if (view) view.stop();
  $('#signin-form').reset();
  showSignIn();
}

hooks.unauthorized = () => {
  if (!signedIn()) return;
  clearCredentials();
  if (view) view.stop();
  showSignIn('The gateway no longer accepts these credentials. Sign in again.');
};

$('#signin-form').addEventListener('submit', signIn);
$('#signout').addEventListener('click', signOut);
addEventListener('hashchange', () => render(true));
render(false);
