// A tiny merchant site showing the recommended checkout flow (Node 20, no dependencies):
//   1. the browser asks this server for an order; the server creates it at the gateway with the
//      API key AND secret, and answers only {orderId, key} — the secret never leaves the server;
//   2. the page opens the gateway's SDK (checkout.js) with the publishable key id and order id;
//   3. onSuccess hands the signed result to this server, which verifies it with the webhook
//      secret before trusting it (sdk-js/verify.js).
//
//   GATEWAY_URL=http://localhost:8000 GATEWAY_API_KEY=key_test_abc123 \
//   GATEWAY_API_SECRET=secret_test_xyz789 GATEWAY_WEBHOOK_SECRET=whsec_test_abc123 \
//   PORT=3000 node server.mjs
import http from 'node:http';
import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { verifyCheckoutResult } from '../../sdk-js/verify.js';

const GATEWAY_URL = (process.env.GATEWAY_URL || 'http://localhost:8000').replace(/\/+$/, '');
const API_KEY = process.env.GATEWAY_API_KEY || 'key_test_abc123';
const API_SECRET = process.env.GATEWAY_API_SECRET || 'secret_test_xyz789';
const WEBHOOK_SECRET = process.env.GATEWAY_WEBHOOK_SECRET || 'whsec_test_abc123';
const PORT = Number(process.env.PORT || 3000);
const HOST = '127.0.0.1';

const PRICE = { amount: 50000, currency: 'INR' }; // ₹500.00, decided by the server, not the browser
const MAX_BODY = 16 * 1024;

const gatewayOrigin = new URL(GATEWAY_URL).origin;
const file = (name) => readFileSync(new URL(name, import.meta.url), 'utf8');
const escapeAttr = (s) => s.replace(/&/g, '&amp;').replace(/"/g, '&quot;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
const INDEX = file('index.html').replaceAll('{{GATEWAY_URL}}', escapeAttr(GATEWAY_URL));
const APP = file('app.js');
const STYLE = file('style.css');

// Orders this server created, so a result for someone else's order (or amount) is refused.
const orders = new Map();

const SECURITY_HEADERS = {
  // The SDK needs the gateway for its script and its iframe; nothing else is allowed.
  'Content-Security-Policy':
    `default-src 'self'; script-src 'self' ${gatewayOrigin}; frame-src ${gatewayOrigin}; ` +
    `connect-src 'self'; img-src 'self' data:; base-uri 'none'; form-action 'self'`,
  'X-Content-Type-Options': 'nosniff',
  'Referrer-Policy': 'strict-origin-when-cross-origin',
};

function send(res, status, type, body) {
  res.writeHead(status, { 'Content-Type': type, 'Cache-Control': 'no-store', ...SECURITY_HEADERS });
  res.end(body);
}

function json(res, status, value) {
  send(res, status, 'application/json', JSON.stringify(value));
}

function readJson(req) {
  return new Promise((resolve, reject) => {
    let size = 0;
    const chunks = [];
    req.on('data', (c) => {
      size += c.length;
      if (size > MAX_BODY) { reject(new Error('body too large')); req.destroy(); } else chunks.push(c);
    });
    req.on('end', () => {
      try { resolve(JSON.parse(Buffer.concat(chunks).toString('utf8') || '{}')); } catch (e) { reject(e); }
    });
    req.on('error', reject);
  });
}

async function createOrder(res) {
  let response;
  try {
    response = await fetch(`${GATEWAY_URL}/api/v1/orders`, {
      method: 'POST',
      headers: {
        'X-Api-Key': API_KEY,
        'X-Api-Secret': API_SECRET,
        'Content-Type': 'application/json',
        'Idempotency-Key': randomUUID(),
      },
      body: JSON.stringify({ ...PRICE, receipt: `shop_${Date.now()}` }),
      signal: AbortSignal.timeout(10_000),
    });
  } catch (e) {
    console.error('create-order: gateway unreachable:', e.message);
    return json(res, 502, { error: 'The payment gateway is unreachable.' });
  }
  const body = await response.json().catch(() => ({}));
  if (response.status !== 201 && response.status !== 200) {
    console.error('create-order: gateway answered', response.status, body?.error?.code);
    return json(res, 502, { error: body?.error?.description || `The gateway answered ${response.status}.` });
  }
  orders.set(body.id, { amount: body.amount, currency: body.currency });
  // Only what the browser needs: the order id and the publishable key id. Never the secret.
  json(res, 200, { orderId: body.id, key: API_KEY });
}

async function verify(req, res) {
  let result;
  try {
    result = await readJson(req);
  } catch {
    return json(res, 400, { verified: false });
  }
  const order = result && orders.get(result.orderId);
  const verified = verifyCheckoutResult(result, WEBHOOK_SECRET) &&
    result.status === 'success' &&
    !!order && order.amount === result.amount && order.currency === result.currency;
  if (verified) console.log(`paid: order ${result.orderId} by payment ${result.paymentId}`);
  json(res, 200, { verified });
}

const server = http.createServer((req, res) => {
  const path = new URL(req.url, 'http://localhost').pathname;
  const route = `${req.method} ${path}`;
  if (route === 'GET /' || route === 'GET /index.html') return send(res, 200, 'text/html; charset=utf-8', INDEX);
  if (route === 'GET /app.js') return send(res, 200, 'text/javascript; charset=utf-8', APP);
  if (route === 'GET /style.css') return send(res, 200, 'text/css; charset=utf-8', STYLE);
  if (route === 'POST /create-order') return void createOrder(res).catch((e) => { console.error(e); json(res, 500, { error: 'internal error' }); });
  if (route === 'POST /verify') return void verify(req, res).catch((e) => { console.error(e); json(res, 500, { verified: false }); });
  json(res, 404, { error: 'not found' });
});

server.listen(PORT, HOST, () => {
  console.log(`merchant site on http://${HOST}:${server.address().port} (gateway ${GATEWAY_URL})`);
});
