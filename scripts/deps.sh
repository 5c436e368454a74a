#!/usr/bin/env bash
# Installs the Debian 12 packages Quarry needs, only when some are missing.
# Usage: scripts/deps.sh [build|fuzz|all]   (default: build = build + tests)
set -euo pipefail

build_pkgs=(gcc make meson ninja-build pkg-config openssl libssl-dev libevent-dev
    libcurl4-openssl-dev libjansson-dev libfyaml-dev libsqlite3-dev libcriterion-dev
    ca-certificates curl etcd-server)
fuzz_pkgs=(clang libclang-rt-14-dev)

case "${1:-build}" in
build) want=("${build_pkgs[@]}") ;;
fuzz) want=("${build_pkgs[@]}" "${fuzz_pkgs[@]}") ;;
all) want=("${build_pkgs[@]}" "${fuzz_pkgs[@]}") ;;
*) echo "usage: $0 [build|fuzz|all]" >&2; exit 2 ;;
esac

missing=()
for p in "${want[@]}"; do
    st=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)
    [ "$st" = "install ok installed" ] || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0

echo "deps: installing ${missing[*]}" >&2
sudo=()
if [ "$(id -u)" -ne 0 ]; then
    command -v sudo >/dev/null || { echo "deps: need root or sudo to install: ${missing[*]}" >&2; exit 1; }
    sudo=(sudo)
fi
export DEBIAN_FRONTEND=noninteractive
"${sudo[@]}" apt-get update -q
"${sudo[@]}" apt-get install -y --no-install-recommends "${missing[@]}"
