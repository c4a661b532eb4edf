// The hosted checkout in a real browser: the example merchant site opens the SDK's modal, the
// customer pays in the gateway's page inside it, and the merchant's server verifies the signed
// result. Runs the built gateway binary (GATEWAY_BIN, default target/debug/gateway) on a fresh
// SQLite file and the example site, both on 127.0.0.1, and Debian's Chromium (CHROMIUM).

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium } from 'playwright-core';
import { root, gatewayBin, chromiumPath, freePort, waitFor } from './support.mjs';

const shots = process.env.SCREENSHOTS; // a folder to save screenshots into, when set

let dir, gateway, site, browser, gatewayUrl, siteUrl;

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'gateway-browser-'));
  const [gatewayPort, sitePort] = [await freePort(), await freePort()];
  gatewayUrl = `http://127.0.0.1:${gatewayPort}`;
  siteUrl = `http://127.0.0.1:${sitePort}`;
  gateway = spawn(gatewayBin, ['serve'], {
    env: { ...process.env, DATABASE_URL: `sqlite://${join(dir, 'gateway.db')}`, PORT: String(gatewayPort), TEST_MODE: 'true', TEST_PROCESSING_DELAY: '300', RUST_LOG: 'warn' },
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  site = spawn(process.execPath, [join(root, 'examples/merchant-site/server.mjs')], {
    env: { ...process.env, PORT: String(sitePort), GATEWAY_URL: gatewayUrl, GATEWAY_API_KEY: 'key_test_abc123', GATEWAY_API_SECRET: 'secret_test_xyz789', GATEWAY_WEBHOOK_SECRET: 'whsec_test_abc123' },
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  await waitFor(`${gatewayUrl}/health`);
  await waitFor(siteUrl);
  browser = await chromium.launch({ executablePath: chromiumPath, args: ['--headless', '--no-sandbox'] });
  if (shots) mkdirSync(shots, { recursive: true });
});

after(async () => {
  await browser?.close();
  gateway?.kill('SIGKILL');
  site?.kill('SIGKILL');
  if (dir) rmSync(dir, { recursive: true, force: true });
});

/** The shop at 360 px, with its checkout modal open. */
async function openCheckout() {
  const context = await browser.newContext({ viewport: { width: 360, height: 800 } });
  const page = await context.newPage();
  const external = [];
  page.on('request', (r) => {
    const url = r.url();
    if (!url.startsWith(gatewayUrl) && !url.startsWith(siteUrl) && !url.startsWith('data:')) external.push(url);
  });
  await page.goto(siteUrl);
  await page.click('#pay');
  const frame = page.frameLocator('iframe');
  await frame.locator('#s-form:not([hidden])').waitFor({ timeout: 15_000 });
  return { context, page, frame, external };
}

const status = (page) => page.locator('#status');

async function shot(page, name) {
  if (shots) await page.screenshot({ path: join(shots, `${name}.png`), fullPage: true });
}

test('a UPI payment with success@paytm fires onSuccess with a signature the merchant verifies', async () => {
  const { context, page, frame, external } = await openCheckout();
  await shot(page, '01-modal-upi');
  await frame.locator('#vpa').fill('success@paytm');
  await frame.locator('#pay').click();
  await assert.doesNotReject(status(page).filter({ hasText: 'Payment verified' }).waitFor({ timeout: 20_000 }));
  assert.equal(await page.locator('iframe').count(), 0, 'the modal closed');
  assert.deepEqual(external, [], 'no request left this machine');
  await shot(page, '02-verified');
  await context.close();
});

test('a customer can pay on the hosted page opened as a link', async () => {
  const order = await (await fetch(`${gatewayUrl}/api/v1/orders`, {
    method: 'POST',
    headers: { 'X-Api-Key': 'key_test_abc123', 'X-Api-Secret': 'secret_test_xyz789', 'Content-Type': 'application/json' },
    body: JSON.stringify({ amount: 25000, receipt: 'link' }),
  })).json();
  const context = await browser.newContext({ viewport: { width: 360, height: 800 } });
  const page = await context.newPage();
  await page.goto(`${gatewayUrl}/checkout?order_id=${order.id}&key=key_test_abc123`);
  await page.locator('#s-form:not([hidden])').waitFor({ timeout: 15_000 });
  assert.match(await page.locator('#amount').textContent(), /250\.00/);
  assert.equal((await page.locator('#merchant').textContent()).trim(), 'Test Merchant');
  await page.locator('#vpa').fill('success@paytm');
  await page.keyboard.press('Enter');
  await page.locator('#s-success:not([hidden])').waitFor({ timeout: 20_000 });
  await shot(page, '00-hosted-success');
  const paid = await (await fetch(`${gatewayUrl}/api/v1/orders/${order.id}`, {
    headers: { 'X-Api-Key': 'key_test_abc123', 'X-Api-Secret': 'secret_test_xyz789' },
  })).json();
  assert.equal(paid.status, 'paid');
  await context.close();
});

test('a card payment succeeds through the same flow', async () => {
  const { context, page, frame } = await openCheckout();
  await frame.locator('input[value=card]').check();
  await frame.locator('#number').fill('4111 1111 1111 1111');
  await frame.locator('#expiry').fill('12/30');
  await frame.locator('#cvv').fill('123');
  await frame.locator('#holder').fill('A Customer');
  await shot(page, '03-card');
  await frame.locator('#pay').click();
  await assert.doesNotReject(status(page).filter({ hasText: 'Payment verified' }).waitFor({ timeout: 20_000 }));
  await context.close();
});

test('client-side validation stops a bad VPA and a card failing Luhn before any request', async () => {
  const { context, page, frame } = await openCheckout();
  let payments = 0;
  page.on('request', (r) => { if (r.url().includes('/api/v1/checkout/payments')) payments += 1; });
  await frame.locator('#vpa').fill('not a vpa');
  await frame.locator('#pay').click();
  await frame.locator('#vpa-err:not([hidden])').waitFor();
  assert.equal(await frame.locator('#vpa').getAttribute('aria-invalid'), 'true');
  await frame.locator('input[value=card]').check();
  await frame.locator('#number').fill('4111 1111 1111 1112');
  await frame.locator('#expiry').fill('12/30');
  await frame.locator('#cvv').fill('123');
  await frame.locator('#holder').fill('A Customer');
  await frame.locator('#pay').click();
  await frame.locator('#number-err:not([hidden])').waitFor();
  assert.equal(payments, 0, 'nothing was sent');
  await shot(page, '04-validation');
  await context.close();
});

test('failure@paytm fires onFailure and the page offers a retry that can succeed', async () => {
  const { context, page, frame } = await openCheckout();
  await frame.locator('#vpa').fill('failure@paytm');
  await frame.locator('#pay').click();
  await assert.doesNotReject(status(page).filter({ hasText: 'Payment failed' }).waitFor({ timeout: 20_000 }));
  await frame.locator('#s-failed:not([hidden])').waitFor();
  await shot(page, '05-failed');
  await frame.locator('#retry').click();
  await frame.locator('#s-form:not([hidden])').waitFor();
  await frame.locator('#vpa').fill('success@paytm');
  await frame.locator('#pay').click();
  await assert.doesNotReject(status(page).filter({ hasText: 'Payment verified' }).waitFor({ timeout: 20_000 }));
  await context.close();
});

test('closing the modal fires onClose, by Escape and by the close button', async () => {
  for (const how of ['escape', 'button']) {
    const { context, page, frame } = await openCheckout();
    if (how === 'escape') {
      await frame.locator('#vpa').press('Escape');
    } else {
      await page.getByRole('button', { name: /close/i }).first().click();
    }
    await assert.doesNotReject(status(page).filter({ hasText: 'Checkout closed' }).waitFor({ timeout: 10_000 }), how);
    assert.equal(await page.locator('iframe').count(), 0, how);
    await context.close();
  }
});

test('a message that does not come from the checkout frame is ignored', async () => {
  const { context, page } = await openCheckout();
  await page.evaluate(() => {
    const forged = { paymentId: 'pay_AAAAAAAAAAAAAAAA', orderId: 'order_AAAAAAAAAAAAAAAA', amount: 50000, currency: 'INR', status: 'success', timestamp: 0, signature: 'v1,forged' };
    window.postMessage({ type: 'payment_success', data: forged }, '*');
    window.postMessage({ type: 'close_request' }, '*');
  });
  await new Promise((r) => setTimeout(r, 700));
  assert.equal(await page.locator('iframe').count(), 1, 'the modal is still open');
  const text = (await status(page).textContent()) ?? '';
  assert.ok(!/verified|closed/i.test(text), `status changed to ${text}`);
  await context.close();
});

test('opening twice does not stack modals', async () => {
  const { context, page } = await openCheckout();
  await page.evaluate(() => document.querySelector('#pay')?.click());
  await new Promise((r) => setTimeout(r, 500));
  assert.equal(await page.locator('iframe').count(), 1);
  await context.close();
});

test('no file served to the browser contains a secret', async () => {
  const { context, page } = await openCheckout();
  const order = await (await fetch(`${gatewayUrl}/api/v1/orders`, {
    method: 'POST',
    headers: { 'X-Api-Key': 'key_test_abc123', 'X-Api-Secret': 'secret_test_xyz789', 'Content-Type': 'application/json' },
    body: JSON.stringify({ amount: 1000 }),
  })).json();
  const urls = [
    `${gatewayUrl}/checkout?order_id=${order.id}&key=key_test_abc123`,
    `${gatewayUrl}/checkout/checkout.js`,
    `${gatewayUrl}/checkout/checkout.css`,
    `${gatewayUrl}/checkout.js`,
    siteUrl,
  ];
  for (const url of urls) {
    const body = await (await fetch(url)).text();
    for (const secret of ['secret_test_xyz789', 'whsec_test_abc123', 'X-Api-Secret']) {
      assert.ok(!body.includes(secret), `${url} contains ${secret}`);
    }
  }
  const html = await page.content();
  assert.ok(!html.includes('secret_test_xyz789'));
  await context.close();
});
