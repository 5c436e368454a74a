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

echo "[====] Synthesis: Tested: $((pass + fail)) | Passing: $pass | Failing: $fail | Crashing: 0"
[ $fail -eq 0 ]
