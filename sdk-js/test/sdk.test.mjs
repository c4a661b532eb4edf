// The SDK (window.PaymentGateway) in a fake DOM: the source and the minified file the gateway
// serves must behave the same.
import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { makeBrowser } from '../testing/fake-dom.mjs';

const FILES = {
  'src/checkout.js': new URL('../src/checkout.js', import.meta.url),
  'served checkout.min.js': new URL('../../gateway-http/assets/checkout.min.js', import.meta.url),
};

const CHECKOUT_ORIGIN = 'https://pay.example:8443';
const RESULT = {
  paymentId: 'pay_AAAAAAAAAAAAAAAA',
  orderId: 'order_BBBBBBBBBBBBBBBB',
  amount: 50000,
  currency: 'INR',
  status: 'success',
  timestamp: 1700000000,
  signature: 'v1,c2lnbmF0dXJl',
};

for (const [name, file] of Object.entries(FILES)) {
  const code = readFileSync(file, 'utf8');

  describe(name, () => {
    // A page with the SDK loaded and one checkout, with every callback recorded.
    function setup(extra = {}, browserOptions) {
      const browser = makeBrowser(browserOptions);
      const PaymentGateway = browser.load(code);
      const calls = { success: [], failure: [], close: 0 };
      const checkout = new PaymentGateway({
        key: 'key_test_abc123',
        orderId: 'order_BBBBBBBBBBBBBBBB',
        onSuccess: (d) => calls.success.push(d),
        onFailure: (d) => calls.failure.push(d),
        onClose: () => { calls.close += 1; },
        ...extra,
      });
      return { browser, PaymentGateway, checkout, calls };
    }

    function fromCheckout(browser, data, overrides = {}) {
      browser.postMessage(data, { origin: CHECKOUT_ORIGIN, source: browser.iframe().contentWindow, ...overrides });
    }

    test('exposes window.PaymentGateway and requires a key and an order id', () => {
      const browser = makeBrowser();
      const PaymentGateway = browser.load(code);
      assert.equal(typeof PaymentGateway, 'function');
      assert.throws(() => new PaymentGateway({ key: 'key_test_abc123' }));
      assert.throws(() => new PaymentGateway({ orderId: 'order_x' }));
      assert.throws(() => new PaymentGateway());
    });

    test('open() creates one modal with an iframe, focuses it and stops page scroll', () => {
      const { browser, checkout } = setup();
      browser.document.body.style.overflow = 'auto';
      checkout.open();
      assert.equal(browser.modals().length, 1);
      const modal = browser.modals()[0];
      assert.equal(modal.getAttribute('role'), 'dialog');
      assert.equal(modal.getAttribute('aria-modal'), 'true');
      assert.ok(browser.iframe(), 'an iframe');
      assert.equal(browser.document.activeElement, browser.iframe());
      assert.equal(browser.document.body.style.overflow, 'hidden');
      assert.equal(browser.button().getAttribute('aria-label'), 'Close checkout');
    });

    test('open() twice creates one modal, even from a second instance', () => {
      const { browser, PaymentGateway, checkout } = setup();
      checkout.open();
      checkout.open();
      new PaymentGateway({ key: 'key_test_abc123', orderId: 'order_other' }).open();
      assert.equal(browser.modals().length, 1);
      assert.equal(browser.window.listenerCount('message'), 1);
      assert.equal(browser.document.listenerCount('keydown'), 1);
    });

    test('the iframe src carries order_id, key, embedded=true and the encoded origin, never a secret', () => {
      const { browser, checkout } = setup(
        { secret: 'secret_test_xyz789', apiSecret: 'secret_test_xyz789', keySecret: 'secret_test_xyz789' },
        { pageUrl: 'http://localhost:3000/shop?x=1' },
      );
      checkout.open();
      const src = browser.iframe().src;
      const url = new URL(src);
      assert.equal(url.origin + url.pathname, `${CHECKOUT_ORIGIN}/checkout`, 'defaults to the script origin + /checkout');
      assert.equal(url.searchParams.get('order_id'), 'order_BBBBBBBBBBBBBBBB');
      assert.equal(url.searchParams.get('key'), 'key_test_abc123');
      assert.equal(url.searchParams.get('embedded'), 'true');
      assert.equal(url.searchParams.get('origin'), 'http://localhost:3000');
      assert.match(src, /[?&]origin=http%3A%2F%2Flocalhost%3A3000(&|$)/);
      assert.deepEqual([...url.searchParams.keys()].sort(), ['embedded', 'key', 'order_id', 'origin']);
      assert.doesNotMatch(src, /secret/i);
    });

    test('order ids and keys are URL-encoded', () => {
      const { browser, checkout } = setup({ orderId: 'order_a&key=evil', key: 'key #1' });
      checkout.open();
      const url = new URL(browser.iframe().src);
      assert.equal(url.searchParams.get('order_id'), 'order_a&key=evil');
      assert.equal(url.searchParams.getAll('key').length, 1);
      assert.equal(url.searchParams.get('key'), 'key #1');
    });

    test('checkoutUrl overrides the page, and its origin is the one trusted', () => {
      const { browser, checkout, calls } = setup({ checkoutUrl: 'http://127.0.0.1:8123/checkout' });
      checkout.open();
      assert.ok(browser.iframe().src.startsWith('http://127.0.0.1:8123/checkout?'));
      fromCheckout(browser, { type: 'payment_success', data: RESULT });
      assert.equal(calls.success.length, 0, 'the script origin is not trusted any more');
      fromCheckout(browser, { type: 'payment_success', data: RESULT }, { origin: 'http://127.0.0.1:8123' });
      assert.equal(calls.success.length, 1);
    });

    test('a message from a foreign origin is ignored', () => {
      const { browser, checkout, calls } = setup();
      checkout.open();
      for (const origin of ['https://evil.example', 'https://pay.example', 'http://pay.example:8443', 'null']) {
        fromCheckout(browser, { type: 'payment_success', data: RESULT }, { origin });
        fromCheckout(browser, { type: 'close_request' }, { origin });
        fromCheckout(browser, { type: 'payment_failed', data: {} }, { origin });
      }
      assert.deepEqual(calls, { success: [], failure: [], close: 0 });
      assert.equal(browser.modals().length, 1);
    });

    test('a message from the right origin but another window is ignored', () => {
      const { browser, checkout, calls } = setup();
      checkout.open();
      for (const source of [{}, null, browser.window]) {
        fromCheckout(browser, { type: 'payment_success', data: RESULT }, { source });
        fromCheckout(browser, { type: 'close_request' }, { source });
      }
      assert.deepEqual(calls, { success: [], failure: [], close: 0 });
      assert.equal(browser.modals().length, 1);
    });

    test('malformed and unknown messages are ignored', () => {
      const { browser, checkout, calls } = setup();
      checkout.open();
      for (const data of [null, undefined, 'payment_success', 42, {}, { type: 'hello' }]) fromCheckout(browser, data);
      assert.deepEqual(calls, { success: [], failure: [], close: 0 });
      assert.equal(browser.modals().length, 1);
    });

    test('payment_success calls onSuccess with the data and closes', () => {
      const { browser, checkout, calls } = setup();
      browser.document.body.style.overflow = 'scroll';
      checkout.open();
      fromCheckout(browser, { type: 'payment_success', data: RESULT });
      assert.deepEqual(calls.success, [RESULT]);
      assert.equal(calls.close, 0);
      assert.equal(browser.modals().length, 0);
      assert.equal(browser.document.body.style.overflow, 'scroll');
      assert.equal(browser.window.listenerCount('message'), 0);
      assert.equal(browser.document.listenerCount('keydown'), 0);
      assert.equal(browser.document.listenerCount('focusin'), 0);
    });

    test('payment_failed calls onFailure and keeps the modal for a retry', () => {
      const { browser, checkout, calls } = setup();
      checkout.open();
      const failure = { paymentId: 'pay_X', orderId: 'order_BBBBBBBBBBBBBBBB', error: { code: 'PAYMENT_FAILED', description: 'Declined' } };
      fromCheckout(browser, { type: 'payment_failed', data: failure });
      assert.deepEqual(calls.failure, [failure]);
      assert.equal(browser.modals().length, 1);
      fromCheckout(browser, { type: 'payment_success', data: RESULT });
      assert.deepEqual(calls.success, [RESULT], 'a retry inside the modal can still succeed');
    });

    test('Escape calls onClose and closes; other keys do nothing', () => {
      const { browser, checkout, calls } = setup();
      checkout.open();
      browser.key('Enter');
      browser.key('a');
      assert.equal(browser.modals().length, 1);
      browser.key('Escape');
      assert.equal(calls.close, 1);
      assert.equal(browser.modals().length, 0);
      browser.key('Escape');
      assert.equal(calls.close, 1, 'no listener left behind');
    });

    test('close_request and the close button call onClose and close', () => {
      const { browser, checkout, calls } = setup();
      checkout.open();
      fromCheckout(browser, { type: 'close_request' });
      assert.equal(calls.close, 1);
      assert.equal(browser.modals().length, 0);
      checkout.open();
      browser.button().click();
      assert.equal(calls.close, 2);
      assert.equal(browser.modals().length, 0);
    });

    test('close() removes the modal and listeners without calling onClose, and open() works again', () => {
      const { browser, checkout, calls } = setup();
      const before = browser.document.createElement('button');
      browser.document.body.appendChild(before);
      before.focus();
      checkout.open();
      assert.equal(browser.modals().length, 2);
      checkout.close();
      checkout.close();
      assert.equal(calls.close, 0);
      assert.equal(browser.modals().length, 1);
      assert.equal(browser.document.activeElement, before, 'focus returns to where it was');
      assert.equal(browser.window.listenerCount('message'), 0);
      checkout.open();
      assert.equal(browser.modals().length, 2);
    });

    test('focus that leaves the modal is brought back to the checkout', () => {
      const { browser, checkout } = setup();
      const outside = browser.document.createElement('a');
      browser.document.body.appendChild(outside);
      checkout.open();
      outside.focus();
      assert.equal(browser.document.activeElement, browser.iframe());
      browser.button().focus();
      assert.equal(browser.document.activeElement, browser.button(), 'the close button may have focus');
    });

    test('without a current script the default page is on the page origin', () => {
      const { browser, checkout } = setup({}, { scriptSrc: null });
      checkout.open();
      assert.ok(browser.iframe().src.startsWith('https://shop.example/checkout?'));
    });
  });
}

test('the served file is small: at most 3,770 bytes minified and 1,500 gzipped', async () => {
  const { gzipSync } = await import('node:zlib');
  const min = readFileSync(FILES['served checkout.min.js']);
  assert.ok(min.length <= 3770, `${min.length} bytes`);
  assert.ok(gzipSync(min, { level: 9 }).length <= 1500);
});

test('no secret in any browser-served file', () => {
  const dir = new URL('../../gateway-http/assets/', import.meta.url);
  for (const f of ['checkout.min.js', 'checkout/index.html', 'checkout/checkout.js', 'checkout/checkout.css']) {
    const text = readFileSync(new URL(f, dir), 'utf8');
    assert.doesNotMatch(text, /secret_|whsec_|X-Api-Secret/i, f);
  }
});
