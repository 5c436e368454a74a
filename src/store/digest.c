/*
 * The state digest: a sum of per-row MACs modulo 2^256, its sealed row, and the check at open that
 * names what was changed. store.h's essay says why this construction and what it detects.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store_int.h"

static const char digest_magic[4] = {'q', 's', 'd', '2'};
#define DIGEST_PLAIN_SIZE (sizeof(digest_magic) + 8 + 8 + 32)

int store_keys_derive(const uint8_t dek[STORE_DEK_SIZE], struct store_keys *out)
{
    struct view ikm = view_of(dek, STORE_DEK_SIZE);
    memcpy(out->dek, dek, STORE_DEK_SIZE);
    TRY(crypto_hkdf_sha256(ikm, VIEW_EMPTY, view_str("quarry-store-v2 values"), out->value, sizeof(out->value)));
    return crypto_hkdf_sha256(ikm, VIEW_EMPTY, view_str("quarry-store-v2 digest"), out->mac, sizeof(out->mac));
}

/* sys:dek and sys:sealer are the envelope around the DEK, rewritten whenever it is re-wrapped; a
 * change to them can only make the store open sealed, which a host can always do. */
bool store_digest_counts(const char *key)
{
    return strcmp(key, STORE_KEY_DIGEST) != 0 && strcmp(key, STORE_KEY_DEK) != 0 &&
           strcmp(key, STORE_KEY_SEALER) != 0;
}

static void put_u64be(uint8_t *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (uint8_t)(v >> (56 - 8 * i));
}

/* sum += sign * mac, modulo 2^256 (both little-endian). */
static void sum_add(uint8_t sum[32], const uint8_t mac[32], int sign)
{
    unsigned carry = sign > 0 ? 0 : 1; /* subtraction: add the two's complement, ~mac + 1 */
    for (size_t i = 0; i < 32; i++) {
        unsigned m = sign > 0 ? mac[i] : (uint8_t)~mac[i];
        unsigned t = sum[i] + m + carry;
        sum[i] = (uint8_t)t;
        carry = t >> 8;
    }
}

/* MAC(key, rev, value) = HMAC-SHA256(mac key, u32be(|key|) || key || u64be(rev) || value): the key
 * name's length makes the split unambiguous; the value runs to the end. */
int store_digest_entry(struct store_digest *d, struct crypto_hmac *mac_key, const char *key, uint64_t rev,
                       struct view value, int sign)
{
    uint8_t len[4], rv[8], mac[CRYPTO_SHA256_SIZE];
    size_t n = strlen(key);
    ENSURE(n <= QY_STORE_KEY_MAX, ERR_TAMPERED, "the state was tampered with: a key of %zu bytes", n);
    for (int i = 0; i < 4; i++)
        len[i] = (uint8_t)(n >> (24 - 8 * i));
    put_u64be(rv, rev);
    struct view parts[] = {view_of(len, 4), view_of(key, n), view_of(rv, 8), value};
    TRY(crypto_hmac_run(mac_key, parts, QY_ARRAY_LEN(parts), mac));
    sum_add(d->sum, mac, sign);
    d->count += sign > 0 ? 1 : (uint64_t)-1;
    mem_wipe(mac, sizeof(mac));
    return 0;
}

int store_digest_seal(const struct store_keys *k, const struct store_digest *d, struct buf *out)
{
    uint8_t plain[DIGEST_PLAIN_SIZE];
    memcpy(plain, digest_magic, 4);
    for (int i = 0; i < 8; i++) {
        plain[4 + i] = (uint8_t)(d->counter >> (8 * i));
        plain[12 + i] = (uint8_t)(d->count >> (8 * i));
    }
    memcpy(plain + 20, d->sum, 32);
    int r = crypto_aead_seal(k->value, view_str(STORE_KEY_DIGEST), view_of(plain, sizeof(plain)), out);
    mem_wipe(plain, sizeof(plain));
    return r;
}

#define TAMPERED(...) err_fail(ERR_TAMPERED, __func__, "the state was tampered with: " __VA_ARGS__)

/* Reads and opens sys:digest; checks its own revision is its counter. */
static int digest_load(struct store *s, const struct store_keys *k, struct store_digest *d)
{
    struct buf sealed = BUF_INIT, plain = BUF_INIT;
    uint64_t rev = 0;
    struct view magic, sum;
    int r = s->kv->get(s->kv, STORE_KEY_DIGEST, &sealed, &rev);
    if (r == ERR_NOT_FOUND)
        r = TAMPERED("its digest (" STORE_KEY_DIGEST ") is missing");
    if (r == 0) {
        int o = crypto_aead_open(k->value, view_str(STORE_KEY_DIGEST), buf_view(&sealed), &plain);
        if (o == ERR_CORRUPT)
            r = TAMPERED("its digest (" STORE_KEY_DIGEST ") fails authentication");
        else if (o < 0)
            r = o; /* out of memory, say: not a verdict on the state */
    }
    struct rd in = rd_init(buf_view(&plain));
    if (r == 0 && (rd_bytes(&in, 4, &magic) < 0 || !view_eq(magic, view_of(digest_magic, 4)) ||
                   rd_u64le(&in, &d->counter) < 0 || rd_u64le(&in, &d->count) < 0 || rd_bytes(&in, 32, &sum) < 0 ||
                   rd_end(&in) < 0))
        r = TAMPERED("its digest (" STORE_KEY_DIGEST ") is not in the format this version writes");
    if (r == 0)
        memcpy(d->sum, sum.ptr, 32);
    if (r == 0 && rev != d->counter)
        r = TAMPERED("its digest (" STORE_KEY_DIGEST ") has revision %llu, not its commit counter %llu",
                     (unsigned long long)rev, (unsigned long long)d->counter);
    buf_free(&sealed);
    buf_free(&plain);
    return r;
}

int store_digest_reload(struct store *s, const struct store_keys *k)
{
    struct store_digest d = {0};
    int r = digest_load(s, k, &d);
    /* another writer only ever moves the counter on; an older digest was put back */
    if (r == 0 && d.counter < s->digest.counter)
        r = TAMPERED("its digest (" STORE_KEY_DIGEST ") went back from commit %llu to %llu",
                     (unsigned long long)s->digest.counter, (unsigned long long)d.counter);
    if (r == 0)
        s->digest = d;
    mem_wipe(&d, sizeof(d));
    return r;
}

struct verify {
    const struct store_keys *k;
    struct crypto_hmac *mac;
    struct store_digest have;
    uint64_t counter; /* recorded */
    char ahead[QY_STORE_KEY_MAX + 1], forged[QY_STORE_KEY_MAX + 1]; /* the first row of each kind */
    uint64_t ahead_rev;
    struct buf plain;
};

static void note(char *slot, const char *key)
{
    if (slot[0] == '\0')
        snprintf(slot, QY_STORE_KEY_MAX + 1, "%s", key);
}

static int count_one(void *ctx, const char *key, struct view value, uint64_t rev)
{
    struct verify *v = ctx;
    if (!store_digest_counts(key))
        return 0;
    if (rev > v->counter && v->ahead[0] == '\0') {
        note(v->ahead, key);
        v->ahead_rev = rev;
    }
    return store_digest_entry(&v->have, v->mac, key, rev, value, +1);
}

/* Second pass, only after a mismatch: the first row whose value does not open under its own name. */
static int find_forged(void *ctx, const char *key, struct view value, uint64_t rev)
{
    (void)rev;
    struct verify *v = ctx;
    if (!store_digest_counts(key) || strcmp(key, STORE_KEY_RECOVERY) == 0 || v->forged[0] != '\0')
        return 0; /* the recovery data is kept in the clear */
    buf_reset(&v->plain);
    int r = crypto_aead_open(v->k->value, view_str(key), value, &v->plain);
    if (r == ERR_CORRUPT)
        note(v->forged, key);
    return r == ERR_CORRUPT ? 0 : r;
}

static int diagnose(struct store *s, struct verify *v, const struct store_digest *want)
{
    unsigned long long n = v->have.count, w = want->count;
    if (v->ahead[0] != '\0')
        return TAMPERED("row \"%.100s\" has revision %llu, above the digest's commit counter %llu (the digest "
                        "is older than the rows)",
                        v->ahead, (unsigned long long)v->ahead_rev, (unsigned long long)want->counter);
    TRY(s->kv->scan(s->kv, "", find_forged, v));
    if (v->forged[0] != '\0')
        return TAMPERED("row \"%.100s\" fails authentication (edited, or moved from another key) (%llu entries)",
                        v->forged, n);
    if (n < w)
        return TAMPERED("%llu row(s) missing (%llu entries, the digest counts %llu)", w - n, n, w);
    if (n > w)
        return TAMPERED("%llu row(s) added (%llu entries, the digest counts %llu)", n - w, n, w);
    return TAMPERED("the state digest does not match (%llu entries): a row was replaced by another copy", n);
}

int store_digest_verify(struct store *s, const struct store_keys *k)
{
    struct store_digest want = {0};
    TRY(digest_load(s, k, &want));
    struct verify *v = calloc(1, sizeof(*v));
    if (v == NULL) {
        mem_wipe(&want, sizeof(want));
        FAIL(ERR_NOMEM, "cannot allocate a state check");
    }
    v->k = k;
    v->counter = want.counter;
    v->plain = (struct buf)BUF_INIT;
    int r = crypto_hmac_new(view_of(k->mac, sizeof(k->mac)), &v->mac);
    if (r == 0)
        r = s->kv->scan(s->kv, "", count_one, v);
    bool same = r == 0 && v->have.count == want.count &&
                view_eq_ct(view_of(v->have.sum, 32), view_of(want.sum, 32)) && v->ahead[0] == '\0';
    if (r == 0 && !same)
        r = diagnose(s, v, &want);
    if (r == 0)
        s->digest = want;
    buf_free(&v->plain);
    crypto_hmac_free(v->mac);
    mem_wipe(v, sizeof(*v));
    free(v);
    mem_wipe(&want, sizeof(want));
    return r;
}
