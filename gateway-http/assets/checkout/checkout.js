// Hosted checkout page: reads ?order_id=…&key=… (the merchant's publishable key id, never the
// secret), shows the order, takes a UPI or card payment, polls it to a final state and, when
// embedded by the SDK (&embedded=true&origin=…), reports the result to the parent window with an
// explicit target origin. Card number and CVV go only into the POST body: never into the URL,
// storage or logs.
(function () {
  'use strict';

  var POLL_MS = 1500;
  var POLL_LIMIT_MS = 2 * 60 * 1000;

  var params = new URLSearchParams(location.search);
  var orderId = params.get('order_id') || '';
  var key = params.get('key') || '';
  var embedded = params.get('embedded') === 'true';
  var parentOrigin = embedded ? originOrNull(params.get('origin')) : null;

  var $ = function (id) { return document.getElementById(id); };
  var form = $('s-form');
  var states = ['s-loading', 's-error', 's-pending', 's-slow', 's-success', 's-failed', 's-paid', 's-form'];
  var order = null;
  var payment = null; // the payment being polled: {id, deadline}
  var attempt = null; // {key, body}: one Idempotency-Key per distinct request body
  var timer = 0;

  // ---------- helpers ----------

  // The `origin` parameter must be exactly an http(s) origin, e.g. https://shop.example:8443.
  function originOrNull(value) {
    if (!value) return null;
    try {
      var u = new URL(value);
      if ((u.protocol === 'http:' || u.protocol === 'https:') && u.origin === value) return value;
    } catch (e) { /* not a URL */ }
    return null;
  }

  function post(message) {
    if (parentOrigin && window.parent !== window) window.parent.postMessage(message, parentOrigin);
  }

  function formatAmount(minor, currency) {
    var digits = currency === 'JPY' ? 0 : 2;
    var value = minor / Math.pow(10, digits);
    try {
      return new Intl.NumberFormat(undefined, {
        style: 'currency', currency: currency,
        minimumFractionDigits: digits, maximumFractionDigits: digits
      }).format(value);
    } catch (e) {
      return currency + ' ' + value.toFixed(digits);
    }
  }

  function newIdempotencyKey() {
    if (crypto.randomUUID) return crypto.randomUUID();
    var b = crypto.getRandomValues(new Uint8Array(16));
    return Array.prototype.map.call(b, function (x) { return (x + 256).toString(16).slice(1); }).join('');
  }

  function show(id, focusTarget) {
    states.forEach(function (s) { $(s).hidden = s !== id; });
    var el = focusTarget || $(id).querySelector('h1');
    if (el) el.focus();
  }

  function setPaymentIds(id) {
    Array.prototype.forEach.call(document.querySelectorAll('.pid'), function (el) {
      el.textContent = id || '—';
    });
  }

  // An error page; `canRetry` offers "Try again" for passing troubles (network, rate limit).
  function fail(message, canRetry) {
    $('error-msg').textContent = message;
    $('reload').hidden = !canRetry;
    show('s-error');
  }

  // fetch + JSON. Resolves {status, body, retryAfter}; rejects only on network failure.
  function api(method, path, body, idempotencyKey) {
    var headers = { 'X-Api-Key': key, 'Accept': 'application/json' };
    if (body) headers['Content-Type'] = 'application/json';
    if (idempotencyKey) headers['Idempotency-Key'] = idempotencyKey;
    return fetch(path, {
      method: method, headers: headers, body: body, cache: 'no-store', credentials: 'omit'
    }).then(function (res) {
      return res.json().catch(function () { return null; }).then(function (json) {
        return { status: res.status, body: json || {}, retryAfter: +res.headers.get('Retry-After') || 0 };
      });
    });
  }

  function errorOf(res) {
    var e = (res.body && res.body.error) || {};
    return { code: e.code || 'HTTP_' + res.status, description: e.description || '' };
  }

  function describe(res, fallback) {
    if (res.status === 429) {
      return 'Too many requests. Please wait ' + (res.retryAfter || 'a few') + ' seconds and try again.';
    }
    return errorOf(res).description || fallback;
  }

  var NETWORK = 'Could not reach the payment server. Check your connection and try again.';

  // ---------- order ----------

  function loadOrder() {
    show('s-loading');
    if (!orderId || !key) {
      fail('This checkout link is incomplete: it needs an order and a merchant key.');
      return;
    }
    api('GET', '/api/v1/checkout/orders/' + encodeURIComponent(orderId)).then(function (res) {
      if (res.status !== 200) {
        fail(res.status === 404 ? 'This order was not found. Ask the merchant for a new payment link.'
          : res.status === 401 ? 'This checkout link is not valid. Ask the merchant for a new payment link.'
            : describe(res, 'Something went wrong while loading this order.'),
        res.status === 429 || res.status >= 500);
        return;
      }
      order = res.body;
      $('merchant').textContent = order.merchant_name || 'Checkout';
      var amount = formatAmount(order.amount, order.currency);
      $('amount').textContent = amount;
      $('pay').textContent = 'Pay ' + amount;
      document.title = 'Pay ' + amount + (order.merchant_name ? ' to ' + order.merchant_name : '');
      if (order.status === 'paid') {
        $('paid-order').textContent = order.id;
        show('s-paid');
      } else {
        showForm();
      }
    }, function () { fail(NETWORK, true); });
  }

  // ---------- form ----------

  function method() { return form.elements.method.value; }

  function showForm() {
    attempt = null; // a new attempt gets a new Idempotency-Key
    payment = null;
    setPaymentIds('');
    $('pay').disabled = false;
    show('s-form', method() === 'card' ? $('number') : $('vpa'));
  }

  function switchMethod() {
    var card = method() === 'card';
    $('card').hidden = !card;
    $('upi').hidden = card;
    $('form-err').hidden = true;
  }

  function setError(id, message) {
    var input = $(id);
    var err = $(id + '-err');
    err.textContent = message || '';
    err.hidden = !message;
    if (message) input.setAttribute('aria-invalid', 'true');
    else input.removeAttribute('aria-invalid');
    return !message;
  }

  function digits(s) { return s.replace(/[\s-]/g, ''); }

  function luhn(num) {
    var sum = 0;
    for (var i = 0; i < num.length; i++) {
      var d = +num[num.length - 1 - i];
      if (i % 2) { d *= 2; if (d > 9) d -= 9; }
      sum += d;
    }
    return sum % 10 === 0;
  }

  // "MM/YY", "MM / YYYY", "MMYY" → {month, year} with a four-digit year, or null.
  function parseExpiry(s) {
    var m = /^\s*(\d{1,2})\s*\/?\s*(\d{2}|\d{4})\s*$/.exec(s);
    if (!m) return null;
    var month = +m[1];
    var year = m[2].length === 2 ? 2000 + +m[2] : +m[2];
    return month >= 1 && month <= 12 ? { month: month, year: year } : null;
  }

  function validateVpa() {
    var v = $('vpa').value.trim();
    return setError('vpa', !v ? 'Enter your UPI ID, for example name@bank.'
      : /^[a-zA-Z0-9._-]+@[a-zA-Z0-9]+$/.test(v) ? '' : 'Enter a valid UPI ID, for example name@bank.');
  }

  function validateNumber() {
    var n = digits($('number').value);
    return setError('number', !n ? 'Enter your card number.'
      : !/^\d{12,19}$/.test(n) || !luhn(n) ? 'This card number is not valid. Check it and try again.' : '');
  }

  function validateExpiry() {
    var v = $('expiry').value;
    var e = parseExpiry(v);
    var now = new Date();
    var past = e && (e.year < now.getFullYear() ||
      (e.year === now.getFullYear() && e.month < now.getMonth() + 1));
    return setError('expiry', !v.trim() ? 'Enter the expiry date as MM/YY.'
      : !e ? 'Enter the expiry date as MM/YY, for example 12/30.'
        : past ? 'This card has expired.' : '');
  }

  function validateCvv() {
    return setError('cvv', /^\d{3,4}$/.test($('cvv').value.trim()) ? '' : 'Enter the 3 or 4 digit CVV.');
  }

  function validateHolder() {
    return setError('holder', $('holder').value.trim() ? '' : 'Enter the name on the card.');
  }

  var validators = { vpa: validateVpa, number: validateNumber, expiry: validateExpiry, cvv: validateCvv, holder: validateHolder };
  var fieldsOf = { upi: ['vpa'], card: ['number', 'expiry', 'cvv', 'holder'] };

  function validate() {
    var first = null;
    fieldsOf[method()].forEach(function (id) {
      if (!validators[id]() && !first) first = $(id);
    });
    if (first) first.focus();
    return !first;
  }

  function requestBody() {
    if (method() === 'upi') {
      return { order_id: orderId, method: 'upi', vpa: $('vpa').value.trim() };
    }
    var e = parseExpiry($('expiry').value);
    return {
      order_id: orderId,
      method: 'card',
      card: {
        number: digits($('number').value),
        expiry_month: e.month,
        expiry_year: e.year,
        cvv: $('cvv').value.trim(),
        holder_name: $('holder').value.trim()
      }
    };
  }

  // A server-side validation error goes next to its field when there is one.
  var FIELD_OF_CODE = { INVALID_VPA: 'vpa', INVALID_CARD: 'number', EXPIRED_CARD: 'expiry' };

  function formError(message) {
    var el = $('form-err');
    el.textContent = message;
    el.hidden = !message;
  }

  function submit(ev) {
    ev.preventDefault();
    formError('');
    if (!validate()) return;
    var body = JSON.stringify(requestBody());
    // Resubmitting the same request (after a network error) reuses its key, so it can never pay
    // twice; a changed request is a new attempt with a new key.
    if (!attempt || attempt.body !== body) attempt = { key: newIdempotencyKey(), body: body };
    $('pay').disabled = true;
    api('POST', '/api/v1/checkout/payments', body, attempt.key).then(function (res) {
      body = null;
      $('pay').disabled = false;
      if (res.status === 200 || res.status === 201) {
        startPolling(res.body);
        return;
      }
      var err = errorOf(res);
      var field = FIELD_OF_CODE[err.code];
      if (res.status === 400 && field && fieldsOf[method()].indexOf(field) >= 0) {
        setError(field, err.description || 'Please check this field.');
        $(field).focus();
      } else {
        formError(describe(res, 'The payment could not be started. Please try again.'));
        $('pay').focus();
      }
    }, function () {
      body = null;
      $('pay').disabled = false;
      formError(NETWORK);
      $('pay').focus();
    });
  }

  // ---------- payment status ----------

  function startPolling(p) {
    payment = { id: p.id, deadline: Date.now() + POLL_LIMIT_MS };
    setPaymentIds(p.id);
    // Clear the card fields: the attempt is sent; they are not needed any more.
    $('number').value = '';
    $('cvv').value = '';
    show('s-pending');
    handle(p);
  }

  function schedule(delay) {
    clearTimeout(timer);
    if (Date.now() > payment.deadline) {
      show('s-slow');
      return;
    }
    timer = setTimeout(poll, delay);
  }

  function poll() {
    var current = payment;
    api('GET', '/api/v1/checkout/payments/' + encodeURIComponent(current.id)).then(function (res) {
      if (payment !== current) return;
      if (res.status === 200) handle(res.body);
      else if (res.status === 401 || res.status === 404) fail(describe(res, 'This payment could not be found.'));
      else schedule(res.retryAfter ? res.retryAfter * 1000 : POLL_MS);
    }, function () {
      if (payment === current) schedule(POLL_MS * 2);
    });
  }

  function handle(p) {
    if (p.status === 'success' && p.result) {
      show('s-success');
      post({ type: 'payment_success', data: p.result });
    } else if (p.status === 'failed') {
      var error = {
        code: p.error_code || 'PAYMENT_FAILED',
        description: p.error_description || 'The payment was declined.'
      };
      $('fail-msg').textContent = error.description;
      show('s-failed');
      post({ type: 'payment_failed', data: { paymentId: p.id, orderId: p.order_id || orderId, error: error } });
    } else {
      schedule(POLL_MS);
    }
  }

  // ---------- input niceties ----------

  // Groups the card number in fours while typing at the end of the field.
  function formatNumber() {
    var el = $('number');
    if (el.selectionStart !== el.value.length) return;
    el.value = digits(el.value).replace(/\D/g, '').slice(0, 19).replace(/(\d{4})(?=\d)/g, '$1 ');
  }

  // Adds the slash after the month while typing forward.
  function formatExpiry(ev) {
    var el = $('expiry');
    if (ev.inputType && ev.inputType.indexOf('delete') === 0) return;
    if (/^\d{2}$/.test(el.value)) el.value += '/';
    else if (/^[2-9]$/.test(el.value)) el.value = '0' + el.value + '/';
  }

  function close() { post({ type: 'close_request' }); }

  // ---------- wiring ----------

  if (parentOrigin) {
    document.documentElement.className = 'embedded';
    document.body.className = 'embedded';
    $('back').hidden = false;
    $('close').addEventListener('click', close);
    document.addEventListener('keydown', function (ev) {
      if (ev.key === 'Escape') close();
    });
  }
  Array.prototype.forEach.call(form.elements.method, function (r) {
    r.addEventListener('change', switchMethod);
  });
  Object.keys(validators).forEach(function (id) {
    // A flagged field is re-checked as it is typed in, so its error clears once it is fixed.
    // (Not on blur: a message vanishing on blur moves the Pay button under the pointer and the
    // click that caused the blur misses it.)
    $(id).addEventListener('input', function () {
      if ($(id).getAttribute('aria-invalid') === 'true') validators[id]();
    });
  });
  $('number').addEventListener('input', formatNumber);
  $('expiry').addEventListener('input', formatExpiry);
  form.addEventListener('submit', submit);
  $('retry').addEventListener('click', showForm);
  $('reload').addEventListener('click', loadOrder);
  $('recheck').addEventListener('click', function () {
    payment.deadline = Date.now() + POLL_LIMIT_MS;
    show('s-pending');
    poll();
  });
  switchMethod();
  loadOrder();
})();
