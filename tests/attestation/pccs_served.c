/* What a PCCS stand-in serves for a testkit or vector directory (see pccs_served.h). */
#include "pccs_served.h"

#include <stdio.h>
#include <string.h>

/* Percent-encoding of everything but unreserved characters, as Intel PCS sends issuer chains. */
static void url_encode(struct view in, struct buf *out)
{
    for (size_t i = 0; i < in.size; i++) {
        uint8_t c = in.ptr[i];
        bool plain = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                     c == '-' || c == '_' || c == '.' || c == '~';
        cr_assert_eq(plain ? buf_append_byte(out, c) : buf_appendf(out, "%%%02X", c), 0);
    }
}

static void read_into(const char *dir, const char *name, struct buf *out, bool encode)
{
    char path[512];
    struct buf raw = BUF_INIT;
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    qt_read(path, &raw);
    if (encode)
        url_encode(buf_view(&raw), out);
    else
        cr_assert_eq(buf_append_view(out, buf_view(&raw)), 0);
    buf_free(&raw);
}

void served_load(const char *dir, const char *crl_file, const char *crl_chain_file,
                        struct served *s)
{
    memset(s, 0, sizeof(*s));
    read_into(dir, "tcb_info.json", &s->tcb, false);
    read_into(dir, "tcb_info_issuer_chain.pem", &s->tcb_chain, true);
    read_into(dir, "qe_identity.json", &s->qe, false);
    read_into(dir, "qe_identity_issuer_chain.pem", &s->qe_chain, true);
    read_into(dir, crl_file, &s->crl, false);
    if (crl_chain_file != NULL)
        read_into(dir, crl_chain_file, &s->crl_chain, true);
    struct buf der = BUF_INIT;
    read_into(dir, "root_ca_crl.der", &der, false);
    cr_assert_eq(enc_hex(&s->root_crl, buf_view(&der)), 0); /* PCCS's /rootcacrl answers hex */
    buf_free(&der);
}

void served_free(struct served *s)
{
    struct buf *all[] = {&s->tcb, &s->tcb_chain, &s->qe,      &s->qe_chain,
                         &s->crl, &s->crl_chain, &s->root_crl};
    for (size_t i = 0; i < QY_ARRAY_LEN(all); i++)
        buf_free(all[i]);
}

void routes_for(const struct served *s, const char *tee, const char *fmspc, const char *ca,
                       struct ths_route r[5], char paths[3][64], char queries[2][64])
{
    snprintf(paths[0], 64, "/%s/certification/v4/tcb", tee);
    snprintf(paths[1], 64, "/%s/certification/v4/qe/identity", tee);
    snprintf(queries[0], 64, "fmspc=%s", fmspc);
    snprintf(queries[1], 64, "ca=%s", ca);
    r[R_TCB] = (struct ths_route){paths[0],
                                  queries[0],
                                  200,
                                  buf_view(&s->tcb),
                                  "TCB-Info-Issuer-Chain",
                                  buf_view(&s->tcb_chain),
                                  0};
    r[R_QE] = (struct ths_route){paths[1],
                                 NULL,
                                 200,
                                 buf_view(&s->qe),
                                 "SGX-Enclave-Identity-Issuer-Chain",
                                 buf_view(&s->qe_chain),
                                 0};
    r[R_CRL] = (struct ths_route){"/sgx/certification/v4/pckcrl",
                                  queries[1],
                                  200,
                                  buf_view(&s->crl),
                                  s->crl_chain.size ? "SGX-PCK-CRL-Issuer-Chain" : NULL,
                                  buf_view(&s->crl_chain),
                                  0};
    r[R_ROOT] = (struct ths_route){
        "/sgx/certification/v4/rootcacrl", NULL, 200, buf_view(&s->root_crl), NULL, VIEW_EMPTY, 0};
}

