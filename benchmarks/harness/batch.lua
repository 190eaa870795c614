-- wrk script: JSON-RPC batches of 10 calls, mixing eth_getBalance, eth_getTransactionCount, eth_getCode,
-- eth_call (all pinned to block 0x8) and eth_getBlockByNumber (pinned, 0x100-0x8ff, below the
-- responder's head 0x100000), two of each, every call with its own parameters. Each thread cycles over
-- its own BATCHES batches: calls in flight at one moment are all distinct (nothing coalesces), and after
-- one cycle every batch repeats, so a cache can answer them.
-- nginx and HAProxy forward a batch whole: the header X-Bench-Batch: 10 makes the responder answer
-- it with a 10-element array (responder-nginx.conf). Bulwark (which does not forward client headers)
-- sends the calls on as one batch of its own (`maxBatch: 10`), 1252 bytes long for every batch here,
-- which the responder answers by that length; a call it sends alone (a retry) is told apart by its
-- length: eth_getBlockByNumber 80 bytes plus the id's digits, every other call over 99, eth_call 196
-- plus the id's digits, none 132 or 218 with ids of up to 19 digits.
-- An answer is ok when it is HTTP 200, a JSON array with 10 results and no error.
-- Prints one machine-readable line:
-- "RESULT <batches/s> <p50 µs> <p99 µs> <p99.9 µs> <batches> <socket errors + non-2xx> <not-ok answers>".
local BATCH = 10
local BATCHES = 512
local threads = {}
local counter = 0
setup = function(thread)
  counter = counter + 1
  thread:set("tid", counter)
  table.insert(threads, thread)
end
local n = 0
notok = 0
local headers = {["Content-Type"] = "application/json", ["X-Bench-Batch"] = tostring(BATCH)}
local function call(id, method, params)
  return '{"jsonrpc":"2.0","id":' .. id .. ',"method":"' .. method .. '","params":' .. params .. '}'
end
request = function()
  n = (n + 1) % BATCHES
  local calls = {}
  for slot = 0, BATCH - 1 do
    local address = string.format("0x%08x%08x%024x", tid, slot, n)
    local kind = slot % 5
    if kind == 0 then
      calls[#calls + 1] = call(slot + 1, "eth_getBalance", '["' .. address .. '","0x8"]')
    elseif kind == 1 then
      calls[#calls + 1] = call(slot + 1, "eth_getTransactionCount", '["' .. address .. '","0x8"]')
    elseif kind == 2 then
      calls[#calls + 1] = call(slot + 1, "eth_getCode", '["' .. address .. '","0x8"]')
    elseif kind == 3 then
      -- balanceOf(address) on the address itself
      local data = "0x70a08231" .. string.rep("0", 24) .. address:sub(3)
      calls[#calls + 1] = call(slot + 1, "eth_call", '[{"to":"' .. address .. '","data":"' .. data .. '"},"0x8"]')
    else
      -- always three hex digits, so the call's length stays 80 plus the id's digits
      local block = 0x100 + ((((tid - 1) * BATCHES + n) * 2 + (slot >= 5 and 1 or 0)) % 0x800)
      calls[#calls + 1] = call(slot + 1, "eth_getBlockByNumber", string.format('["0x%x",false]', block))
    end
  end
  return wrk.format("POST", nil, headers, "[" .. table.concat(calls, ",") .. "]")
end
response = function(status, headers, body)
  if status ~= 200 or body:sub(1, 1) ~= "[" or body:find('"error"', 1, true) then
    notok = notok + 1
    return
  end
  local results, at = 0, 1
  while true do
    at = body:find('"result"', at, true)
    if not at then break end
    results = results + 1
    at = at + 8
  end
  if results ~= BATCH then notok = notok + 1 end
end
done = function(summary, latency, requests)
  local bad = 0
  for _, thread in ipairs(threads) do bad = bad + thread:get("notok") end
  local errors = summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout + summary.errors.status
  io.write(string.format("RESULT %.0f %d %d %d %d %d %d\n", summary.requests / (summary.duration / 1e6),
    latency:percentile(50), latency:percentile(99), latency:percentile(99.9), summary.requests, errors, bad))
end
