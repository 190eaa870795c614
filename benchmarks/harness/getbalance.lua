-- wrk script: distinct eth_getBalance calls pinned to block 0x8 (below the responder's head 0x100000, so final).
-- Each thread cycles over its own ADDRESSES addresses: calls in flight at one moment are all distinct
-- (nothing coalesces), and after one cycle every address repeats, so a cache can answer them.
-- benchmarks/harness/paced.c sends the same addresses (threads 1 and 2), so a warmed cache answers it too.
-- A call is 111 bytes plus the id's digits: never 80-99, 132 or 218 (see responder-nginx.conf).
-- Prints one machine-readable line:
-- "RESULT <req/s> <p50 µs> <p99 µs> <p99.9 µs> <requests> <socket errors + non-2xx> <not-ok answers>".
local ADDRESSES = 4096
local threads = {}
local counter = 0
setup = function(thread)
  counter = counter + 1
  thread:set("tid", counter)
  table.insert(threads, thread)
end
local n = 0
notok = 0
request = function()
  n = (n + 1) % ADDRESSES
  local address = string.format("0x%08x%032x", tid, n)
  local body = '{"jsonrpc":"2.0","id":' .. n .. ',"method":"eth_getBalance","params":["' .. address .. '","0x8"]}'
  return wrk.format("POST", nil, {["Content-Type"] = "application/json"}, body)
end
response = function(status, headers, body)
  if status ~= 200 or not body:find('"result"', 1, true) or body:find('"error"', 1, true) then notok = notok + 1 end
end
done = function(summary, latency, requests)
  local bad = 0
  for _, thread in ipairs(threads) do bad = bad + thread:get("notok") end
  local errors = summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout + summary.errors.status
  io.write(string.format("RESULT %.0f %d %d %d %d %d %d\n", summary.requests / (summary.duration / 1e6),
    latency:percentile(50), latency:percentile(99), latency:percentile(99.9), summary.requests, errors, bad))
end
