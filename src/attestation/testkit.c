/*
 * The testkit (TEST ONLY): an emulated Intel PKI with matching collateral, and a software quoting
 * enclave that signs real-format SGX v3 quotes with it. Everything is written in the layout of
 * ../shared/vectors/<name>, so the directory is also a collateral directory for the verifier, and
 * the collateral is built as Intel builds it (TCB Info v3 and QE Identity v2, compact JSON signed
 * over the exact bytes of the value, DER CRLs). Knobs choose the platform's TCB status and the
 * QE's; faults break one thing each, so every failure step of the verifier can be reached on
 * purpose.
 */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "testkit_int.h"

#define DAY (24 * 3600)

static const struct {
    const char *name;
    unsigned bit;
} fault_names[] = {
    {"revoked-pck", ATT_TK_FAULT_REVOKED_PCK},
    {"revoked-pck-ca", ATT_TK_FAULT_REVOKED_PCK_CA},
    {"expired-collateral", ATT_TK_FAULT_EXPIRED_COLLATERAL},
    {"bad-tcb-info-signature", ATT_TK_FAULT_BAD_TCB_INFO_SIGNATURE},
    {"bad-qe-identity-signature", ATT_TK_FAULT_BAD_QE_IDENTITY_SIGNATURE},
    {"bad-qe-binding", ATT_TK_FAULT_BAD_QE_BINDING},
    {"bad-qe-report-signature", ATT_TK_FAULT_BAD_QE_REPORT_SIGNATURE},
    {"bad-signature", ATT_TK_FAULT_BAD_SIGNATURE},
    {"pem-stray-bytes", ATT_TK_FAULT_PEM_STRAY_BYTES},
    {"sig-data-surplus", ATT_TK_FAULT_SIG_DATA_SURPLUS},
};

int att_testkit_fault_parse(const char *name, unsigned *out)
{
    for (size_t i = 0; i < QY_ARRAY_LEN(fault_names); i++)
        if (strcmp(name, fault_names[i].name) == 0) {
            *out |= fault_names[i].bit;
            return 0;
        }
    FAIL(ERR_INVALID_ARG, "unknown testkit fault \"%.40s\"", name);
}

void att_testkit_options_init(struct att_testkit_options *o)
{
    static const uint8_t fmspc[6] = {0x00, 0x90, 0x6e, 0xd5, 0x00, 0x00};
    static const uint8_t comps[16] = {5, 5, 2, 2, 3, 1, 0, 3};
    memset(o, 0, sizeof(*o));
    o->tcb_status = ATT_TCB_UP_TO_DATE;
    o->qe_tcb_status = ATT_TCB_UP_TO_DATE;
    o->ca = ATT_PCK_CA_PROCESSOR;
    memcpy(o->fmspc, fmspc, 6);
    memcpy(o->tcb_components, comps, 16);
    o->pcesvn = 13;
    o->qe_isvsvn = 8;
}

/* Values of the emulated QE (its identity is in qe_identity.json). */
static int qe_values(uint8_t mrenclave[32], uint8_t mrsigner[32])
{
    struct view a = view_str("quarry testkit emulated QE (INSECURE)");
    struct view b = view_str("quarry testkit emulated QE signer (INSECURE)");
    TRY(crypto_sha256(&a, 1, mrenclave));
    return crypto_sha256(&b, 1, mrsigner);
}

/* JSON helpers --------------------------------------------------------------------------------- */

static json_t *jhex(const void *p, size_t size, bool upper)
{
    struct buf b = BUF_INIT;
    int r = upper ? enc_hex_upper(&b, view_of(p, size)) : enc_hex(&b, view_of(p, size));
    json_t *j = r == 0 ? json_stringn((const char *)b.ptr, b.size) : NULL;
    buf_free(&b);
    return j;
}

static json_t *jtime(int64_t t)
{
    char s[32];
    return qtime_format_rfc3339(t, s) == 0 ? json_string(s) : NULL;
}

static json_t *jadvisories(const char *const *ids, size_t count)
{
    json_t *a = json_array();
    for (size_t i = 0; a != NULL && i < count; i++)
        json_array_append_new(a, json_string(ids[i]));
    return a;
}

/* A level:
 * {"tcb":{"sgxtcbcomponents":[...],"pcesvn":n},"tcbDate":..,"tcbStatus":..[,"advisoryIDs"]} */
static json_t *tcb_level(const uint8_t comps[16], uint16_t pcesvn, enum att_tcb_status status,
                         int64_t date, const char *const *adv, size_t adv_count)
{
    json_t *c = json_array();
    for (int i = 0; c != NULL && i < 16; i++)
        json_array_append_new(c, json_pack("{s:i}", "svn", comps[i]));
    json_t *l = json_pack("{s:{s:o,s:i},s:o,s:s}", "tcb", "sgxtcbcomponents", c, "pcesvn", pcesvn,
                          "tcbDate", jtime(date), "tcbStatus", att_tcb_status_name(status));
    if (l != NULL && status != ATT_TCB_UP_TO_DATE && adv_count > 0)
        json_object_set_new(l, "advisoryIDs", jadvisories(adv, adv_count));
    return l;
}

/* Appends {"<key>":<value bytes>,"signature":"<r||s hex>"} with the signature over the exact bytes
 * (or, for a fault, over other bytes). */
static int signed_doc(const char *key, json_t *value, const struct crypto_key *signer, bool bad,
                      struct buf *out)
{
    int r = ERR_INTERNAL;
    struct buf body = BUF_INIT, sig = BUF_INIT;
    TRY_OUT(js_dump(&body, value, JSON_COMPACT));
    struct buf signed_bytes = BUF_INIT;
    TRY_OUT(buf_append_view(&signed_bytes, buf_view(&body)));
    if (bad)
        TRY_OUT(buf_append_str(&signed_bytes, " "));
    r = crypto_sign(signer, CRYPTO_SIG_ECDSA_SHA256_RAW, buf_view(&signed_bytes), &sig);
    buf_free(&signed_bytes);
    TRY_OUT(r);
    TRY_OUT(buf_appendf(out, "{\"%s\":", key));
    TRY_OUT(buf_append_view(out, buf_view(&body)));
    TRY_OUT(buf_append_str(out, ",\"signature\":\""));
    TRY_OUT(enc_hex(out, buf_view(&sig)));
    TRY_OUT(buf_append_str(out, "\"}"));
    r = 0;
out:
    buf_free(&body);
    buf_free(&sig);
    return r;
}

/* The platform's TCB levels, highest first (dcap.md §7.2), so that the platform lands on a level
 * with the requested status, or on none. */
static int tcb_info_doc(const struct att_testkit_options *o, int64_t issue, int64_t next,
                        const struct crypto_key *signer, struct buf *out)
{
    static const char *const default_adv[] = {"INTEL-SA-00615"};
    static const char *const old_adv[] = {"INTEL-SA-00615", "INTEL-SA-00828"};
    const char *const *adv = o->advisory_count ? o->advisories : default_adv;
    size_t adv_count = o->advisory_count ? o->advisory_count : 1;
    uint8_t higher[16], zero[16] = {0};
    memcpy(higher, o->tcb_components, 16);
    uint16_t higher_pce = o->pcesvn;
    if (higher_pce < 65535)
        higher_pce++;
    else
        for (int i = 0; i < 16; i++)
            if (higher[i] < 255) {
                higher[i]++;
                break;
            }
    json_t *levels = json_array();
    if (o->tcb_no_match) {
        json_array_append_new(
            levels, tcb_level(higher, higher_pce, ATT_TCB_UP_TO_DATE, issue - 30 * DAY, NULL, 0));
    } else {
        if (o->tcb_status != ATT_TCB_UP_TO_DATE)
            json_array_append_new(levels, tcb_level(higher, higher_pce, ATT_TCB_UP_TO_DATE,
                                                    issue - 30 * DAY, NULL, 0));
        json_array_append_new(levels, tcb_level(o->tcb_components, o->pcesvn, o->tcb_status,
                                                issue - 60 * DAY, adv, adv_count));
        if (o->pcesvn > 0)
            json_array_append_new(
                levels, tcb_level(zero, 0, ATT_TCB_OUT_OF_DATE, issue - 400 * DAY, old_adv, 2));
    }
    json_t *ti = json_pack("{s:s,s:i,s:o,s:o,s:o,s:o,s:i,s:i,s:o}", "id", "SGX", "version", 3,
                           "issueDate", jtime(issue), "nextUpdate", jtime(next), "fmspc",
                           jhex(o->fmspc, 6, true), "pceId", jhex(o->pceid, 2, true), "tcbType", 0,
                           "tcbEvaluationDataNumber", 17, "tcbLevels", levels);
    ENSURE(ti != NULL, ERR_NOMEM, "cannot build the TCB Info");
    int r = signed_doc("tcbInfo", ti, signer, o->faults & ATT_TK_FAULT_BAD_TCB_INFO_SIGNATURE, out);
    json_decref(ti);
    return r;
}

static json_t *qe_level(uint16_t isvsvn, enum att_tcb_status status, int64_t date)
{
    return json_pack("{s:{s:i},s:o,s:s}", "tcb", "isvsvn", isvsvn, "tcbDate", jtime(date),
                     "tcbStatus", att_tcb_status_name(status));
}

static int qe_identity_doc(const struct att_testkit_options *o, int64_t issue, int64_t next,
                           const struct crypto_key *signer, struct buf *out)
{
    uint8_t mrenclave[32], mrsigner[32];
    TRY(qe_values(mrenclave, mrsigner));
    json_t *levels = json_array();
    if (o->qe_tcb_status != ATT_TCB_UP_TO_DATE)
        json_array_append_new(
            levels, qe_level((uint16_t)(o->qe_isvsvn + 1), ATT_TCB_UP_TO_DATE, issue - 30 * DAY));
    json_array_append_new(levels, qe_level(o->qe_isvsvn, o->qe_tcb_status, issue - 60 * DAY));
    json_t *id = json_pack(
        "{s:s,s:i,s:o,s:o,s:i,s:s,s:s,s:s,s:s,s:o,s:i,s:o}", "id", "QE", "version", 2, "issueDate",
        jtime(issue), "nextUpdate", jtime(next), "tcbEvaluationDataNumber", 17, "miscselect",
        "00000000", "miscselectMask", "FFFFFFFF", "attributes", "11000000000000000000000000000000",
        "attributesMask", "FBFFFFFFFFFFFFFF0000000000000000", "mrsigner", jhex(mrsigner, 32, true),
        "isvprodid", 1, "tcbLevels", levels);
    ENSURE(id != NULL, ERR_NOMEM, "cannot build the QE Identity");
    int r = signed_doc("enclaveIdentity", id, signer,
                       o->faults & ATT_TK_FAULT_BAD_QE_IDENTITY_SIGNATURE, out);
    json_decref(id);
    return r;
}

static int fault_list(unsigned faults, json_t **out)
{
    *out = json_array();
    ENSURE(*out != NULL, ERR_NOMEM, "out of memory");
    for (size_t i = 0; i < QY_ARRAY_LEN(fault_names); i++)
        if (faults & fault_names[i].bit)
            json_array_append_new(*out, json_string(fault_names[i].name));
    return 0;
}

static int write_json(const char *dir, const char *name, json_t *j)
{
    struct buf b = BUF_INIT;
    int r =
        j != NULL ? js_dump(&b, j, JSON_INDENT(2)) : err_fail(ERR_NOMEM, __func__, "out of memory");
    if (r == 0)
        r = buf_append_str(&b, "\n");
    if (r == 0)
        r = tk_write(dir, name, buf_view(&b), false);
    buf_free(&b);
    json_decref(j);
    return r;
}

/* Init
 * --------------------------------------------------------------------------------------------- */

/* The parts of a kit that several files need. */
struct kit {
    struct crypto_key *root_key, *ca_key, *tcb_key, *pck_key, *att_key;
    X509 *root, *ca, *tcb, *pck;
};

static void kit_free(struct kit *k)
{
    crypto_key_free(k->root_key);
    crypto_key_free(k->ca_key);
    crypto_key_free(k->tcb_key);
    crypto_key_free(k->pck_key);
    crypto_key_free(k->att_key);
    X509_free(k->root);
    X509_free(k->ca);
    X509_free(k->tcb);
    X509_free(k->pck);
}

static int new_pki(const struct att_testkit_options *o, int64_t now, struct kit *k)
{
    TRY(crypto_key_generate(CRYPTO_KEY_EC_P256, 0, &k->root_key));
    TRY(crypto_key_generate(CRYPTO_KEY_EC_P256, 0, &k->ca_key));
    TRY(crypto_key_generate(CRYPTO_KEY_EC_P256, 0, &k->tcb_key));
    int64_t nb = now - DAY, na = now + 20 * 365 * DAY;
    struct tk_cert_spec root = {
        "Quarry Testkit SGX Root CA", k->root_key, NULL, k->root_key, nb, na, true, NULL};
    TRY(tk_cert_new(&root, &k->root));
    struct tk_cert_spec ca = {o->ca == ATT_PCK_CA_PLATFORM ? "Quarry Testkit SGX PCK Platform CA"
                                                           : "Quarry Testkit SGX PCK Processor CA",
                              k->ca_key,
                              k->root,
                              k->root_key,
                              nb,
                              na,
                              true,
                              NULL};
    TRY(tk_cert_new(&ca, &k->ca));
    struct tk_cert_spec tcb = {
        "Quarry Testkit SGX TCB Signing", k->tcb_key, k->root, k->root_key, nb, na, false, NULL};
    return tk_cert_new(&tcb, &k->tcb);
}

static int load_pki(const char *from, struct kit *k)
{
    TRY(tk_read_key(from, "root_ca.key", &k->root_key));
    TRY(tk_read_key(from, "pck_ca.key", &k->ca_key));
    TRY(tk_read_key(from, "tcb_signing.key", &k->tcb_key));
    TRY(tk_read_cert(from, "root_ca.pem", &k->root));
    TRY(tk_read_cert(from, "pck_ca.pem", &k->ca));
    return tk_read_cert(from, "tcb_signing.pem", &k->tcb);
}

static int write_pem_certs(const char *dir, const char *name, X509 *const *certs, size_t count)
{
    struct buf b = BUF_INIT;
    int r = 0;
    for (size_t i = 0; r == 0 && i < count; i++)
        r = tk_cert_pem(certs[i], &b);
    if (r == 0)
        r = tk_write(dir, name, buf_view(&b), false);
    buf_free(&b);
    return r;
}

static int write_key(const char *dir, const char *name, const struct crypto_key *k)
{
    struct buf b = BUF_INIT;
    int r = tk_key_pem(k, &b);
    if (r == 0)
        r = tk_write(dir, name, buf_view(&b), true);
    buf_free(&b);
    return r;
}

static int write_identity(const char *dir)
{
    uint8_t mre[32], mrs[32];
    struct view a = view_str("quarry testkit enclave"),
                b = view_str("quarry testkit enclave signer");
    TRY(crypto_sha256(&a, 1, mre));
    TRY(crypto_sha256(&b, 1, mrs));
    return write_json(dir, "enclave.json",
                      json_pack("{s:o,s:o,s:i,s:i,s:b}", "mrenclave", jhex(mre, 32, false),
                                "mrsigner", jhex(mrs, 32, false), "isvprodid", 1, "isvsvn", 1,
                                "debug", 0));
}

static int init(const char *dir, const struct att_testkit_options *o, struct kit *k)
{
    int64_t now = o->now ? o->now : qtime_now();
    TRY(file_mkdirs(dir, 0700));
    TRY(o->pki_from ? load_pki(o->pki_from, k) : new_pki(o, now, k));
    TRY(crypto_key_generate(CRYPTO_KEY_EC_P256, 0, &k->pck_key));
    TRY(crypto_key_generate(CRYPTO_KEY_EC_P256, 0, &k->att_key));

    struct att_pck_ext ext;
    memset(&ext, 0, sizeof(ext));
    TRY(crypto_random(ext.ppid, 16));
    memcpy(ext.tcb_components, o->tcb_components, 16);
    memcpy(ext.cpusvn, o->tcb_components, 16);
    ext.pcesvn = o->pcesvn;
    memcpy(ext.pceid, o->pceid, 2);
    memcpy(ext.fmspc, o->fmspc, 6);
    ext.sgx_type = o->ca == ATT_PCK_CA_PLATFORM ? 1 : 0;
    struct buf der = BUF_INIT;
    TRY(att_pck_ext_write(&ext, &der));
    struct tk_cert_spec pck = {"Quarry Testkit SGX PCK Certificate",
                               k->pck_key,
                               k->ca,
                               k->ca_key,
                               now - DAY,
                               now + 7 * 365 * DAY,
                               false,
                               &der};
    int r = tk_cert_new(&pck, &k->pck);
    buf_free(&der);
    TRY(r);

    X509 *chain[] = {k->pck, k->ca, k->root};
    TRY(write_pem_certs(dir, "pck_chain.pem", chain, 3));
    TRY(write_pem_certs(dir, "root_ca.pem", &k->root, 1));
    TRY(write_pem_certs(dir, "pck_ca.pem", &k->ca, 1));
    TRY(write_pem_certs(dir, "tcb_signing.pem", &k->tcb, 1));
    X509 *tcb_chain[] = {k->tcb, k->root};
    TRY(write_pem_certs(dir, "tcb_info_issuer_chain.pem", tcb_chain, 2));
    TRY(write_pem_certs(dir, "qe_identity_issuer_chain.pem", tcb_chain, 2));
    X509 *crl_chain[] = {k->ca, k->root};
    TRY(write_pem_certs(dir, "pck_crl_issuer_chain.pem", crl_chain, 2));
    TRY(write_key(dir, "root_ca.key", k->root_key));
    TRY(write_key(dir, "pck_ca.key", k->ca_key));
    TRY(write_key(dir, "tcb_signing.key", k->tcb_key));
    TRY(write_key(dir, "pck.key", k->pck_key));
    TRY(write_key(dir, "attestation.key", k->att_key));

    struct buf b = BUF_INIT;
    bool revoked_ca = o->faults & ATT_TK_FAULT_REVOKED_PCK_CA,
         revoked_pck = o->faults & ATT_TK_FAULT_REVOKED_PCK;
    r = tk_crl_der(k->root, k->root_key, now - 3600, now + 365 * DAY, &k->ca, revoked_ca, &b);
    if (r == 0)
        r = tk_write(dir, "root_ca_crl.der", buf_view(&b), false);
    buf_reset(&b);
    if (r == 0)
        r = tk_crl_der(k->ca, k->ca_key, now - 3600, now + 30 * DAY, &k->pck, revoked_pck, &b);
    if (r == 0)
        r = tk_write(dir, "pck_crl.der", buf_view(&b), false);
    bool expired = o->faults & ATT_TK_FAULT_EXPIRED_COLLATERAL;
    int64_t issue = expired ? now - 60 * DAY : now - 3600,
            next = expired ? now - 30 * DAY : now + 30 * DAY;
    buf_reset(&b);
    if (r == 0)
        r = tcb_info_doc(o, issue, next, k->tcb_key, &b);
    if (r == 0)
        r = tk_write(dir, "tcb_info.json", buf_view(&b), false);
    buf_reset(&b);
    if (r == 0)
        r = qe_identity_doc(o, issue, next, k->tcb_key, &b);
    if (r == 0)
        r = tk_write(dir, "qe_identity.json", buf_view(&b), false);
    buf_free(&b);
    TRY(r);

    uint8_t qe_id[16];
    json_t *faults;
    TRY(crypto_random(qe_id, sizeof(qe_id)));
    TRY(fault_list(o->faults, &faults));
    TRY(write_json(
        dir, "testkit.json",
        json_pack("{s:s,s:i,s:o,s:o,s:o,s:i,s:i,s:o,s:s,s:s,s:s,s:o}", "warning",
                  "EMULATED INTEL PKI: TEST ONLY, the private keys are in this directory",
                  "testkit", 1, "fmspc", jhex(o->fmspc, 6, false), "pceid",
                  jhex(o->pceid, 2, false), "cpusvn", jhex(o->tcb_components, 16, false), "pcesvn",
                  o->pcesvn, "qeIsvsvn", o->qe_isvsvn, "qeId", jhex(qe_id, 16, false), "ca",
                  o->ca == ATT_PCK_CA_PLATFORM ? "platform" : "processor", "tcbStatus",
                  o->tcb_no_match ? "NoMatchingLevel" : att_tcb_status_name(o->tcb_status),
                  "qeTcbStatus", att_tcb_status_name(o->qe_tcb_status), "faults", faults)));
    TRY(write_identity(dir));
    struct view readme =
        view_str("This directory is an EMULATED Intel SGX PKI made by `quarry testkit init`.\n"
                 "It is for tests only: its private keys (*.key) are here in the clear, so\n"
                 "anyone who can read them can forge quotes. Verifiers accept its quotes only\n"
                 "when given root_ca.pem explicitly (--insecure-extra-root).\n");
    return tk_write(dir, "README-TEST-ONLY.txt", readme, false);
}

int att_testkit_init(const char *dir, const struct att_testkit_options *opts)
{
    struct att_testkit_options defaults;
    if (opts == NULL) {
        att_testkit_options_init(&defaults);
        opts = &defaults;
    }
    ENSURE(opts->advisory_count <= QY_ATT_ADVISORIES_MAX, ERR_INVALID_ARG, "too many advisories");
    ENSURE(opts->qe_tcb_status == ATT_TCB_UP_TO_DATE ||
               opts->qe_tcb_status == ATT_TCB_OUT_OF_DATE || opts->qe_tcb_status == ATT_TCB_REVOKED,
           ERR_INVALID_ARG, "the QE's TCB status must be UpToDate, OutOfDate or Revoked");
    ENSURE(opts->tcb_status >= ATT_TCB_UP_TO_DATE && opts->tcb_status <= ATT_TCB_REVOKED,
           ERR_INVALID_ARG, "the platform's TCB status must be one of Intel's TCB Info statuses");
    ENSURE(opts->qe_tcb_status == ATT_TCB_UP_TO_DATE || opts->qe_isvsvn < 65535, ERR_INVALID_ARG,
           "QE ISVSVN too large for a newer level");
    struct kit k;
    memset(&k, 0, sizeof(k));
    int r = init(dir, opts, &k);
    kit_free(&k);
    return r;
}

/* Open and quote
 * ----------------------------------------------------------------------------------- */

struct att_testkit {
    char *dir;
    struct buf root_pem;
    struct buf cert_data; /* pck_chain.pem and a NUL, as Intel's QE writes it */
    struct crypto_key *pck_key, *att_key;
    uint8_t att_key_xy[64];
    uint8_t cpusvn[16];
    uint16_t pcesvn, qe_isvsvn;
    uint8_t qe_id[16];
    unsigned faults;
    struct att_sgx_report qe;
    uint8_t qe_sig[64];
    struct att_testkit_quote_params identity;
};

static const uint8_t qe_auth_data[32] = {0,  1,  2,  3,  4,  5,  6,  7,  8,  9,  10,
                                         11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21,
                                         22, 23, 24, 25, 26, 27, 28, 29, 30, 31};
static const uint8_t intel_vendor[16] = {0x93, 0x9a, 0x72, 0x33, 0xf7, 0x9c, 0x4c, 0xa9,
                                         0x94, 0x0a, 0x0d, 0xb3, 0x95, 0x7f, 0x06, 0x07};

static int put_u16(struct buf *b, uint16_t v)
{
    uint8_t x[2] = {(uint8_t)v, (uint8_t)(v >> 8)};
    return buf_append(b, x, 2);
}

static int put_u32(struct buf *b, uint32_t v)
{
    uint8_t x[4] = {(uint8_t)v, (uint8_t)(v >> 8), (uint8_t)(v >> 16), (uint8_t)(v >> 24)};
    return buf_append(b, x, 4);
}

/* dcap.md §2.2, fields in wire order. */
static int put_sgx_report(struct buf *b, const struct att_sgx_report *s)
{
    TRY(buf_append(b, s->cpusvn, 16));
    TRY(put_u32(b, s->miscselect));
    TRY(buf_append(b, s->reserved1, 12));
    TRY(buf_append(b, s->isvextprodid, 16));
    TRY(buf_append(b, s->attributes, 16));
    TRY(buf_append(b, s->mrenclave, 32));
    TRY(buf_append(b, s->reserved2, 32));
    TRY(buf_append(b, s->mrsigner, 32));
    TRY(buf_append(b, s->reserved3, 32));
    TRY(buf_append(b, s->configid, 64));
    TRY(put_u16(b, s->isvprodid));
    TRY(put_u16(b, s->isvsvn));
    TRY(put_u16(b, s->configsvn));
    TRY(buf_append(b, s->reserved4, 42));
    TRY(buf_append(b, s->isvfamilyid, 16));
    return buf_append(b, s->report_data, 64);
}

static void set_attributes(struct att_sgx_report *s, uint64_t flags, uint64_t xfrm)
{
    for (int i = 0; i < 8; i++) {
        s->attributes[i] = (uint8_t)(flags >> (8 * i));
        s->attributes[8 + i] = (uint8_t)(xfrm >> (8 * i));
    }
    s->flags = flags;
    s->xfrm = xfrm;
}

/* The QE's report binding the attestation key, signed by the PCK key. */
static int make_qe_report(const struct att_testkit *tk, bool bad_binding, struct att_sgx_report *qe,
                          uint8_t sig[64])
{
    int r = ERR_INTERNAL;
    struct buf raw = BUF_INIT, s = BUF_INIT;
    memset(qe, 0, sizeof(*qe));
    memcpy(qe->cpusvn, tk->cpusvn, 16);
    set_attributes(qe, 0x15, 0xe7); /* INIT | MODE64BIT | PROVISIONKEY */
    TRY(qe_values(qe->mrenclave, qe->mrsigner));
    qe->isvprodid = 1;
    qe->isvsvn = tk->qe_isvsvn;
    struct view bound[] = {view_of(tk->att_key_xy, 64), view_of(qe_auth_data, 32)};
    TRY(crypto_sha256(bound, 2, qe->report_data));
    if (bad_binding)
        qe->report_data[0] ^= 0xff;
    TRY_OUT(put_sgx_report(&raw, qe));
    TRY_OUT(crypto_sign(tk->pck_key, CRYPTO_SIG_ECDSA_SHA256_RAW, buf_view(&raw), &s));
    ENSURE_OUT(s.size == 64, ERR_CRYPTO, "unexpected signature size");
    memcpy(sig, s.ptr, 64);
    r = 0;
out:
    buf_free(&raw);
    buf_free(&s);
    return r;
}

static int read_identity(struct att_testkit *tk)
{
    int r = ERR_INTERNAL;
    struct buf b = BUF_INIT;
    json_t *j = NULL;
    const char *mre, *mrs;
    uint64_t prod, svn;
    bool debug;
    TRY(tk_read(tk->dir, "enclave.json", QY_JSON_MAX_SIZE, &b));
    TRY_OUT(js_parse(buf_view(&b), QY_JSON_MAX_SIZE, &j));
    TRY_OUT(js_get_string(j, "mrenclave", true, &mre));
    TRY_OUT(js_get_string(j, "mrsigner", true, &mrs));
    TRY_OUT(js_get_u64(j, "isvprodid", true, &prod));
    TRY_OUT(js_get_u64(j, "isvsvn", true, &svn));
    TRY_OUT(js_get_bool(j, "debug", false, &debug));
    ENSURE_OUT(prod <= 65535 && svn <= 65535, ERR_RANGE,
               "enclave.json: isvprodid/isvsvn above 65535");
    TRY_OUT(enc_hex_decode_fixed(tk->identity.mrenclave, 32, view_str(mre)));
    TRY_OUT(enc_hex_decode_fixed(tk->identity.mrsigner, 32, view_str(mrs)));
    tk->identity.isvprodid = (uint16_t)prod;
    tk->identity.isvsvn = (uint16_t)svn;
    tk->identity.debug = debug;
    r = 0;
out:
    if (r < 0)
        r = err_fail(r, __func__, "%s/enclave.json: %s", tk->dir, err_detail(r));
    json_decref(j);
    buf_free(&b);
    return r;
}

static int read_settings(struct att_testkit *tk)
{
    int r = ERR_INTERNAL;
    struct buf b = BUF_INIT;
    json_t *j = NULL, *faults;
    const char *cpusvn, *qe_id;
    uint64_t pcesvn, qe_isvsvn;
    TRY(tk_read(tk->dir, "testkit.json", QY_JSON_MAX_SIZE, &b));
    TRY_OUT(js_parse(buf_view(&b), QY_JSON_MAX_SIZE, &j));
    TRY_OUT(js_get_string(j, "cpusvn", true, &cpusvn));
    TRY_OUT(js_get_string(j, "qeId", true, &qe_id));
    TRY_OUT(js_get_u64(j, "pcesvn", true, &pcesvn));
    TRY_OUT(js_get_u64(j, "qeIsvsvn", true, &qe_isvsvn));
    ENSURE_OUT(pcesvn <= 65535 && qe_isvsvn <= 65535, ERR_RANGE, "pcesvn/qeIsvsvn above 65535");
    TRY_OUT(enc_hex_decode_fixed(tk->cpusvn, 16, view_str(cpusvn)));
    TRY_OUT(enc_hex_decode_fixed(tk->qe_id, 16, view_str(qe_id)));
    tk->pcesvn = (uint16_t)pcesvn;
    tk->qe_isvsvn = (uint16_t)qe_isvsvn;
    faults = json_object_get(j, "faults");
    size_t i;
    json_t *f;
    json_array_foreach(faults, i, f)
    {
        ENSURE_OUT(json_is_string(f), ERR_TYPE, "faults must be strings");
        TRY_OUT(att_testkit_fault_parse(json_string_value(f), &tk->faults));
    }
    r = 0;
out:
    if (r < 0)
        r = err_fail(r, __func__, "%s/testkit.json: %s", tk->dir, err_detail(r));
    json_decref(j);
    buf_free(&b);
    return r;
}

int att_testkit_open(const char *dir, struct att_testkit **out)
{
    int r = ERR_INTERNAL;
    *out = NULL;
    struct att_testkit *tk = calloc(1, sizeof(*tk));
    ENSURE(tk != NULL, ERR_NOMEM, "out of memory");
    tk->dir = strdup(dir);
    ENSURE_OUT(tk->dir != NULL, ERR_NOMEM, "out of memory");
    TRY_OUT(tk_read(dir, "root_ca.pem", QY_PEM_MAX_SIZE, &tk->root_pem));
    TRY_OUT(tk_read(dir, "pck_chain.pem", QY_PEM_MAX_SIZE, &tk->cert_data));
    TRY_OUT(buf_append_byte(&tk->cert_data, 0));
    TRY_OUT(tk_read_key(dir, "pck.key", &tk->pck_key));
    TRY_OUT(tk_read_key(dir, "attestation.key", &tk->att_key));
    TRY_OUT(crypto_key_p256_xy(tk->att_key, tk->att_key_xy));
    TRY_OUT(read_settings(tk));
    TRY_OUT(read_identity(tk));
    TRY_OUT(make_qe_report(tk, false, &tk->qe, tk->qe_sig));
    *out = tk;
    return 0;
out:
    att_testkit_free(tk);
    return r;
}

void att_testkit_free(struct att_testkit *tk)
{
    if (tk == NULL)
        return;
    crypto_key_free(tk->pck_key);
    crypto_key_free(tk->att_key);
    buf_free(&tk->root_pem);
    buf_free(&tk->cert_data);
    free(tk->dir);
    free(tk);
}

struct view att_testkit_root_pem(const struct att_testkit *tk)
{
    return buf_view(&tk->root_pem);
}

const char *att_testkit_dir(const struct att_testkit *tk)
{
    return tk->dir;
}

int att_testkit_default_identity(const struct att_testkit *tk, struct att_testkit_quote_params *out)
{
    *out = tk->identity;
    return 0;
}

/* The certification data: the PCK chain and a NUL, as Intel's QE writes it, or with what Intel's
 * chain splitting skips (QVL CertificateChain::splitChain, QvE extract_chain_from_quote): text
 * without '-' after each certificate, and text after the NUL. */
static int put_cert_data(const struct att_testkit *tk, bool stray, struct buf *out)
{
    static const char end[] = "-----END CERTIFICATE-----";
    static const char junk[] = " \t\r\n# skipped: no dash here\r\n\v";
    if (!stray)
        return buf_append_view(out, buf_view(&tk->cert_data));
    const uint8_t *p = tk->cert_data.ptr, *stop = p + tk->cert_data.size - 1; /* before the NUL */
    const uint8_t *e;
    while ((e = memmem(p, (size_t)(stop - p), end, strlen(end))) != NULL) {
        TRY(buf_append(out, p, (size_t)(e - p) + strlen(end)));
        TRY(buf_append_str(out, junk));
        p = e + strlen(end);
    }
    TRY(buf_append(out, p, (size_t)(stop - p)));
    TRY(buf_append_byte(out, 0));
    return buf_append_str(out, "after the NUL: -----BEGIN CERTIFICATE----- is not read");
}

enum { SIG_DATA_SURPLUS = 46 }; /* the size seen in the comparison with Phala's dcap-qvl */

int att_testkit_quote(const struct att_testkit *tk, const struct att_testkit_quote_params *p,
                      struct buf *out)
{
    int r = ERR_INTERNAL;
    unsigned faults = tk->faults | p->faults;
    struct buf q = BUF_INIT, sig = BUF_INIT, cert = BUF_INIT;
    struct att_sgx_report body, qe = tk->qe;
    uint8_t qe_sig[64];
    memcpy(qe_sig, tk->qe_sig, 64);
    if (faults & ATT_TK_FAULT_BAD_QE_BINDING)
        TRY(make_qe_report(tk, true, &qe, qe_sig));
    if (faults & ATT_TK_FAULT_BAD_QE_REPORT_SIGNATURE)
        qe_sig[10] ^= 0x01;

    /* Header (dcap.md §2.1) and the enclave's report (§2.2): what the quote signature covers. */
    TRY_OUT(put_u16(&q, 3));
    TRY_OUT(put_u16(&q, 2));
    TRY_OUT(put_u32(&q, ATT_TEE_SGX));
    TRY_OUT(put_u16(&q, tk->qe_isvsvn));
    TRY_OUT(put_u16(&q, tk->pcesvn));
    TRY_OUT(buf_append(&q, intel_vendor, 16));
    TRY_OUT(buf_append(&q, tk->qe_id, 16));
    TRY_OUT(put_u32(&q, 0));
    memset(&body, 0, sizeof(body));
    memcpy(body.cpusvn, tk->cpusvn, 16);
    set_attributes(&body, 0x05 | (p->debug ? ATT_SGX_FLAG_DEBUG : 0), 0xe7); /* INIT | MODE64BIT */
    memcpy(body.mrenclave, p->mrenclave, 32);
    memcpy(body.mrsigner, p->mrsigner, 32);
    body.isvprodid = p->isvprodid;
    body.isvsvn = p->isvsvn;
    memcpy(body.report_data, p->report_data, 64);
    TRY_OUT(put_sgx_report(&q, &body));
    TRY_OUT(crypto_sign(tk->att_key, CRYPTO_SIG_ECDSA_SHA256_RAW, buf_view(&q), &sig));
    ENSURE_OUT(sig.size == 64, ERR_CRYPTO, "unexpected signature size");
    if (faults & ATT_TK_FAULT_BAD_SIGNATURE)
        sig.ptr[20] ^= 0x01;

    /* Signature data (§2.3, §2.4) with the PCK chain as certification data type 5. */
    TRY_OUT(put_cert_data(tk, faults & ATT_TK_FAULT_PEM_STRAY_BYTES, &cert));
    size_t surplus = faults & ATT_TK_FAULT_SIG_DATA_SURPLUS ? SIG_DATA_SURPLUS : 0;
    TRY_OUT(put_u32(&q, (uint32_t)(64 + 64 + 384 + 64 + 2 + sizeof(qe_auth_data) + 2 + 4 +
                                   cert.size + surplus)));
    TRY_OUT(buf_append_view(&q, buf_view(&sig)));
    TRY_OUT(buf_append(&q, tk->att_key_xy, 64));
    TRY_OUT(put_sgx_report(&q, &qe));
    TRY_OUT(buf_append(&q, qe_sig, 64));
    TRY_OUT(put_u16(&q, sizeof(qe_auth_data)));
    TRY_OUT(buf_append(&q, qe_auth_data, sizeof(qe_auth_data)));
    TRY_OUT(put_u16(&q, ATT_CERT_PCK_CHAIN));
    TRY_OUT(put_u32(&q, (uint32_t)cert.size));
    TRY_OUT(buf_append_view(&q, buf_view(&cert)));
    for (size_t i = 0; i < surplus; i++)
        TRY_OUT(buf_append_byte(&q, 0));
    TRY_OUT(buf_append_view(out, buf_view(&q)));
    r = 0;
out:
    buf_free(&q);
    buf_free(&sig);
    buf_free(&cert);
    return r;
}

int att_testkit_verifier_new(const struct att_testkit *tk, struct att_verifier **out)
{
    struct att_collateral_source *src = NULL;
    *out = NULL;
    TRY(att_collateral_dir_new(tk->dir, &src));
    struct view root = buf_view(&tk->root_pem);
    struct att_verifier_config cfg = {
        .collateral = src, .insecure_extra_roots = &root, .insecure_extra_root_count = 1};
    return att_verifier_new(&cfg, out);
}
