#!/usr/bin/env bash
# Soak: `bulwark serve` in front of `bulwark simnet` (release builds, 127.0.0.1 only) under a
# steady mixed wrk load for DURATION seconds, while faults cycle over the provider faces every
# 30 s. Samples the gateway's RSS, open file descriptors and threads every 10 s.
# Usage: benchmarks/soak/run.sh [duration-seconds=600] [connections=8]
set -euo pipefail
cd "$(dirname "$0")/../.."
DURATION=${1:-600}
CONNECTIONS=${2:-8}
command -v wrk >/dev/null || { apt-get update -qq && apt-get install -y -qq wrk; }
swift build -c release --product bulwark >/dev/null
B=.build/release/bulwark
WORK=$(mktemp -d)
cleanup() { kill -TERM "${SERVE:-}" "${SIMNET:-}" 2>/dev/null || true; wait 2>/dev/null || true; rm -rf "$WORK"; }
trap cleanup EXIT
$B simnet --port 0 >"$WORK/simnet.out" 2>/dev/null &
SIMNET=$!
for _ in $(seq 100); do grep -q '^admin ' "$WORK/simnet.out" && break; sleep 0.1; done
ADMIN=$(awk '/^admin/{print $2}' "$WORK/simnet.out")
export SOAK_ACCOUNT=$(awk '/^account/{print $2; exit}' "$WORK/simnet.out")
{
  echo 'server:'; echo '  listen: "127.0.0.1:0"'; echo 'cache:'; echo '  store: none'; echo 'chains:'
  echo '  - name: eth'; echo '    chainId: 1337'; echo '    upstreams:'
  awk '/^face/{split($4,p,"=");split($5,c,"=");split($6,r,"="); printf "      - id: %s\n        url: %s\n        labels: { provider: %s, cloud: %s, region: %s }\n", $2, $3, p[2], c[2], r[2]}' "$WORK/simnet.out"
} >"$WORK/gateway.yaml"
$B serve --config "$WORK/gateway.yaml" 2>"$WORK/serve.log" &
SERVE=$!
for _ in $(seq 100); do grep -q 'server.address=' "$WORK/serve.log" && break; sleep 0.1; done
URL=$(grep -o 'server.address=http://127.0.0.1:[0-9]*' "$WORK/serve.log" | head -1 | cut -d= -f2)/eth
echo "gateway $URL (pid $SERVE), ${DURATION}s, $CONNECTIONS connections"

wrk -t2 -c"$CONNECTIONS" -d"${DURATION}s" --timeout 15s -s benchmarks/soak/mixed.lua "$URL" >"$WORK/wrk.out" 2>&1 &
WRK=$!
FAULTS=('{"fault":"down","match":{"cloud":"aws","region":"us-east-1"}}' '{"fault":"stall","match":{"id":"quicknode-euw1"}}'
        '{"fault":"lag:10","match":{"id":"ankr-eastus"}}' '{"fault":"flaky:0.5","match":{"id":"own-node"}}'
        '{"fault":"garbage","match":{"cloud":"aws"}}' '{"fault":"reset","match":{"id":"quicknode-euw1"}}')
START=$(date +%s)
i=0
printf "%6s %10s %6s %8s  %s\n" "t(s)" "RSS(KiB)" "fds" "threads" "fault"
CURRENT="none"
while kill -0 $WRK 2>/dev/null; do
  T=$(( $(date +%s) - START ))
  if (( T / 30 != i )); then
    i=$(( T / 30 ))
    curl -s -X DELETE "$ADMIN/faults" >/dev/null
    if (( i % 2 == 1 )); then
      CURRENT=${FAULTS[$(( (i / 2) % ${#FAULTS[@]} ))]}
      curl -s -X POST "$ADMIN/faults" -d "$CURRENT" >/dev/null
    else
      CURRENT="none"
    fi
  fi
  RSS=$(awk '/VmRSS/{print $2}' /proc/$SERVE/status)
  FDS=$(ls /proc/$SERVE/fd | wc -l)
  THREADS=$(awk '/Threads/{print $2}' /proc/$SERVE/status)
  printf "%6d %10d %6d %8d  %s\n" "$T" "$RSS" "$FDS" "$THREADS" "$CURRENT"
  sleep 10
done
cat "$WORK/wrk.out"
