-- wrk script: POST /api/v1/orders as the development test merchant.
-- Usage: wrk -t2 -c64 -d10s -s benches/wrk/create_order.lua http://127.0.0.1:8000
wrk.method = "POST"
wrk.path = "/api/v1/orders"
wrk.headers["X-Api-Key"] = "key_test_abc123"
wrk.headers["X-Api-Secret"] = "secret_test_xyz789"
wrk.headers["Content-Type"] = "application/json"
wrk.body = '{"amount": 50000, "currency": "INR", "receipt": "bench"}'

function done(summary, latency, requests)
  io.write(string.format("p50 %.2f ms, p99 %.2f ms, max %.2f ms\n",
    latency:percentile(50) / 1000, latency:percentile(99) / 1000, latency.max / 1000))
end
