/*
 * Decoding a manifest's JSON into struct manifest, following Go's encoding/json as MarbleRun uses it
 * (reference/marblerun.md §1.0-§1.10). One table of fields per Go struct, in the spec's order; one
 * decoder per JSON shape. Decoding never stops at the first problem: each one is recorded with its
 * path and decoding goes on with the next key, so a user sees every mistake at once.
 */
#include <arpa/inet.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "manifest_int.h"

void mf_error(struct mf_ctx *c, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    diag_vadd(c->d, DIAG_ERROR, jpath_str(&c->path), fmt, ap);
    va_end(ap);
}

void mf_warn(struct mf_ctx *c, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    diag_vadd(c->d, DIAG_WARNING, jpath_str(&c->path), fmt, ap);
    va_end(ap);
}

typedef void (*decode_fn)(struct mf_ctx *c, json_t *v, void *dst);

/* One key of a Go struct. A field with `ignored` set is known but has no effect here; it is
 * reported with that reason instead of "unknown key". */
struct field {
    const char *name;
    decode_fn decode;
    size_t offset;
    const char *ignored;
};

static void *ctx_alloc(struct mf_ctx *c, size_t size)
{
    void *p = arena_alloc(&c->m->arena, size);
    if (p == NULL)
        c->nomem = true;
    return p;
}

static void type_error(struct mf_ctx *c, const char *want, json_t *v)
{
    mf_error(c, "expected %s, got %s", want, js_type_name(v));
}

/* Scalars ------------------------------------------------------------------------------------ */

static void dec_bool(struct mf_ctx *c, json_t *v, void *dst)
{
    if (json_is_boolean(v))
        *(bool *)dst = json_is_true(v);
    else if (!json_is_null(v))
        type_error(c, "a boolean", v);
}

/* A string as a C string: embedded NULs are refused (names, identifiers, PEM). */
static void dec_string(struct mf_ctx *c, json_t *v, void *dst)
{
    const char **out = dst;
    if (json_is_null(v))
        return;
    if (!json_is_string(v)) {
        type_error(c, "a string", v);
        return;
    }
    struct view s = js_string_view(v);
    if (memchr(s.ptr, 0, s.size) != NULL) {
        mf_error(c, "must not contain NUL characters");
        return;
    }
    *out = arena_strndup(&c->m->arena, (const char *)s.ptr, s.size);
    if (*out == NULL)
        c->nomem = true;
}

static int integer_value(struct mf_ctx *c, json_t *v, uint64_t max, uint64_t *out)
{
    if (!json_is_integer(v)) {
        if (json_is_real(v))
            mf_error(c, "expected a non-negative integer, got a fraction or exponent");
        else
            type_error(c, "a non-negative integer", v);
        return -1;
    }
    json_int_t i = json_integer_value(v);
    if (i < 0 || (uint64_t)i > max) {
        mf_error(c, "%lld is out of range (0..%llu)", (long long)i, (unsigned long long)max);
        return -1;
    }
    *out = (uint64_t)i;
    return 0;
}

static void dec_u64(struct mf_ctx *c, json_t *v, void *dst)
{
    if (!json_is_null(v))
        (void)integer_value(c, v, UINT64_MAX, dst);
}

static void dec_opt(struct mf_ctx *c, json_t *v, void *dst, uint64_t max)
{
    struct mf_opt_u64 *o = dst;
    if (!json_is_null(v) && integer_value(c, v, max, &o->value) == 0)
        o->set = true;
}

static void dec_opt_u64(struct mf_ctx *c, json_t *v, void *dst)
{
    dec_opt(c, v, dst, UINT64_MAX);
}

static void dec_opt_u16(struct mf_ctx *c, json_t *v, void *dst)
{
    dec_opt(c, v, dst, UINT16_MAX);
}

static void dec_i64(struct mf_ctx *c, json_t *v, void *dst)
{
    if (json_is_integer(v))
        *(int64_t *)dst = json_integer_value(v);
    else if (!json_is_null(v))
        type_error(c, "an integer", v);
}

/* Go's time.Time: RFC 3339; the zero time (year 1) means unset, as time.IsZero. */
static void dec_time(struct mf_ctx *c, json_t *v, void *dst)
{
    struct mf_opt_time *t = dst;
    const char *s = NULL;
    dec_string(c, v, &s);
    if (s == NULL)
        return;
    int r = qtime_parse_rfc3339(s, &t->unix_seconds);
    if (r < 0) {
        mf_error(c, "%s", err_detail(r));
        return;
    }
    t->set = t->unix_seconds != qtime_from_civil(1, 1, 1, 0, 0, 0);
}

/* Go []byte: a standard base64 string, or an array of numbers 0..255. */
static void dec_bytes(struct mf_ctx *c, json_t *v, void *dst)
{
    struct view *out = dst;
    struct buf b = BUF_INIT;
    if (json_is_null(v))
        return;
    if (json_is_string(v)) {
        int r = enc_b64_decode(&b, js_string_view(v));
        if (r < 0)
            mf_error(c, "invalid base64: %s", err_detail(r));
    } else if (json_is_array(v)) {
        size_t i;
        json_t *e;
        json_array_foreach(v, i, e) {
            uint64_t x;
            size_t mark = jpath_push_index(&c->path, i);
            if (integer_value(c, e, 255, &x) == 0 && buf_append_byte(&b, (uint8_t)x) < 0)
                c->nomem = true;
            jpath_pop(&c->path, mark);
        }
    } else {
        type_error(c, "a base64 string or an array of bytes", v);
    }
    if (b.size > 0) {
        out->ptr = arena_memdup(&c->m->arena, b.ptr, b.size);
        out->size = out->ptr ? b.size : 0;
        c->nomem |= out->ptr == NULL;
    }
    buf_free(&b);
}

/* Arrays ------------------------------------------------------------------------------------- */

/* The common start of an array or a map: null is empty, the type must match, the size is bounded,
 * and elements are allocated zeroed. NULL (with *count 0) when there is nothing to decode. */
static uint8_t *alloc_entries(struct mf_ctx *c, json_t *v, bool want_object, size_t elem_size,
                              size_t *count)
{
    *count = 0;
    if (json_is_null(v))
        return NULL;
    if (want_object ? !json_is_object(v) : !json_is_array(v)) {
        type_error(c, want_object ? "an object" : "an array", v);
        return NULL;
    }
    size_t n = want_object ? json_object_size(v) : json_array_size(v);
    if (n > QY_MANIFEST_MAX_ENTRIES) {
        mf_error(c, "has %zu entries, the limit is %u", n, QY_MANIFEST_MAX_ENTRIES);
        return NULL;
    }
    uint8_t *items = n > 0 ? ctx_alloc(c, n * elem_size) : NULL;
    if (items != NULL)
        *count = n;
    return items;
}

/* An array of JSON values, each decoded by `dec` into a fresh element of elem_size bytes. */
static void *decode_array(struct mf_ctx *c, json_t *v, size_t elem_size, decode_fn dec, size_t *count)
{
    uint8_t *items = alloc_entries(c, v, false, elem_size, count);
    for (size_t i = 0; i < *count; i++) {
        size_t mark = jpath_push_index(&c->path, i);
        dec(c, json_array_get(v, i), items + i * elem_size);
        jpath_pop(&c->path, mark);
    }
    return items;
}

/* An array of strings; null or bad elements become "" (Go's zero string) so lists never hold NULL. */
static void dec_string_array(struct mf_ctx *c, json_t *v, struct mf_strings *s, decode_fn elem)
{
    s->items = decode_array(c, v, sizeof(char *), elem, &s->count);
    for (size_t i = 0; i < s->count; i++)
        if (s->items[i] == NULL)
            s->items[i] = "";
}

static void dec_strings(struct mf_ctx *c, json_t *v, void *dst)
{
    dec_string_array(c, v, dst, dec_string);
}

static void dec_u64_elem(struct mf_ctx *c, json_t *v, void *dst)
{
    if (json_is_null(v))
        return;
    (void)integer_value(c, v, UINT64_MAX, dst);
}

static void dec_u64s(struct mf_ctx *c, json_t *v, void *dst)
{
    struct mf_u64s *u = dst;
    u->items = decode_array(c, v, sizeof(uint64_t), dec_u64_elem, &u->count);
}

/* Objects ------------------------------------------------------------------------------------ */

static const struct field *find_field(const struct field *fields, size_t n, const char *key)
{
    for (size_t i = 0; i < n; i++)
        if (strcasecmp(fields[i].name, key) == 0)
            return &fields[i];
    return NULL;
}

/* A Go struct: keys match fields case-insensitively; unknown keys are warnings; two keys naming the
 * same field ("Debug" and "debug") are an error, where Go would silently keep the last. */
static void decode_struct(struct mf_ctx *c, json_t *v, const struct field *fields, size_t n, void *dst)
{
    const char *seen[48] = {0};
    const char *key;
    json_t *val;
    if (json_is_null(v))
        return;
    if (!json_is_object(v)) {
        type_error(c, "an object", v);
        return;
    }
    json_object_foreach(v, key, val) {
        size_t mark = jpath_push(&c->path, key);
        const struct field *f = find_field(fields, n, key);
        size_t idx = f ? (size_t)(f - fields) : 0;
        if (f == NULL) {
            mf_warn(c, "unknown key, ignored");
        } else if (idx < QY_ARRAY_LEN(seen) && seen[idx] != NULL) {
            mf_error(c, "duplicate key: \"%s\" and \"%s\" are the same field (keys are "
                        "case-insensitive)", seen[idx], key);
        } else {
            if (idx < QY_ARRAY_LEN(seen))
                seen[idx] = key;
            if (f->ignored != NULL)
                mf_warn(c, "%s", f->ignored);
            else
                f->decode(c, val, (uint8_t *)dst + f->offset);
        }
        jpath_pop(&c->path, mark);
    }
}

static int name_cmp(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* A Go map[string]T: every element's first member is its name. Sorted by name afterwards. */
static void *decode_map(struct mf_ctx *c, json_t *v, size_t elem_size, decode_fn dec, size_t name_max,
                        size_t *count)
{
    const char *key;
    json_t *val;
    uint8_t *items = alloc_entries(c, v, true, elem_size, count);
    if (items == NULL)
        return NULL;
    size_t i = 0;
    json_object_foreach(v, key, val) {
        size_t mark = jpath_push(&c->path, key);
        if (strlen(key) > name_max)
            mf_error(c, "name is longer than %zu bytes", name_max);
        uint8_t *elem = items + i++ * elem_size;
        *(const char **)elem = arena_strdup(&c->m->arena, key);
        c->nomem |= *(const char **)elem == NULL;
        dec(c, val, elem);
        jpath_pop(&c->path, mark);
    }
    if (c->nomem) {
        *count = 0;
        return NULL;
    }
    qsort(items, *count, elem_size, name_cmp);
    return items;
}

#define F(name, dec, type, member) {name, dec, offsetof(type, member), NULL}
#define IGNORED(name, why) {name, NULL, 0, why}
#define DECODE_STRUCT(c, v, table, dst) decode_struct(c, v, table, QY_ARRAY_LEN(table), dst)

/* Packages (§1.2) ---------------------------------------------------------------------------- */

static const struct field package_fields[] = {
    F("Debug", dec_bool, struct mf_package, debug),
    F("UniqueID", dec_string, struct mf_package, unique_id),
    F("SignerID", dec_string, struct mf_package, signer_id),
    F("ProductID", dec_opt_u64, struct mf_package, product_id),
    F("SecurityVersion", dec_opt_u64, struct mf_package, security_version),
    F("AcceptedTCBStatuses", dec_strings, struct mf_package, accepted_tcb_statuses),
    F("AcceptedAdvisories", dec_strings, struct mf_package, accepted_advisories),
};

static void dec_package(struct mf_ctx *c, json_t *v, void *dst)
{
    struct mf_package *p = dst;
    p->unique_id = p->signer_id = "";
    DECODE_STRUCT(c, v, package_fields, p);
    if (p->unique_id == NULL)
        p->unique_id = "";
    if (p->signer_id == NULL)
        p->signer_id = "";
}

/* Infrastructures (§1.3) --------------------------------------------------------------------- */

static const struct field infrastructure_fields[] = {
    F("CPUSVN", dec_bytes, struct mf_infrastructure, cpusvn),
    F("QESVN", dec_opt_u16, struct mf_infrastructure, qesvn),
    F("PCESVN", dec_opt_u16, struct mf_infrastructure, pcesvn),
    F("RootCA", dec_bytes, struct mf_infrastructure, root_ca),
};

static void dec_infrastructure(struct mf_ctx *c, json_t *v, void *dst)
{
    DECODE_STRUCT(c, v, infrastructure_fields, dst);
}

/* Files and Env values (§1.4) ---------------------------------------------------------------- */

struct file_object {
    json_t *data;
    const char *encoding;
    bool no_templates;
};

static void dec_json_ref(struct mf_ctx *c, json_t *v, void *dst)
{
    (void)c;
    *(json_t **)dst = v;
}

static const struct field file_fields[] = {
    F("Data", dec_json_ref, struct file_object, data),
    F("Encoding", dec_string, struct file_object, encoding),
    F("NoTemplates", dec_bool, struct file_object, no_templates),
};

static void set_file_data(struct mf_ctx *c, struct mf_file *f, struct view data)
{
    f->data.ptr = arena_memdup(&c->m->arena, data.ptr ? data.ptr : (const uint8_t *)"", data.size);
    f->data.size = data.size;
    c->nomem |= f->data.ptr == NULL;
}

/* The object form: Data decoded now from its Encoding (string, base64 or hex; case-insensitive). */
static void dec_file_object(struct mf_ctx *c, json_t *v, struct mf_file *f)
{
    struct file_object o = {NULL, NULL, false};
    DECODE_STRUCT(c, v, file_fields, &o);
    f->no_templates = o.no_templates;
    struct view data = VIEW_EMPTY;
    if (o.data != NULL && !json_is_null(o.data)) {
        if (!json_is_string(o.data)) {
            size_t mark = jpath_push(&c->path, "Data");
            type_error(c, "a string", o.data);
            jpath_pop(&c->path, mark);
            return;
        }
        data = js_string_view(o.data);
    }
    const char *enc = o.encoding ? o.encoding : "";
    struct buf decoded = BUF_INIT;
    int r = 0;
    if (enc[0] == '\0' || strcasecmp(enc, "string") == 0) {
        f->encoding = MF_ENC_STRING;
        set_file_data(c, f, data);
        return;
    } else if (strcasecmp(enc, "base64") == 0) {
        f->encoding = MF_ENC_BASE64;
        r = enc_b64_decode(&decoded, data);
    } else if (strcasecmp(enc, "hex") == 0) {
        f->encoding = MF_ENC_HEX;
        r = enc_hex_decode(&decoded, data);
    } else {
        size_t mark = jpath_push(&c->path, "Encoding");
        mf_error(c, "unknown encoding type: %s (string, base64 or hex)", enc);
        jpath_pop(&c->path, mark);
        return;
    }
    if (r < 0) {
        size_t mark = jpath_push(&c->path, "Data");
        mf_error(c, "not valid %s: %s", f->encoding == MF_ENC_HEX ? "hex" : "base64", err_detail(r));
        jpath_pop(&c->path, mark);
    } else {
        set_file_data(c, f, buf_view(&decoded));
    }
    buf_free(&decoded);
}

static void dec_file(struct mf_ctx *c, json_t *v, void *dst)
{
    struct mf_file *f = dst;
    f->encoding = MF_ENC_STRING;
    if (json_is_string(v))
        set_file_data(c, f, js_string_view(v));
    else if (json_is_object(v))
        dec_file_object(c, v, f);
    else if (json_is_null(v))
        set_file_data(c, f, VIEW_EMPTY);
    else
        type_error(c, "a string or an object with Data, Encoding and NoTemplates", v);
}

static void dec_files(struct mf_ctx *c, json_t *v, void *dst)
{
    struct mf_files *f = dst;
    f->items = decode_map(c, v, sizeof(struct mf_file), dec_file, QY_PATH_MAX, &f->count);
}

static void dec_env(struct mf_ctx *c, json_t *v, void *dst)
{
    struct mf_files *f = dst;
    f->items = decode_map(c, v, sizeof(struct mf_file), dec_file, QY_NAME_MAX, &f->count);
}

/* Marbles (§1.4) ----------------------------------------------------------------------------- */

static const struct field parameters_fields[] = {
    F("Files", dec_files, struct mf_parameters, files),
    F("Env", dec_env, struct mf_parameters, env),
    F("Argv", dec_strings, struct mf_parameters, argv),
};

static void dec_parameters(struct mf_ctx *c, json_t *v, void *dst)
{
    DECODE_STRUCT(c, v, parameters_fields, dst);
}

static const struct field marble_fields[] = {
    F("Package", dec_string, struct mf_marble, package),
    F("MaxActivations", dec_u64, struct mf_marble, max_activations),
    F("Parameters", dec_parameters, struct mf_marble, params),
    F("TLS", dec_strings, struct mf_marble, tls),
    F("DisableSecretBinding", dec_bool, struct mf_marble, disable_secret_binding),
};

static void dec_marble(struct mf_ctx *c, json_t *v, void *dst)
{
    struct mf_marble *mb = dst;
    DECODE_STRUCT(c, v, marble_fields, mb);
    if (mb->package == NULL)
        mb->package = "";
}

/* Secrets (§1.5, §1.5.1) --------------------------------------------------------------------- */

/* Go's *url.URL marshals as an object; accept it and the plain string form. */
struct url_object {
    const char *scheme, *opaque, *host, *path, *raw_query, *fragment;
};

static const struct field url_fields[] = {
    F("Scheme", dec_string, struct url_object, scheme),
    F("Opaque", dec_string, struct url_object, opaque),
    F("Host", dec_string, struct url_object, host),
    F("Path", dec_string, struct url_object, path),
    F("RawQuery", dec_string, struct url_object, raw_query),
    F("Fragment", dec_string, struct url_object, fragment),
    IGNORED("User", "user information in URIs is not supported, ignored"),
    IGNORED("RawPath", "ignored (Path is used)"),
    IGNORED("OmitHost", "ignored"),
    IGNORED("ForceQuery", "ignored"),
    IGNORED("RawFragment", "ignored (Fragment is used)"),
};

static void dec_uri(struct mf_ctx *c, json_t *v, void *dst)
{
    if (!json_is_object(v)) {
        dec_string(c, v, dst);
        return;
    }
    struct url_object u = {0};
    DECODE_STRUCT(c, v, url_fields, &u);
    struct buf b = BUF_INIT;
    int r = 0;
    if (u.scheme && u.scheme[0])
        r |= buf_appendf(&b, "%s:", u.scheme);
    if (u.opaque && u.opaque[0])
        r |= buf_append_str(&b, u.opaque);
    else if (u.host && u.host[0])
        r |= buf_appendf(&b, "//%s", u.host);
    if (!(u.opaque && u.opaque[0]) && u.path)
        r |= buf_append_str(&b, u.path);
    if (u.raw_query && u.raw_query[0])
        r |= buf_appendf(&b, "?%s", u.raw_query);
    if (u.fragment && u.fragment[0])
        r |= buf_appendf(&b, "#%s", u.fragment);
    if (r == 0 && buf_terminate(&b) == 0)
        *(const char **)dst = arena_strdup(&c->m->arena, b.ptr ? (const char *)b.ptr : "");
    c->nomem |= *(const char **)dst == NULL;
    buf_free(&b);
}

static void dec_uris(struct mf_ctx *c, json_t *v, void *dst)
{
    dec_string_array(c, v, dst, dec_uri);
}

static void dec_ip(struct mf_ctx *c, json_t *v, void *dst)
{
    const char **out = dst;
    dec_string(c, v, dst);
    if (*out == NULL)
        return;
    uint8_t tmp[16];
    if (inet_pton(AF_INET, *out, tmp) != 1 && inet_pton(AF_INET6, *out, tmp) != 1)
        mf_error(c, "invalid IP address \"%s\"", *out);
}

static void dec_ips(struct mf_ctx *c, json_t *v, void *dst)
{
    dec_string_array(c, v, dst, dec_ip);
}

static const char set_by_coordinator[] = "set by the Coordinator when it generates the certificate, ignored";
static const char not_supported[] = "not supported in generated certificates, ignored";

static const struct field name_fields[] = {
    F("Country", dec_strings, struct mf_name, country),
    F("Organization", dec_strings, struct mf_name, organization),
    F("OrganizationalUnit", dec_strings, struct mf_name, organizational_unit),
    F("Locality", dec_strings, struct mf_name, locality),
    F("Province", dec_strings, struct mf_name, province),
    F("StreetAddress", dec_strings, struct mf_name, street_address),
    F("PostalCode", dec_strings, struct mf_name, postal_code),
    F("SerialNumber", dec_string, struct mf_name, serial_number),
    F("CommonName", dec_string, struct mf_name, common_name),
    IGNORED("Names", "output-only field of Go's pkix.Name, ignored"),
    IGNORED("ExtraNames", not_supported),
};

static void dec_name(struct mf_ctx *c, json_t *v, void *dst)
{
    DECODE_STRUCT(c, v, name_fields, dst);
}

static void dec_key_usage(struct mf_ctx *c, json_t *v, void *dst)
{
    if (!json_is_null(v))
        (void)integer_value(c, v, 511, dst);
}

static const struct field cert_fields[] = {
    F("Subject", dec_name, struct mf_cert_template, subject),
    F("NotAfter", dec_time, struct mf_cert_template, not_after),
    F("KeyUsage", dec_key_usage, struct mf_cert_template, key_usage),
    F("ExtKeyUsage", dec_u64s, struct mf_cert_template, ext_key_usage),
    F("DNSNames", dec_strings, struct mf_cert_template, dns_names),
    F("EmailAddresses", dec_strings, struct mf_cert_template, email_addresses),
    F("IPAddresses", dec_ips, struct mf_cert_template, ip_addresses),
    F("URIs", dec_uris, struct mf_cert_template, uris),
    F("IsCA", dec_bool, struct mf_cert_template, is_ca),
    F("BasicConstraintsValid", dec_bool, struct mf_cert_template, basic_constraints_valid),
    F("MaxPathLen", dec_i64, struct mf_cert_template, max_path_len),
    F("MaxPathLenZero", dec_bool, struct mf_cert_template, max_path_len_zero),
    IGNORED("SerialNumber", set_by_coordinator),
    IGNORED("NotBefore", set_by_coordinator),
    IGNORED("Issuer", set_by_coordinator),
    IGNORED("SignatureAlgorithm", set_by_coordinator),
    IGNORED("PublicKeyAlgorithm", set_by_coordinator),
    IGNORED("PublicKey", set_by_coordinator),
    IGNORED("Version", set_by_coordinator),
    IGNORED("Raw", set_by_coordinator),
    IGNORED("Signature", set_by_coordinator),
    IGNORED("SubjectKeyId", set_by_coordinator),
    IGNORED("AuthorityKeyId", set_by_coordinator),
    IGNORED("Extensions", not_supported),
    IGNORED("ExtraExtensions", not_supported),
    IGNORED("UnknownExtKeyUsage", not_supported),
    IGNORED("OCSPServer", not_supported),
    IGNORED("IssuingCertificateURL", not_supported),
    IGNORED("CRLDistributionPoints", not_supported),
    IGNORED("PolicyIdentifiers", not_supported),
    IGNORED("Policies", not_supported),
    IGNORED("PermittedDNSDomainsCritical", not_supported),
    IGNORED("PermittedDNSDomains", not_supported),
    IGNORED("ExcludedDNSDomains", not_supported),
    IGNORED("PermittedIPRanges", not_supported),
    IGNORED("ExcludedIPRanges", not_supported),
    IGNORED("PermittedEmailAddresses", not_supported),
    IGNORED("ExcludedEmailAddresses", not_supported),
    IGNORED("PermittedURIDomains", not_supported),
    IGNORED("ExcludedURIDomains", not_supported),
};

static void dec_cert_template(struct mf_ctx *c, json_t *v, void *dst)
{
    struct mf_cert_template *t = dst;
    if (json_is_string(v)) {
        mf_error(c, "a pre-made certificate cannot be given in a manifest; give a template object");
        return;
    }
    DECODE_STRUCT(c, v, cert_fields, t);
    for (size_t i = 0; i < t->ext_key_usage.count; i++) {
        if (t->ext_key_usage.items[i] > MF_EKU_MAX) {
            size_t mark = jpath_push(&c->path, "ExtKeyUsage");
            size_t mark2 = jpath_push_index(&c->path, i);
            mf_error(c, "unknown extended key usage %llu (0..%d)",
                     (unsigned long long)t->ext_key_usage.items[i], MF_EKU_MAX);
            jpath_pop(&c->path, mark2);
            jpath_pop(&c->path, mark);
        }
    }
}

static const struct field secret_fields[] = {
    F("Type", dec_string, struct mf_secret, type_name),
    F("Size", dec_u64, struct mf_secret, size),
    F("Shared", dec_bool, struct mf_secret, shared),
    F("UserDefined", dec_bool, struct mf_secret, user_defined),
    F("Cert", dec_cert_template, struct mf_secret, cert),
    F("ValidFor", dec_u64, struct mf_secret, valid_for),
    IGNORED("Private", "output-only field, ignored (secrets are generated or uploaded)"),
    IGNORED("Public", "output-only field, ignored (secrets are generated or uploaded)"),
};

static const struct {
    const char *name;
    enum mf_secret_type type;
} secret_types[] = {
    {"symmetric-key", MF_SECRET_SYMMETRIC_KEY}, {"cert-rsa", MF_SECRET_CERT_RSA},
    {"cert-ecdsa", MF_SECRET_CERT_ECDSA},       {"cert-ed25519", MF_SECRET_CERT_ED25519},
    {"plain", MF_SECRET_PLAIN},
};

const char *mf_secret_type_name(enum mf_secret_type t)
{
    for (size_t i = 0; i < QY_ARRAY_LEN(secret_types); i++)
        if (secret_types[i].type == t)
            return secret_types[i].name;
    return "unknown";
}

static void dec_secret(struct mf_ctx *c, json_t *v, void *dst)
{
    struct mf_secret *s = dst;
    DECODE_STRUCT(c, v, secret_fields, s);
    if (s->type_name == NULL)
        s->type_name = "";
    s->type = MF_SECRET_UNKNOWN;
    for (size_t i = 0; i < QY_ARRAY_LEN(secret_types); i++) /* exact, case-sensitive (§1.5) */
        if (strcmp(s->type_name, secret_types[i].name) == 0)
            s->type = secret_types[i].type;
}

/* Users, roles, recovery keys, TLS, Config (§1.6-§1.10) -------------------------------------- */

static const struct field user_fields[] = {
    F("Certificate", dec_string, struct mf_user, certificate),
    F("Roles", dec_strings, struct mf_user, roles),
};

static void dec_user(struct mf_ctx *c, json_t *v, void *dst)
{
    struct mf_user *u = dst;
    DECODE_STRUCT(c, v, user_fields, u);
    if (u->certificate == NULL)
        u->certificate = "";
}

static const struct field role_fields[] = {
    F("ResourceType", dec_string, struct mf_role, resource_type_name),
    F("ResourceNames", dec_strings, struct mf_role, resource_names),
    F("Actions", dec_strings, struct mf_role, actions),
};

static void dec_role(struct mf_ctx *c, json_t *v, void *dst)
{
    struct mf_role *r = dst;
    DECODE_STRUCT(c, v, role_fields, r);
    const char *t = r->resource_type_name ? r->resource_type_name : "";
    r->resource_type_name = t;
    r->resource_type = strcmp(t, "Packages") == 0   ? MF_RES_PACKAGES
                       : strcmp(t, "Secrets") == 0  ? MF_RES_SECRETS
                       : strcmp(t, "Manifest") == 0 ? MF_RES_MANIFEST
                                                    : MF_RES_UNKNOWN;
}

static void dec_recovery_key(struct mf_ctx *c, json_t *v, void *dst)
{
    struct mf_recovery_key *k = dst;
    dec_string(c, v, &k->pem);
    if (k->pem == NULL)
        k->pem = "";
}

static const struct field tls_entry_fields[] = {
    F("Port", dec_string, struct mf_tls_entry, port),
    F("Addr", dec_string, struct mf_tls_entry, addr),
    F("Cert", dec_string, struct mf_tls_entry, cert),
    F("DisableClientAuth", dec_bool, struct mf_tls_entry, disable_client_auth),
};

static void dec_tls_entry(struct mf_ctx *c, json_t *v, void *dst)
{
    struct mf_tls_entry *e = dst;
    DECODE_STRUCT(c, v, tls_entry_fields, e);
    e->port = e->port ? e->port : "";
    e->addr = e->addr ? e->addr : "";
    e->cert = e->cert ? e->cert : "";
}

static void dec_tls_entries(struct mf_ctx *c, json_t *v, void *dst)
{
    struct mf_tls_entries *e = dst;
    e->items = decode_array(c, v, sizeof(struct mf_tls_entry), dec_tls_entry, &e->count);
}

static const struct field tls_tag_fields[] = {
    F("Outgoing", dec_tls_entries, struct mf_tls_tag, outgoing),
    F("Incoming", dec_tls_entries, struct mf_tls_tag, incoming),
};

static void dec_tls_tag(struct mf_ctx *c, json_t *v, void *dst)
{
    DECODE_STRUCT(c, v, tls_tag_fields, dst);
}

static const struct field config_fields[] = {
    F("SealMode", dec_string, struct mf_config, seal_mode_name),
    F("FeatureGates", dec_strings, struct mf_config, feature_gates),
    F("UpdateThreshold", dec_u64, struct mf_config, update_threshold),
    F("RecoveryThreshold", dec_u64, struct mf_config, recovery_threshold),
    F("RotateRootSecret", dec_bool, struct mf_config, rotate_root_secret),
};

static void dec_config(struct mf_ctx *c, json_t *v, void *dst)
{
    struct mf_config *cfg = dst;
    DECODE_STRUCT(c, v, config_fields, cfg);
    const char *s = cfg->seal_mode_name ? cfg->seal_mode_name : "";
    cfg->seal_mode_name = s;
    cfg->seal_mode = (s[0] == '\0' || strcmp(s, "ProductKey") == 0) ? MF_SEAL_PRODUCT_KEY
                     : strcmp(s, "UniqueKey") == 0                  ? MF_SEAL_UNIQUE_KEY
                     : strcmp(s, "Disabled") == 0                   ? MF_SEAL_DISABLED
                                                                    : MF_SEAL_UNKNOWN;
    for (size_t i = 0; i < cfg->feature_gates.count; i++) {
        if (strcasecmp(cfg->feature_gates.items[i], "SignQuoteEndpoint") == 0)
            cfg->features |= MF_FEATURE_SIGN_QUOTE;
        else if (strcasecmp(cfg->feature_gates.items[i], "MonotonicCounter") == 0)
            cfg->features |= MF_FEATURE_MONOTONIC_COUNTER;
    }
}

/* The top level (§1.1) ----------------------------------------------------------------------- */

#define MAP_DECODER(fn, member, type, elem_dec)                                                    \
    static void fn(struct mf_ctx *c, json_t *v, void *dst)                                         \
    {                                                                                              \
        (void)dst;                                                                                 \
        c->m->member.items = decode_map(c, v, sizeof(type), elem_dec, QY_NAME_MAX, &c->m->member.count); \
    }

MAP_DECODER(dec_packages, packages, struct mf_package, dec_package)
MAP_DECODER(dec_infrastructures, infrastructures, struct mf_infrastructure, dec_infrastructure)
MAP_DECODER(dec_marbles, marbles, struct mf_marble, dec_marble)
MAP_DECODER(dec_secrets, secrets, struct mf_secret, dec_secret)
MAP_DECODER(dec_users, users, struct mf_user, dec_user)
MAP_DECODER(dec_roles, roles, struct mf_role, dec_role)
MAP_DECODER(dec_recovery_keys, recovery_keys, struct mf_recovery_key, dec_recovery_key)
MAP_DECODER(dec_tls_tags, tls, struct mf_tls_tag, dec_tls_tag)

static const struct field manifest_fields[] = {
    F("Packages", dec_packages, struct manifest, packages),
    F("Infrastructures", dec_infrastructures, struct manifest, infrastructures),
    F("Marbles", dec_marbles, struct manifest, marbles),
    F("Users", dec_users, struct manifest, users),
    F("Secrets", dec_secrets, struct manifest, secrets),
    F("RecoveryKeys", dec_recovery_keys, struct manifest, recovery_keys),
    F("Roles", dec_roles, struct manifest, roles),
    F("TLS", dec_tls_tags, struct manifest, tls),
    F("Config", dec_config, struct manifest, config),
};

void mf_decode(struct mf_ctx *c, json_t *root)
{
    c->m->config.seal_mode_name = "";
    if (!json_is_object(root)) {
        mf_error(c, "a manifest must be a JSON object, got %s", js_type_name(root));
        return;
    }
    DECODE_STRUCT(c, root, manifest_fields, c->m);
}
