#!/usr/bin/env bash
# `quarry quote verify` and `quarry testkit` end to end: exit codes (0 verified, 1 not verified,
# 2 usage or I/O), JSON fields, every testkit knob that changes the verdict, and the real vectors
# from ../shared when they are there.
set -u
Q=$1
pass=0 fail=0
ok() { pass=$((pass + 1)); }
bad() { fail=$((fail + 1)); echo "FAIL: $*" >&2; }
out=$(mktemp)
expect_rc() { local want=$1; shift; "$@" >"$out" 2>&1; local rc=$?; [ $rc -eq "$want" ] && ok || { bad "$* -> rc $rc, want $want"; cat "$out" >&2; }; }
expect_out() { grep -q -- "$1" "$out" && ok || { bad "output lacks \"$1\""; cat "$out" >&2; }; }
tmp=$(mktemp -d); trap 'rm -rf "$tmp" "$out"' EXIT
kit=$tmp/kit

# A kit, a quote, a verification that trusts the kit's root only when told.
expect_rc 0 "$Q" testkit init "$kit"
expect_out "INSECURE, TEST ONLY"
[ -f "$kit/root_ca.pem" ] && [ -f "$kit/tcb_info.json" ] && [ -f "$kit/pck_crl.der" ] && ok || bad "kit files missing"
[ "$(stat -c %a "$kit/root_ca.key")" = 600 ] && ok || bad "private keys must be 0600"
expect_rc 0 "$Q" testkit quote "$kit" --mrenclave "$(printf 'ab%.0s' $(seq 32))" --mrsigner "$(printf 'cd%.0s' $(seq 32))" \
    --isvprodid 7 --isvsvn 3 --report-data 0102 -o "$tmp/q.dat"
expect_rc 0 "$Q" quote verify "$tmp/q.dat" --collateral "$kit" --insecure-extra-root "$kit/root_ca.pem"
expect_out "verified, TCB status UpToDate"
expect_out "WARNING: the quote chains to an insecure extra root"
expect_rc 1 "$Q" quote verify "$tmp/q.dat" --collateral "$kit"
expect_out "NOT verified at step pck_chain: no certificate of the chain is a trusted root"
expect_rc 0 "$Q" quote verify "$tmp/q.dat" --no-collateral --insecure-extra-root "$kit/root_ca.pem"
expect_out "TCB status NotEvaluated"

"$Q" quote verify "$tmp/q.dat" --collateral "$kit" --insecure-extra-root "$kit/root_ca.pem" --json >"$tmp/q.json" 2>/dev/null
for field in '"verified": true' '"failedStep": null' '"tcbStatus": "UpToDate"' '"teeType": "SGX"' '"version": 3' \
    '"isvprodid": 7' '"isvsvn": 3' '"debug": false' '"fmspc": "00906ed50000"' '"advisoryIds": \[\]' \
    "\"mrenclave\": \"$(printf 'ab%.0s' $(seq 32))\"" '"reportData": "0102000000'; do
    grep -q -- "$field" "$tmp/q.json" && ok || bad "JSON lacks $field: $(cat "$tmp/q.json")"
done

# Knobs and faults.
check_kit() { # want_rc want_text init-args... -- quote-args...
    local want=$1 text=$2; shift 2
    local init=() quote=()
    while [ $# -gt 0 ] && [ "$1" != -- ]; do init+=("$1"); shift; done
    [ $# -gt 0 ] && shift
    quote=("$@")
    rm -rf "$tmp/k2"
    "$Q" testkit init "$tmp/k2" "${init[@]}" >/dev/null 2>&1 || { bad "init ${init[*]}"; return; }
    "$Q" testkit quote "$tmp/k2" -o "$tmp/q2.dat" "${quote[@]}" >/dev/null 2>&1 || { bad "quote ${quote[*]}"; return; }
    expect_rc "$want" "$Q" quote verify "$tmp/q2.dat" --collateral "$tmp/k2" --insecure-extra-root "$tmp/k2/root_ca.pem" --json
    expect_out "$text"
}
check_kit 0 '"tcbStatus": "SWHardeningNeeded"' --tcb-status SWHardeningNeeded --advisories INTEL-SA-00615,INTEL-SA-00657
expect_out '"INTEL-SA-00657"'
check_kit 0 '"tcbStatus": "OutOfDate"' --tcb-status OutOfDate
# A Revoked TCB level does not verify (exit 1, as Intel's QvE fails it), naming the level.
check_kit 1 '"failedStep": "tcb_level"' --tcb-status Revoked
expect_out '"error": "ERR_ATT_TCB_REVOKED"'
expect_out '"platformTcbStatus": "Revoked"'
expect_out "the platform's TCB level (pcesvn 13, tcbDate "
check_kit 1 '"failedStep": "qe_identity"' --qe-tcb-status Revoked
expect_out '"error": "ERR_ATT_TCB_REVOKED"'
expect_out '"qeTcbStatus": "Revoked"'
expect_out "in the QE Identity is Revoked"
# What Intel's verifier skips is skipped: text around the PEM blocks, signature data surplus.
check_kit 0 '"tcbStatus": "UpToDate"' -- --fault pem-stray-bytes
check_kit 0 '"tcbStatus": "UpToDate"' -- --fault sig-data-surplus,pem-stray-bytes
check_kit 0 '"tcbStatus": "OutOfDateConfigurationNeeded"' --tcb-status ConfigurationNeeded --qe-tcb-status OutOfDate
check_kit 1 '"failedStep": "tcb_level"' --no-matching-tcb
check_kit 0 '"pckCa": "platform"' --ca platform --fmspc 30606A000000 --pcesvn 11 --tcb-components 12,12,3,3,255,255,1,0,0,0,0,0,0,0,0,0
expect_out '"fmspc": "30606a000000"'
check_kit 1 '"failedStep": "pck_crl"' --fault revoked-pck
check_kit 1 '"failedStep": "root_ca_crl"' --fault revoked-pck-ca
check_kit 1 '"failedStep": "tcb_info"' --fault expired-collateral
check_kit 1 '"failedStep": "qe_identity"' --fault bad-qe-identity-signature
check_kit 1 '"failedStep": "qe_report_data"' -- --fault bad-qe-binding
check_kit 1 '"failedStep": "quote_signature"' -- --fault bad-signature
check_kit 1 '"failedStep": "qe_report_signature"' -- --fault bad-qe-report-signature
check_kit 0 '"debug": true' -- --debug

# Verification time.
expect_rc 1 "$Q" quote verify "$tmp/q.dat" --collateral "$kit" --insecure-extra-root "$kit/root_ca.pem" --at 2001-01-01T00:00:00Z
expect_out "step pck_chain"

# Usage and I/O errors.
expect_rc 2 "$Q" quote verify
expect_rc 2 "$Q" quote verify "$tmp/q.dat"
expect_rc 2 "$Q" quote verify "$tmp/q.dat" --no-collateral --collateral "$kit"
expect_rc 2 "$Q" quote verify "$tmp/missing.dat" --no-collateral
expect_rc 2 "$Q" quote verify "$tmp/q.dat" --collateral "$tmp/missing-dir"
expect_rc 2 "$Q" quote verify "$tmp/q.dat" --no-collateral --at yesterday
expect_rc 2 "$Q" quote verify "$tmp/q.dat" --no-collateral --insecure-extra-root "$tmp/q.dat"
expect_rc 2 "$Q" quote verify "$tmp/q.dat" --pccs ftp://example
expect_rc 2 "$Q" quote frobnicate
expect_rc 2 "$Q" testkit init
expect_rc 2 "$Q" testkit init "$tmp/k3" --tcb-status Great
expect_rc 2 "$Q" testkit init "$tmp/k3" --fault frobnicate
expect_rc 2 "$Q" testkit init "$tmp/k3" --tcb-components 1,2,3
expect_rc 2 "$Q" testkit quote "$kit" -o
expect_rc 2 "$Q" testkit quote "$kit" --mrenclave 12 -o "$tmp/x.dat"
expect_rc 2 "$Q" testkit quote "$tmp/missing-kit" -o "$tmp/x.dat"
# Garbage is not verified (exit 1), and says why.
head -c 3000 /dev/urandom >"$tmp/garbage.dat"
expect_rc 1 "$Q" quote verify "$tmp/garbage.dat" --no-collateral --json
expect_out '"failedStep": "parse"'

# Real Intel quotes, when ../shared is there.
V=${QY_SHARED_DIR:-}/vectors
if [ -d "$V" ]; then
    expect_rc 0 "$Q" quote verify "$V/phala-sgx-v3/quote.dat" --collateral "$V/phala-sgx-v3" --at 2025-07-01T00:00:00Z --json
    expect_out '"tcbStatus": "ConfigurationAndSWHardeningNeeded"'
    expect_out '"INTEL-SA-00615"'
    expect_rc 0 "$Q" quote verify "$V/gotdx-tdx-v5/quote.dat" --collateral "$V/gotdx-tdx-v5" --at 2026-02-20T00:00:00Z --json
    expect_out '"mrtd": "7348651a34b2d2d3'
    expect_out '"rtmr0": "5c8daf76063a71ac'
    expect_out '"teeType": "TDX"'
    expect_rc 1 "$Q" quote verify "$V/gotdx-tdx-v4-spr/quote.dat" --collateral "$V/gotdx-tdx-v4-spr" --at 2023-07-01T01:00:00Z --json
    expect_out '"failedStep": "tcb_level"'
    expect_rc 1 "$Q" quote verify "$V/fortanix-sgx-v3-ppid-rsa3072/quote.dat" --no-collateral
    expect_out "certification data type 3 (PPID RSA-3072 encrypted) is not supported"
else
    echo "test_quote.sh: ../shared is absent, skipping the vectors" >&2
fi

echo "[====] Synthesis: Tested: $((pass + fail)) | Passing: $pass | Failing: $fail | Crashing: 0"
[ $fail -eq 0 ]
