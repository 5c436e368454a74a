/*
 * Recovery secrets and recovery sessions. The recovery data kept in the clear is
 *   {"version":1,"mode":"single"|"xor"|"shamir","threshold":k,
 *    "shares":[{"key":name,"publicKey":base64 SPKI,"sha256":hex of the share}, ...]}
 */
#include <stdlib.h>
#include <string.h>

#include "recovery.h"

enum mode { MODE_SINGLE, MODE_XOR, MODE_SHAMIR };
static const char *const mode_names[] = {"single", "xor", "shamir"};

struct rec_entry {
    char *name;
    struct crypto_key *key;
    uint8_t hash[32];
    bool used;
    uint8_t share[REC_SHAMIR_SHARE_SIZE];
};

struct rec_session {
    enum mode mode;
    unsigned threshold;
    struct rec_entry *e;
    size_t count;
    size_t used;
};

static size_t share_size(enum mode m)
{
    return m == MODE_SHAMIR ? REC_SHAMIR_SHARE_SIZE : REC_DEK_SIZE;
}

/* Generation ------------------------------------------------------------------------------------- */

static int describe_share(const struct rec_key *k, struct view share, json_t *list)
{
    struct buf spki = BUF_INIT, spki64 = BUF_INIT, hex = BUF_INIT;
    uint8_t hash[32];
    int r = ERR_INTERNAL;
    TRY_OUT(crypto_key_public_der(k->public_key, &spki));
    TRY_OUT(enc_b64(&spki64, buf_view(&spki)));
    TRY_OUT(crypto_sha256(&share, 1, hash));
    TRY_OUT(enc_hex(&hex, view_of(hash, 32)));
    json_t *e = json_pack("{s:s,s:s%,s:s%}", "key", k->name, "publicKey", (const char *)spki64.ptr, spki64.size,
                          "sha256", (const char *)hex.ptr, hex.size);
    ENSURE_OUT(e != NULL && json_array_append_new(list, e) == 0, ERR_NOMEM, "out of memory");
    r = 0;
out:
    buf_free(&spki);
    buf_free(&spki64);
    buf_free(&hex);
    return r;
}

static int encrypt_share(const struct rec_key *k, struct view share, json_t *secrets)
{
    struct buf ct = BUF_INIT, ct64 = BUF_INIT;
    int r = ERR_INTERNAL;
    ENSURE(crypto_key_type(k->public_key) == CRYPTO_KEY_RSA, ERR_KEY, "recovery key %s is not an RSA key", k->name);
    TRY_OUT(crypto_rsa_oaep_encrypt(k->public_key, share, &ct));
    TRY_OUT(enc_b64(&ct64, buf_view(&ct)));
    ENSURE_OUT(json_object_set_new(secrets, k->name, json_stringn((const char *)ct64.ptr, ct64.size)) == 0,
               ERR_NOMEM, "out of memory");
    r = 0;
out:
    buf_free(&ct);
    buf_free(&ct64);
    return r;
}

/* The shares for count keys, count * share_size bytes, and the DEK they stand for. */
static int make_shares(enum mode m, size_t count, unsigned threshold, uint8_t dek[REC_DEK_SIZE], uint8_t *shares)
{
    if (m == MODE_SHAMIR) {
        TRY(crypto_random(dek, REC_DEK_SIZE));
        return rec_shamir_split(view_of(dek, REC_DEK_SIZE), (unsigned)count, threshold, shares);
    }
    TRY(crypto_random(shares, count * REC_DEK_SIZE));
    memset(dek, 0, REC_DEK_SIZE);
    for (size_t i = 0; i < count; i++)
        for (size_t b = 0; b < REC_DEK_SIZE; b++)
            dek[b] ^= shares[i * REC_DEK_SIZE + b];
    return 0; /* single: one share, the DEK itself */
}

int rec_generate(const struct rec_key *keys, size_t count, unsigned threshold, uint8_t dek[REC_DEK_SIZE],
                 json_t **secrets, struct buf *recovery_data)
{
    *secrets = json_object();
    ENSURE(*secrets != NULL, ERR_NOMEM, "out of memory");
    if (count == 0)
        return crypto_random(dek, REC_DEK_SIZE);
    ENSURE(count <= 255, ERR_INVALID_ARG, "too many recovery keys");
    enum mode m = count == 1 ? MODE_SINGLE : threshold == 0 || threshold == count ? MODE_XOR : MODE_SHAMIR;
    ENSURE(m != MODE_SHAMIR || (threshold >= 2 && threshold < count), ERR_INVALID_ARG,
           "invalid configuration to create recovery key: threshold %u of %zu keys", threshold, count);
    size_t ss = share_size(m);
    uint8_t *shares = calloc(count, ss);
    json_t *list = json_array();
    int r = ERR_INTERNAL;
    ENSURE_OUT(shares != NULL && list != NULL, ERR_NOMEM, "out of memory");
    TRY_OUT(make_shares(m, count, threshold, dek, shares));
    for (size_t i = 0; i < count; i++) {
        struct view share = view_of(shares + i * ss, ss);
        TRY_OUT(encrypt_share(&keys[i], share, *secrets));
        TRY_OUT(describe_share(&keys[i], share, list));
    }
    json_t *data = json_pack("{s:i,s:s,s:i,s:O}", "version", 1, "mode", mode_names[m], "threshold",
                             m == MODE_SHAMIR ? (int)threshold : (int)count, "shares", list);
    ENSURE_OUT(data != NULL, ERR_NOMEM, "out of memory");
    r = js_dump(recovery_data, data, JSON_COMPACT);
    json_decref(data);
out:
    if (shares != NULL) {
        mem_wipe(shares, count * ss);
        free(shares);
    }
    json_decref(list);
    if (r < 0) {
        json_decref(*secrets);
        *secrets = NULL;
        mem_wipe(dek, REC_DEK_SIZE);
    }
    return r;
}

/* Sessions --------------------------------------------------------------------------------------- */

static int parse_entry(const json_t *j, struct rec_entry *e)
{
    const char *name, *spki64, *hash;
    struct buf spki = BUF_INIT;
    TRY(js_get_string(j, "key", true, &name));
    TRY(js_get_string(j, "publicKey", true, &spki64));
    TRY(js_get_string(j, "sha256", true, &hash));
    ENSURE(strlen(name) <= QY_NAME_MAX, ERR_CORRUPT, "recovery key name too long");
    TRY(enc_hex_decode_fixed(e->hash, 32, view_str(hash)));
    int r = enc_b64_decode(&spki, view_str(spki64));
    if (r == 0)
        r = crypto_key_from_public_der(buf_view(&spki), &e->key);
    buf_free(&spki);
    TRY(r);
    ENSURE(crypto_key_type(e->key) == CRYPTO_KEY_RSA, ERR_CORRUPT, "recovery key %s is not RSA", name);
    e->name = strdup(name);
    ENSURE(e->name != NULL, ERR_NOMEM, "out of memory");
    return 0;
}

static int parse_session(const json_t *j, struct rec_session *s)
{
    const char *mode;
    uint64_t version, threshold;
    TRY(js_get_u64(j, "version", true, &version));
    ENSURE(version == 1, ERR_UNSUPPORTED, "recovery data version %llu", (unsigned long long)version);
    TRY(js_get_string(j, "mode", true, &mode));
    TRY(js_get_u64(j, "threshold", true, &threshold));
    bool known = false;
    for (int m = MODE_SINGLE; m <= MODE_SHAMIR; m++)
        if (strcmp(mode, mode_names[m]) == 0)
            s->mode = (enum mode)m, known = true;
    ENSURE(known, ERR_CORRUPT, "unknown recovery mode \"%s\"", mode);
    json_t *shares = json_object_get(j, "shares");
    ENSURE(json_is_array(shares) && json_array_size(shares) >= 1 && json_array_size(shares) <= 255, ERR_CORRUPT,
           "malformed recovery shares");
    size_t n = json_array_size(shares);
    ENSURE((s->mode == MODE_SINGLE) == (n == 1) && threshold >= 1 && threshold <= n &&
               (s->mode != MODE_SHAMIR || threshold >= 2),
           ERR_CORRUPT, "inconsistent recovery data");
    s->threshold = (unsigned)threshold;
    s->e = calloc(n, sizeof(*s->e));
    ENSURE(s->e != NULL, ERR_NOMEM, "out of memory");
    for (size_t i = 0; i < n; i++) {
        s->count++; /* first: rec_session_free frees what an entry that failed half-way holds */
        TRY(parse_entry(json_array_get(shares, i), &s->e[i]));
    }
    return 0;
}

int rec_session_new(struct view recovery_data, struct rec_session **out)
{
    *out = NULL;
    ENSURE(recovery_data.size > 0, ERR_UNSUPPORTED, "the sealed state has no recovery keys: it cannot be recovered");
    json_t *j = NULL;
    int r = js_parse(recovery_data, QY_JSON_MAX_SIZE, &j);
    ENSURE(r == 0, ERR_CORRUPT, "recovery data: %s", err_detail(r));
    struct rec_session *s = calloc(1, sizeof(*s));
    r = s ? parse_session(j, s) : err_fail(ERR_NOMEM, __func__, "out of memory");
    json_decref(j);
    if (r < 0) {
        int code = r == ERR_NOMEM || r == ERR_UNSUPPORTED ? r : ERR_CORRUPT;
        r = err_fail(code, __func__, "recovery data: %s", err_detail(r));
        rec_session_free(s);
        return r;
    }
    *out = s;
    return 0;
}

void rec_session_free(struct rec_session *s)
{
    if (s == NULL)
        return;
    for (size_t i = 0; i < s->count; i++) {
        free(s->e[i].name);
        crypto_key_free(s->e[i].key);
    }
    if (s->e != NULL) {
        mem_wipe(s->e, s->count * sizeof(*s->e));
        free(s->e);
    }
    free(s);
}

unsigned rec_session_remaining(const struct rec_session *s)
{
    size_t need = s->mode == MODE_SHAMIR ? s->threshold : s->count;
    return s->used >= need ? 0 : (unsigned)(need - s->used);
}

void rec_session_reset(struct rec_session *s)
{
    for (size_t i = 0; i < s->count; i++) {
        s->e[i].used = false;
        mem_wipe(s->e[i].share, sizeof(s->e[i].share));
    }
    s->used = 0;
}

static int recover_dek(struct rec_session *s, uint8_t dek[REC_DEK_SIZE])
{
    if (s->mode == MODE_SINGLE) {
        memcpy(dek, s->e[0].share, REC_DEK_SIZE);
        return 0;
    }
    if (s->mode == MODE_XOR) {
        memset(dek, 0, REC_DEK_SIZE);
        for (size_t i = 0; i < s->count; i++)
            for (size_t b = 0; b < REC_DEK_SIZE; b++)
                dek[b] ^= s->e[i].share[b];
        return 0;
    }
    uint8_t picked[255 * REC_SHAMIR_SHARE_SIZE];
    size_t k = 0;
    for (size_t i = 0; i < s->count; i++)
        if (s->e[i].used)
            memcpy(picked + k++ * REC_SHAMIR_SHARE_SIZE, s->e[i].share, REC_SHAMIR_SHARE_SIZE);
    struct buf secret = BUF_INIT;
    int r = rec_shamir_combine(picked, k, REC_SHAMIR_SHARE_SIZE, &secret);
    mem_wipe(picked, k * REC_SHAMIR_SHARE_SIZE);
    if (r == 0)
        memcpy(dek, secret.ptr, REC_DEK_SIZE);
    buf_free(&secret);
    return r;
}

int rec_session_add(struct rec_session *s, struct view share, struct view signature, unsigned *remaining,
                    uint8_t dek[REC_DEK_SIZE])
{
    uint8_t hash[32];
    *remaining = rec_session_remaining(s);
    ENSURE(share.size == share_size(s->mode), ERR_POLICY,
           "uploaded an invalid recovery secret: %zu bytes, expected %zu", share.size, share_size(s->mode));
    TRY(crypto_sha256(&share, 1, hash));
    struct rec_entry *e = NULL;
    for (size_t i = 0; i < s->count && e == NULL; i++)
        if (mem_eq_ct(s->e[i].hash, hash, 32))
            e = &s->e[i];
    ENSURE(e != NULL, ERR_POLICY, "uploaded an invalid or already used secret: it is not a recovery secret of "
                                  "this state");
    ENSURE(!e->used, ERR_POLICY, "uploaded an invalid or already used secret: the secret of %s was already used",
           e->name);
    int r = crypto_verify(e->key, CRYPTO_SIG_RSA_PKCS1_SHA256, share, signature);
    ENSURE(r != ERR_BAD_SIGNATURE, ERR_BAD_SIGNATURE,
           "the signature does not verify with recovery key %s (sign SHA-256 of the secret with PKCS#1 v1.5)",
           e->name);
    TRY(r);
    e->used = true;
    memcpy(e->share, share.ptr, share.size);
    s->used++;
    *remaining = rec_session_remaining(s);
    if (*remaining == 0)
        TRY(recover_dek(s, dek));
    return 0;
}
