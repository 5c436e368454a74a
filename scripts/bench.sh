#!/usr/bin/env bash
# Runs every benchmark of a release build and prints one table: figure, value, target, limit.
# Benchmarks report, they never judge: nothing here fails on a number. Other load on the machine
# skews every figure; the load average is printed so a reader can tell.
set -euo pipefail
build=${1:-build-release}
cd "$(dirname "$0")/.."
rows=$(mktemp)
trap 'rm -f "$rows"' EXIT
load_before=$(cut -d' ' -f1-3 /proc/loadavg)
for b in "$build"/bench/bench_*; do
    [ -f "$b" ] && [ -x "$b" ] || continue
    "$b" | grep '^ROW|' >>"$rows" || { echo "bench: $b failed" >&2; exit 1; }
done

echo "Quarry benchmarks on $(nproc) cores ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')), $(openssl version | cut -d' ' -f1-2)"
echo "load average before: $load_before; after: $(cut -d' ' -f1-3 /proc/loadavg)"
printf '%-66s %14s  %-24s %s\n' "figure" "value" "target" "limit (same run)"
printf '%-66s %14s  %-24s %s\n' "------" "-----" "------" "----------------"
while IFS='|' read -r _ figure value unit target limit; do
    printf '%-66s %10.4g %-3s  %-24s %s\n' "$figure" "$value" "$unit" "$target" "$limit"
done <"$rows"
