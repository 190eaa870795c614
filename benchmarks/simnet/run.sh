#!/usr/bin/env bash
# Throughput of one simnet face for eth_blockNumber, with wrk, on 127.0.0.1 only.
# Installs wrk from Debian's packages when missing, builds bulwark in release,
# starts `bulwark simnet --port 0`, loads the first face for a bounded time, stops it.
# Usage: benchmarks/simnet/run.sh [seconds=10] [connections=32]
set -euo pipefail
cd "$(dirname "$0")/../.."
SECONDS_TO_RUN=${1:-10}
CONNECTIONS=${2:-32}
if ! command -v wrk >/dev/null; then
    apt-get update -qq && apt-get install -y -qq wrk
fi
swift build -c release --product bulwark >/dev/null
OUT=$(mktemp)
.build/release/bulwark simnet --port 0 >"$OUT" 2>/dev/null &
SIMNET=$!
trap 'kill -TERM $SIMNET 2>/dev/null; wait $SIMNET 2>/dev/null; rm -f "$OUT"' EXIT
for _ in $(seq 50); do grep -q '^admin ' "$OUT" && break; sleep 0.1; done
URL=$(awk '/^face /{print $3; exit}' "$OUT")
curl -sf -X POST -d '{"jsonrpc":"2.0","id":1,"method":"eth_blockNumber"}' "$URL" >/dev/null
echo "face $URL, wrk -t2 -c$CONNECTIONS -d${SECONDS_TO_RUN}s"
wrk -t2 -c"$CONNECTIONS" -d"${SECONDS_TO_RUN}s" --latency -s benchmarks/simnet/post-blocknumber.lua "$URL"
