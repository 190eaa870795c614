#!/usr/bin/env bash
# Builds the libFuzzer targets (Fuzz/Package.swift) and runs each for SECONDS (default 60) on a
# temporary copy of its seed corpus, so the committed corpus never grows. Exits 1 if a target
# finds a crash, a violated property, a leak, a timeout or an out-of-memory, and prints the
# reproducer's path and how to replay it.
#
#   Fuzz/run.sh [SECONDS]        e.g. nice -n 19 Fuzz/run.sh 600
set -euo pipefail
seconds="${1:-60}"
cd "$(dirname "$0")"

# Sanitizers for every Swift module of the build (EthereumKit included, so libFuzzer sees its
# coverage); -enable-testing for `@testable import EthereumKit` (RLP.validate); lld because gold
# fails on these links. Manifest caching is off: the cached build plan ignores changed -X flags.
flags=(-c release --disable-build-manifest-caching
       -Xswiftc -sanitize=fuzzer,address -Xswiftc -enable-testing -Xswiftc -use-ld=lld)
targets=("jsonrpc JSONRPCFuzzer" "rlp RLPFuzzer")

for target in "${targets[@]}"; do
    read -r _ product <<<"$target"
    swift build "${flags[@]}" --product "$product"
done
bin="$(swift build "${flags[@]}" --show-bin-path)"

work="$(mktemp -d "${TMPDIR:-/tmp}/bulwark-fuzz.XXXXXX")"
failed=0
for target in "${targets[@]}"; do
    read -r name product <<<"$target"
    dir="$work/$name"
    mkdir -p "$dir/corpus" "$dir/artifacts"
    cp corpus/"$name"/* "$dir/corpus/"
    echo "fuzz: $product for ${seconds}s on $(ls "$dir/corpus" | wc -l) seeds (log: $dir/log)"
    # The Swift runtime's own crash handler would fight ASan's; libFuzzer reports crashes itself.
    if SWIFT_BACKTRACE=enable=no "$bin/$product" "$dir/corpus" -dict="$name.dict" \
        -max_total_time="$seconds" -rss_limit_mb=2048 -timeout=10 -print_final_stats=1 \
        -artifact_prefix="$dir/artifacts/" >"$dir/log" 2>&1; then
        grep -E '^stat::(number_of_executed_units|average_exec_per_sec|new_units_added|peak_rss_mb)' "$dir/log" | sed 's/^/  /'
        echo "  corpus: $(ls "$dir/corpus" | wc -l) inputs"
    else
        failed=1
        echo "fuzz: $product FAILED" >&2
        sed -n '/Fatal error\|ERROR: /,$p' "$dir/log" | grep -v '^#[0-9]' | head -60 >&2 || true
        for artifact in "$dir"/artifacts/*; do
            [[ -e "$artifact" ]] || continue
            echo "fuzz: reproducer: $artifact" >&2
            echo "fuzz: replay with: SWIFT_BACKTRACE=enable=no $bin/$product $artifact" >&2
        done
    fi
done

if [[ $failed -eq 0 ]]; then
    rm -rf "$work"
    echo "fuzz: no crash, leak or timeout found"
else
    echo "fuzz: kept $work for the reproducers" >&2
fi
exit $failed
