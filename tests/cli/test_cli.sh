#!/usr/bin/env bash
# The `quarry` CLI end to end: exit codes, outputs, fingerprints checked with sha256sum.
set -u
Q=$1
pass=0 fail=0
ok() { pass=$((pass + 1)); }
bad() { fail=$((fail + 1)); echo "FAIL: $*" >&2; }
expect_rc() { local want=$1; shift; "$@" >/tmp/qcli.$$ 2>&1; local rc=$?; [ $rc -eq "$want" ] && ok || { bad "$* -> rc $rc, want $want"; cat /tmp/qcli.$$ >&2; }; }
tmp=$(mktemp -d); trap 'rm -rf "$tmp" /tmp/qcli.$$' EXIT
ex="$QY_SOURCE_DIR/examples/manifest.json"

expect_rc 0 "$Q" manifest check "$ex"
out=$("$Q" manifest check --json "$ex")
fp=$(sha256sum "$ex" | cut -d' ' -f1)
grep -q "\"fingerprint\": \"$fp\"" <<<"$out" && ok || bad "fingerprint is not sha256 of the bytes: $out"
grep -q '"valid": true' <<<"$out" && ok || bad "valid flag: $out"

printf '{"Packages":{},"Marbles":{"m":{"Package":"db"}}}' >"$tmp/bad.json"
expect_rc 1 "$Q" manifest check "$tmp/bad.json"
out=$("$Q" manifest check --json "$tmp/bad.json")
grep -q '"path": "Marbles.m.Package"' <<<"$out" && grep -q 'package \\"db\\" is not defined' <<<"$out" && ok || bad "json errors: $out"
out=$("$Q" manifest check "$tmp/bad.json")
grep -q '^error: Marbles.m.Package: package "db" is not defined$' <<<"$out" && ok || bad "text errors: $out"

expect_rc 2 "$Q" manifest check "$tmp/missing.json"
expect_rc 2 "$Q" manifest check
expect_rc 2 "$Q" manifest check --bogus "$ex"
expect_rc 2 "$Q" manifest frobnicate
expect_rc 2 "$Q"
expect_rc 0 "$Q" version

head -c $((5 * 1024 * 1024)) /dev/zero | tr '\0' ' ' >"$tmp/big.json"
expect_rc 1 "$Q" manifest check "$tmp/big.json"

printf '{"ServiceID":"oracle","Version":"1.0.0","RequiredCapabilities":["secrets","network"]}' >"$tmp/legacy.json"
expect_rc 0 "$Q" manifest check "$tmp/legacy.json"
"$Q" manifest migrate "$tmp/legacy.json" >"$tmp/migrated.json" 2>"$tmp/migrate.err" && ok || bad "migrate failed"
grep -q deprecated "$tmp/migrate.err" && ok || bad "no deprecation warning on stderr"
fp_legacy=$("$Q" manifest check --json "$tmp/legacy.json" | sed -n 's/.*"fingerprint": "\(.*\)".*/\1/p')
fp_migrated=$(sha256sum "$tmp/migrated.json" | cut -d' ' -f1)
[ "$fp_legacy" = "$fp_migrated" ] && ok || bad "legacy fingerprint $fp_legacy != migrated file $fp_migrated"
expect_rc 0 "$Q" manifest check "$tmp/migrated.json"

printf 'Packages:\n  p: {Debug: true}\nMarbles:\n  m: {Package: p}\n' >"$tmp/m.yaml"
expect_rc 0 "$Q" manifest check "$tmp/m.yaml"
"$Q" manifest migrate "$tmp/m.yaml" | grep -q '"Package": "p"' && ok || bad "yaml migrate"

# quarry-premain refuses a malformed environment before it contacts anyone (the address is closed)
P="$QY_BUILD_DIR/src/programs/premain/quarry-premain"
premain_env=(EDG_MARBLE_TYPE=backend EDG_MARBLE_COORDINATOR_ADDR=127.0.0.1:1 EDG_MARBLE_UUID_FILE="$tmp/uuid"
    QUARRY_QUOTE_SOURCE=simulation QUARRY_ACTIVATION_TIMEOUT=1 EDG_MARBLE_DNS_NAMES=localhost)
many=$(printf 'h%d,' $(seq 1 63))
long=$(head -c 254 /dev/zero | tr '\0' a)
while IFS='|' read -r var value want; do
    out=$(env -i "${premain_env[@]}" "$var=$value" "$P" /bin/true 2>&1)
    rc=$?
    [ $rc -eq 1 ] && grep -qF "$want" <<<"$out" && ok || bad "premain $var=${value:0:40}: rc $rc: $out"
done <<EOF2
EDG_MARBLE_DNS_NAMES|,,|EDG_MARBLE_DNS_NAMES names nothing
EDG_MARBLE_DNS_NAMES|$many|EDG_MARBLE_DNS_NAMES has more than 62 names
EDG_MARBLE_DNS_NAMES|$long|EDG_MARBLE_DNS_NAMES has a name of 254 characters, the limit is 253
QUARRY_ACTIVATION_TIMEOUT|abc|QUARRY_ACTIVATION_TIMEOUT must be a number from 1 to 86400
QUARRY_ACTIVATION_TIMEOUT|0|QUARRY_ACTIVATION_TIMEOUT must be a number from 1 to 86400
QUARRY_ACTIVATION_BACKOFF_MAX_MS|-5|QUARRY_ACTIVATION_BACKOFF_MAX_MS must be a number from 10 to 600000
QUARRY_QUOTE_SOURCE|bogus|unknown quote source "bogus"
EOF2
[ ! -e "$tmp/uuid" ] && ok || bad "a refused premain wrote its UUID file"

echo "[====] Synthesis: Tested: $((pass + fail)) | Passing: $pass | Failing: $fail | Crashing: 0"
[ $fail -eq 0 ]
