#!/usr/bin/env bash
# The demo. Until the Coordinator exists, it checks the example manifest the demo will use.
set -euo pipefail
build=${1:-build}
cd "$(dirname "$0")/.."
echo "== quarry manifest check examples/manifest.json"
"$build/src/programs/quarry" manifest check examples/manifest.json
echo
echo "== the same manifest in the legacy format's place: a legacy service description, migrated"
printf '{"ServiceID":"oracle","Version":"1.0.0","RequiredCapabilities":["secrets","network"]}' >"$build/legacy-demo.json"
"$build/src/programs/quarry" manifest migrate "$build/legacy-demo.json"
