/*
 * The verifier's collateral, one entry per item (struct att_coll_key: the request and the root or
 * PCK CA that must have signed it).
 *
 * Only what passed every check is usable. What a source serves is loaded (format, signature chain
 * to a trusted root, signature over the exact bytes: collateral.c) and then admitted against its
 * key: signed under the same root as the platform's PCK chain, for the TEE and FMSPC asked for, a
 * PCK CRL signed by that very PCK CA, a Root CA CRL issued by that root. Anything else - a genuine
 * TCB Info for another FMSPC, a CRL signed by some other key - is a failure: it never replaces a
 * usable item, and it is fetched again after a backoff (QY_ATT_RETRY_BASE_MS doubling up to
 * QY_ATT_RETRY_MAX_MS), so a PCCS that served it once cannot bar a platform until its nextUpdate.
 * What depends on the verification time (validity windows) and on the platform (PCE-ID, TCB level,
 * revocation of its certificates) is the verification's business.
 *
 * One fetch per item at a time ("singleflight"): an entry is marked fetching, and concurrent
 * misses for it either wait for that fetch (blocking mode) or are told it is pending (background
 * mode). In background mode no caller ever fetches: the entry goes on a queue served by
 * QY_ATT_FETCH_THREADS threads owned by the cache, and a usable item nearing its nextUpdate is
 * refreshed there too, while callers keep using it. Every fetch is bounded by its source's deadline.
 *
 * Locking: one mutex over the entries and the queue; nothing slow runs under it (fetches and
 * loads run with it released; the entry being fetched is pinned by its `fetching` flag, and keys
 * never change). Entries are bounded by QY_ATT_CACHE_MAX_ENTRIES: when full, idle ones are dropped.
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "att_int.h"

struct centry {
    struct att_coll_key key;
    struct att_coll *good;    /* the last item that passed every check, or NULL */
    struct att_coll *failure; /* the last failed attempt since then, or NULL */
    unsigned failures;        /* consecutive failed attempts */
    int64_t retry_at_ms;      /* monotonic: no new fetch before this */
    bool fetching;            /* a fetch is queued or running: the entry is pinned */
    struct att_pck *job_pck;  /* background: what the queued fetch checks against (a reference) */
    struct centry *next, *queue_next;
};

struct att_ccache {
    struct att_ccache_config cfg;
    pthread_mutex_t lock;
    pthread_cond_t fetched, work;
    struct centry *entries;
    size_t count;
    struct centry *queue_head, *queue_tail;
    bool stop;
    size_t threads;
    pthread_t thread[QY_ATT_FETCH_THREADS];
};

static const char *const kind_names[] = {"tcb_info", "qe_identity", "pck_crl", "root_ca_crl"};
static const char *const kind_titles[] = {"TCB Info", "QE Identity", "PCK CRL", "Root CA CRL"};

const char *att_collateral_kind_name(enum att_collateral_kind k)
{
    return (unsigned)k < QY_ARRAY_LEN(kind_names) ? kind_names[k] : "unknown";
}

const char *att_fetch_outcome_name(enum att_fetch_outcome o)
{
    static const char *const names[] = {"ok", "absent", "failed", "rejected"};
    return (unsigned)o < QY_ARRAY_LEN(names) ? names[o] : "unknown";
}

int64_t att_mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Admission: the checks of an item against its key ------------------------------------------- */

static int admit_tcb_info(const struct att_coll *c, const struct att_coll_key *k)
{
    const uint8_t *f = c->tcb.fmspc, *want = k->req.fmspc;
    ENSURE(c->tcb.tee_type == k->req.tee_type, ERR_ATT_MISMATCH,
           k->req.tee_type == ATT_TEE_TDX ? "a TDX quote needs a TDX TCB Info (v3, id \"TDX\")"
                                          : "an SGX quote needs an SGX TCB Info");
    ENSURE(memcmp(f, want, 6) == 0, ERR_ATT_MISMATCH,
           "the TCB Info is for FMSPC %02X%02X%02X%02X%02X%02X, the platform's is "
           "%02X%02X%02X%02X%02X%02X",
           f[0], f[1], f[2], f[3], f[4], f[5], want[0], want[1], want[2], want[3], want[4],
           want[5]);
    return 0;
}

static int admit(const struct att_coll *c, const struct att_coll_key *k, const struct att_pck *pck)
{
    const char *what = kind_titles[k->req.kind];
    switch (k->req.kind) {
    case ATT_COLLATERAL_TCB_INFO:
    case ATT_COLLATERAL_QE_IDENTITY:
        ENSURE(c->signer.root_index == k->root_index, ERR_ATT_UNTRUSTED,
               "the %s is signed under a different root than the PCK chain", what);
        if (k->req.kind == ATT_COLLATERAL_TCB_INFO)
            return admit_tcb_info(c, k);
        ENSURE(c->qe.tee_type == k->req.tee_type, ERR_ATT_MISMATCH,
               "the QE Identity is for %s, the quote is %s",
               c->qe.tee_type == ATT_TEE_TDX ? "TD_QE" : "QE",
               k->req.tee_type == ATT_TEE_TDX ? "TDX" : "SGX");
        return 0;
    case ATT_COLLATERAL_PCK_CRL:
        return att_crl_check_issuer(&c->crl, pck->path.certs[1]);
    case ATT_COLLATERAL_ROOT_CA_CRL:
        ENSURE(c->crl_root_index == k->root_index, ERR_ATT_UNTRUSTED,
               "the Root CA CRL is signed by a different root than the PCK chain");
        ENSURE(X509_NAME_cmp(X509_CRL_get_issuer(c->crl.crl),
                             X509_get_subject_name(pck->path.certs[2])) == 0,
               ERR_ATT_MISMATCH, "the Root CA CRL is not issued by the root of the PCK chain");
        return 0;
    default:
        FAIL(ERR_INTERNAL, "unknown collateral kind %d", (int)k->req.kind);
    }
}

static struct att_coll *absent_item(enum att_collateral_kind kind)
{
    struct att_coll *c = att_coll_failed(kind, 0, "");
    if (c != NULL) {
        c->fetch_failed = false;
        c->absent = true;
        c->next_update = qtime_now() + QY_ATT_ABSENT_RECHECK_SECONDS;
    }
    return c;
}

static void report(struct att_ccache *cc, const struct att_coll_key *k, enum att_fetch_outcome o,
                   const char *detail)
{
    const char *src = att_collateral_source_name(cc->cfg.source);
    if (o == ATT_FETCH_FAILED)
        log_warn("attestation", "collateral fetch failed", LF_STR("item", kind_titles[k->req.kind]),
                 LF_STR("source", src), LF_STR("error", detail));
    else if (o == ATT_FETCH_REJECTED)
        log_warn("attestation", "collateral rejected: not cached, fetched again later",
                 LF_STR("item", kind_titles[k->req.kind]), LF_STR("source", src),
                 LF_STR("error", detail));
    else if (o == ATT_FETCH_ABSENT)
        log_warn("attestation", "no Root CA CRL: revocation of Intel's intermediate CAs is not checked",
                 LF_STR("source", src), LF_STR("detail", detail));
    if (cc->cfg.on_fetch != NULL)
        cc->cfg.on_fetch(cc->cfg.on_fetch_ctx, k->req.kind, o);
}

/* One fetch, load and admission, with no lock held. NULL when out of memory. */
static struct att_coll *fetch_one(struct att_ccache *cc, const struct att_coll_key *k,
                                  const struct att_pck *pck)
{
    struct att_collateral_item item = {BUF_INIT, BUF_INIT};
    struct att_coll *c;
    enum att_fetch_outcome o = ATT_FETCH_OK;
    int r = att_collateral_fetch(cc->cfg.source, &k->req, &item);
    if (r == 0) {
        c = att_coll_load(k->req.kind, &item, cc->cfg.roots);
        if (c != NULL && c->error == 0 && (r = admit(c, k, pck)) < 0) {
            c->error = r;
            c->not_admitted = true;
            snprintf(c->detail, sizeof(c->detail), "%s", err_detail(r));
        }
        o = c != NULL && c->error != 0 ? ATT_FETCH_REJECTED : ATT_FETCH_OK;
    } else if (r == ERR_NOT_FOUND && k->req.kind == ATT_COLLATERAL_ROOT_CA_CRL) {
        c = absent_item(k->req.kind);
        o = ATT_FETCH_ABSENT;
    } else {
        c = att_coll_failed(k->req.kind, r, err_detail(r));
        o = ATT_FETCH_FAILED;
    }
    att_collateral_item_free(&item);
    if (c != NULL)
        report(cc, k, o, o == ATT_FETCH_ABSENT ? err_detail(r) : c->detail);
    return c;
}

/* Entries ---------------------------------------------------------------------------------------- */

static void entry_free(struct centry *e)
{
    if (e->good != NULL)
        att_obj_unref(&e->good->obj);
    if (e->failure != NULL)
        att_obj_unref(&e->failure->obj);
    if (e->job_pck != NULL)
        att_obj_unref(&e->job_pck->obj);
    free(e);
}

/* Drops the idle entries (a fetch pins its own). */
static void drop_idle(struct att_ccache *cc)
{
    struct centry **p = &cc->entries;
    while (*p != NULL) {
        struct centry *x = *p;
        if (x->fetching) {
            p = &x->next;
            continue;
        }
        *p = x->next;
        entry_free(x);
        cc->count--;
    }
}

static struct centry *entry_for(struct att_ccache *cc, const struct att_coll_key *key)
{
    for (struct centry *e = cc->entries; e != NULL; e = e->next)
        if (memcmp(&e->key, key, sizeof(*key)) == 0)
            return e;
    if (cc->count >= QY_ATT_CACHE_MAX_ENTRIES)
        drop_idle(cc);
    struct centry *e = calloc(1, sizeof(*e));
    if (e == NULL)
        return NULL;
    e->key = *key;
    e->next = cc->entries;
    cc->entries = e;
    cc->count++;
    return e;
}

static int64_t backoff_ms(unsigned failures)
{
    int64_t ms = QY_ATT_RETRY_BASE_MS;
    for (unsigned i = 1; i < failures && ms < QY_ATT_RETRY_MAX_MS; i++)
        ms *= 2;
    return ms < QY_ATT_RETRY_MAX_MS ? ms : QY_ATT_RETRY_MAX_MS;
}

/* A source may withhold or replay: a checked item never gives way to an older one, nor a Root CA
 * CRL to "there is none" (which would switch its revocation checks off). */
static bool replaces(const struct att_coll *fresh, const struct att_coll *good)
{
    if (good == NULL || good->absent)
        return true;
    return !fresh->absent && fresh->next_update >= good->next_update;
}

/* Records what a fetch gave (fresh may be NULL: out of memory) and wakes the waiters. */
static void settle(struct att_ccache *cc, struct centry *e, struct att_coll *fresh)
{
    struct att_coll *drop = NULL;
    e->fetching = false;
    if (fresh != NULL && fresh->error == 0 && !replaces(fresh, e->good)) {
        e->failures++; /* keep the item we have; ask again after the backoff */
        e->retry_at_ms = att_mono_ms() + backoff_ms(e->failures);
    } else if (fresh != NULL && fresh->error == 0) {
        drop = e->good;
        e->good = (struct att_coll *)att_obj_ref(&fresh->obj);
        if (e->failure != NULL)
            att_obj_unref(&e->failure->obj);
        e->failure = NULL;
        e->failures = 0;
        e->retry_at_ms = att_mono_ms() + QY_ATT_REFETCH_SECONDS * 1000;
    } else {
        drop = e->failure;
        e->failure = fresh != NULL ? (struct att_coll *)att_obj_ref(&fresh->obj) : NULL;
        e->failures++;
        e->retry_at_ms = att_mono_ms() + backoff_ms(e->failures);
    }
    pthread_cond_broadcast(&cc->fetched);
    if (drop != NULL)
        att_obj_unref(&drop->obj);
}

/* Background fetches ----------------------------------------------------------------------------- */

static void enqueue(struct att_ccache *cc, struct centry *e, const struct att_pck *pck)
{
    e->fetching = true;
    e->job_pck = (struct att_pck *)att_obj_ref((struct att_obj *)&pck->obj);
    e->queue_next = NULL;
    if (cc->queue_tail != NULL)
        cc->queue_tail->queue_next = e;
    else
        cc->queue_head = e;
    cc->queue_tail = e;
    pthread_cond_signal(&cc->work);
}

static void *fetcher_main(void *arg)
{
    struct att_ccache *cc = arg;
    pthread_mutex_lock(&cc->lock);
    while (!cc->stop) {
        struct centry *e = cc->queue_head;
        if (e == NULL) {
            pthread_cond_wait(&cc->work, &cc->lock);
            continue;
        }
        cc->queue_head = e->queue_next;
        if (cc->queue_head == NULL)
            cc->queue_tail = NULL;
        struct att_pck *pck = e->job_pck;
        e->job_pck = NULL;
        pthread_mutex_unlock(&cc->lock);
        struct att_coll *fresh = fetch_one(cc, &e->key, pck);
        att_obj_unref(&pck->obj);
        pthread_mutex_lock(&cc->lock);
        settle(cc, e, fresh);
        if (fresh != NULL)
            att_obj_unref(&fresh->obj);
    }
    pthread_mutex_unlock(&cc->lock);
    return NULL;
}

int att_ccache_new(const struct att_ccache_config *cfg, struct att_ccache **out)
{
    *out = NULL;
    struct att_ccache *cc = calloc(1, sizeof(*cc));
    ENSURE(cc != NULL, ERR_NOMEM, "cannot allocate a collateral cache");
    cc->cfg = *cfg;
    pthread_mutex_init(&cc->lock, NULL);
    pthread_cond_init(&cc->fetched, NULL);
    pthread_cond_init(&cc->work, NULL);
    for (size_t i = 0; cfg->background && i < QY_ATT_FETCH_THREADS; i++) {
        if (pthread_create(&cc->thread[i], NULL, fetcher_main, cc) != 0) {
            att_ccache_free(cc);
            FAIL(ERR_NOMEM, "cannot start a collateral fetcher thread");
        }
        cc->threads++;
    }
    *out = cc;
    return 0;
}

void att_ccache_free(struct att_ccache *cc)
{
    if (cc == NULL)
        return;
    pthread_mutex_lock(&cc->lock);
    cc->stop = true;
    pthread_cond_broadcast(&cc->work);
    pthread_mutex_unlock(&cc->lock);
    for (size_t i = 0; i < cc->threads; i++)
        pthread_join(cc->thread[i], NULL);
    while (cc->entries != NULL) {
        struct centry *e = cc->entries;
        cc->entries = e->next;
        entry_free(e);
    }
    pthread_cond_destroy(&cc->work);
    pthread_cond_destroy(&cc->fetched);
    pthread_mutex_destroy(&cc->lock);
    free(cc);
}

/* Lookups ---------------------------------------------------------------------------------------- */

static bool usable(const struct att_coll *c, int64_t at)
{
    return c != NULL && c->error == 0 && at <= c->next_update;
}

static int pending(struct att_ccache *cc, const struct centry *e)
{
    const char *what = kind_titles[e->key.req.kind];
    const char *src = att_collateral_source_name(cc->cfg.source);
    if (e->failure != NULL)
        FAIL(ERR_ATT_COLLATERAL_PENDING, "%s is being fetched from %s again (the last try: %s)", what,
             src, e->failure->detail);
    FAIL(ERR_ATT_COLLATERAL_PENDING, "%s is being fetched from %s", what, src);
}

int att_ccache_get(struct att_ccache *cc, const struct att_coll_key *key, const struct att_pck *pck,
                   int64_t at, struct att_coll **out)
{
    int r = 0;
    *out = NULL;
    pthread_mutex_lock(&cc->lock);
    struct centry *e = entry_for(cc, key);
    for (;;) {
        if (e == NULL) {
            pthread_mutex_unlock(&cc->lock);
            FAIL(ERR_NOMEM, "cannot allocate a collateral entry");
        }
        bool may_fetch = !e->fetching && att_mono_ms() >= e->retry_at_ms;
        struct att_coll *known = e->failure != NULL ? e->failure : e->good;
        if (usable(e->good, at)) {
            if (cc->cfg.background && may_fetch &&
                at >= e->good->next_update - QY_ATT_REFRESH_AHEAD_SECONDS)
                enqueue(cc, e, pck); /* refresh ahead: callers keep the current item meanwhile */
            known = e->good;
        } else if (e->fetching) {
            if (cc->cfg.background) {
                r = pending(cc, e);
                goto out;
            }
            pthread_cond_wait(&cc->fetched, &cc->lock);
            e = entry_for(cc, key); /* it may have been dropped once idle */
            continue;
        } else if (may_fetch || known == NULL) {
            break;
        }
        /* usable, or tried too recently to ask again: what is known */
        *out = (struct att_coll *)att_obj_ref(&known->obj);
        goto out;
    }
    if (cc->cfg.background) {
        enqueue(cc, e, pck);
        r = pending(cc, e);
        goto out;
    }
    e->fetching = true;
    pthread_mutex_unlock(&cc->lock);
    struct att_coll *fresh = fetch_one(cc, key, pck);
    pthread_mutex_lock(&cc->lock);
    settle(cc, e, fresh);
    *out = fresh;
    if (fresh == NULL)
        r = err_fail(ERR_NOMEM, __func__, "out of memory loading collateral");
out:
    pthread_mutex_unlock(&cc->lock);
    return r;
}
