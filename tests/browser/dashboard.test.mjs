// The merchant dashboard in a real browser, driven the way a merchant uses it: sign in, set the
// webhook URL, create an order and its checkout link, pay it on the hosted page, capture and
// refund it, watch and retry webhook deliveries, rotate the secret, manage endpoints (their
// health, a disabled one, recovering a failed one, each one's log), read the events, the overview
// chart and the API reference, and do it all again at 360 px. Runs the built gateway binary (GATEWAY_BIN,
// default target/debug/gateway) on a fresh SQLite file with a webhook receiver of its own, all on
// 127.0.0.1, and Debian's Chromium (CHROMIUM). SCREENSHOTS=/some/dir saves every page at 1440
// and 360 px.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, mkdirSync } from 'node:fs';
import http from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium } from 'playwright-core';
import { gatewayBin, chromiumPath, freePort, waitFor } from './support.mjs';

const shots = process.env.SCREENSHOTS;
const KEY = 'key_test_abc123';
const SECRET = 'secret_test_xyz789';
const WAIT = { timeout: 20_000 };

let dir, gateway, browser, context, page, gatewayUrl;
let receiver, receiverUrl;
// The receiver's behaviour and what it got: every path answers 200 while `healthy`, except those
// in `answers` (path → status).
const hook = { healthy: true, answers: new Map(), received: [] };
const requests = []; // every URL the dashboard's tab asked for
const problems = []; // page errors and console errors (CSP violations show up here)

/** Polls fn until it returns a truthy value (or throws after the timeout). */
async function eventually(fn, what, timeout = 20_000) {
  const deadline = Date.now() + timeout;
  for (;;) {
    const value = await fn();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'gateway-dashboard-'));
  receiver = http.createServer((req, res) => {
    let body = '';
    req.on('data', (c) => { body += c; });
    req.on('end', () => {
      const status = hook.answers.get(req.url) ?? (hook.healthy ? 200 : 500);
      hook.received.push({ body, path: req.url, status, healthy: hook.healthy, id: req.headers['webhook-id'], signature: req.headers['x-webhook-signature'] });
      res.writeHead(status, { 'Content-Type': 'text/plain' }).end(status < 300 ? 'ok' : 'down');
    });
  });
  await new Promise((ok) => receiver.listen(0, '127.0.0.1', ok));
  receiverUrl = `http://127.0.0.1:${receiver.address().port}/hooks`;
  const port = await freePort();
  gatewayUrl = `http://127.0.0.1:${port}`;
  gateway = spawn(gatewayBin, ['serve'], {
    env: {
      ...process.env, DATABASE_URL: `sqlite://${join(dir, 'gateway.db')}`, PORT: String(port), RUST_LOG: 'warn',
      TEST_MODE: 'true', TEST_PROCESSING_DELAY: '200', WEBHOOK_RETRY_SCHEDULE_MS: '300,300', WEBHOOK_TIMEOUT_MS: '2000', JOB_LEASE_MS: '5000',
    },
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  await waitFor(`${gatewayUrl}/health`);
  browser = await chromium.launch({ executablePath: chromiumPath, args: ['--headless', '--no-sandbox'] });
  context = await browser.newContext({ viewport: { width: 1440, height: 900 } });
  page = await watched(context);
  if (shots) mkdirSync(shots, { recursive: true });
});

after(async () => {
  await browser?.close();
  gateway?.kill('SIGKILL');
  receiver?.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

async function watched(ctx) {
  const p = await ctx.newPage();
  p.on('request', (r) => requests.push(r.url()));
  p.on('pageerror', (e) => problems.push(`pageerror: ${e.message}`));
  p.on('console', (m) => {
    // A 401 at the wrong sign-in and a 400 for the over-refund are expected; anything else
    // (a script error, a CSP violation) is not.
    if (m.type() === 'error' && !m.text().startsWith('Failed to load resource')) problems.push(`console: ${m.text()}`);
  });
  return p;
}

async function shot(p, name) {
  if (shots) await p.screenshot({ path: join(shots, `dash-${name}.png`), fullPage: true });
}

async function signIn(p, secret = SECRET) {
  await p.locator('#key').fill(KEY);
  await p.locator('#secret').fill(secret);
  await p.getByRole('button', { name: 'Sign in' }).click();
}

async function go(p, hash) {
  await p.evaluate((h) => { location.hash = h; }, hash);
  await p.locator('main h1').first().waitFor(WAIT);
  await p.waitForFunction(() => !document.querySelector('main[aria-busy]'));
}

const api = async (path) => (await fetch(`${gatewayUrl}/api/v1${path}`, { headers: { 'X-Api-Key': KEY, 'X-Api-Secret': SECRET } })).json();

let orderId, paymentId;

test('the dashboard is served from the binary with a strict policy', async () => {
  for (const path of ['/dashboard', '/dashboard/', '/dashboard/app.js', '/dashboard/dashboard.css', '/dashboard/chart.js', '/dashboard/events.js']) {
    const res = await fetch(gatewayUrl + path);
    assert.equal(res.status, 200, path);
    const csp = res.headers.get('content-security-policy');
    assert.match(csp, /default-src 'self'/, path);
    assert.match(csp, /frame-ancestors 'none'/, path);
    assert.doesNotMatch(csp, /unsafe-inline|unsafe-eval/, path);
    assert.equal(res.headers.get('x-content-type-options'), 'nosniff', path);
    assert.match(res.headers.get('content-type'), path.endsWith('.js') ? /^text\/javascript/ : path.endsWith('.css') ? /^text\/css/ : /^text\/html/, path);
    const body = await res.text();
    assert.ok(!body.includes(SECRET) && !body.includes('whsec_test_abc123'), `${path} holds a secret`);
    const again = await fetch(gatewayUrl + path, { headers: { 'If-None-Match': res.headers.get('etag') } });
    assert.equal(again.status, 304, `${path} revalidates`);
  }
  assert.equal((await fetch(`${gatewayUrl}/dashboard/nope.js`)).status, 404);
});

test('a wrong secret is refused with a clear message, and the right one signs in', async () => {
  await page.goto(`${gatewayUrl}/dashboard`);
  await signIn(page, 'secret_wrong');
  await page.locator('#signin-err').filter({ hasText: 'did not accept' }).waitFor(WAIT);
  await shot(page, 'signin-1440');
  await signIn(page);
  await page.locator('main h1', { hasText: 'Overview' }).waitFor(WAIT);
  assert.equal(await page.locator('#secret').inputValue(), '', 'the secret field is cleared');
  assert.equal(await page.locator('#who').textContent(), KEY);
});

test('the merchant sets the webhook URL in the dashboard', async () => {
  await go(page, '#/webhooks');
  await page.locator('#webhook-url').fill(receiverUrl);
  await page.locator('#save-url').click();
  await page.getByText('Saved. Events go to this URL').waitFor(WAIT);
  assert.equal((await api('/webhooks/config')).webhook_url, receiverUrl);
});

test('an order created in the dashboard gives a checkout link the customer pays', async () => {
  await go(page, '#/orders');
  await page.locator('#new-amount').fill('5OO');
  await page.locator('#create-order').click();
  await page.getByText('Enter an amount like 500.00').waitFor(WAIT);
  await page.locator('#new-amount').fill('500.00');
  await page.locator('#new-receipt').fill('dash-1');
  await page.locator('#create-order').click();
  const link = page.locator('.created input');
  await link.waitFor(WAIT);
  const url = await link.inputValue();
  assert.match(url, new RegExp(`^${gatewayUrl}/checkout\\?order_id=order_[A-Za-z0-9]{16}&key=${KEY}$`));
  orderId = new URL(url).searchParams.get('order_id');
  const order = await api(`/orders/${orderId}`);
  assert.equal(order.amount, 50000);
  assert.equal(order.receipt, 'dash-1');
  await page.locator('table.list a', { hasText: orderId }).waitFor(WAIT);
  await shot(page, 'orders-1440');

  const customer = await watched(context);
  await customer.goto(url);
  await customer.locator('#s-form:not([hidden])').waitFor(WAIT);
  assert.match(await customer.locator('#amount').textContent(), /500\.00/);
  await customer.locator('#vpa').fill('success@paytm');
  await customer.keyboard.press('Enter');
  await customer.locator('#s-success:not([hidden])').waitFor(WAIT);
  await customer.close();
  assert.equal((await api(`/orders/${orderId}`)).status, 'paid');
});

test('the payment shows in the filtered list and its timeline', async () => {
  await go(page, '#/payments');
  await page.locator('#payment-status').selectOption('success');
  const row = page.locator('table.list tbody tr').first();
  await row.locator('a[href^="#/payments/pay_"]').waitFor(WAIT);
  assert.equal(await page.locator('table.list tbody tr').count(), 1);
  paymentId = (await row.locator('a').first().textContent()).trim();
  await page.locator('#payment-status').selectOption('failed');
  await page.getByText('No payments match.').waitFor(WAIT);
  await page.locator('#payment-search').fill(paymentId);
  await page.locator('#payment-search').press('Enter');
  await page.locator('.timeline li[data-event="success"]').waitFor(WAIT);
  const events = await page.locator('.timeline li').evaluateAll((lis) => lis.map((li) => li.dataset.event));
  assert.deepEqual(events, ['created', 'pending', 'success']);
  assert.match(await page.locator('main h1').textContent(), /500\.00/);
});

test('capture, then a partial refund, and the API refuses an over-refund inline', async () => {
  await page.locator('#capture').click();
  await page.locator('.timeline li[data-event="captured"]').waitFor(WAIT);
  await page.locator('#refund-amount').fill('100.00');
  await page.locator('#refund-reason').fill('one item returned');
  await page.locator('#refund').click();
  await page.locator('.timeline li[data-event="refund-processed"]').waitFor(WAIT);
  assert.equal(await page.locator('#refund-amount').inputValue(), '400.00', 'the form offers what remains');
  await page.locator('#refund-amount').fill('450.00');
  await page.locator('#refund').click();
  await page.locator('.err', { hasText: 'Refund amount exceeds available amount (available: 40000)' }).waitFor(WAIT);
  const refunds = await api(`/payments/${paymentId}/refunds`);
  assert.equal(refunds.total, 1);
  assert.equal(refunds.data[0].amount, 10000);
  const payment = await api(`/payments/${paymentId}`);
  assert.equal(payment.captured, true);
  await shot(page, 'payment-1440');

  await go(page, '#/refunds');
  await page.locator('table.list a', { hasText: refunds.data[0].id }).click();
  await page.locator('main h1', { hasText: '100.00' }).waitFor(WAIT);
  await shot(page, 'refund-1440');
});

test('a failing receiver shows failed deliveries, and a retry from the dashboard succeeds', async () => {
  await go(page, '#/webhooks');
  await page.locator('table.list a', { hasText: 'payment.success' }).waitFor(WAIT);
  hook.healthy = false;
  await page.locator('#send-test').click();
  const row = page.locator('table.list tbody tr', { has: page.locator('a', { hasText: 'webhook.test' }) });
  await row.locator('.badge', { hasText: 'failed' }).waitFor(WAIT); // refreshed on its own while pending
  assert.match(await row.textContent(), /HTTP 500/);
  await shot(page, 'webhooks-failed-1440');
  const failedId = (await row.locator('a').getAttribute('href')).split('/').pop();
  hook.healthy = true;
  await row.locator('button', { hasText: 'Retry' }).click();
  await row.locator('.badge', { hasText: 'success' }).waitFor(WAIT);
  assert.equal((await api(`/webhooks/${failedId}`)).status, 'success');

  await row.locator('a').click();
  await page.locator('main h1', { hasText: 'webhook.test' }).waitFor(WAIT);
  const attempts = await page.locator('table.list tbody tr').count();
  assert.ok(attempts >= 1, 'the attempt log is shown');
  assert.match(await page.locator('pre.code').textContent(), /"event": "webhook.test"/);
  await shot(page, 'delivery-1440');
});

test('a rotated secret is shown once, then only masked', async () => {
  await go(page, '#/webhooks');
  assert.doesNotMatch(await page.locator('#secret-value').textContent(), /whsec_test_abc123/, 'masked by default');
  await page.locator('#rotate-secret').click();
  await page.locator('#rotate-confirm').click();
  const shown = (await page.locator('#new-secret code').textContent()).trim();
  assert.match(shown, /^whsec_[A-Za-z0-9+/=]{40,}$/);
  assert.equal((await api('/webhooks/config')).webhook_secret, shown);
  await shot(page, 'webhooks-rotated-1440');
  await page.locator('#hide-new-secret').click();
  assert.equal(await page.locator('#new-secret').count(), 0);
  assert.ok(!(await page.content()).includes(shown), 'gone from the page');
  await page.locator('#reveal-secret').click();
  await page.locator('#secret-value', { hasText: shown }).waitFor(WAIT);
  await page.locator('#reveal-secret').click();
  assert.ok(!(await page.content()).includes(shown), 'hidden again');
});

test('endpoints are added with an event filter, turned off and on, rotated and deleted, each with its own log', async () => {
  await go(page, '#/webhooks');
  const url = receiverUrl.replace('/hooks', '/refunds');
  await page.locator('#endpoint-url').fill(url);
  await page.locator('#event-all').uncheck();
  await page.locator('input[data-event="refund.processed"]').check();
  await page.locator('#add-endpoint').click();
  const secret = (await page.locator('#endpoint-secret code').textContent()).trim();
  assert.match(secret, /^whsec_[A-Za-z0-9+/=]{40,}$/);
  const added = (await api('/webhooks/endpoints')).data.find((e) => e.url === url);
  assert.deepEqual(added.enabled_events, ['refund.processed']);
  assert.equal(added.secret, undefined, 'the API shows a secret only once too');
  await page.locator('#hide-endpoint-secret').click();
  assert.ok(!(await page.content()).includes(secret), 'the secret is gone from the page');

  const actions = () => page.locator(`[data-endpoint="${added.id}"]`);
  await actions().getByRole('button', { name: 'Disable' }).click();
  await actions().getByRole('button', { name: 'Enable' }).waitFor(WAIT);
  assert.equal((await api(`/webhooks/endpoints/${added.id}`)).status, 'disabled');
  await actions().getByRole('button', { name: 'Enable' }).click();
  await actions().getByRole('button', { name: 'Disable' }).waitFor(WAIT);
  assert.equal((await api(`/webhooks/endpoints/${added.id}`)).status, 'enabled');

  // Edit: a new URL, a description, and one more event.
  await actions().getByRole('button', { name: 'Edit…' }).click();
  const editForm = page.locator(`#edit-endpoint-form[data-edit="${added.id}"]`);
  await editForm.waitFor(WAIT);
  assert.equal(await page.locator('#edit-endpoint-url').inputValue(), url, 'the form starts from the endpoint');
  assert.equal(await editForm.locator('input[data-event="refund.processed"]').isChecked(), true);
  assert.equal(await editForm.locator('input[data-event="payment.failed"]').isChecked(), false);
  const newUrl = receiverUrl.replace('/hooks', '/money-back');
  await page.locator('#edit-endpoint-url').fill(newUrl);
  await page.locator('#edit-endpoint-description').fill('Refunds desk');
  await editForm.locator('input[data-event="payment.failed"]').check();
  await page.locator('#save-endpoint').click();
  await editForm.waitFor({ state: 'detached', ...WAIT });
  const edited = await api(`/webhooks/endpoints/${added.id}`);
  assert.deepEqual([edited.url, edited.description, edited.enabled_events], [newUrl, 'Refunds desk', ['payment.failed', 'refund.processed']]);
  // The card draws the endpoint again with its new URL and events.
  const row = page.locator('main tr', { hasText: newUrl });
  await row.waitFor(WAIT);
  assert.match(await row.textContent(), /payment\.failed, refund\.processed|refund\.processed, payment\.failed/);

  await actions().getByRole('button', { name: 'Rotate secret' }).click();
  const rotated = (await page.locator('#endpoint-secret code').textContent()).trim();
  assert.match(rotated, /^whsec_/);
  assert.notEqual(rotated, secret);
  await shot(page, 'webhook-endpoints-1440');
  await page.locator('#hide-endpoint-secret').click();

  await page.locator(`a[href="#/webhooks?endpoint_id=${added.id}"]`).click();
  await page.locator('main h2', { hasText: `Deliveries to ${added.id}` }).waitFor(WAIT);
  await page.locator('main p.empty', { hasText: 'No deliveries yet' }).waitFor(WAIT);
  await page.locator('#all-deliveries').click();
  await page.locator('main h2', { hasText: /^Deliveries$/ }).waitFor(WAIT);

  await actions().getByRole('button', { name: 'Delete' }).click();
  await eventually(async () => !(await api('/webhooks/endpoints')).data.some((e) => e.id === added.id), 'the endpoint deleted');
  await actions().waitFor({ state: 'detached', ...WAIT });
});

/** Adds an endpoint for every event in the dashboard; returns it as the API shows it. */
async function addEndpoint(url) {
  await go(page, '#/webhooks');
  await page.locator('#endpoint-url').fill(url);
  await page.locator('#add-endpoint').click();
  await page.locator('#hide-endpoint-secret').click();
  return eventually(async () => (await api('/webhooks/endpoints')).data.find((e) => e.url === url), `the endpoint ${url}`);
}

/** Resolves once none of the merchant's latest deliveries is pending. */
const settled = () => eventually(async () => !(await api('/webhooks?limit=100')).data.some((d) => d.status === 'pending'), 'deliveries to settle');

let goneId;

test('an endpoint answering 410 shows as disabled, with the reason', async () => {
  const url = receiverUrl.replace('/hooks', '/gone');
  hook.answers.set('/gone', 410);
  const gone = await addEndpoint(url);
  goneId = gone.id;
  await page.locator('#send-test').click();
  const health = page.locator(`[data-health="${gone.id}"]`);
  await health.locator('.badge', { hasText: 'disabled' }).waitFor(WAIT); // followed while pending
  const shown = await api(`/webhooks/endpoints/${gone.id}`);
  assert.equal(shown.status, 'disabled');
  assert.ok(shown.disabled_reason, 'the API gives a reason');
  assert.equal((await health.locator('[data-disabled-reason]').textContent()).trim(), shown.disabled_reason);
  await health.locator('[data-last-attempt="bad"]', { hasText: 'HTTP 410' }).waitFor(WAIT);
  await settled();
});

test('recover resends an endpoint\'s failed deliveries once its receiver is healthy again', async () => {
  hook.answers.set('/recover', 500);
  const endpoint = await addEndpoint(receiverUrl.replace('/hooks', '/recover'));
  for (let i = 0; i < 2; i++) {
    await page.locator('#send-test').click();
    await page.getByText('Test event queued').waitFor(WAIT);
  }
  const failed = await eventually(async () => {
    const log = (await api(`/webhooks?limit=100&endpoint_id=${endpoint.id}`)).data;
    return log.length === 2 && log.every((d) => d.status === 'failed') && log;
  }, 'two failed deliveries to the endpoint');
  const health = page.locator(`[data-health="${endpoint.id}"]`);
  await health.locator('[data-failed="2"]').waitFor(WAIT);
  await health.locator('[data-last-attempt="bad"]', { hasText: 'HTTP 500' }).waitFor(WAIT);
  assert.equal(await health.locator('.badge').textContent(), 'enabled');
  const failingSince = (await api(`/webhooks/endpoints/${endpoint.id}`)).failing_since;
  assert.ok(failingSince, 'the API says since when it fails');
  await health.locator(`[data-failing-since="${failingSince}"]`).waitFor(WAIT);
  await shot(page, 'endpoint-failing-1440');

  hook.answers.delete('/recover');
  const before = hook.received.length;
  await page.locator(`[data-endpoint="${endpoint.id}"]`).getByRole('button', { name: 'Recover…' }).click();
  const form = page.locator(`#recover-form[data-recover="${endpoint.id}"]`);
  await form.waitFor(WAIT);
  const since = await page.locator('#recover-since').inputValue();
  const hoursAgo = (Date.now() - new Date(since).getTime()) / 3_600_000;
  assert.ok(hoursAgo > 23.9 && hoursAgo < 24.1, `the default is 24 h ago, not ${since}`);
  await page.locator('#recover-submit').click();
  await page.locator('#recover-result[data-recovering="2"]').waitFor(WAIT);
  assert.match(await page.locator('#recover-result').textContent(), /Resending 2 failed deliveries/);
  await shot(page, 'endpoint-recover-1440');

  const resent = await eventually(() => {
    const got = hook.received.slice(before).filter((r) => r.path === '/recover' && r.status === 200).map((r) => r.id);
    return got.length >= 2 && got;
  }, 'the receiver to get the failed deliveries again');
  assert.deepEqual([...new Set(resent)].sort(), failed.map((d) => d.id).sort(), 'exactly the failed deliveries are resent');
  // The receiver sees a request before the gateway records its answer.
  for (const d of failed) await eventually(async () => (await api(`/webhooks/${d.id}`)).status === 'success', `${d.id} recorded as delivered`);
  await health.locator('[data-last-attempt="ok"]', { hasText: 'HTTP 200' }).waitFor(WAIT);
  assert.equal(await health.locator('[data-failed]').count(), 0, 'no failures left among its latest deliveries');
  // A success ends the failing period (the endpoint is read just before its deliveries, so the
  // card may need one more refresh to see it).
  await health.locator('[data-failing-since]').waitFor({ state: 'detached', ...WAIT });

  // Its own delivery log shows these two and nothing sent elsewhere.
  await page.locator(`a[href="#/webhooks?endpoint_id=${endpoint.id}"]`).click();
  await page.locator('main h2', { hasText: `Deliveries to ${endpoint.id}` }).waitFor(WAIT);
  const log = page.locator('#deliveries table.list tbody tr');
  await eventually(async () => (await log.locator('.badge', { hasText: 'success' }).count()) === 2, 'the log to show both delivered');
  const listed = await log.locator('a[href^="#/webhooks/"]').evaluateAll((as) => as.map((a) => a.getAttribute('href').split('/').pop()));
  assert.deepEqual(listed.sort(), failed.map((d) => d.id).sort());
  const all = (await api('/webhooks?limit=100')).data;
  assert.ok(all.length > listed.length, 'other endpoints have deliveries that are not listed');
  await shot(page, 'endpoint-log-1440');
});

test('recover refuses a disabled endpoint with the API\'s message', async () => {
  await go(page, '#/webhooks');
  await page.locator(`[data-endpoint="${goneId}"]`).getByRole('button', { name: 'Recover…' }).click();
  await page.locator(`#recover-form[data-recover="${goneId}"]`).getByText('enable it first').waitFor(WAIT);
  await page.locator('#recover-submit').click();
  await page.locator('#recover-form .err').waitFor(WAIT);
  assert.equal(await page.locator('#recover-result').textContent(), '');
});

test('the events page lists what happened, newest first, filters by type and shows a payload', async () => {
  await go(page, '#/events');
  const rows = page.locator('table.list tbody tr');
  await rows.first().waitFor(WAIT);
  const listed = await rows.locator('a[data-event-id]').evaluateAll((as) => as.map((a) => [a.dataset.eventId, a.textContent]));
  const expected = (await api('/events?limit=20')).data.map((e) => [e.id, e.type]);
  assert.deepEqual(listed, expected, 'the API\'s page, newest first');
  const types = new Set(listed.map(([, t]) => t));
  for (const t of ['payment.created', 'payment.success', 'refund.processed', 'webhook.test', 'webhook_endpoint.disabled']) assert.ok(types.has(t), `${t} is listed`);
  await shot(page, 'events-1440');

  await page.locator('#event-type').selectOption('payment.success');
  await page.waitForFunction(() => location.hash.includes('type=payment.success'));
  await eventually(async () => {
    const shown = await page.locator('table.list a[data-event-id]').evaluateAll((as) => as.map((a) => a.textContent));
    return shown.length === 1 && shown[0] === 'payment.success';
  }, 'only the payment.success event');
  await page.locator('table.list a[data-event-id]').click();
  await page.locator('main h1', { hasText: 'payment.success' }).waitFor(WAIT);
  const id = (await page.locator('#event-id').textContent()).trim();
  const event = await api(`/events/${id}`);
  assert.equal(event.type, 'payment.success');
  assert.equal(await page.locator('#event-payload').textContent(), JSON.stringify(event.payload, null, 2));
  assert.equal(event.payload.data.payment.id, paymentId);
  await page.locator('main a.mono', { hasText: paymentId }).waitFor(WAIT);
  await shot(page, 'event-1440');

  await go(page, '#/events?type=webhook_endpoint.disabled');
  await page.locator('table.list a[data-event-id]').first().click();
  await page.locator('main h1', { hasText: 'webhook_endpoint.disabled' }).waitFor(WAIT);
  assert.match(await page.locator('#event-payload').textContent(), new RegExp(`"id": "${goneId}"`));
});

test('the overview chart counts the payment and the refund', async () => {
  await go(page, '#/overview');
  const bar = page.locator('svg rect[data-status="success"]');
  await bar.first().waitFor(WAIT);
  const counted = async () => (await bar.evaluateAll((rs) => rs.map((r) => Number(r.dataset.count)))).reduce((a, b) => a + b, 0);
  assert.equal(await counted(), 1);
  assert.match(await bar.first().getAttribute('aria-label'), /1 success, ₹500\.00/);
  assert.equal(await page.locator('svg g[data-start]').count(), 24);
  assert.match(await page.locator('.kpis').textContent(), /100\.0 %/);
  assert.match(await page.locator('.kpis').textContent(), /₹100\.00/);
  await shot(page, 'overview-1440');
  await page.getByRole('button', { name: 'Last 30 days' }).click();
  await page.waitForFunction(() => document.querySelectorAll('svg g[data-start]').length === 30);
  await page.getByRole('button', { name: 'Volume' }).click();
  await page.locator('svg[data-metric="amount"]').waitFor(WAIT);
  assert.equal(await counted(), 1);
  assert.equal(await bar.first().getAttribute('data-amount'), '50000');
});

test('the developers page lists the API operations from the OpenAPI document', async () => {
  await go(page, '#/developers');
  await page.locator('[data-operation="createRefund"]').waitFor(WAIT);
  assert.ok(await page.locator('.ops > li').count() >= 20);
  await page.locator('[data-operation="createRefund"] summary').click();
  await page.locator('[data-operation="createRefund"]').getByText('CreateRefund').first().waitFor(WAIT);
  const curls = await page.locator('.curls').textContent();
  assert.ok(curls.includes(`KEY_ID=${KEY}`) && curls.includes('$API_SECRET') && curls.includes(`GW=${gatewayUrl}`));
  assert.match(await page.locator('.notice').textContent(), /Test mode/);
  await page.locator('#api-filter').fill('refund');
  assert.equal(await page.locator('[data-operation="createOrder"]').isHidden(), true);
  await page.locator('#api-filter').fill('');
  await shot(page, 'developers-1440');
});

test('every page fits a 360 px screen', async () => {
  const narrow = await browser.newContext({ viewport: { width: 360, height: 780 } });
  const p = await watched(narrow);
  await p.goto(`${gatewayUrl}/dashboard`);
  await shot(p, 'signin-360');
  await signIn(p);
  await p.locator('main h1', { hasText: 'Overview' }).waitFor(WAIT);
  const deliveries = await api('/webhooks?limit=1');
  const refunds = await api('/refunds?limit=1');
  const pages = [
    ['overview', '#/overview'], ['orders', '#/orders'], ['order', `#/orders/${orderId}`], ['payments', '#/payments'],
    ['payment', `#/payments/${paymentId}`], ['refunds', '#/refunds'], ['refund', `#/refunds/${refunds.data[0].id}`],
    ['webhooks', '#/webhooks'], ['delivery', `#/webhooks/${deliveries.data[0].id}`], ['developers', '#/developers'],
    ['events', '#/events'], ['event', `#/events/${(await api('/events?limit=1')).data[0].id}`],
  ];
  for (const [name, hash] of pages) {
    await go(p, hash);
    if (name === 'overview') await p.locator('svg rect[data-status="success"]').first().waitFor(WAIT);
    const width = await p.evaluate(() => document.documentElement.scrollWidth);
    assert.ok(width <= 360, `${name} is ${width} px wide`);
    await shot(p, `${name}-360`);
    if (name !== 'overview') {
      await go(page, hash);
      await shot(page, `${name}-1440`);
    }
  }
  await narrow.close();
});

test('no request leaves 127.0.0.1 and the API secret is never in the page, storage or a URL', async () => {
  assert.ok(requests.length > 20);
  const foreign = requests.filter((u) => !u.startsWith(gatewayUrl) && !u.startsWith('data:'));
  assert.deepEqual(foreign, []);
  assert.deepEqual(requests.filter((u) => u.includes(SECRET)), []);
  assert.ok(!page.url().includes(SECRET));
  for (const hash of ['#/overview', '#/orders', '#/payments', '#/webhooks', '#/events', '#/developers']) {
    await go(page, hash);
    assert.ok(!(await page.content()).includes(SECRET), `${hash} shows the secret`);
  }
  const local = await page.evaluate(() => JSON.stringify(Object.entries(localStorage)));
  assert.ok(!local.includes(SECRET));
  assert.deepEqual(problems, [], 'no script errors or CSP violations');
});

test('signing out forgets the credentials', async () => {
  await page.locator('#signout').click();
  await page.locator('#signin-form').waitFor(WAIT);
  const stored = await page.evaluate(() => JSON.stringify(Object.entries(sessionStorage)) + JSON.stringify(Object.entries(localStorage)));
  assert.ok(!stored.includes(SECRET));
  await page.reload();
  await page.locator('#signin-form').waitFor(WAIT);
  assert.equal(await page.locator('#shell').isHidden(), true);
  await eventually(async () => hook.received.length > 0, 'webhooks');
});
