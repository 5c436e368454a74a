/*
 * Generating secrets: shared ones at manifest set, per-marble ones at activation (reference §7.4,
 * §7.5). Certificate secrets become jobs run on a small thread pool, because RSA key generation
 * takes hundreds of milliseconds per key and a manifest may hold dozens; everything else is cheap
 * and done inline.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "secrets_int.h"

/* MarbleRun's set-time size rules (§1.11, "additional failures"). */
static int check_size(const struct mf_secret *s)
{
    switch (s->type) {
    case MF_SECRET_SYMMETRIC_KEY:
        ENSURE(s->size > 0 && s->size % 8 == 0 && s->size <= QY_SYMKEY_MAX_BITS, ERR_SECRET,
               "invalid secret size: %s (%llu bits; a multiple of 8 up to %u)", s->name,
               (unsigned long long)s->size, QY_SYMKEY_MAX_BITS);
        return 0;
    case MF_SECRET_CERT_RSA:
        ENSURE(s->size >= QY_RSA_MIN_BITS && s->size <= QY_RSA_MAX_BITS, ERR_SECRET,
               "invalid secret size for cert-rsa secret %s: %llu (%u..%u bits)", s->name,
               (unsigned long long)s->size, QY_RSA_MIN_BITS, QY_RSA_MAX_BITS);
        return 0;
    case MF_SECRET_CERT_ECDSA:
        ENSURE(s->size == 224 || s->size == 256 || s->size == 384 || s->size == 521, ERR_SECRET,
               "invalid secret size for cert-ecdsa secret %s: unsupported size %llu: does not map "
               "to a supported "
               "curve",
               s->name, (unsigned long long)s->size);
        return 0;
    case MF_SECRET_CERT_ED25519:
        ENSURE(s->size == 0, ERR_SECRET,
               "invalid secret size for cert-ed25519 secret %s: none is expected, got: %llu",
               s->name, (unsigned long long)s->size);
        return 0;
    case MF_SECRET_PLAIN:
        return 0;
    case MF_SECRET_UNKNOWN:
    default:
        FAIL(ERR_SECRET, "unknown type: %s for secret: %s", s->type_name, s->name);
    }
}

static enum crypto_key_type key_type(const struct mf_secret *s)
{
    if (s->type == MF_SECRET_CERT_RSA)
        return CRYPTO_KEY_RSA;
    if (s->type == MF_SECRET_CERT_ED25519)
        return CRYPTO_KEY_ED25519;
    return s->size == 224   ? CRYPTO_KEY_EC_P224
           : s->size == 384 ? CRYPTO_KEY_EC_P384
           : s->size == 521 ? CRYPTO_KEY_EC_P521
                            : CRYPTO_KEY_EC_P256;
}

static struct pki_strings strs(struct mf_strings s)
{
    return (struct pki_strings){s.items, s.count};
}

/* The manifest's Cert template with MarbleRun's defaults (§1.5.1, §7.4). */
static void make_template(const struct mf_secret *s, int64_t now, struct pki_cert_template *t)
{
    static const char *const default_dns[] = {"localhost"};
    static const char *const default_ips[] = {"127.0.0.1", "::1"};
    static const uint64_t default_eku[] = {MF_EKU_SERVER_AUTH, MF_EKU_CLIENT_AUTH};
    const struct mf_cert_template *c = &s->cert;
    const struct mf_name *n = &c->subject;
    memset(t, 0, sizeof(*t));
    t->subject = (struct pki_subject){
        .country = strs(n->country),
        .organization = strs(n->organization),
        .organizational_unit = strs(n->organizational_unit),
        .locality = strs(n->locality),
        .province = strs(n->province),
        .street_address = strs(n->street_address),
        .postal_code = strs(n->postal_code),
        .serial_number = n->serial_number,
        .common_name = n->common_name,
    };
    t->dns_names = c->dns_names.count ? strs(c->dns_names) : (struct pki_strings){default_dns, 1};
    t->ip_addresses =
        c->ip_addresses.count ? strs(c->ip_addresses) : (struct pki_strings){default_ips, 2};
    t->email_addresses = strs(c->email_addresses);
    t->uris = strs(c->uris);
    if (t->subject.common_name == NULL || t->subject.common_name[0] == '\0')
        t->subject.common_name =
            t->dns_names.count == 1 ? t->dns_names.items[0] : "MarbleRun Generated Certificate";
    t->key_usage =
        c->key_usage ? (unsigned)c->key_usage : MF_KU_DIGITAL_SIGNATURE | MF_KU_CERT_SIGN;
    if (c->ext_key_usage.count > 0) {
        t->ext_key_usage = c->ext_key_usage.items;
        t->ext_key_usage_count = c->ext_key_usage.count;
    } else {
        t->ext_key_usage = default_eku;
        t->ext_key_usage_count = 2;
    }
    t->is_ca = c->is_ca;
    /* Go: MaxPathLen 0 without MaxPathLenZero means "no limit". */
    t->max_path_len = c->max_path_len == 0 && !c->max_path_len_zero ? -1 : c->max_path_len;
    t->not_before = now;
    uint64_t days = s->valid_for ? s->valid_for : SEC_DEFAULT_VALID_FOR_DAYS;
    t->not_after = c->not_after.set ? c->not_after.unix_seconds : now + (int64_t)days * 86400;
}

/* One certificate secret: a fresh key pair, its certificate, the PKCS#8 and PKIX encodings. */
static int gen_cert(const struct mf_secret *s, const struct sec_gen *g, int64_t now,
                    struct sec_value *v)
{
    int r = ERR_INTERNAL;
    struct crypto_key *k = NULL;
    struct pki_cert_template t;
    TRY(check_size(s));
    enum crypto_key_type type = key_type(s);
    unsigned bits = type == CRYPTO_KEY_RSA ? (unsigned)s->size : 0;
    if (g->key_source == NULL || g->key_source(g->key_ctx, type, bits, &k) < 0 || k == NULL ||
        crypto_key_type(k) != type || (bits != 0 && crypto_key_bits(k) != (int)bits) ||
        !crypto_key_has_private(k)) {
        crypto_key_free(k); /* a source that failed, or gave the wrong kind of key: make one */
        k = NULL;
        TRY(crypto_key_generate(type, bits, &k));
    }
    make_template(s, now, &t);
    r = pki_issue_from_template(g->ca, &t, k, &v->cert);
    if (r < 0) {
        char detail[256];
        snprintf(detail, sizeof(detail), "%s", err_detail(r));
        r = err_fail(ERR_SECRET, __func__, "secret %s: cannot issue its certificate: %s", s->name,
                     detail);
        goto out;
    }
    TRY_OUT(crypto_key_private_der(k, &v->private_key));
    TRY_OUT(crypto_key_public_der(k, &v->public_key));
    if (!s->cert.not_after.set)
        v->valid_for = s->valid_for ? s->valid_for : SEC_DEFAULT_VALID_FOR_DAYS;
    r = 0;
out:
    crypto_key_free(k);
    return r;
}

/* The pool ------------------------------------------------------------------------------------- */

struct job {
    const struct mf_secret *def;
    struct sec_value *value;
    int err;
    char detail[QY_DIAG_MSG_MAX];
};

struct pool {
    struct job *jobs;
    size_t count;
    atomic_size_t next;
    atomic_bool failed;
    const struct sec_gen *g;
    int64_t now;
};

static void *work(void *arg)
{
    struct pool *p = arg;
    for (;;) {
        size_t i = atomic_fetch_add(&p->next, 1);
        if (i >= p->count || atomic_load(&p->failed))
            break;
        struct job *j = &p->jobs[i];
        j->err = gen_cert(j->def, p->g, p->now, j->value);
        if (j->err < 0) {
            snprintf(j->detail, sizeof(j->detail), "%s",
                     err_detail(j->err)); /* details are per thread */
            atomic_store(&p->failed, true);
        }
    }
    return NULL;
}

static unsigned pool_threads(const struct sec_gen *g, size_t jobs)
{
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    size_t n = g->threads ? g->threads : cpus > 0 ? (size_t)cpus : 1;
    if (n > QY_SECRET_MAX_THREADS)
        n = QY_SECRET_MAX_THREADS;
    return (unsigned)(n < jobs ? n : jobs);
}

static int run_jobs(struct job *jobs, size_t count, const struct sec_gen *g, int64_t now)
{
    ENSURE(count == 0 || g->ca != NULL, ERR_INVALID_ARG, "certificate secrets need a CA");
    struct pool p = {.jobs = jobs, .count = count, .g = g, .now = now};
    atomic_init(&p.next, 0);
    atomic_init(&p.failed, false);
    pthread_t tids[QY_SECRET_MAX_THREADS];
    unsigned started = 0, want = pool_threads(g, count);
    /* this thread is one of the workers; a thread that cannot start only means less parallelism */
    for (unsigned i = 1; i < want; i++)
        if (pthread_create(&tids[started], NULL, work, &p) == 0)
            started++;
    work(&p);
    for (unsigned i = 0; i < started; i++)
        pthread_join(tids[i], NULL);
    for (size_t i = 0; i < count; i++)
        if (jobs[i].err < 0)
            return err_fail(jobs[i].err, "sec_generate", "%s", jobs[i].detail);
    return 0;
}

/* Shared secrets --------------------------------------------------------------------------------
 */

static bool same_definition(const struct sec_value *v, const struct mf_secret *s)
{
    return v->type == s->type && v->size == s->size && v->shared == s->shared &&
           v->user_defined == s->user_defined;
}

int sec_value_from_def(const struct mf_secret *s, struct sec_value *v)
{
    memset(v, 0, sizeof(*v));
    v->name = strdup(s->name);
    ENSURE(v->name != NULL, ERR_NOMEM, "out of memory");
    v->type = s->type;
    v->size = s->size;
    v->shared = s->shared;
    v->user_defined = s->user_defined;
    v->valid_for = s->valid_for;
    return 0;
}

static int random_key(const struct mf_secret *s, struct sec_value *v)
{
    TRY(check_size(s));
    size_t n = (size_t)(s->size / 8);
    TRY(buf_reserve(&v->private_key, n));
    TRY(crypto_random(v->private_key.ptr, n));
    v->private_key.size = n;
    return buf_set(&v->public_key, buf_view(&v->private_key));
}

int sec_generate_shared(const struct manifest *m, const struct sec_gen *g,
                        const struct sec_set *keep, unsigned keep_flags, struct sec_set *out)
{
    int r = ERR_INTERNAL;
    struct sec_value v = {0};
    struct job *jobs = calloc(m->secrets.count + 1, sizeof(*jobs));
    size_t njobs = 0;
    sec_set_free(out);
    ENSURE(jobs != NULL, ERR_NOMEM, "out of memory");
    int64_t now = g->now ? g->now : qtime_now();
    for (size_t i = 0; i < m->secrets.count; i++) {
        const struct mf_secret *s = &m->secrets.items[i];
        const struct sec_value *old = keep ? sec_set_find(keep, s->name) : NULL;
        bool keep_it = old != NULL && same_definition(old, s) &&
                       ((s->user_defined && (keep_flags & SEC_KEEP_USER_DEFINED)) ||
                        (!s->user_defined && s->shared && s->type == MF_SECRET_SYMMETRIC_KEY &&
                         (keep_flags & SEC_KEEP_SYMMETRIC)));
        if (keep_it) {
            TRY_OUT(sec_value_copy(&v, old));
        } else {
            TRY_OUT(sec_value_from_def(s, &v));
            if (!s->user_defined && s->shared && s->type == MF_SECRET_SYMMETRIC_KEY)
                TRY_OUT(random_key(s, &v));
            else if (!s->user_defined)
                TRY_OUT(check_size(s)); /* per-marble ones too, as MarbleRun checks them at set */
            if (!s->user_defined && s->shared && mf_secret_is_cert(s->type))
                jobs[njobs++].def = s;
        }
        TRY_OUT(sec_set_take(out, &v));
    }
    /* the set no longer moves: point the jobs at their values */
    for (size_t i = 0; i < njobs; i++)
        jobs[i].value = (struct sec_value *)sec_set_find(out, jobs[i].def->name);
    TRY_OUT(run_jobs(jobs, njobs, g, now));
    r = 0;
out:
    sec_value_clear(&v);
    free(jobs);
    if (r < 0)
        sec_set_free(out);
    return r;
}

/* Per-marble secrets -------------------------------------------------------------------------- */

int sec_derive_key(const uint8_t root_secret[SEC_ROOT_SECRET_SIZE], const char *uuid,
                   const char *secret_name, const char *marble_type, uint8_t *out, size_t size)
{
    struct buf salt = BUF_INIT;
    int r = buf_append_str(&salt, uuid);
    if (r == 0)
        r = buf_append_str(&salt, secret_name);
    if (r == 0)
        r = crypto_hkdf_sha256(view_of(root_secret, SEC_ROOT_SECRET_SIZE), buf_view(&salt),
                               view_str(marble_type), out, size);
    buf_free(&salt);
    return r;
}

static int derive(const struct mf_secret *s, const uint8_t *root, const struct sec_marble *mb,
                  struct sec_value *v)
{
    TRY(check_size(s));
    size_t n = (size_t)(s->size / 8);
    const char *info = mb->marble->disable_secret_binding ? "" : mb->marble->name;
    TRY(buf_reserve(&v->private_key, n));
    TRY(sec_derive_key(root, mb->uuid, s->name, info, v->private_key.ptr, n));
    v->private_key.size = n;
    return buf_set(&v->public_key, buf_view(&v->private_key));
}

int sec_generate_marble(const struct manifest *m, const struct sec_gen *g,
                        const struct sec_marble *mb, struct sec_set *current,
                        struct sec_set *previous)
{
    int r = ERR_INTERNAL;
    struct sec_value v = {0}, pv = {0};
    struct job *jobs = NULL;
    size_t njobs = 0;
    sec_set_free(current);
    if (previous != NULL)
        sec_set_free(previous);
    ENSURE(uuid_is_canonical(mb->uuid), ERR_INVALID_ARG, "the UUID is not in canonical form");
    ENSURE(mb->marble != NULL && mb->root_secret != NULL, ERR_INVALID_ARG,
           "no marble or root secret");
    const uint8_t *prev_root =
        mb->previous_root_secret ? mb->previous_root_secret : mb->root_secret;
    /* until the first update with RotateRootSecret both are the same: no second derivation */
    bool same_root = mem_eq_ct(prev_root, mb->root_secret, SEC_ROOT_SECRET_SIZE);
    jobs = calloc(m->secrets.count + 1, sizeof(*jobs));
    ENSURE(jobs != NULL, ERR_NOMEM, "out of memory");
    int64_t now = g->now ? g->now : qtime_now();
    for (size_t i = 0; i < m->secrets.count; i++) {
        const struct mf_secret *s = &m->secrets.items[i];
        if (s->shared || s->user_defined)
            continue;
        TRY_OUT(sec_value_from_def(s, &v));
        if (s->type == MF_SECRET_SYMMETRIC_KEY) {
            TRY_OUT(derive(s, mb->root_secret, mb, &v));
            if (previous != NULL && same_root) {
                TRY_OUT(sec_set_put(previous, &v));
            } else if (previous != NULL) {
                TRY_OUT(sec_value_from_def(s, &pv));
                TRY_OUT(derive(s, prev_root, mb, &pv));
                TRY_OUT(sec_set_take(previous, &pv));
            }
        } else if (mf_secret_is_cert(s->type)) {
            jobs[njobs++].def = s;
        } else {
            TRY_OUT(check_size(s)); /* plain: empty; anything else is refused */
        }
        TRY_OUT(sec_set_take(current, &v));
    }
    for (size_t i = 0; i < njobs; i++)
        jobs[i].value = (struct sec_value *)sec_set_find(current, jobs[i].def->name);
    TRY_OUT(run_jobs(jobs, njobs, g, now));
    if (previous != NULL)
        for (size_t i = 0; i < current->count; i++)
            if (current->items[i].type != MF_SECRET_SYMMETRIC_KEY)
                TRY_OUT(sec_set_put(previous, &current->items[i]));
    r = 0;
out:
    sec_value_clear(&v);
    sec_value_clear(&pv);
    free(jobs);
    if (r < 0) {
        sec_set_free(current);
        if (previous != NULL)
            sec_set_free(previous);
    }
    return r;
}
