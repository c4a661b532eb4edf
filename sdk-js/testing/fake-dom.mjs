// A tiny fake DOM: just what sdk-js/src/checkout.js touches, so the SDK runs in node:vm
// without jsdom. Events are delivered synchronously to listeners registered per type.
import vm from 'node:vm';

class Target {
  constructor() { this.listeners = new Map(); }
  addEventListener(type, fn) {
    if (!this.listeners.has(type)) this.listeners.set(type, new Set());
    this.listeners.get(type).add(fn);
  }
  removeEventListener(type, fn) { this.listeners.get(type)?.delete(fn); }
  dispatch(type, event) {
    for (const fn of [...(this.listeners.get(type) ?? [])]) fn({ type, ...event });
  }
  listenerCount(type) { return this.listeners.get(type)?.size ?? 0; }
}

class Element extends Target {
  constructor(doc, tag) {
    super();
    this.ownerDocument = doc;
    this.tagName = tag.toUpperCase();
    this.children = [];
    this.parentNode = null;
    this.attributes = {};
    this.style = {};
    this.textContent = '';
    if (this.tagName === 'IFRAME') this.contentWindow = { frameOf: this };
  }
  setAttribute(name, value) { this.attributes[name] = String(value); }
  getAttribute(name) { return name in this.attributes ? this.attributes[name] : null; }
  appendChild(child) {
    child.parentNode?.removeChild(child);
    child.parentNode = this;
    this.children.push(child);
    return child;
  }
  removeChild(child) {
    const i = this.children.indexOf(child);
    if (i < 0) throw new Error('not a child');
    this.children.splice(i, 1);
    child.parentNode = null;
    return child;
  }
  contains(node) {
    for (let n = node; n; n = n.parentNode) if (n === this) return true;
    return false;
  }
  focus() {
    const previous = this.ownerDocument.activeElement;
    this.ownerDocument.activeElement = this;
    if (previous !== this) this.ownerDocument.dispatch('focusin', { target: this });
  }
  click() { this.dispatch('click', { target: this }); }
  /** Every element below this one, depth first. */
  descendants() { return this.children.flatMap((c) => [c, ...c.descendants()]); }
  find(pred) { return this.descendants().find(pred) ?? null; }
}

/**
 * A window + document whose page lives at `pageUrl` and whose current <script> came from
 * `scriptSrc`. `load(code)` runs a script in it.
 */
export function makeBrowser({ pageUrl = 'https://shop.example/cart', scriptSrc = 'https://pay.example:8443/checkout.js' } = {}) {
  const document = new Target();
  document.createElement = (tag) => new Element(document, tag);
  document.body = new Element(document, 'body');
  document.activeElement = document.body;
  document.currentScript = scriptSrc ? { src: scriptSrc } : null;
  const window = new Target();
  const location = new URL(pageUrl);
  window.location = { href: location.href, origin: location.origin };
  window.document = document;
  const context = vm.createContext({ window, document, URL, console });
  return {
    window,
    document,
    load(code) {
      vm.runInContext(code, context);
      document.currentScript = null; // as in a browser, once the script has run
      return window.PaymentGateway;
    },
    /** The modals (overlay elements) attached to the page. */
    modals() { return document.body.children; },
    iframe() { return document.body.find((e) => e.tagName === 'IFRAME'); },
    button() { return document.body.find((e) => e.tagName === 'BUTTON'); },
    postMessage(data, { origin, source }) { window.dispatch('message', { data, origin, source }); },
    key(key) { document.dispatch('keydown', { key }); },
  };
}
