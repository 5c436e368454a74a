#!/usr/bin/env bash
# Runs every benchmark of a release build and prints one table: figure, value, target, limit.
set -euo pipefail
build=${1:-build-release}
cd "$(dirname "$0")/.."
rows=$(mktemp)
trap 'rm -f "$rows"' EXIT
for b in "$build"/bench/bench_*; do
    [ -f "$b" ] && [ -x "$b" ] || continue
    "$b" | grep '^ROW|' >>"$rows" || { echo "bench: $b failed" >&2; exit 1; }
done

echo "Quarry benchmarks on $(nproc) cores ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'))"
printf '%-52s %14s  %-22s %s\n' "figure" "value" "target" "limit (same run)"
printf '%-52s %14s  %-22s %s\n' "------" "-----" "------" "----------------"
while IFS='|' read -r _ figure value unit target limit; do
    printf '%-52s %10.4g %-3s  %-22s %s\n' "$figure" "$value" "$unit" "$target" "$limit"
done <"$rows"
