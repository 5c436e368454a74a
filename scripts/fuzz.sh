#!/usr/bin/env bash
# Runs libFuzzer targets one after another, each seeded with its checked-in corpus, for SECONDS
# each (times its multiplier below). New inputs go to <builddir>/corpus/<target>, crashes to
# <builddir>/artifacts/; copy a crash into fuzz/corpus/<target> as regress-<what> once fixed so
# `make check` replays it forever.
# Usage: scripts/fuzz.sh [builddir [seconds [target...]]]   (default: build-fuzz, 30, every target)
set -euo pipefail
build=${1:-build-fuzz}
secs=${2:-30}
shift $(($# < 2 ? $# : 2))

# The slow targets get this many times the time, to reach comparable depth: those that verify
# signatures or make keys for every input, and manifest (libfyaml and the slow unwinder, below).
# Measured on 2 busy cores: collateral 209 runs/s, ca_blob 526, csr 779, manifest 190, against
# 3300-43000 for the parsers.
declare -A multiplier=([collateral]=4 [ca_blob]=4 [csr]=4 [manifest]=4)

# ASan's fast unwinder stops at Debian's libraries (built without frame pointers), so a leak inside
# one shows only the library's name and fuzz/lsan.supp's function names cannot match it. The slow
# unwinder costs 20-28 times the runs (marble_cert 44 against 939 runs/s, csr 65 against 1839):
# only the targets that reach a suppressed leak (libfyaml's, from the manifest's YAML) use it. For
# a full stack of a finding elsewhere, replay its artifact with ASAN_OPTIONS=fast_unwind_on_malloc=0.
declare -A slow_unwind=([manifest]=1)

# Undefined behaviour is a finding, as in `make check`: halt (libFuzzer then saves the input).
# fuzz/ubsan_options.c sets the same defaults in the binaries; this keeps them explicit.
export UBSAN_OPTIONS="halt_on_error=1:print_stacktrace=1"
export LSAN_OPTIONS="suppressions=$PWD/fuzz/lsan.supp:print_suppressions=0"

targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
    for exe in "$build"/fuzz/fuzz_*; do
        [ -f "$exe" ] && [ -x "$exe" ] && targets+=("${exe##*/fuzz_}")
    done
fi
[ ${#targets[@]} -gt 0 ] || { echo "fuzz: no targets in $build/fuzz (configure with -Dfuzz=true)" >&2; exit 1; }

status=0
for name in "${targets[@]}"; do
    exe="$build/fuzz/fuzz_$name"
    [ -x "$exe" ] || { echo "fuzz: no target $exe" >&2; status=1; continue; }
    # without UBSan (meson.build adds it with -Dfuzz=true), undefined behaviour would pass unseen
    grep -qa __ubsan_handle_ "$exe" ||
        { echo "fuzz: $exe is not built with -fsanitize=undefined" >&2; status=1; continue; }
    t=$((secs * ${multiplier[$name]:-1}))
    unwind=$((${slow_unwind[$name]:-0} ? 0 : 1))
    mkdir -p "$build/corpus/$name" "$build/artifacts"
    echo "fuzz: $name for ${t}s"
    if ! ASAN_OPTIONS="fast_unwind_on_malloc=$unwind" "$exe" -max_total_time="$t" -max_len=131072 \
        -timeout=10 -rss_limit_mb=2048 \
        -artifact_prefix="$build/artifacts/$name-" -print_final_stats=1 \
        "$build/corpus/$name" "fuzz/corpus/$name" 2>"$build/fuzz-$name.log"; then
        echo "fuzz: $name FAILED (see $build/fuzz-$name.log and $build/artifacts/)"
        tail -30 "$build/fuzz-$name.log"
        status=1
    else
        grep -E '^#[0-9]+.*(DONE|cov:)' "$build/fuzz-$name.log" | tail -1
        grep -E 'stat::(number_of_executed_units|average_exec_per_sec)' "$build/fuzz-$name.log"
    fi
done
exit $status
