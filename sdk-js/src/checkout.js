/*! PaymentGateway checkout SDK: modal + iframe around the gateway's hosted checkout page. */
// Loaded by the merchant's page from the gateway (`<script src="https://gateway/checkout.js">`).
// It needs only the publishable key id and an order id created by the merchant's server; the API
// secret never belongs in a browser. Messages from the checkout iframe are trusted only when they
// come from the checkout's origin AND from this modal's own iframe.
(function (w, d) {
  'use strict';

  // Where this script was loaded from decides the default checkout page.
  var script = d.currentScript;
  var DEFAULT_URL = (script && script.src ? new URL(script.src).origin : w.location.origin) + '/checkout';

  // The instance whose modal is open: at most one modal at a time, whichever instance opened it.
  var active = null;

  function call(fn, arg) {
    if (typeof fn == 'function') fn(arg);
  }

  function css(el, text) {
    el.style.cssText = text;
    return el;
  }

  /**
   * @param {{key: string, orderId: string, onSuccess?: Function, onFailure?: Function,
   *          onClose?: Function, checkoutUrl?: string}} options
   */
  function PaymentGateway(options) {
    var o = options || {};
    if (!o.key || !o.orderId) throw new Error('PaymentGateway: key and orderId are required');
    this.o = o;
    this.u = new URL(o.checkoutUrl || DEFAULT_URL, w.location.href);
  }

  PaymentGateway.prototype.open = function () {
    if (active) return; // opening twice does not stack modals
    active = this;
    var self = this;
    var o = this.o;
    var url = new URL(this.u.href);
    var q = url.searchParams;
    q.set('order_id', o.orderId);
    q.set('key', o.key);
    q.set('embedded', 'true');
    q.set('origin', w.location.origin);

    var body = d.body;
    var returnFocus = d.activeElement;
    var overflow = body.style.overflow;

    var modal = css(d.createElement('div'),
      'position:fixed;inset:0;z-index:2147483647;display:flex;align-items:center;justify-content:center;' +
      'padding:8px;box-sizing:border-box;background:rgba(15,18,40,.6)');
    modal.id = 'pg-checkout';
    modal.setAttribute('role', 'dialog');
    modal.setAttribute('aria-modal', 'true');
    modal.setAttribute('aria-label', 'Checkout');

    var box = css(d.createElement('div'),
      'display:flex;flex-direction:column;width:100%;max-width:440px;height:100%;max-height:720px');

    var button = css(d.createElement('button'),
      'align-self:flex-end;width:40px;height:40px;margin-bottom:4px;border:0;border-radius:50%;' +
      'background:#fff;color:#1c2030;font:24px/1 sans-serif;cursor:pointer');
    button.type = 'button';
    button.textContent = '\u00d7';
    button.setAttribute('aria-label', 'Close checkout');

    var frame = css(d.createElement('iframe'),
      'flex:1;width:100%;border:0;border-radius:12px;background:#fff');
    frame.title = 'Checkout';
    frame.src = url.href;

    function dismiss() {
      self.close();
      call(o.onClose);
    }

    function onMessage(e) {
      var m = e.data;
      if (e.origin !== url.origin || e.source !== frame.contentWindow || !m) return;
      if (m.type == 'payment_success') {
        self.close();
        call(o.onSuccess, m.data);
      } else if (m.type == 'payment_failed') {
        call(o.onFailure, m.data); // the modal stays: the customer may retry inside it
      } else if (m.type == 'close_request') {
        dismiss();
      }
    }

    function onKey(e) {
      if (e.key == 'Escape') dismiss();
    }

    // Keep keyboard focus inside the modal while it is open.
    function onFocus(e) {
      if (!modal.contains(e.target)) frame.focus();
    }

    button.addEventListener('click', dismiss);
    box.appendChild(button);
    box.appendChild(frame);
    modal.appendChild(box);
    body.appendChild(modal);
    body.style.overflow = 'hidden';
    w.addEventListener('message', onMessage);
    d.addEventListener('keydown', onKey);
    d.addEventListener('focusin', onFocus);
    frame.focus();

    this.c = function () {
      self.c = null;
      active = null;
      w.removeEventListener('message', onMessage);
      d.removeEventListener('keydown', onKey);
      d.removeEventListener('focusin', onFocus);
      if (modal.parentNode) modal.parentNode.removeChild(modal);
      body.style.overflow = overflow;
      if (returnFocus && returnFocus.focus) returnFocus.focus();
    };
  };

  /** Removes the modal and its listeners. Does not call onClose. */
  PaymentGateway.prototype.close = function () {
    if (this.c) this.c();
  };

  w.PaymentGateway = PaymentGateway;
})(window, document);
