'use strict';
// Verifies a checkout result (the SDK's onSuccess payload) on the merchant's server, with the
// merchant's webhook secret. No dependencies; Node 20+. The same scheme as the gateway's
// `gateway_core::verify_checkout_result`:
//
//   key       = base64-decode of the part after `whsec_` when that part is canonical standard
//               base64, otherwise the UTF-8 bytes of the whole secret (e.g. `whsec_test_abc123`)
//   message   = `${paymentId}.${timestamp}.${orderId}.${amount}.${currency}.${status}`
//   signature = `v1,` + base64(HMAC-SHA256(key, message)); several space-separated entries allowed
//
// and the timestamp (Unix seconds, when the gateway signed it) must be within the tolerance.
//
//   const { verifyCheckoutResult } = require('./verify.js');
//   if (!verifyCheckoutResult(req.body, process.env.GATEWAY_WEBHOOK_SECRET)) reject();

const crypto = require('node:crypto');

const DEFAULT_TOLERANCE_SECONDS = 300;

/** The HMAC key for a webhook secret, keyed like Standard Webhooks. */
function signingKey(secret) {
  if (secret.startsWith('whsec_')) {
    const b64 = secret.slice('whsec_'.length);
    const bytes = Buffer.from(b64, 'base64');
    // Buffer.from is lenient; accept only what a strict decoder accepts (it round-trips).
    if (bytes.toString('base64') === b64) return bytes;
  }
  return Buffer.from(secret, 'utf8');
}

// Fields that end up in the signed message. Ids, currency and status never contain a '.', which
// keeps the message unambiguous.
function isField(value) {
  return typeof value === 'string' && value.length > 0 && !value.includes('.');
}

function signedMessage(r) {
  return `${r.paymentId}.${r.timestamp}.${r.orderId}.${r.amount}.${r.currency}.${r.status}`;
}

function mac(secret, result) {
  return crypto.createHmac('sha256', signingKey(secret)).update(signedMessage(result), 'utf8').digest();
}

function nowSeconds(now) {
  if (now === undefined) return Math.floor(Date.now() / 1000);
  if (now instanceof Date) return Math.floor(now.getTime() / 1000);
  return now;
}

/**
 * True when `result` carries a valid signature for its fields under `webhookSecret` and its
 * timestamp is within `toleranceSeconds` of `now` (Unix seconds or a Date; default: the clock).
 * Never throws on malformed input: anything unexpected is simply not verified.
 *
 * @param {{paymentId: string, orderId: string, amount: number, currency: string,
 *          status: string, timestamp: number, signature: string}} result
 * @param {string} webhookSecret
 * @param {{toleranceSeconds?: number, now?: number | Date}} [options]
 * @returns {boolean}
 */
function verifyCheckoutResult(result, webhookSecret, { toleranceSeconds = DEFAULT_TOLERANCE_SECONDS, now } = {}) {
  if (typeof webhookSecret !== 'string' || webhookSecret === '') return false;
  if (result === null || typeof result !== 'object') return false;
  const { paymentId, orderId, amount, currency, status, timestamp, signature } = result;
  if (![paymentId, orderId, currency, status].every(isField)) return false;
  if (!Number.isSafeInteger(amount) || !Number.isSafeInteger(timestamp)) return false;
  if (typeof signature !== 'string') return false;

  const current = nowSeconds(now);
  if (!Number.isFinite(current) || Math.abs(current - timestamp) > toleranceSeconds) return false;

  const expected = mac(webhookSecret, result);
  let ok = false;
  for (const entry of signature.split(' ')) {
    if (!entry.startsWith('v1,')) continue;
    const b64 = entry.slice(3);
    const given = Buffer.from(b64, 'base64');
    if (given.toString('base64') !== b64 || given.length !== expected.length) continue;
    // Check every entry, so the time taken does not depend on which one matched.
    if (crypto.timingSafeEqual(given, expected)) ok = true;
  }
  return ok;
}

/**
 * Signs a result the way the gateway does (for tests and local tooling; the gateway signs real
 * results). Returns a copy with `signature` set.
 */
function signCheckoutResult(result, webhookSecret) {
  return { ...result, signature: `v1,${mac(webhookSecret, result).toString('base64')}` };
}

module.exports = { verifyCheckoutResult, signCheckoutResult, signingKey };
