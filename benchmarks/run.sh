#!/usr/bin/env bash
# Issue 8 harness, first cut: one eth_getBalance workload, in one run, against
#   (a) the upstream directly, (b) nginx as keep-alive reverse proxy, (c) HAProxy (http mode, keep-alive),
#   (d) `bulwark serve` with cache store none, (e) `bulwark serve` with cache store memory.
# The upstream is nginx answering a fixed JSON-RPC answer (benchmarks/harness/responder-nginx.conf).
# Everything listens on 127.0.0.1 only; every process started here is stopped on exit.
# Usage: benchmarks/run.sh [seconds-per-run=10] [connections=32]
# Writes benchmarks/RESULTS.md.
set -euo pipefail
cd "$(dirname "$0")/.."
DURATION=${1:-10}
CONNECTIONS=${2:-32}
THREADS=2
HARNESS=benchmarks/harness
P_DIRECT=18601 P_NGINX=18602 P_HAPROXY=18603 P_BULWARK_NONE=18604 P_BULWARK_MEMORY=18605

missing=()
for tool in nginx haproxy wrk curl; do command -v "$tool" >/dev/null || missing+=("$tool"); done
if ((${#missing[@]})); then apt-get update -qq && apt-get install -y -qq "${missing[@]}" >/dev/null; fi
swift build -c release --scratch-path .build-bench --product bulwark >/dev/null
BULWARK=$(swift build -c release --scratch-path .build-bench --show-bin-path)/bulwark

WORK=$(mktemp -d)
PIDS=()
cleanup() {
  for pid in "${PIDS[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
  rm -rf "$WORK"
}
trap cleanup EXIT INT TERM

fill() { sed -e "s#@PORT@#$2#g" -e "s#@UPSTREAM@#127.0.0.1:$P_DIRECT#g" -e "s#@WORK@#$WORK#g" "$1" >"$3"; }

# Waits until a JSON-RPC call through port $1 gets a result (Bulwark: after its first head poll).
wait_ready() {
  local body='{"jsonrpc":"2.0","id":1,"method":"eth_getBalance","params":["0x0000000000000000000000000000000000000001","0x8"]}'
  for _ in $(seq 100); do
    curl -s -m 1 -H 'Content-Type: application/json' -d "$body" "http://127.0.0.1:$1/" 2>/dev/null | grep -q '"result"' && return 0
    sleep 0.1
  done
  echo "nothing answers on 127.0.0.1:$1" >&2; return 1
}

fill $HARNESS/responder-nginx.conf $P_DIRECT "$WORK/responder.conf"
nginx -p "$WORK" -c "$WORK/responder.conf" &
PIDS+=($!)
fill $HARNESS/proxy-nginx.conf $P_NGINX "$WORK/proxy-nginx.conf"
nginx -p "$WORK" -c "$WORK/proxy-nginx.conf" &
PIDS+=($!)
fill $HARNESS/haproxy.cfg $P_HAPROXY "$WORK/haproxy.cfg"
haproxy -db -f "$WORK/haproxy.cfg" 2>"$WORK/haproxy.log" &
PIDS+=($!)
for store in none memory; do
  port=$P_BULWARK_NONE; [[ $store == memory ]] && port=$P_BULWARK_MEMORY
  cat >"$WORK/bulwark-$store.yaml" <<YAML
server:
  listen: "127.0.0.1:$port"
cache:
  store: $store
chains:
  - name: eth
    chainId: 1
    upstreams:
      - id: responder
        url: http://127.0.0.1:$P_DIRECT/
        labels: { provider: bench, cloud: local, region: loopback }
YAML
  "$BULWARK" serve --config "$WORK/bulwark-$store.yaml" 2>"$WORK/bulwark-$store.log" &
  PIDS+=($!)
done
for port in $P_DIRECT $P_NGINX $P_HAPROXY $P_BULWARK_NONE $P_BULWARK_MEMORY; do wait_ready $port; done

# One bounded wrk run against port $2; prints "RESULT rps p50 p99 requests errors notok".
load() {
  timeout $(( $1 + 30 )) wrk -t$THREADS -c"$CONNECTIONS" -d"${1}s" --timeout 5s --latency \
    -s $HARNESS/getbalance.lua "http://127.0.0.1:$2/" >"$WORK/wrk-$2.out" 2>&1 || true
  grep '^RESULT ' "$WORK/wrk-$2.out" || echo "RESULT 0 0 0 0 0 0"
}

# The memory-cache run is warmed first, so that every address of the workload is already cached.
load 3 $P_BULWARK_MEMORY >/dev/null

ROWS=()
DIRECT_RPS=0
for entry in "upstream directly (nginx return 200):$P_DIRECT" "nginx keepalive proxy:$P_NGINX" "HAProxy (http, keep-alive):$P_HAPROXY" \
             "bulwark serve, cache none:$P_BULWARK_NONE" "bulwark serve, cache memory (warm):$P_BULWARK_MEMORY"; do
  name=${entry%:*} port=${entry##*:}
  echo "measuring $name (127.0.0.1:$port), ${DURATION}s" >&2
  read -r _ rps p50 p99 requests errors notok < <(load "$DURATION" "$port")
  [[ $port == "$P_DIRECT" ]] && DIRECT_RPS=$rps
  ratio=$(awk -v r="$rps" -v d="$DIRECT_RPS" 'BEGIN { printf (d > 0 ? "%.2f×" : "–"), r / d }')
  ROWS+=("| $name | $rps | $(awk -v u="$p50" 'BEGIN{printf "%.3f", u/1000}') | $(awk -v u="$p99" 'BEGIN{printf "%.3f", u/1000}') | $ratio | $requests | $errors | $notok |")
done

{
  echo "# Proxy benchmark (issue 8, first cut)"
  echo
  echo "Machine: $(nproc) cores, $(uname -sr), $(date -u '+%Y-%m-%d %H:%M UTC'); $(nginx -v 2>&1 | sed 's/^nginx version: //'), $(haproxy -v | head -1 | awk '{print "HAProxy " $3}'), $(wrk -v 2>&1 | head -1 | awk '{print $1 " " $2}'), bulwark release build (.build-bench)."
  echo
  echo "Workload: wrk -t$THREADS -c$CONNECTIONS -d${DURATION}s --latency, distinct \`eth_getBalance\` calls pinned to block 0x8"
  echo "(\`benchmarks/harness/getbalance.lua\`), closed loop (as fast as answers come). Upstream: nginx returning a fixed"
  echo "answer (\`benchmarks/harness/responder-nginx.conf\`). wrk, the upstream and the proxy share the same $(nproc) cores."
  echo "The memory-cache run is warmed for 3 s first. \"errors\": socket errors and non-2xx; \"not ok\": answers without \"result\"."
  echo
  echo "| configuration | req/s | p50 (ms) | p99 (ms) | ratio to direct | requests | errors | not ok |"
  echo "|---|---:|---:|---:|---:|---:|---:|---:|"
  printf '%s\n' "${ROWS[@]}"
} >benchmarks/RESULTS.md
cat benchmarks/RESULTS.md
