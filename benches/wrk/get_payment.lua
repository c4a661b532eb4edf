-- wrk script: GET one payment as the development test merchant.
-- Usage: PAYMENT=pay_… wrk -t2 -c64 -d10s -s benches/wrk/get_payment.lua http://127.0.0.1:8000
wrk.method = "GET"
wrk.path = "/api/v1/payments/" .. os.getenv("PAYMENT")
wrk.headers["X-Api-Key"] = "key_test_abc123"
wrk.headers["X-Api-Secret"] = "secret_test_xyz789"

function done(summary, latency, requests)
  io.write(string.format("p50 %.2f ms, p99 %.2f ms, max %.2f ms\n",
    latency:percentile(50) / 1000, latency:percentile(99) / 1000, latency.max / 1000))
end
