#!/usr/bin/env bash
# Issue 8 harness: five workloads, in one run, each against
#   (a) the upstream directly, (b) nginx as keep-alive reverse proxy, (c) HAProxy (http mode, keep-alive),
#   (d) `bulwark serve` with cache store none, (e) `bulwark serve` with cache store memory (warmed).
# Workloads (files in benchmarks/harness/):
#   1. distinct eth_getBalance calls pinned to a block, closed loop, maximum throughput (wrk, getbalance.lua);
#   2. batches of 10 mixed pinned calls, closed loop, maximum throughput (wrk, batch.lua);
#   3. eth_blockNumber at a fixed offered rate, latency percentiles (paced.c);
#   4. distinct eth_getBalance at the same fixed rate (Bulwark answers eth_blockNumber from its polled
#      head, so this one measures its forwarding path).
#   5. distinct eth_getBalance at a light rate, a fifth of workload 4's: the forwarding path's own latency,
#      with next to no queueing in the proxies.
#   The fixed rate is half of what Bulwark with cache off reached in workload 1 of the same run.
# The upstream is nginx answering a fixed JSON-RPC answer (harness/responder-nginx.conf). For every
# measurement the CPU time (utime + stime in /proc/<pid>/stat) and the peak RSS (VmHWM, reset through
# /proc/<pid>/clear_refs before the measurement) of the configuration's own processes are recorded,
# summed over an nginx master and its workers; the proxies' rows do not include the responder.
# Everything listens on 127.0.0.1 only (on free ports picked at random below the ephemeral range);
# every load is bounded in time; every process started here is stopped on exit.
#
# The closed-loop workloads run in rounds, the configurations interleaved in each; a configuration's row
# is its best round, the one the machine's other tenants disturbed least (every round's figure is
# listed under the table). On a shared machine a single measurement moves by a fifth from run to run.
#
# Usage: benchmarks/run.sh [--smoke] [--out FILE] [--seconds N] [--connections N] [--rounds N]
#   --smoke        about 5 s of load in all (0.15 s per measurement, one round): checks that every column is produced
#   --out FILE     where the Markdown goes (default benchmarks/RESULTS.md)
#   --seconds N    seconds per measurement (default 10; the memory cache is warmed for 3 s per workload)
#   --connections  connections of the closed-loop runs (default 32)
#   --rounds N     rounds of the closed-loop workloads (default 2)
#   BULWARK_BIN=/path/to/bulwark uses that binary instead of a release build in .build-bench.
# Missing tools (nginx, haproxy, wrk, curl, a C compiler) are installed with apt-get.
set -euo pipefail
ORIGIN=$PWD
cd "$(dirname "$0")/.."
export PATH=$PATH:/usr/sbin:/sbin  # nginx and haproxy live in /usr/sbin
HARNESS=benchmarks/harness
OUT=$PWD/benchmarks/RESULTS.md
SMOKE=0 DURATION=10 WARM=3 CONNECTIONS=32 THREADS=2 ROUNDS=2
# The fixed-rate runs: open connections (each carries one request at a time; enough that a request
# practically never waits for a free one at half of the maximum throughput).
PACED_CONNECTIONS=32
positional=0
while (($#)); do
  case $1 in
    --smoke) SMOKE=1 ;;
    --out) OUT=${2:?--out needs a file}; shift ;;
    --seconds) DURATION=${2:?--seconds needs a number}; shift ;;
    --connections) CONNECTIONS=${2:?--connections needs a number}; shift ;;
    --rounds) ROUNDS=${2:?--rounds needs a number}; shift ;;
    [0-9]*) # the first cut's positional form: [seconds] [connections]
      if ((positional++ == 0)); then DURATION=$1; else CONNECTIONS=$1; fi ;;
    -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d' | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "run.sh: unknown argument $1 (see --help)" >&2; exit 2 ;;
  esac
  shift
done
((SMOKE)) && DURATION=0.15 WARM=0.15 ROUNDS=1
[[ $OUT == /* ]] || OUT=$ORIGIN/$OUT

# --- tools -------------------------------------------------------------------------------------------
missing=()
for tool in nginx:nginx haproxy:haproxy wrk:wrk curl:curl cc:gcc stdbuf:coreutils timeout:coreutils; do
  command -v "${tool%%:*}" >/dev/null || missing+=("${tool##*:}")
done
[[ -e /usr/include/stdio.h ]] || missing+=(libc6-dev)
if ((${#missing[@]})); then
  sudo=""
  [[ $(id -u) -ne 0 ]] && sudo=sudo
  echo "installing ${missing[*]}" >&2
  $sudo apt-get update -qq && $sudo apt-get install -y -qq "${missing[@]}" >/dev/null
fi
if [[ -n ${BULWARK_BIN:-} ]]; then
  BULWARK=$BULWARK_BIN
  [[ $BULWARK == /* ]] || BULWARK=$ORIGIN/$BULWARK
  BULWARK_BUILD="\`$BULWARK_BIN\` (BULWARK_BIN)"
else
  swift build -c release --scratch-path .build-bench --product bulwark >/dev/null
  BULWARK=$(swift build -c release --scratch-path .build-bench --show-bin-path)/bulwark
  BULWARK_BUILD="release build (.build-bench)"
fi
[[ -x $BULWARK ]] || { echo "run.sh: no bulwark executable at $BULWARK" >&2; exit 1; }

# --- processes ---------------------------------------------------------------------------------------
WORK=$(mktemp -d)
PIDS=()
LOAD_PID=
cleanup() {
  [[ -z $LOAD_PID ]] || kill -TERM "$LOAD_PID" 2>/dev/null || true
  for pid in "${PIDS[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
  PIDS=()
  rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# Five free ports below the ephemeral range (32768+), so that nothing bound to port 0 can take them.
port_free() { ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
PORTS=()
while ((${#PORTS[@]} < 5)); do
  port=$((20000 + RANDOM % 12000))
  [[ " ${PORTS[*]} " == *" $port "* ]] || ! port_free "$port" || PORTS+=("$port")
done
CONFIGS=(direct nginx haproxy none memory)
declare -A PORT NAME GROUP IDLE_KB
for i in "${!CONFIGS[@]}"; do PORT[${CONFIGS[$i]}]=${PORTS[$i]}; done
NAME[direct]="upstream directly (nginx return 200)"
NAME[nginx]="nginx keepalive proxy"
NAME[haproxy]="HAProxy (http, keep-alive)"
NAME[none]="bulwark serve, cache none"
NAME[memory]="bulwark serve, cache memory (warm)"

cc -O2 -o "$WORK/paced" $HARNESS/paced.c

fill() { sed -e "s#@PORT@#$2#g" -e "s#@UPSTREAM@#127.0.0.1:${PORT[direct]}#g" -e "s#@WORK@#$WORK#g" "$1" >"$3"; }
declare -A MAIN_PID
fill $HARNESS/responder-nginx.conf "${PORT[direct]}" "$WORK/responder.conf"
nginx -e "$WORK/responder.startup.log" -p "$WORK" -c "$WORK/responder.conf" &
PIDS+=($!) MAIN_PID[direct]=$!
fill $HARNESS/proxy-nginx.conf "${PORT[nginx]}" "$WORK/proxy-nginx.conf"
nginx -e "$WORK/proxy-nginx.startup.log" -p "$WORK" -c "$WORK/proxy-nginx.conf" &
PIDS+=($!) MAIN_PID[nginx]=$!
fill $HARNESS/haproxy.cfg "${PORT[haproxy]}" "$WORK/haproxy.cfg"
haproxy -db -f "$WORK/haproxy.cfg" 2>"$WORK/haproxy.log" &
PIDS+=($!) MAIN_PID[haproxy]=$!
for store in none memory; do
  cat >"$WORK/bulwark-$store.yaml" <<YAML
server:
  listen: "127.0.0.1:${PORT[$store]}"
cache:
  store: $store
chains:
  - name: eth
    chainId: 1
    upstreams:
      - id: responder
        url: http://127.0.0.1:${PORT[direct]}/
        labels: { provider: bench, cloud: local, region: loopback }
        maxBatch: 10
        pipeline: 16
YAML
  "$BULWARK" serve --config "$WORK/bulwark-$store.yaml" 2>"$WORK/bulwark-$store.log" &
  PIDS+=($!) MAIN_PID[$store]=$!
done

# Waits until a JSON-RPC call to configuration $1 gets a result (Bulwark: after its first head poll).
wait_ready() {
  local body='{"jsonrpc":"2.0","id":1,"method":"eth_getBalance","params":["0x0000000000000000000000000000000000000001","0x8"]}'
  for _ in $(seq 150); do
    curl -s -m 1 -H 'Content-Type: application/json' -d "$body" "http://127.0.0.1:${PORT[$1]}/" 2>/dev/null | grep -q '"result"' && return 0
    kill -0 "${MAIN_PID[$1]}" 2>/dev/null || break
    sleep 0.1
  done
  echo "run.sh: ${NAME[$1]} does not answer on 127.0.0.1:${PORT[$1]}" >&2
  tail -5 "$WORK"/*.log >&2 || true
  return 1
}

# A process and its direct children (an nginx master and its workers; HAProxy and Bulwark are one
# process each, with threads).
family() {
  local main=$1 stat line fields
  echo "$main"
  for stat in /proc/[0-9]*/stat; do
    read -r line 2>/dev/null <"$stat" || continue
    read -ra fields <<<"${line##*) }"
    [[ ${fields[1]} == "$main" ]] && { stat=${stat#/proc/}; echo "${stat%/stat}"; }
  done
  return 0
}
# CPU time in clock ticks (utime + stime, which include every thread) of the processes given.
cpu_ticks() {
  local total=0 pid line fields
  for pid in "$@"; do
    read -r line 2>/dev/null <"/proc/$pid/stat" || continue
    read -ra fields <<<"${line##*) }"
    total=$((total + fields[11] + fields[12]))
  done
  echo $total
}
# Sum of a /proc/<pid>/status field (VmRSS, VmHWM) in kB over the processes given.
status_kb() {
  local field=$1 total=0 pid value; shift
  for pid in "$@"; do
    value=$(awk -v f="$field:" '$1 == f { print $2 }' "/proc/$pid/status" 2>/dev/null)
    total=$((total + ${value:-0}))
  done
  echo $total
}
# Resets VmHWM to the current RSS (Linux 4.0+); without it the peak counts from the process's start.
reset_peak() { local pid; for pid in "$@"; do echo 5 2>/dev/null >"/proc/$pid/clear_refs" || true; done; }
HZ=$(getconf CLK_TCK)
now() { date +%s.%N; }

for config in "${CONFIGS[@]}"; do wait_ready "$config"; done
for config in "${CONFIGS[@]}"; do
  GROUP[$config]=$(family "${MAIN_PID[$config]}" | tr '\n' ' ')
  # shellcheck disable=SC2086
  IDLE_KB[$config]=$(status_kb VmRSS ${GROUP[$config]})
done

# --- loads -------------------------------------------------------------------------------------------
# Each load prints "RESULT <rate> <p50 µs> <p99 µs> <p99.9 µs> <requests> <errors> <not ok> [<lag p99 µs> <late>]".

# wrk, closed loop: script $1, $2 seconds, configuration $3. wrk's -d takes whole seconds; a shorter
# run starts it for longer and stops it with SIGINT once it runs (it prints "Running" right after
# installing its handler), after which wrk still prints its summary and the script's RESULT line.
wrk_load() {
  local script=$1 seconds=$2 url="http://127.0.0.1:${PORT[$3]}/" out="$WORK/load.out"
  local whole=${seconds%.*}
  local args=(-t"$THREADS" -c"$CONNECTIONS" --timeout 5s --latency -s "$HARNESS/$script" "$url")
  if [[ $seconds == "$whole" ]]; then
    timeout -k 5 $((whole + 30)) wrk -d"${whole}s" "${args[@]}" >"$out" 2>&1 &
    LOAD_PID=$!
  else
    timeout -k 5 $((whole + 30)) stdbuf -oL wrk -d"$((whole + 1))s" "${args[@]}" >"$out" 2>&1 &
    LOAD_PID=$!
    for _ in $(seq 500); do grep -q '^Running' "$out" 2>/dev/null && break; sleep 0.01; done
    sleep "$seconds"
    kill -INT "$LOAD_PID" 2>/dev/null || true  # timeout passes SIGINT on to wrk
  fi
  wait "$LOAD_PID" || true
  LOAD_PID=
}
# paced, open loop: workload $1 at $2 req/s for $3 seconds against configuration $4.
paced_load() {
  timeout -k 5 "$(awk -v s="$3" 'BEGIN { printf "%d", s + 20 }')" "$WORK/paced" "${PORT[$4]}" "$2" "$3" \
    "$PACED_CONNECTIONS" "$1" >"$WORK/load.out" 2>&1 &
  LOAD_PID=$!
  wait "$LOAD_PID" || true
  LOAD_PID=
}

# measure CONFIG LOAD-FUNCTION ARGS...: runs the load and sets R (its RESULT fields), CPU_US (CPU time
# of the configuration's processes during the load), WALL (seconds) and PEAK_KB (their summed VmHWM).
measure() {
  local config=$1 c0 c1 t0 t1 line; shift
  # shellcheck disable=SC2086
  reset_peak ${GROUP[$config]}
  c0=$(cpu_ticks ${GROUP[$config]}); t0=$(now)
  "$@"
  t1=$(now); c1=$(cpu_ticks ${GROUP[$config]})
  PEAK_KB=$(status_kb VmHWM ${GROUP[$config]})
  CPU_US=$(((c1 - c0) * 1000000 / HZ))
  WALL=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.3f", b - a }')
  line=$(grep '^RESULT ' "$WORK/load.out" | tail -1 || true)
  if [[ -z $line ]]; then
    echo "run.sh: the load against ${NAME[$config]} printed no RESULT line:" >&2
    tail -5 "$WORK/load.out" >&2 || true
    line="RESULT 0 0 0 0 0 1 0 0 0"  # one error, so that the row cannot pass for a good one
  fi
  read -ra R <<<"${line#RESULT }"
}

added() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.1f", a - b }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f×", a / b; else printf "0.00×" }'; }
mb() { awk -v k="$1" 'BEGIN { printf "%.1f", k * 1024 / 1e6 }'; }
# CPU of the configuration per request, and in % of one core over the measurement.
cpu_cells() {
  awk -v c="$CPU_US" -v n="$1" -v w="$WALL" 'BEGIN { printf "%.1f | %.0f", (n > 0 ? c / n : 0), (w > 0 ? c / w / 1e4 : 0) }'
}
declare -A PEAK_MAX
note_peak() { ((PEAK_KB > ${PEAK_MAX[$1]:-0})) && PEAK_MAX[$1]=$PEAK_KB; return 0; }

echo "load: $DURATION s per measurement, 5 workloads × 5 configurations, $ROUNDS rounds of the closed-loop ones" >&2
LOAD_START=$(now)

# closed_loop NUMBER TITLE SCRIPT CALLS RATES CPUS ROWS SEEN: a closed-loop workload in $ROUNDS
# interleaved rounds (the memory cache warmed with it first). CALLS: JSON-RPC calls per request (a
# batch's size). For each configuration: its best round's calls/s in RATES, that round's CPU cells in
# CPUS and its table row (RATIO standing for the ratio to direct) in ROWS, every round's calls/s in SEEN.
closed_loop() {
  local number=$1 title=$2 script=$3 calls=$4 round config rate rate_cells
  local -n rates=$5 cpus=$6 rows=$7 seen=$8
  wrk_load "$script" "$WARM" memory  # warm the memory cache: every call of the workload cached
  for round in $(seq "$ROUNDS"); do
    for config in "${CONFIGS[@]}"; do
      echo "workload $number ($title), round $round: ${NAME[$config]}" >&2
      measure "$config" wrk_load "$script" "$DURATION" "$config"
      note_peak "$config"
      rate=$((R[0] * calls))
      seen[$config]+="${seen[$config]:+, }$rate"
      ((round == 1 || rate > rates[$config])) || continue
      rates[$config]=$rate
      cpus[$config]=$(cpu_cells "$((R[4] * calls))")
      rate_cells=${R[0]}
      ((calls == 1)) || rate_cells+=" | $rate"  # requests/s, then calls/s
      rows[$config]="$rate_cells | RATIO | ${R[1]} | ${R[2]} | ${R[3]} | ${cpus[$config]} | $(mb "$PEAK_KB") | ${R[4]} | ${R[5]} | ${R[6]} |"
    done
  done
}
# rows_with_ratios ROWS RATES: the table's rows in configuration order, each rate's ratio to direct's filled in.
rows_with_ratios() {
  local -n rows=$1 rates=$2
  local config
  for config in "${CONFIGS[@]}"; do
    echo "| ${NAME[$config]} | ${rows[$config]/RATIO/$(ratio "${rates[$config]}" "${rates[direct]}")}"
  done
}

# Workload 1: eth_getBalance; workload 2: batches of 10 mixed calls. Closed loop, each configuration's best round kept.
declare -A W1_RPS W1_CPU W1_ROW W1_ROUNDS W2_CALLS W2_CPU W2_ROW W2_ROUNDS
closed_loop 1 "eth_getBalance, closed loop" getbalance.lua 1 W1_RPS W1_CPU W1_ROW W1_ROUNDS
mapfile -t W1 < <(rows_with_ratios W1_ROW W1_RPS)
closed_loop 2 "batches of 10, closed loop" batch.lua 10 W2_CALLS W2_CPU W2_ROW W2_ROUNDS
mapfile -t W2 < <(rows_with_ratios W2_ROW W2_CALLS)
# Every round's figure, for the notes under the tables.
rounds_line() {
  local -n figures=$1
  local config parts=()
  for config in "${CONFIGS[@]}"; do parts+=("${NAME[$config]%% (*}: ${figures[$config]}"); done
  local IFS=';'
  echo "${parts[*]}" | sed 's/;/; /g'
}

# Workloads 3 and 4: fixed offered rate, half of Bulwark cache-off's throughput in workload 1.
RATE=$(( ${W1_RPS[none]} / 2 ))
((RATE >= 100)) || RATE=100
# Workload 5: the same calls at a fifth of that rate (a tenth of the maximum), where hardly anything queues.
LIGHT_RATE=$((RATE / 5))
((LIGHT_RATE >= 100)) || LIGHT_RATE=100
declare -A W3_P50 W3_P99 W4_P50 W4_P99 W4_P999 W5_P50 W5_P99
W3=() W4=() W5=()
for run in "3 blocknumber $RATE" "4 getbalance $RATE" "5 getbalance $LIGHT_RATE"; do
  read -r number workload rate <<<"$run"
  declare -n p50=W${number}_P50 p99=W${number}_P99 rows=W$number
  for config in "${CONFIGS[@]}"; do
    echo "workload $number ($workload at $rate req/s): ${NAME[$config]}" >&2
    measure "$config" paced_load "$workload" "$rate" "$DURATION" "$config"
    note_peak "$config"
    p50[$config]=${R[1]} p99[$config]=${R[2]}
    ((number != 4)) || W4_P999[$config]=${R[3]}
    over="$(added "${R[1]}" "${p50[direct]}") | $(added "${R[2]}" "${p99[direct]}")"
    rows+=("| ${NAME[$config]} | $rate | ${R[0]} | ${R[1]} | ${R[2]} | ${R[3]} | $over | $(cpu_cells "${R[4]}") | $(mb "$PEAK_KB") | ${R[4]} | ${R[5]} | ${R[6]} | ${R[7]} | ${R[8]} |")
  done
  unset -n p50 p99 rows
done

LOAD_SECONDS=$(awk -v a="$LOAD_START" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }')
echo "load part: $LOAD_SECONDS s" >&2

# --- report ------------------------------------------------------------------------------------------
# target TARGET MEASURED CONDITION (an awk expression, true = pass): one row of the targets table.
TARGETS=()
target() { TARGETS+=("| $1 | $2 | $(awk "BEGIN { print (($3) ? \"PASS\" : \"FAIL\") }") |"); }
target "cache-off throughput ≥ 1.0× nginx" "${W1_RPS[none]} vs ${W1_RPS[nginx]} req/s: $(ratio "${W1_RPS[none]}" "${W1_RPS[nginx]}")" \
  "${W1_RPS[none]} >= 1.0 * ${W1_RPS[nginx]}"
target "cache-off throughput ≥ 0.8× HAProxy" "${W1_RPS[none]} vs ${W1_RPS[haproxy]} req/s: $(ratio "${W1_RPS[none]}" "${W1_RPS[haproxy]}")" \
  "${W1_RPS[none]} >= 0.8 * ${W1_RPS[haproxy]}"
target "memory-cache throughput ≥ 0.8× direct" "${W1_RPS[memory]} vs ${W1_RPS[direct]} req/s: $(ratio "${W1_RPS[memory]}" "${W1_RPS[direct]}")" \
  "${W1_RPS[memory]} >= 0.8 * ${W1_RPS[direct]}"
# Latency: the worse of Bulwark's two configurations, for each fixed-rate workload.
for pair in "4:eth_getBalance:W4" "3:eth_blockNumber:W3"; do
  IFS=: read -r number method table <<<"$pair"
  declare -n p50=${table}_P50 p99=${table}_P99
  n50=$(added "${p50[none]}" "${p50[direct]}") m50=$(added "${p50[memory]}" "${p50[direct]}")
  n99=$(added "${p99[none]}" "${p99[direct]}") m99=$(added "${p99[memory]}" "${p99[direct]}")
  target "added p50 over direct ≤ 100 µs, $method at $RATE req/s (workload $number)" "cache none $n50 µs, memory $m50 µs" \
    "$n50 <= 100 && $m50 <= 100"
  target "added p99 over direct ≤ 1 ms, $method at $RATE req/s (workload $number)" "cache none $n99 µs, memory $m99 µs" \
    "$n99 <= 1000 && $m99 <= 1000"
  unset -n p50 p99
done
target "peak RSS under load ≤ 100 MB (highest of the 5 workloads)" \
  "cache none $(mb "${PEAK_MAX[none]}") MB, memory $(mb "${PEAK_MAX[memory]}") MB" \
  "${PEAK_MAX[none]} * 1024 <= 100e6 && ${PEAK_MAX[memory]} * 1024 <= 100e6"
target "idle RSS ≤ 40 MB (after startup, before any load)" \
  "cache none $(mb "${IDLE_KB[none]}") MB, memory $(mb "${IDLE_KB[memory]}") MB" \
  "${IDLE_KB[none]} * 1024 <= 40e6 && ${IDLE_KB[memory]} * 1024 <= 40e6"

cpu_model=$(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo)
mem_total=$(awk '/^MemTotal/ { printf "%.0f GB", $2 * 1024 / 1e9 }' /proc/meminfo)
mode="full: $DURATION s per measurement"
((SMOKE)) && mode="smoke: $DURATION s per measurement, numbers only show that every column is produced"
table_w1="| configuration | req/s | ratio to direct | p50 (µs) | p99 (µs) | p99.9 (µs) | CPU (µs/req) | CPU (% of a core) | peak RSS (MB) | requests | errors | not ok |"
table_fixed="| configuration | offered (req/s) | achieved (req/s) | p50 (µs) | p99 (µs) | p99.9 (µs) | added p50 (µs) | added p99 (µs) | CPU (µs/req) | CPU (% of a core) | peak RSS (MB) | requests | errors | not ok | lag p99 (µs) | late |"
{
  echo "# Proxy benchmark (issue 8)"
  echo
  echo "Machine: $(nproc) cores ($cpu_model), $mem_total RAM, $(uname -sr); $(date -u '+%Y-%m-%d %H:%M UTC')."
  echo "Tools: $(nginx -v 2>&1 | sed 's/^nginx version: //'), $(haproxy -v | head -1 | awk '{print "HAProxy " $3}'),"
  echo "$(wrk -v 2>&1 | head -1 | awk '{print $1 " " $2}'), paced (benchmarks/harness/paced.c, $(cc --version | head -1)); bulwark $("$BULWARK" --version) $BULWARK_BUILD."
  echo "Run: \`benchmarks/run.sh$( ((SMOKE)) && echo " --smoke")\` ($mode; the load part took $LOAD_SECONDS s). The load tools, the"
  echo "upstream and the proxy share the same $(nproc) cores."
  echo
  echo "Upstream: nginx returning a fixed answer (\`benchmarks/harness/responder-nginx.conf\`). \"CPU\" and \"peak RSS\": the"
  echo "configuration's own processes (nginx master and workers summed; for the direct row the responder), utime + stime"
  echo "from /proc/<pid>/stat (10 ms ticks) and VmHWM reset before each measurement. \"idle RSS\": VmRSS once every"
  echo "configuration answered its first call, before any load. \"errors\": socket errors, timeouts (5 s) and non-2xx;"
  echo "\"not ok\": answers without the expected results or with an error. The memory-cache configuration is warmed with"
  echo "each closed-loop workload for $WARM s before it is measured. MB = 10^6 bytes."
  echo
  echo "## Summary"
  echo
  echo "Throughput from workloads 1 and 2 (each configuration's best of $ROUNDS interleaved rounds), latency at the fixed"
  echo "rate from workload 4 (eth_getBalance at $RATE req/s), CPU from workload 1, peak RSS the highest of the five workloads."
  echo
  echo "| configuration | getBalance req/s | ratio to direct | batch calls/s | ratio to direct | p50 at fixed rate (µs) | p99 at fixed rate (µs) | p99.9 at fixed rate (µs) | CPU (µs/req) | CPU (% of a core) | peak RSS (MB) | idle RSS (MB) |"
  echo "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
  for config in "${CONFIGS[@]}"; do
    echo "| ${NAME[$config]} | ${W1_RPS[$config]} | $(ratio "${W1_RPS[$config]}" "${W1_RPS[direct]}") | ${W2_CALLS[$config]} | $(ratio "${W2_CALLS[$config]}" "${W2_CALLS[direct]}") | ${W4_P50[$config]} | ${W4_P99[$config]} | ${W4_P999[$config]} | ${W1_CPU[$config]} | $(mb "${PEAK_MAX[$config]}") | $(mb "${IDLE_KB[$config]}") |"
  done
  echo
  echo "## Targets"
  echo
  echo "Issue 8's targets, from the numbers above (Bulwark's throughput from workload 1)."
  echo
  echo "| target | measured | verdict |"
  echo "|---|---|---|"
  printf '%s\n' "${TARGETS[@]}"
  echo
  echo "## Workload 1: distinct eth_getBalance, closed loop"
  echo
  echo "wrk -t$THREADS -c$CONNECTIONS, \`benchmarks/harness/getbalance.lua\`: distinct \`eth_getBalance\` calls pinned to block 0x8,"
  echo "as fast as answers come. Latency here is under saturation; see workloads 3 and 4 for latency at a fixed rate."
  echo "nginx and HAProxy keep one request in flight per upstream connection; Bulwark pipelines (\`pipeline: 16\`): the calls"
  echo "of one event-loop turn go to the responder in one write on one connection."
  echo
  echo "$table_w1"
  echo "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
  printf '%s\n' "${W1[@]}"
  echo
  echo "Rounds (req/s, in order): $(rounds_line W1_ROUNDS)."
  echo
  echo "## Workload 2: batches of 10 mixed calls, closed loop"
  echo
  echo "wrk -t$THREADS -c$CONNECTIONS, \`benchmarks/harness/batch.lua\`: JSON-RPC batches of 10 distinct calls (2 each of eth_getBalance,"
  echo "eth_getTransactionCount, eth_getCode, eth_call pinned to block 0x8, and eth_getBlockByNumber pinned). nginx and HAProxy"
  echo "forward each batch whole (the responder answers it with a 10-element array); Bulwark with cache off forwards the calls"
  echo "it does not answer itself as one upstream batch (\`maxBatch: 10\`), with the memory cache answers them from it. An"
  echo "answer is ok when it is an array of 10 results."
  echo
  echo "| configuration | batches/s | calls/s | ratio to direct | p50 (µs) | p99 (µs) | p99.9 (µs) | CPU (µs/call) | CPU (% of a core) | peak RSS (MB) | requests | errors | not ok |"
  echo "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
  printf '%s\n' "${W2[@]}"
  echo
  echo "Rounds (calls/s, in order): $(rounds_line W2_ROUNDS)."
  echo
  echo "## Workload 3: eth_blockNumber at a fixed rate"
  echo
  echo "\`benchmarks/harness/paced.c\`, open loop: $RATE req/s (half of Bulwark cache-off's throughput in workload 1) spread"
  echo "evenly over $PACED_CONNECTIONS keep-alive connections, latency from write to complete answer. Bulwark answers"
  echo "eth_blockNumber from its polled head. \"added\": minus the direct row. \"lag p99\": how late the generator sent"
  echo "its requests against the schedule; \"late\": requests sent more than 1 ms after their slot."
  echo
  echo "$table_fixed"
  echo "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
  printf '%s\n' "${W3[@]}"
  echo
  echo "## Workload 4: distinct eth_getBalance at the same fixed rate"
  echo
  echo "As workload 3, with the addresses of workload 1 (so the warmed memory cache answers them): Bulwark with cache off"
  echo "forwards every call."
  echo
  echo "$table_fixed"
  echo "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
  printf '%s\n' "${W4[@]}"
  echo
  echo "## Workload 5: distinct eth_getBalance at a light rate"
  echo
  echo "As workload 4 at $LIGHT_RATE req/s (a tenth of Bulwark cache-off's throughput): the calls rarely meet one another"
  echo "in a proxy, so \"added\" is what one forwarded call costs on its way through, without the queueing that workload 4's"
  echo "rate adds to it. The CPU per call is higher here than in workload 1: on this machine a call that finds the cores"
  echo "idle runs slower than one among many, every function alike in a profile (as when caches start cold)."
  echo
  echo "$table_fixed"
  echo "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
  printf '%s\n' "${W5[@]}"
} >"$OUT"
cat "$OUT"
