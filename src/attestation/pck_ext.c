/*
 * The PCK certificate's SGX extension (reference/dcap.md §5), decoded from its DER with a small DER
 * reader over the bounded reader: definite lengths only, minimal length and integer encodings, no
 * high tag numbers. The extension is a SEQUENCE OF SEQUENCE { OID, value }; the TCB entry nests one
 * more such list. Entries are identified by their full OID, never by position.
 */
#include <string.h>

#include "att_int.h"

enum {
    DER_BOOLEAN = 0x01,
    DER_INTEGER = 0x02,
    DER_OCTET_STRING = 0x04,
    DER_OID = 0x06,
    DER_ENUMERATED = 0x0a,
    DER_SEQUENCE = 0x30,
};

/* 1.2.840.113741.1.13.1 */
static const uint8_t sgx_oid[] = {0x2a, 0x86, 0x48, 0x86, 0xf8, 0x4d, 0x01, 0x0d, 0x01};

/* One TLV: the tag and a reader over the contents; the parent moves past it. */
static int der_next(struct rd *r, uint8_t *tag, struct rd *content)
{
    uint8_t len0;
    size_t len = 0;
    TRY(rd_u8(r, tag));
    ENSURE((*tag & 0x1f) != 0x1f, ERR_CERT, "DER high tag numbers are not used here (tag 0x%02x)",
           *tag);
    TRY(rd_u8(r, &len0));
    if (len0 < 0x80) {
        len = len0;
    } else {
        size_t n = len0 & 0x7f;
        ENSURE(n >= 1 && n <= 3, ERR_CERT, "DER length with %zu length bytes is not supported", n);
        for (size_t i = 0; i < n; i++) {
            uint8_t b;
            TRY(rd_u8(r, &b));
            ENSURE(i > 0 || b != 0, ERR_CERT, "DER length is not minimal");
            len = len << 8 | b;
        }
        ENSURE(len >= 0x80, ERR_CERT, "DER length %zu should use the short form", len);
    }
    return rd_sub(r, len, content);
}

static int der_expect(struct rd *r, uint8_t want, struct rd *content, const char *what)
{
    uint8_t tag;
    int e = der_next(r, &tag, content);
    ENSURE(e == 0, ERR_CERT, "SGX extension: %s: %s", what, err_detail(e));
    ENSURE(tag == want, ERR_CERT, "SGX extension: %s has DER tag 0x%02x, expected 0x%02x", what,
           tag, want);
    return 0;
}

/* A non-negative DER INTEGER (or ENUMERATED) of at most `max`. */
static int der_uint(struct rd *c, uint64_t max, uint64_t *out, const char *what)
{
    size_t n = rd_remaining(c);
    uint64_t v = 0;
    ENSURE(n >= 1 && n <= 4, ERR_CERT, "SGX extension: %s is a %zu-byte integer", what, n);
    for (size_t i = 0; i < n; i++) {
        uint8_t b;
        TRY(rd_u8(c, &b));
        ENSURE(i > 0 || b < 0x80, ERR_CERT, "SGX extension: %s is negative", what);
        if (i == 1 && v == 0)
            ENSURE(b >= 0x80, ERR_CERT, "SGX extension: %s is not minimally encoded", what);
        v = v << 8 | b;
    }
    ENSURE(v <= max, ERR_CERT, "SGX extension: %s is %llu, above %llu", what, (unsigned long long)v,
           (unsigned long long)max);
    *out = v;
    return 0;
}

static int der_octets(struct rd *c, void *dst, size_t size, const char *what)
{
    ENSURE(rd_remaining(c) == size, ERR_CERT, "SGX extension: %s is %zu bytes, expected %zu", what,
           rd_remaining(c), size);
    return rd_copy(c, dst, size);
}

/* The arc after sgx_oid (+ `depth` more fixed arcs in `prefix`): 0 when the OID is not ours. */
static unsigned oid_arc(struct view oid, const uint8_t *prefix, size_t prefix_size)
{
    if (oid.size != prefix_size + 1 || memcmp(oid.ptr, prefix, prefix_size) != 0)
        return 0;
    struct rd r = rd_init(view_of(oid.ptr, oid.size));
    uint8_t arc = 0;
    if (rd_skip(&r, prefix_size) < 0 || rd_u8(&r, &arc) < 0 || arc >= 0x80)
        return 0; /* single-byte arcs only: all of Intel's are below 128 */
    return arc;
}

/* One { OID, value } pair: the OID's bytes and a reader over the (tagged) value. */
static int der_pair(struct rd *list, struct view *oid, uint8_t *value_tag, struct rd *value,
                    const char *what)
{
    struct rd pair, o;
    TRY(der_expect(list, DER_SEQUENCE, &pair, what));
    TRY(der_expect(&pair, DER_OID, &o, what));
    *oid = rd_rest(&o);
    int e = der_next(&pair, value_tag, value);
    ENSURE(e == 0, ERR_CERT, "SGX extension: %s value: %s", what, err_detail(e));
    ENSURE(rd_remaining(&pair) == 0, ERR_CERT, "SGX extension: %s has extra fields", what);
    return 0;
}

/* The TCB entry (…1.13.1.2): components 1-16, PCESVN (17), CPUSVN (18), all required once. */
static int parse_tcb(struct rd *tcb, struct att_pck_ext *x)
{
    uint8_t prefix[sizeof(sgx_oid) + 1];
    memcpy(prefix, sgx_oid, sizeof(sgx_oid));
    prefix[sizeof(sgx_oid)] = 2;
    uint32_t seen = 0;
    while (rd_remaining(tcb) > 0) {
        struct view oid;
        uint8_t tag;
        struct rd v;
        TRY(der_pair(tcb, &oid, &tag, &v, "TCB entry"));
        unsigned arc = oid_arc(oid, prefix, sizeof(prefix));
        if (arc == 0 || arc > 18)
            continue; /* not ours: future components are ignored */
        ENSURE(!(seen & (1u << arc)), ERR_CERT, "SGX extension: TCB entry %u appears twice", arc);
        seen |= 1u << arc;
        uint64_t n;
        if (arc <= 16) {
            ENSURE(tag == DER_INTEGER, ERR_CERT,
                   "SGX extension: TCB component %u is not an INTEGER", arc);
            TRY(der_uint(&v, 255, &n, "a TCB component SVN"));
            x->tcb_components[arc - 1] = (uint8_t)n;
        } else if (arc == 17) {
            ENSURE(tag == DER_INTEGER, ERR_CERT, "SGX extension: PCESVN is not an INTEGER");
            TRY(der_uint(&v, 65535, &n, "PCESVN"));
            x->pcesvn = (uint16_t)n;
        } else {
            ENSURE(tag == DER_OCTET_STRING, ERR_CERT,
                   "SGX extension: CPUSVN is not an OCTET STRING");
            TRY(der_octets(&v, x->cpusvn, 16, "CPUSVN"));
        }
    }
    ENSURE(seen == 0x7fffeu, ERR_CERT, "SGX extension: the TCB lacks entries (have mask 0x%05x)",
           seen);
    return 0;
}

int att_pck_ext_parse(struct view der, struct att_pck_ext *x)
{
    memset(x, 0, sizeof(*x));
    struct rd top = rd_init(der), list;
    TRY(der_expect(&top, DER_SEQUENCE, &list, "extension"));
    ENSURE(rd_remaining(&top) == 0, ERR_CERT, "SGX extension: %zu bytes after its SEQUENCE",
           rd_remaining(&top));
    unsigned seen = 0;
    while (rd_remaining(&list) > 0) {
        struct view oid;
        uint8_t tag;
        struct rd v;
        uint64_t n;
        TRY(der_pair(&list, &oid, &tag, &v, "entry"));
        unsigned arc = oid_arc(oid, sgx_oid, sizeof(sgx_oid));
        if (arc == 0 || arc > 7)
            continue;
        ENSURE(!(seen & (1u << arc)), ERR_CERT, "SGX extension: entry %u appears twice", arc);
        seen |= 1u << arc;
        switch (arc) {
        case 1:
            ENSURE(tag == DER_OCTET_STRING, ERR_CERT, "SGX extension: PPID is not an OCTET STRING");
            TRY(der_octets(&v, x->ppid, 16, "PPID"));
            break;
        case 2:
            ENSURE(tag == DER_SEQUENCE, ERR_CERT, "SGX extension: TCB is not a SEQUENCE");
            TRY(parse_tcb(&v, x));
            break;
        case 3:
            ENSURE(tag == DER_OCTET_STRING, ERR_CERT,
                   "SGX extension: PCE-ID is not an OCTET STRING");
            TRY(der_octets(&v, x->pceid, 2, "PCE-ID"));
            break;
        case 4:
            ENSURE(tag == DER_OCTET_STRING, ERR_CERT,
                   "SGX extension: FMSPC is not an OCTET STRING");
            TRY(der_octets(&v, x->fmspc, 6, "FMSPC"));
            break;
        case 5:
            ENSURE(tag == DER_ENUMERATED, ERR_CERT, "SGX extension: SGX Type is not ENUMERATED");
            TRY(der_uint(&v, 255, &n, "SGX Type"));
            x->sgx_type = (uint8_t)n;
            break;
        case 6:
            ENSURE(tag == DER_OCTET_STRING, ERR_CERT,
                   "SGX extension: Platform Instance ID is not an OCTET STRING");
            TRY(der_octets(&v, x->platform_instance_id, 16, "Platform Instance ID"));
            x->has_platform_instance_id = true;
            break;
        case 7:
        default:
            /* Configuration (Platform CA certificates): informational, not used for verification.
             */
            ENSURE(tag == DER_SEQUENCE, ERR_CERT, "SGX extension: Configuration is not a SEQUENCE");
            break;
        }
    }
    const unsigned required = 1u << 1 | 1u << 2 | 1u << 3 | 1u << 4 | 1u << 5;
    ENSURE((seen & required) == required, ERR_CERT, "SGX extension: missing %s%s%s%s%s",
           seen & 2 ? "" : "PPID ", seen & 4 ? "" : "TCB ", seen & 8 ? "" : "PCE-ID ",
           seen & 16 ? "" : "FMSPC ", seen & 32 ? "" : "SGX-Type");
    return 0;
}

/* DER writers for the testkit's PCK certificates: the same structure, built the same way. */
static int der_put(struct buf *out, uint8_t tag, struct view content)
{
    size_t n = content.size;
    TRY(buf_append_byte(out, tag));
    if (n < 0x80) {
        TRY(buf_append_byte(out, (uint8_t)n));
    } else if (n < 0x100) {
        TRY(buf_append_byte(out, 0x81));
        TRY(buf_append_byte(out, (uint8_t)n));
    } else {
        ENSURE(n < 0x10000, ERR_INVALID_ARG, "DER value too large");
        TRY(buf_append_byte(out, 0x82));
        TRY(buf_append_byte(out, (uint8_t)(n >> 8)));
        TRY(buf_append_byte(out, (uint8_t)n));
    }
    return buf_append_view(out, content);
}

static int der_put_uint(struct buf *out, uint8_t tag, uint32_t v)
{
    uint8_t b[5];
    size_t n = 0;
    for (int shift = 24; shift >= 0; shift -= 8)
        if (n > 0 || (v >> shift) != 0 || shift == 0)
            b[n++] = (uint8_t)(v >> shift);
    if (b[0] & 0x80) {
        memmove(b + 1, b, n);
        b[0] = 0;
        n++;
    }
    return der_put(out, tag, view_of(b, n));
}

/* SEQUENCE { OID prefix.arc, value } appended to list. */
static int der_put_pair(struct buf *list, const uint8_t *prefix, size_t prefix_size, uint8_t arc,
                        const struct buf *value)
{
    int r = ERR_INTERNAL;
    struct buf oid = BUF_INIT, pair = BUF_INIT;
    TRY_OUT(buf_append(&oid, prefix, prefix_size));
    TRY_OUT(buf_append_byte(&oid, arc));
    TRY_OUT(der_put(&pair, DER_OID, buf_view(&oid)));
    TRY_OUT(buf_append_view(&pair, buf_view(value)));
    TRY_OUT(der_put(list, DER_SEQUENCE, buf_view(&pair)));
    r = 0;
out:
    buf_free(&oid);
    buf_free(&pair);
    return r;
}

int att_pck_ext_write(const struct att_pck_ext *x, struct buf *out)
{
    int r = ERR_INTERNAL;
    struct buf list = BUF_INIT, tcb = BUF_INIT, v = BUF_INIT, tcbseq = BUF_INIT;
    uint8_t tcb_prefix[sizeof(sgx_oid) + 1];
    memcpy(tcb_prefix, sgx_oid, sizeof(sgx_oid));
    tcb_prefix[sizeof(sgx_oid)] = 2;
    for (int i = 0; i < 18; i++) {
        buf_reset(&v);
        if (i < 16)
            TRY_OUT(der_put_uint(&v, DER_INTEGER, x->tcb_components[i]));
        else if (i == 16)
            TRY_OUT(der_put_uint(&v, DER_INTEGER, x->pcesvn));
        else
            TRY_OUT(der_put(&v, DER_OCTET_STRING, view_of(x->cpusvn, 16)));
        TRY_OUT(der_put_pair(&tcb, tcb_prefix, sizeof(tcb_prefix), (uint8_t)(i + 1), &v));
    }
    buf_reset(&v);
    TRY_OUT(der_put(&v, DER_OCTET_STRING, view_of(x->ppid, 16)));
    TRY_OUT(der_put_pair(&list, sgx_oid, sizeof(sgx_oid), 1, &v));
    TRY_OUT(der_put(&tcbseq, DER_SEQUENCE, buf_view(&tcb)));
    TRY_OUT(der_put_pair(&list, sgx_oid, sizeof(sgx_oid), 2, &tcbseq));
    buf_reset(&v);
    TRY_OUT(der_put(&v, DER_OCTET_STRING, view_of(x->pceid, 2)));
    TRY_OUT(der_put_pair(&list, sgx_oid, sizeof(sgx_oid), 3, &v));
    buf_reset(&v);
    TRY_OUT(der_put(&v, DER_OCTET_STRING, view_of(x->fmspc, 6)));
    TRY_OUT(der_put_pair(&list, sgx_oid, sizeof(sgx_oid), 4, &v));
    buf_reset(&v);
    TRY_OUT(der_put_uint(&v, DER_ENUMERATED, x->sgx_type));
    TRY_OUT(der_put_pair(&list, sgx_oid, sizeof(sgx_oid), 5, &v));
    TRY_OUT(der_put(out, DER_SEQUENCE, buf_view(&list)));
    r = 0;
out:
    buf_free(&list);
    buf_free(&tcb);
    buf_free(&v);
    buf_free(&tcbseq);
    return r;
}
