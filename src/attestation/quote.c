/*
 * Quote parsing (reference/dcap.md §2-4): one function per structure, fields in wire order, every
 * declared length bounded by the bounded reader. The sizes below are the spec's; static_asserts tie
 * them to the field lists.
 *
 * Where a length need not fill its container, we do what Intel's verifier does (QVL, Quote.cpp
 * Quote::parse and QuoteStructures.cpp in SGXDataCenterAttestationPrimitives): the signature data
 * may be shorter than what is left of the input (callers pad quotes to get_quote_size()), and the
 * certification data may end before the signature data does (Ecdsa256BitQuoteV3AuthData::insert
 * and Ecdsa256BitQuoteV4AuthData::insert read each field by its own length and never look at what
 * follows). Those surplus bytes are counted, never read: no signature, hash or decision sees them.
 * The v4/v5 QE report certification data (type 6) must be filled exactly by what it wraps, as
 * QEReportCertificationData::insert requires.
 */
#include <assert.h>
#include <string.h>

#include "att_int.h"

enum {
    HEADER_SIZE = 48,
    BODY_DESCRIPTOR_SIZE = 6,
    SGX_REPORT_SIZE = 384,
    TD10_REPORT_SIZE = 584,
    TD15_REPORT_SIZE = 648,
    ECDSA_SIG_SIZE = 64,
    ECDSA_KEY_SIZE = 64,
    PPID_TCB_SIZE = 16 + 2 + 2, /* CPUSVN, PCESVN, PCEID after the PPID (§2.5) */
};

static_assert(HEADER_SIZE == 2 + 2 + 4 + 2 + 2 + 16 + 20, "quote header (§2.1)");
static_assert(SGX_REPORT_SIZE ==
                  16 + 4 + 12 + 16 + 16 + 32 + 32 + 32 + 32 + 64 + 2 + 2 + 2 + 42 + 16 + 64,
              "SGX report body (§2.2)");
static_assert(TD10_REPORT_SIZE == 16 + 48 + 48 + 8 + 8 + 8 + 48 * 4 + 48 * 4 + 64,
              "TD report 1.0 (§3.2)");
static_assert(TD15_REPORT_SIZE == TD10_REPORT_SIZE + 16 + 48, "TD report 1.5 (§4)");
static_assert(sizeof(((struct att_quote *)0)->qe_vendor_id) == 16, "QE vendor ID");

/* Intel's QE vendor ID (§2.1). */
static const uint8_t intel_qe_vendor_id[16] = {0x93, 0x9a, 0x72, 0x33, 0xf7, 0x9c, 0x4c, 0xa9,
                                               0x94, 0x0a, 0x0d, 0xb3, 0x95, 0x7f, 0x06, 0x07};

/* Reads with the field named in the error, so a truncated quote says what was cut. */
static int field(int r, const char *name)
{
    if (r < 0)
        return err_fail(ERR_QUOTE_FORMAT, "att_quote_parse", "%s: %s", name, err_detail(r));
    return 0;
}

/* §2.1 (v3) and §3.1 (v4, v5). */
static int parse_header(struct rd *r, struct att_quote *q)
{
    struct rd h;
    TRY(field(rd_sub(r, HEADER_SIZE, &h), "header"));
    TRY(rd_u16le(&h, &q->version));
    TRY(rd_u16le(&h, &q->att_key_type));
    TRY(rd_u32le(&h, &q->tee_type));
    TRY(rd_u16le(&h, &q->qe_svn));
    TRY(rd_u16le(&h, &q->pce_svn));
    TRY(rd_copy(&h, q->qe_vendor_id, sizeof(q->qe_vendor_id)));
    TRY(rd_copy(&h, q->user_data, sizeof(q->user_data)));
    TRY(rd_end(&h));

    ENSURE(q->version >= 3 && q->version <= 5, ERR_UNSUPPORTED,
           "quote version %u is not supported (3, 4, 5)", q->version);
    ENSURE(q->att_key_type == 2, ERR_UNSUPPORTED,
           "attestation key type %u is not supported (2 = ECDSA-256-with-P-256)", q->att_key_type);
    ENSURE(q->tee_type == ATT_TEE_SGX || q->tee_type == ATT_TEE_TDX, ERR_UNSUPPORTED,
           "TEE type 0x%08x is not supported (0 SGX, 0x81 TDX)", q->tee_type);
    ENSURE(q->version != 3 || q->tee_type == ATT_TEE_SGX, ERR_QUOTE_FORMAT,
           "a version 3 quote must have TEE type SGX, not 0x%08x", q->tee_type);
    ENSURE(memcmp(q->qe_vendor_id, intel_qe_vendor_id, sizeof(intel_qe_vendor_id)) == 0,
           ERR_UNSUPPORTED, "QE vendor ID is not Intel's");
    return 0;
}

/* §4: the v5 body descriptor (type u16, size u32), checked against the TEE type. */
static int parse_body_descriptor(struct rd *r, struct att_quote *q, uint32_t *body_size)
{
    struct rd d;
    uint16_t type;
    TRY(field(rd_sub(r, BODY_DESCRIPTOR_SIZE, &d), "body descriptor"));
    TRY(rd_u16le(&d, &type));
    TRY(rd_u32le(&d, body_size));
    TRY(rd_end(&d));
    static const uint32_t sizes[] = {0, SGX_REPORT_SIZE, TD10_REPORT_SIZE, TD15_REPORT_SIZE};
    ENSURE(type >= ATT_BODY_SGX && type <= ATT_BODY_TD15, ERR_QUOTE_FORMAT,
           "v5 body type %u is unknown (1 SGX, 2 TD 1.0, 3 TD 1.5)", type);
    ENSURE(*body_size == sizes[type], ERR_QUOTE_FORMAT, "v5 body type %u must be %u bytes, not %u",
           type, sizes[type], *body_size);
    ENSURE((type == ATT_BODY_SGX) == (q->tee_type == ATT_TEE_SGX), ERR_QUOTE_FORMAT,
           "v5 body type %u does not fit TEE type 0x%08x", type, q->tee_type);
    q->body_type = (enum att_body_type)type;
    return 0;
}

/* §2.2: sgx_report_body_t, used for the application enclave and for the QE. */
int att_parse_sgx_report(struct rd *r, struct att_sgx_report *s, struct view *raw)
{
    struct rd b;
    TRY(rd_sub(r, SGX_REPORT_SIZE, &b));
    *raw = b.in;
    TRY(rd_copy(&b, s->cpusvn, 16));
    TRY(rd_u32le(&b, &s->miscselect));
    TRY(rd_copy(&b, s->reserved1, 12));
    TRY(rd_copy(&b, s->isvextprodid, 16));
    TRY(rd_copy(&b, s->attributes, 16));
    struct rd attr = rd_init(view_of(s->attributes, 16));
    TRY(rd_u64le(&attr, &s->flags));
    TRY(rd_u64le(&attr, &s->xfrm));
    TRY(rd_copy(&b, s->mrenclave, 32));
    TRY(rd_copy(&b, s->reserved2, 32));
    TRY(rd_copy(&b, s->mrsigner, 32));
    TRY(rd_copy(&b, s->reserved3, 32));
    TRY(rd_copy(&b, s->configid, 64));
    TRY(rd_u16le(&b, &s->isvprodid));
    TRY(rd_u16le(&b, &s->isvsvn));
    TRY(rd_u16le(&b, &s->configsvn));
    TRY(rd_copy(&b, s->reserved4, 42));
    TRY(rd_copy(&b, s->isvfamilyid, 16));
    TRY(rd_copy(&b, s->report_data, 64));
    return rd_end(&b);
}

/* §3.2 (TD report 1.0) and §4 (1.5 appends TEE_TCB_SVN2 and MRSERVICETD). */
static int parse_td_report(struct rd *r, bool v15, struct att_td_report *t)
{
    struct rd b;
    TRY(rd_sub(r, v15 ? TD15_REPORT_SIZE : TD10_REPORT_SIZE, &b));
    TRY(rd_copy(&b, t->tee_tcb_svn, 16));
    TRY(rd_copy(&b, t->mrseam, 48));
    TRY(rd_copy(&b, t->mrsignerseam, 48));
    TRY(rd_copy(&b, t->seam_attributes, 8));
    TRY(rd_copy(&b, t->td_attributes, 8));
    TRY(rd_copy(&b, t->xfam, 8));
    TRY(rd_copy(&b, t->mrtd, 48));
    TRY(rd_copy(&b, t->mrconfigid, 48));
    TRY(rd_copy(&b, t->mrowner, 48));
    TRY(rd_copy(&b, t->mrownerconfig, 48));
    for (int i = 0; i < 4; i++)
        TRY(rd_copy(&b, t->rtmr[i], 48));
    TRY(rd_copy(&b, t->report_data, 64));
    t->is_v15 = v15;
    if (v15) {
        TRY(rd_copy(&b, t->tee_tcb_svn2, 16));
        TRY(rd_copy(&b, t->mrservicetd, 48));
    }
    return rd_end(&b);
}

/* §2.5: the certification data of type `type`, which fills `c` exactly. Types 1-3 carry a PPID and
 * the raw TCB; 4 and 5 carry certificates (checked when verifying). */
static int parse_cert_data(struct rd *c, uint16_t type, struct att_quote *q)
{
    q->cert_type = type;
    q->cert_data = c->in;
    switch (type) {
    case ATT_CERT_PPID_CLEARTEXT:
    case ATT_CERT_PPID_RSA2048:
    case ATT_CERT_PPID_RSA3072: {
        size_t ppid = type == ATT_CERT_PPID_CLEARTEXT ? 16
                      : type == ATT_CERT_PPID_RSA2048 ? 256
                                                      : 384;
        ENSURE(rd_remaining(c) == ppid + PPID_TCB_SIZE, ERR_QUOTE_FORMAT,
               "certification data of type %u must be %zu bytes, not %zu", type,
               ppid + PPID_TCB_SIZE, rd_remaining(c));
        TRY(rd_bytes(c, ppid, &q->ppid));
        TRY(rd_copy(c, q->ppid_cpusvn, 16));
        TRY(rd_u16le(c, &q->ppid_pcesvn));
        TRY(rd_u16le(c, &q->ppid_pceid));
        return rd_end(c);
    }
    case ATT_CERT_PCK_CLEARTEXT:
    case ATT_CERT_PCK_CHAIN:
        ENSURE(rd_remaining(c) > 0, ERR_QUOTE_FORMAT, "certification data of type %u is empty",
               type);
        (void)rd_rest(c);
        return 0;
    default:
        FAIL(ERR_QUOTE_FORMAT, "certification data type %u is unknown (1-5 expected here)", type);
    }
}

/* QE report, its signature, the QE auth data and the certification data: the tail of the v3
 * signature data (§2.4) and the content of the v4/v5 type-6 wrapper (§3.3) alike. What follows the
 * certification data in `s` is left for the caller to judge. */
static int parse_qe_report_cert_data(struct rd *s, struct att_quote *q)
{
    uint16_t auth_size, type;
    uint32_t cert_size;
    struct rd cert;
    TRY(field(att_parse_sgx_report(s, &q->qe_report, &q->qe_report_raw), "QE report"));
    TRY(field(rd_copy(s, q->qe_report_signature, ECDSA_SIG_SIZE), "QE report signature"));
    TRY(field(rd_u16le(s, &auth_size), "QE auth data size"));
    TRY(field(rd_bytes(s, auth_size, &q->qe_auth_data), "QE auth data"));
    TRY(field(rd_u16le(s, &type), "certification data type"));
    TRY(field(rd_u32le(s, &cert_size), "certification data size"));
    TRY(field(rd_sub(s, cert_size, &cert), "certification data"));
    return parse_cert_data(&cert, type, q);
}

/* The signature data's bytes after its certification data: skipped unread (see the top). */
static void skip_surplus(struct rd *s, struct att_quote *q)
{
    q->signature_data_surplus = rd_remaining(s);
    (void)rd_rest(s);
}

/* §2.4: v3 ECDSA signature data. */
static int parse_sig_data_v3(struct rd *s, struct att_quote *q)
{
    TRY(field(rd_copy(s, q->signature, ECDSA_SIG_SIZE), "quote signature"));
    TRY(field(rd_copy(s, q->attestation_key, ECDSA_KEY_SIZE), "attestation key"));
    TRY(parse_qe_report_cert_data(s, q));
    skip_surplus(s, q);
    return 0;
}

/* §3.3: v4/v5 signature data: the outer certification data must be type 6, and what it wraps must
 * fill it exactly. */
static int parse_sig_data_v4(struct rd *s, struct att_quote *q)
{
    uint16_t type;
    uint32_t size;
    struct rd inner;
    TRY(field(rd_copy(s, q->signature, ECDSA_SIG_SIZE), "quote signature"));
    TRY(field(rd_copy(s, q->attestation_key, ECDSA_KEY_SIZE), "attestation key"));
    TRY(field(rd_u16le(s, &type), "outer certification data type"));
    ENSURE(type == ATT_CERT_QE_REPORT, ERR_QUOTE_FORMAT,
           "a version %u quote needs certification data type 6 (QE report), not %u", q->version,
           type);
    TRY(field(rd_u32le(s, &size), "outer certification data size"));
    TRY(field(rd_sub(s, size, &inner), "QE report certification data"));
    TRY(parse_qe_report_cert_data(&inner, q));
    ENSURE(rd_remaining(&inner) == 0, ERR_QUOTE_FORMAT,
           "%zu bytes after the certification data inside the QE report certification data "
           "(type 6)",
           rd_remaining(&inner));
    skip_surplus(s, q);
    return 0;
}

int att_quote_parse(struct view in, struct att_quote *q)
{
    memset(q, 0, sizeof(*q));
    ENSURE(in.size <= QY_ATT_QUOTE_MAX_SIZE, ERR_TOO_LARGE, "quote is %zu bytes, the limit is %u",
           in.size, QY_ATT_QUOTE_MAX_SIZE);
    struct rd r = rd_init(in);
    TRY(parse_header(&r, q));

    uint32_t body_size;
    if (q->version == 5) {
        TRY(parse_body_descriptor(&r, q, &body_size));
    } else {
        q->body_type = q->tee_type == ATT_TEE_SGX ? ATT_BODY_SGX : ATT_BODY_TD10;
        body_size = q->body_type == ATT_BODY_SGX ? SGX_REPORT_SIZE : TD10_REPORT_SIZE;
    }
    (void)body_size; /* the body parsers read exactly their structure's size */
    if (q->body_type == ATT_BODY_SGX) {
        struct view raw;
        TRY(field(att_parse_sgx_report(&r, &q->sgx, &raw), "report body"));
    } else {
        TRY(field(parse_td_report(&r, q->body_type == ATT_BODY_TD15, &q->td), "TD report body"));
    }
    /* Everything so far is what the quote signature covers (§4.1). */
    q->signed_region = view_of(in.ptr, rd_offset(&r));

    struct rd sig;
    TRY(field(rd_u32le(&r, &q->signature_data_size), "signature data size"));
    TRY(field(rd_sub(&r, q->signature_data_size, &sig), "signature data"));
    q->trailing_size = rd_remaining(&r); /* padding after the quote: never part of it (§9.4) */
    if (q->version == 3)
        return parse_sig_data_v3(&sig, q);
    return parse_sig_data_v4(&sig, q);
}

struct view att_strip_oe_envelope(struct view q)
{
    struct rd r = rd_init(q);
    uint32_t version, type;
    uint64_t len;
    struct view quote;
    bool oe = rd_u32le(&r, &version) == 0 && rd_u32le(&r, &type) == 0 && rd_u64le(&r, &len) == 0 &&
              version == 1 && type == 2 && len == q.size - 16 && rd_bytes(&r, (size_t)len, &quote) == 0;
    return oe ? quote : q;
}
