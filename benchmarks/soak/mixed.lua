-- wrk script: a mix of head reads, balances, blocks, receipts, proofs and a batch, in turn.
local bodies = {
  '{"jsonrpc":"2.0","id":1,"method":"eth_blockNumber","params":[]}',
  '{"jsonrpc":"2.0","id":2,"method":"eth_getBalance","params":["ACCOUNT","latest"]}',
  '{"jsonrpc":"2.0","id":3,"method":"eth_getBlockByNumber","params":["latest",true]}',
  '{"jsonrpc":"2.0","id":4,"method":"eth_getBlockReceipts","params":["finalized"]}',
  '{"jsonrpc":"2.0","id":5,"method":"eth_getProof","params":["ACCOUNT",[],"latest"]}',
  '[{"jsonrpc":"2.0","id":6,"method":"eth_getTransactionCount","params":["ACCOUNT","latest"]},{"jsonrpc":"2.0","id":7,"method":"eth_gasPrice","params":[]}]',
}
local account = os.getenv("SOAK_ACCOUNT")
for i, body in ipairs(bodies) do bodies[i] = body:gsub("ACCOUNT", account) end
local n = 0
request = function()
  n = n + 1
  return wrk.format("POST", nil, {["Content-Type"] = "application/json"}, bodies[(n % #bodies) + 1])
end
local non200 = 0
response = function(status, headers, body)
  if status ~= 200 or body:find('"error"') then non200 = non200 + 1 end
end
done = function(summary, latency, requests)
  io.write(string.format("soak: %d requests, %d errors (socket), %d not-ok answers, p50 %.2f ms, p99 %.2f ms\n",
    summary.requests, summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout,
    non200, latency:percentile(50) / 1000, latency:percentile(99) / 1000))
end
