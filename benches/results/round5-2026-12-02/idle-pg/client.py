"""One payment at a time against a gateway; prints POST->webhook ms for each."""
import base64, http.client, http.server, json, sys, threading, time

N = int(sys.argv[1]) if len(sys.argv) > 1 else 20
PORT = int(sys.argv[2]) if len(sys.argv) > 2 else 18080
HOOK = int(sys.argv[3]) if len(sys.argv) > 3 else 18099
got = {}
cv = threading.Condition()

class H(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def do_POST(self):
        body = self.rfile.read(int(self.headers["content-length"]))
        t = time.perf_counter()
        ev = json.loads(body)
        self.send_response(200); self.send_header("content-length", "0"); self.end_headers()
        if ev["event"] == "payment.success":
            with cv:
                got[ev["data"]["payment"]["id"]] = t; cv.notify_all()
    def log_message(self, *a): pass

srv = http.server.ThreadingHTTPServer(("127.0.0.1", HOOK), H)
threading.Thread(target=srv.serve_forever, daemon=True).start()
auth = "Basic " + base64.b64encode(b"key_test_abc123:secret_test_xyz789").decode()
c = http.client.HTTPConnection("127.0.0.1", PORT)
def call(method, path, body=None):
    c.request(method, path, json.dumps(body) if body else None, {"X-Api-Key": "key_test_abc123", "X-Api-Secret": "secret_test_xyz789", "Content-Type": "application/json"})
    r = c.getresponse(); data = r.read()
    assert r.status < 300, (r.status, data)
    return json.loads(data)
call("PUT", "/api/v1/webhooks/config", {"webhook_url": f"http://127.0.0.1:{HOOK}/hook"})
lat = []
for i in range(N):
    o = call("POST", "/api/v1/orders", {"amount": 50000, "currency": "INR", "receipt": f"r{i}"})
    t0 = time.perf_counter()
    p = call("POST", "/api/v1/payments", {"order_id": o["id"], "method": "upi", "vpa": "user@paytm"})
    with cv:
        while p["id"] not in got:
            cv.wait(5)
    lat.append((got[p["id"]] - t0) * 1000)
    time.sleep(float(sys.argv[4]) if len(sys.argv) > 4 else 0.05)
lat.sort()
print("p50 %.2f ms  min %.2f  max %.2f" % (lat[len(lat)//2], lat[0], lat[-1]))
