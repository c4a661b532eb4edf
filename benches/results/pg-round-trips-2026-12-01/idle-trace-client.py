import re
import http.server, threading, time, json, urllib.request, sys
port_gw = int(sys.argv[1]); n = int(sys.argv[2])
arrived = {}
class H(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers['Content-Length']))
        ev = json.loads(body)
        if ev.get('event') == 'payment.success':
            m = re.search(r'"(pay_[A-Za-z0-9]+)"', body.decode())
            arrived[m.group(1)] = time.time()
        self.send_response(200); self.end_headers()
    def log_message(self, *a): pass
srv = http.server.ThreadingHTTPServer(('127.0.0.1', 18091), H)
threading.Thread(target=srv.serve_forever, daemon=True).start()
H2 = {'X-Api-Key': 'key_test_abc123', 'X-Api-Secret': 'secret_test_xyz789', 'Content-Type': 'application/json'}
def call(method, path, body):
    req = urllib.request.Request(f'http://127.0.0.1:{port_gw}{path}', data=json.dumps(body).encode(), headers=H2, method=method)
    return json.loads(urllib.request.urlopen(req).read())
call('PUT', '/api/v1/webhooks/config', {'webhook_url': 'http://127.0.0.1:18091/webhook'})
lat = []
for i in range(n):
    order = call('POST', '/api/v1/orders', {'amount': 5000})
    time.sleep(0.2)
    t0 = time.time()
    p = call('POST', '/api/v1/payments', {'order_id': order['id'], 'method': 'upi', 'vpa': 'user@paytm'})
    t1 = time.time()
    while p['id'] not in arrived and time.time() - t0 < 5: time.sleep(0.0005)
    lat.append(((arrived[p['id']] - t0) * 1000, (t1 - t0) * 1000))
    print(f"{time.strftime('%H:%M:%S', time.localtime(t0))}.{int(t0*1000)%1000:03d} {p['id']} total {lat[-1][0]:.2f} ms, POST answered {lat[-1][1]:.2f} ms", flush=True)
    time.sleep(0.3)
lat.sort()
print('p50 total', lat[len(lat)//2][0])
