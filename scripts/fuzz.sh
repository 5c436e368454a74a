#!/usr/bin/env bash
# Runs every libFuzzer target for N seconds, seeded with its checked-in corpus. New inputs go to
# <builddir>/corpus/<target>, crashes to <builddir>/artifacts/; copy a crash into fuzz/corpus/<target>
# once fixed so `make check` replays it forever.
set -euo pipefail
build=${1:-build-fuzz}
secs=${2:-30}
status=0
export ASAN_OPTIONS="fast_unwind_on_malloc=0"
export LSAN_OPTIONS="suppressions=$PWD/fuzz/lsan.supp:print_suppressions=0"
for exe in "$build"/fuzz/fuzz_*; do
    [ -f "$exe" ] || continue
    [ -x "$exe" ] || continue
    name=${exe##*/fuzz_}
    mkdir -p "$build/corpus/$name" "$build/artifacts"
    echo "fuzz: $name for ${secs}s"
    if ! "$exe" -max_total_time="$secs" -max_len=131072 -timeout=10 -rss_limit_mb=2048 \
        -artifact_prefix="$build/artifacts/$name-" -print_final_stats=1 \
        "$build/corpus/$name" "fuzz/corpus/$name" 2>"$build/fuzz-$name.log"; then
        echo "fuzz: $name FAILED (see $build/fuzz-$name.log and $build/artifacts/)"
        tail -30 "$build/fuzz-$name.log"
        status=1
    else
        grep -E 'stat::number_of_executed_units|cov:' "$build/fuzz-$name.log" | tail -2
    fi
done
exit $status
