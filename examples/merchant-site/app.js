// The shop page: asks our server for an order, opens the gateway's checkout with the
// publishable key, and lets our server verify the signed result.
const button = document.getElementById('pay');
const status = document.getElementById('status');
const detail = document.getElementById('detail');

function say(text, more = '') {
  status.textContent = text;
  detail.textContent = more;
}

async function postJson(path, body) {
  const res = await fetch(path, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const json = await res.json().catch(() => ({}));
  if (!res.ok) throw new Error(json.error || `HTTP ${res.status}`);
  return json;
}

async function onSuccess(result) {
  say('Verifying payment…');
  try {
    const { verified } = await postJson('/verify', result);
    say(verified ? 'Payment verified' : 'Verification failed', `Payment ${result.paymentId}`);
  } catch (e) {
    say('Verification failed', e.message);
  }
}

button.addEventListener('click', async () => {
  if (typeof window.PaymentGateway !== 'function') {
    say('Checkout is unavailable', 'Could not load checkout.js from the payment gateway.');
    return;
  }
  button.disabled = true;
  say('Creating order…');
  try {
    const { orderId, key } = await postJson('/create-order');
    say('');
    new window.PaymentGateway({
      key,
      orderId,
      onSuccess,
      onFailure: (data) => say(`Payment failed: ${data?.error?.description || 'unknown error'}`, 'You can try again in the checkout window.'),
      onClose: () => say('Checkout closed'),
    }).open();
  } catch (e) {
    say('Could not create the order', e.message);
  } finally {
    button.disabled = false;
  }
});
