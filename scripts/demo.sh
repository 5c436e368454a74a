#!/usr/bin/env bash
# The demo (make demo; docs/getting-started.md walks through the same steps): a Coordinator with the
# embedded store and the testkit as emulated attestation, the example manifest, a user-defined secret,
# two marbles talking over mutual TLS, and an impostor refused. Stops everything it started.
set -euo pipefail
build=${1:-build}
cd "$(dirname "$0")/.."
root=$PWD
bin=$root/$build/src/programs
Q=$bin/cli/quarry
client_port=${QUARRY_DEMO_CLIENT_PORT:-14433}
client=localhost:$client_port # the name in the Coordinator's certificate
mesh=127.0.0.1:${QUARRY_DEMO_MESH_PORT:-12001}
for exe in "$Q" "$bin/coordinator/quarry-coordinator" "$bin/premain/quarry-premain" "$build/examples/backend" \
    "$build/examples/frontend"; do
    [ -x "$exe" ] || { echo "demo: $exe is missing; run 'make demo' (it builds first)" >&2; exit 1; }
done

tmp=$(mktemp -d /tmp/quarry-demo-XXXXXX)
pids=()
stop_all() { # newest first: the marbles, then the Coordinator
    local i
    for ((i = ${#pids[@]} - 1; i >= 0; i--)); do
        kill "${pids[i]}" 2>/dev/null || true
        wait "${pids[i]}" 2>/dev/null || true
    done
    pids=()
}
cleanup() {
    local rc=$?
    stop_all
    if [ $rc -ne 0 ]; then
        echo "demo: FAILED; the logs:" >&2
        for f in "$tmp"/*.log; do [ -f "$f" ] && { echo "--- $f" >&2; tail -n 20 "$f" >&2; }; done
    fi
    rm -rf "$tmp"
    exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT TERM
export XDG_CACHE_HOME=$tmp/cache # the CLI remembers verified Coordinator roots here
step() { printf '\n== %s\n' "$*"; }
port_free() { ! (exec 3<>"/dev/tcp/${1%:*}/${1##*:}") 2>/dev/null; }
for a in "127.0.0.1:$client_port" "$mesh" 127.0.0.1:18443; do
    port_free "$a" || { echo "demo: $a is in use (set QUARRY_DEMO_CLIENT_PORT / QUARRY_DEMO_MESH_PORT)" >&2; exit 1; }
done

step "a testkit: an emulated Intel SGX PKI and collateral (TEST ONLY)"
"$Q" testkit init "$tmp/kit" >/dev/null 2>&1
kit=$tmp/kit
echo "kit in $kit; its root: $kit/root_ca.pem"

step "quarry-coordinator: embedded SQLite store, emulated attestation"
"$bin/coordinator/quarry-coordinator" --data-dir "$tmp/coordinator" --client-addr "127.0.0.1:$client_port" --mesh-addr "$mesh" \
    --attestation "emulated:$kit" --insecure-extra-root "$kit/root_ca.pem" --mesh-threads 2 \
    >"$tmp/coordinator.log" 2>&1 &
pids+=($!)
for _ in $(seq 100); do
    "$Q" status --coordinator "$client" --insecure >/dev/null 2>&1 && break
    sleep 0.1
done
echo "client API $client, mesh API $mesh (pid ${pids[0]}, log $tmp/coordinator.log)"

step "quarry manifest set examples/manifest.json (after verifying the Coordinator's quote)"
sed -n 's/.*"mrsigner": *"\([0-9a-f]*\)".*/{"coordinator": {"SignerID": "\1", "ProductID": 1, "SecurityVersion": 1, "Debug": false}}/p' \
    "$kit/enclave.json" >"$tmp/coordinator-policy.json"
"$Q" manifest set examples/manifest.json --coordinator "$client" --policy "$tmp/coordinator-policy.json" \
    --collateral "$kit" --insecure-extra-root "$kit/root_ca.pem"

step "quarry secret set: the user demo-admin uploads the user-defined secret apiToken"
printf '{"apiToken": {"Key": "%s"}}\n' "$(printf 'demo-token-%s' "$RANDOM$RANDOM" | base64)" >"$tmp/token.json"
"$Q" secret set "$tmp/token.json" --coordinator "$client" --cert examples/demo/admin.crt --key examples/demo/admin.key

# A marble: quarry-premain with MarbleRun's variables, in its own folder; the testkit plays its enclave.
# Run in a subshell; exec keeps one PID from the premain to the program it becomes.
marble() { # FOLDER TYPE IDENTITY-OVERRIDES
    mkdir -p "$tmp/$1"
    cd "$tmp/$1"
    exec env EDG_MARBLE_TYPE="$2" EDG_MARBLE_COORDINATOR_ADDR="$mesh" EDG_MARBLE_DNS_NAMES=localhost,127.0.0.1 \
        EDG_MARBLE_UUID_FILE="$tmp/$1/uuid" QUARRY_QUOTE_SOURCE="emulated:$kit$3" \
        PATH="$root/$build/examples:$PATH" "$bin/premain/quarry-premain"
}

step "backend under quarry-premain (SignerID of the kit, ProductID 2)"
(marble backend backend ,isvprodid=2) >"$tmp/backend.log" 2>&1 &
pids+=($!)
for _ in $(seq 100); do grep -q listening "$tmp/backend.log" && break; sleep 0.1; done
grep '^backend:' "$tmp/backend.log"
echo "its files: $(cd "$tmp/backend" && find backend -type f | sort | tr '\n' ' ')"

step "frontend under quarry-premain (UniqueID c5da79a7...): calls backend over mutual TLS"
(marble frontend frontend ,mrenclave=c5da79a7b82bad8c14ca455ce03c937f93cb3f8aae76d207a47ea7535e935cf0) 2>"$tmp/frontend.log"

step "an impostor: a frontend with another MRENCLAVE"
if (marble impostor frontend ,mrenclave=1e3da45459deb425ac6fcdd2463a2c6c5fc66129423bb6948afc3eeb0fac6763) \
    2>"$tmp/impostor.log"; then
    echo "demo: the impostor was accepted" >&2
    exit 1
fi
grep '^quarry-premain:' "$tmp/impostor.log"
echo "files it got: $(find "$tmp/impostor" -type f | wc -l)"

step "done: stopping the marbles and the Coordinator"
n=${#pids[@]}
stop_all
echo "stopped $n processes"
