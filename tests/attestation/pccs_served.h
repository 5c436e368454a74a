/* The answers of a PCCS for one collateral directory (a testkit's or a vector's), in Intel's
 * response shapes with issuer chains URL-encoded as headers, as routes of the test HTTP server:
 * shared by the attestation tests and the Coordinator's. */
#ifndef QUARRY_TEST_PCCS_SERVED_H
#define QUARRY_TEST_PCCS_SERVED_H

#include "http_server.h"
#include "qt.h"

struct served {
    struct buf tcb, tcb_chain, qe, qe_chain, crl, crl_chain, root_crl;
};

/* Reads DIR's tcb_info.json, qe_identity.json, their issuer chains, `crl_file` (and its chain
 * when `crl_chain_file` is not NULL) and root_ca_crl.der (served as hex). */
void served_load(const char *dir, const char *crl_file, const char *crl_chain_file,
                 struct served *s);
void served_free(struct served *s);

/* Routes R_TCB .. R_ROOT for `tee` ("sgx"), `fmspc` (hex) and `ca` ("processor"); the routes
 * borrow `s`, `paths` and `queries`. */
enum { R_TCB, R_QE, R_CRL, R_ROOT, R_TCB2 };
void routes_for(const struct served *s, const char *tee, const char *fmspc, const char *ca,
                struct ths_route r[5], char paths[3][64], char queries[2][64]);

#endif
