// verify.js against signatures computed here independently with node:crypto.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import { createRequire } from 'node:module';

const { verifyCheckoutResult, signCheckoutResult } = createRequire(import.meta.url)('../verify.js');

// The Standard Webhooks specification's example secret (canonical base64 after whsec_).
const SECRET = 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw';
const TS = 1614265330;

function independentSignature(keyBytes, r) {
  const message = [r.paymentId, r.timestamp, r.orderId, r.amount, r.currency, r.status].join('.');
  return 'v1,' + crypto.createHmac('sha256', keyBytes).update(message).digest('base64');
}

const UNSIGNED = {
  paymentId: 'pay_AAAAAAAAAAAAAAAA',
  orderId: 'order_BBBBBBBBBBBBBBBB',
  amount: 50000,
  currency: 'INR',
  status: 'success',
  timestamp: TS,
};
const KEY = Buffer.from('MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw', 'base64');
const SIGNED = { ...UNSIGNED, signature: independentSignature(KEY, UNSIGNED) };

test('a known vector verifies', () => {
  assert.equal(
    SIGNED.signature.slice(0, 3) + SIGNED.signature.length,
    'v1,47',
    'v1, + 44 base64 characters of a SHA-256 MAC',
  );
  assert.equal(verifyCheckoutResult(SIGNED, SECRET, { now: TS }), true);
  assert.equal(verifyCheckoutResult(SIGNED, SECRET, { now: new Date(TS * 1000) }), true);
  assert.deepEqual(signCheckoutResult(UNSIGNED, SECRET), SIGNED, 'signCheckoutResult agrees');
});

test('the message is paymentId.timestamp.orderId.amount.currency.status', () => {
  const message = 'pay_AAAAAAAAAAAAAAAA.1614265330.order_BBBBBBBBBBBBBBBB.50000.INR.success';
  const sig = 'v1,' + crypto.createHmac('sha256', KEY).update(message).digest('base64');
  assert.equal(sig, SIGNED.signature);
});

test('any tampered field fails', () => {
  const tampered = {
    paymentId: 'pay_CCCCCCCCCCCCCCCC',
    orderId: 'order_DDDDDDDDDDDDDDDD',
    amount: 1,
    currency: 'USD',
    status: 'failed',
    timestamp: TS + 1,
  };
  for (const [field, value] of Object.entries(tampered)) {
    assert.equal(verifyCheckoutResult({ ...SIGNED, [field]: value }, SECRET, { now: TS }), false, field);
  }
  const flipped = Buffer.from(SIGNED.signature.slice(3), 'base64');
  flipped[0] ^= 1;
  assert.equal(verifyCheckoutResult({ ...SIGNED, signature: 'v1,' + flipped.toString('base64') }, SECRET, { now: TS }), false);
  assert.equal(verifyCheckoutResult({ ...SIGNED, signature: 'v2,' + SIGNED.signature.slice(3) }, SECRET, { now: TS }), false);
  assert.equal(verifyCheckoutResult({ ...SIGNED, signature: '' }, SECRET, { now: TS }), false);
});

test('another secret fails', () => {
  assert.equal(verifyCheckoutResult(SIGNED, 'whsec_test_abc123', { now: TS }), false);
  assert.equal(verifyCheckoutResult(SIGNED, 'MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw', { now: TS }), false);
  assert.equal(verifyCheckoutResult(SIGNED, '', { now: TS }), false);
  assert.equal(verifyCheckoutResult(SIGNED, undefined, { now: TS }), false);
});

test('stale or future timestamps fail, within tolerance passes', () => {
  assert.equal(verifyCheckoutResult(SIGNED, SECRET, { now: TS + 300 }), true);
  assert.equal(verifyCheckoutResult(SIGNED, SECRET, { now: TS - 300 }), true);
  assert.equal(verifyCheckoutResult(SIGNED, SECRET, { now: TS + 301 }), false);
  assert.equal(verifyCheckoutResult(SIGNED, SECRET, { now: TS - 301 }), false);
  assert.equal(verifyCheckoutResult(SIGNED, SECRET, { now: TS + 3600, toleranceSeconds: 3600 }), true);
  assert.equal(verifyCheckoutResult(SIGNED, SECRET, { now: TS + 10, toleranceSeconds: 5 }), false);
  assert.equal(verifyCheckoutResult(SIGNED, SECRET), false, 'the real clock is years later');
});

test('the real clock is the default', () => {
  const now = Math.floor(Date.now() / 1000);
  const fresh = { ...UNSIGNED, timestamp: now };
  fresh.signature = independentSignature(KEY, fresh);
  assert.equal(verifyCheckoutResult(fresh, SECRET), true);
});

test('whsec_test_abc123 (not base64) signs with the whole secret string', () => {
  const secret = 'whsec_test_abc123';
  const result = { ...UNSIGNED, signature: independentSignature(Buffer.from(secret, 'utf8'), UNSIGNED) };
  assert.equal(verifyCheckoutResult(result, secret, { now: TS }), true);
  const wrongKey = { ...UNSIGNED, signature: independentSignature(Buffer.from('test_abc123'), UNSIGNED) };
  assert.equal(verifyCheckoutResult(wrongKey, secret, { now: TS }), false);
});

test('a secret without the whsec_ prefix is used as raw bytes', () => {
  const secret = 'my-plain-secret';
  const result = { ...UNSIGNED, signature: independentSignature(Buffer.from(secret), UNSIGNED) };
  assert.equal(verifyCheckoutResult(result, secret, { now: TS }), true);
});

test('one matching entry among several space-separated ones is enough', () => {
  const other = independentSignature(Buffer.from('whsec_old'), UNSIGNED);
  assert.equal(verifyCheckoutResult({ ...SIGNED, signature: `${other} ${SIGNED.signature}` }, SECRET, { now: TS }), true);
  assert.equal(verifyCheckoutResult({ ...SIGNED, signature: `v1,!!! ${SIGNED.signature}` }, SECRET, { now: TS }), true);
  assert.equal(verifyCheckoutResult({ ...SIGNED, signature: `${other} v1,AAAA` }, SECRET, { now: TS }), false);
});

test('malformed input is not verified and does not throw', () => {
  for (const bad of [
    null, undefined, 'x', 42, {},
    { ...SIGNED, amount: '50000' },
    { ...SIGNED, amount: 500.5 },
    { ...SIGNED, timestamp: String(TS) },
    { ...SIGNED, paymentId: undefined },
    { ...SIGNED, signature: undefined },
    { ...SIGNED, signature: ['v1,x'] },
  ]) {
    assert.equal(verifyCheckoutResult(bad, SECRET, { now: TS }), false, JSON.stringify(bad));
  }
});

test('fields containing a dot are refused, even correctly signed, so the message stays unambiguous', () => {
  // `order_x.5` + 100 and `order_x` + 5 would otherwise share the bytes `order_x.5.100`-style.
  const dotted = { ...UNSIGNED, orderId: 'order_x.5' };
  dotted.signature = independentSignature(KEY, dotted);
  assert.equal(verifyCheckoutResult(dotted, SECRET, { now: TS }), false);
  const dottedStatus = { ...UNSIGNED, status: 'success.x' };
  dottedStatus.signature = independentSignature(KEY, dottedStatus);
  assert.equal(verifyCheckoutResult(dottedStatus, SECRET, { now: TS }), false);
});

test('the example in sdk-js/README.md verifies (a fixed vector with whsec_test_abc123)', () => {
  const example = {
    paymentId: 'pay_AAAAAAAAAAAAAAAA',
    orderId: 'order_BBBBBBBBBBBBBBBB',
    amount: 50000,
    currency: 'INR',
    status: 'success',
    timestamp: 1764162000,
    signature: 'v1,812gv+C2SHwlyt0CRPRskNr3i4hQ/Q8V+jvlO4Q3ZFg=',
  };
  assert.equal(example.signature, independentSignature(Buffer.from('whsec_test_abc123'), example));
  assert.equal(verifyCheckoutResult(example, 'whsec_test_abc123', { now: 1764162000 }), true);
});
