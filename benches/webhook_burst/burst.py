#!/usr/bin/env python3
"""A burst of test webhooks: N × POST /api/v1/webhooks/test from C client threads to a running
gateway whose test merchant's webhook URL points at a receiver in this process. Reports
deliveries a second (first POST to last receipt) and POST → receipt latency: p50, p99, latest.

Usage: burst.py GATEWAY_URL [N=2000] [CLIENTS=32]
The receiver answers 200 at once on 127.0.0.1 (an ephemeral port)."""
import http.client, http.server, json, sys, threading, time

gateway = sys.argv[1].removeprefix("http://")
total = int(sys.argv[2]) if len(sys.argv) > 2 else 2000
clients = int(sys.argv[3]) if len(sys.argv) > 3 else 32
headers = {"X-Api-Key": "key_test_abc123", "X-Api-Secret": "secret_test_xyz789",
           "Content-Type": "application/json"}
sent, received, lock = {}, {}, threading.Lock()
done = threading.Event()

class Receiver(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def do_POST(self):
        at = time.monotonic()
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        self.send_response(200); self.send_header("Content-Length", "0"); self.end_headers()
        with lock:
            received.setdefault(self.headers.get("webhook-id"), at)
            if len(received) >= total: done.set()
    def log_message(self, *args): pass

server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Receiver)
threading.Thread(target=server.serve_forever, daemon=True).start()
conn = http.client.HTTPConnection(gateway)
conn.request("PUT", "/api/v1/webhooks/config", json.dumps(
    {"webhook_url": f"http://127.0.0.1:{server.server_address[1]}/hook"}), headers)
assert conn.getresponse().status == 200

def client(count):
    c = http.client.HTTPConnection(gateway)
    for _ in range(count):
        at = time.monotonic()
        c.request("POST", "/api/v1/webhooks/test", "{}", headers)
        r = c.getresponse(); body = json.loads(r.read())
        with lock: sent[body["id"]] = at

start = time.monotonic()
threads = [threading.Thread(target=client, args=(total // clients + (i < total % clients),))
           for i in range(clients)]
for t in threads: t.start()
for t in threads: t.join()
done.wait(120)
lat = sorted(received[i] - sent[i] for i in sent if i in received)
end = max(received.values())
pick = lambda q: lat[min(len(lat) - 1, int(q * len(lat)))] * 1000
print(f"delivered {len(lat)}/{total} in {end - start:.2f} s = {len(lat) / (end - start):.0f}/s; "
      f"POST→receipt p50 {pick(0.5):.0f} ms, p99 {pick(0.99):.0f} ms, latest {lat[-1] * 1000:.0f} ms")
