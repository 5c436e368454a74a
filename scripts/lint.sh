#!/usr/bin/env bash
# Checks what the compiler can't: includes point down the layers of DESIGN.md, other components are
# reached only through their front header, and a few unsafe libc functions are never called.
set -uo pipefail
cd "$(dirname "$0")/.."

# component: components it may include (besides itself). Order follows DESIGN.md's layers.
declare -A allowed=(
    [base]=""
    [crypto]="base"
    [manifest]="base crypto"
    [attestation]="base crypto"
    [pki]="base crypto"
    [template]="base crypto manifest"
    [store]="base crypto"
    [recovery]="base crypto"
    [secrets]="base crypto manifest pki"
    [coordinator]="base crypto manifest attestation pki template secrets store recovery"
    [api]="base crypto manifest attestation pki template secrets store recovery coordinator"
)
programs_allowed="base crypto manifest attestation pki template secrets store recovery coordinator api"

fail=0
report() { echo "lint: $*" >&2; fail=1; }

while IFS= read -r f; do
    rel=${f#src/}
    comp=${rel%%/*}
    if [ "$comp" = programs ]; then ok="$programs_allowed"; else ok="${allowed[$comp]-__unknown__}"; fi
    [ "$ok" = __unknown__ ] && { report "$f: component '$comp' is not in scripts/lint.sh's layer table"; continue; }
    while IFS= read -r line; do
        n=${line%%:*}
        inc=$(sed -E 's/^[0-9]+:#[[:space:]]*include[[:space:]]+"([^"]+)".*/\1/' <<<"$line")
        dep=${inc%%/*}
        [ "$dep" = "$inc" ] && continue            # same-folder include
        [ "$dep" = "$comp" ] && continue
        [ "$comp" = programs ] && [ "$dep" = programs ] && continue
        if [[ " $ok " != *" $dep "* ]]; then
            report "$f:$n: '$comp' may not include '$inc' (layers: see DESIGN.md and scripts/lint.sh)"
        elif [ "$inc" != "$dep/$dep.h" ]; then
            report "$f:$n: include '$dep' through its front header '$dep/$dep.h', not '$inc'"
        fi
    done < <(grep -nE '^#[[:space:]]*include[[:space:]]+"' "$f")
done < <(find src -name '*.[ch]' | sort)

# OpenSSL's cryptography is reached through crypto/ only; X.509 also from pki and attestation; TLS
# from api (the servers and clients) and crypto.
declare -A openssl_ok=([crypto]="*" [pki]="x509 x509v3 pem asn1 asn1t objects bio bn err x509_vfy ocsp"
    [attestation]="x509 x509v3 pem asn1 objects bio bn err x509_vfy"
    [api]="ssl err x509 x509v3 pem bio")
while IFS= read -r hit; do
    f=${hit%%:*}; rel=${f#src/}; comp=${rel%%/*}
    hdr=$(sed -E 's/.*<openssl\/([a-z0-9_]+)\.h>.*/\1/' <<<"$hit")
    ok="${openssl_ok[$comp]-}"
    [ "$ok" = "*" ] && continue
    [[ " $ok " == *" $hdr "* ]] || report "${hit%%:#*}: '$comp' may not include <openssl/$hdr.h> (see scripts/lint.sh)"
done < <(grep -rnE '^#[[:space:]]*include[[:space:]]*<openssl/' src)

banned='\b(sprintf|vsprintf|strcpy|strcat|strncat|atoi|atol|atoll|strtok|gets|tmpnam|mktemp)[[:space:]]*\('
while IFS= read -r hit; do
    report "$hit: banned function (use snprintf, the buf_/view helpers, strtoull with checks, or mkstemp)"
done < <(grep -rnE "$banned" src tests fuzz bench examples 2>/dev/null | grep -vE '^[^:]+:[0-9]+:\s*(//|\*)')

[ $fail -eq 0 ] && echo "lint: ok"
exit $fail
