/*
 * The update log (reference/marblerun.md §9.6), made tamper-evident. Each entry is one JSON line as
 * MarbleRun writes it ({"time", "update", ...fields}) plus "prevHash", the SHA-256 of the previous
 * line's bytes (64 zeros for the first). The head - number of entries and hash of the last line - is
 * signed with the root key and stored with the entries, in the same transaction as the change it
 * records. So anyone holding the root certificate (verified with the Coordinator's quote) can check
 * offline that no entry was changed, removed or reordered.
 */
#include <stdio.h>
#include <string.h>

#include "coord_int.h"

#define LOG_HEAD_MESSAGE_SIZE (20 + 8 + 32)

static void time_ms(int64_t now, char out[40])
{
    char base[32];
    if (qtime_format_rfc3339(now, base) < 0)
        snprintf(base, sizeof(base), "1970-01-01T00:00:00Z");
    base[strlen(base) - 1] = '\0'; /* drop the Z: MarbleRun writes milliseconds, then the zone */
    snprintf(out, 40, "%s.000Z", base);
}

/* What the head's signature covers. */
static void head_message(uint64_t entries, const uint8_t hash[32], uint8_t out[LOG_HEAD_MESSAGE_SIZE])
{
    memcpy(out, "quarry-update-log-v1", 20);
    for (int i = 0; i < 8; i++)
        out[20 + i] = (uint8_t)(entries >> (56 - 8 * i));
    memcpy(out + 28, hash, 32);
}

int coord_log_verify(const json_t *lines, const json_t *head, struct view root_der)
{
    uint8_t hash[32] = {0}, want[32], msg[LOG_HEAD_MESSAGE_SIZE];
    size_t i;
    json_t *l;
    ENSURE(json_is_array(lines), ERR_CORRUPT, "the Coordinator sent no update log");
    json_array_foreach(lines, i, l) {
        json_t *entry = NULL;
        const char *prev = NULL;
        int r = js_parse(js_string_view(l), QY_JSON_MAX_SIZE, &entry);
        if (r == 0)
            r = js_get_string(entry, "prevHash", true, &prev);
        if (r == 0)
            r = enc_hex_decode_fixed(want, sizeof(want), view_str(prev));
        bool ok = r == 0 && mem_eq_ct(want, hash, 32);
        json_decref(entry);
        ENSURE(ok, ERR_CORRUPT, "update log entry %zu does not follow entry %zu: changed, removed or reordered", i + 1,
               i);
        struct view line = js_string_view(l);
        TRY(crypto_sha256(&line, 1, hash));
    }
    uint64_t entries = 0;
    const char *head_hash = NULL, *sig64 = NULL;
    TRY(js_get_u64(head, "entries", true, &entries));
    TRY(js_get_string(head, "sha256", true, &head_hash));
    TRY(js_get_string(head, "signature", true, &sig64));
    int r = enc_hex_decode_fixed(want, sizeof(want), view_str(head_hash));
    ENSURE(r == 0 && entries == json_array_size(lines) && mem_eq_ct(want, hash, 32), ERR_CORRUPT,
           "the update log does not end at its signed head (%zu entries, the head says %llu)", json_array_size(lines),
           (unsigned long long)entries);
    head_message(entries, hash, msg);
    struct buf sig = BUF_INIT;
    r = enc_b64_decode(&sig, view_str(sig64));
    if (r == 0)
        r = pki_verify_root_signature(root_der, view_of(msg, sizeof(msg)), buf_view(&sig));
    buf_free(&sig);
    ENSURE(r == 0, ERR_BAD_SIGNATURE, "the update log's head is not signed by the Coordinator's root");
    return 0;
}

static int head_json(const struct pki_ca *ca, uint64_t entries, const uint8_t hash[32], struct buf *out)
{
    uint8_t msg[LOG_HEAD_MESSAGE_SIZE];
    struct buf sig = BUF_INIT, sig64 = BUF_INIT, hex = BUF_INIT;
    int r = ERR_INTERNAL;
    head_message(entries, hash, msg);
    TRY_OUT(pki_ca_sign_root(ca, view_of(msg, sizeof(msg)), &sig));
    TRY_OUT(enc_b64(&sig64, buf_view(&sig)));
    TRY_OUT(enc_hex(&hex, view_of(hash, 32)));
    TRY_OUT(buf_appendf(out, "{\"entries\":%llu,\"sha256\":\"%.*s\",\"signature\":\"%.*s\"}",
                        (unsigned long long)entries, (int)hex.size, (const char *)hex.ptr, (int)sig64.size,
                        (const char *)sig64.ptr));
    r = 0;
out:
    buf_free(&sig);
    buf_free(&sig64);
    buf_free(&hex);
    return r;
}

void coord_log_begin(struct coord *c, struct coord_log_stage *stage)
{
    stage->entries = c->log_entries;
    memcpy(stage->hash, c->log_hash, 32);
}

void coord_log_reset(struct coord *c, struct coord_log_stage *stage)
{
    (void)c;
    stage->entries = 0;
    memset(stage->hash, 0, sizeof(stage->hash));
}

int coord_log_append(struct coord *c, struct store_txn *t, const struct pki_ca *ca, struct coord_log_stage *stage,
                     const char *update, json_t *fields)
{
    int r = ERR_INTERNAL;
    struct buf line = BUF_INIT, prev = BUF_INIT, head = BUF_INIT;
    char when[40], key[64];
    json_t *entry = json_object();
    ENSURE_OUT(entry != NULL, ERR_NOMEM, "cannot build a log entry");
    time_ms(coord_now(c), when);
    TRY_OUT(enc_hex(&prev, view_of(stage->hash, 32)));
    json_object_set_new(entry, "time", json_string(when));
    json_object_set_new(entry, "update", json_string(update));
    if (fields != NULL)
        json_object_update(entry, fields);
    json_object_set_new(entry, "prevHash", json_stringn((const char *)prev.ptr, prev.size));
    TRY_OUT(js_dump(&line, entry, JSON_COMPACT));
    snprintf(key, sizeof(key), KEY_LOG_PREFIX "%016llx", (unsigned long long)stage->entries);
    TRY_OUT(store_txn_put(t, key, buf_view(&line), STORE_REV_ABSENT));
    struct view part = buf_view(&line);
    TRY_OUT(crypto_sha256(&part, 1, stage->hash));
    stage->entries++;
    TRY_OUT(head_json(ca, stage->entries, stage->hash, &head));
    TRY_OUT(store_txn_put(t, KEY_LOG_HEAD, buf_view(&head), STORE_REV_ANY));
    r = 0;
out:
    json_decref(entry);
    json_decref(fields);
    buf_free(&line);
    buf_free(&prev);
    buf_free(&head);
    return r;
}

void coord_log_commit(struct coord *c, const struct coord_log_stage *stage)
{
    c->log_entries = stage->entries;
    memcpy(c->log_hash, stage->hash, 32);
}

static int collect_line(void *ctx, const char *key, struct view value, uint64_t rev)
{
    (void)key, (void)rev;
    json_t *lines = ctx;
    ENSURE(json_array_append_new(lines, json_stringn((const char *)value.ptr, value.size)) == 0, ERR_NOMEM,
           "cannot collect the log");
    return 0;
}

int coord_update_log(struct coord *c, json_t **out)
{
    *out = NULL;
    ENSURE(coord_state(c) == COORD_ACCEPTING_MARBLES, ERR_WRONG_STATE, "server is not in expected state");
    json_t *lines = json_array();
    ENSURE(lines != NULL, ERR_NOMEM, "cannot collect the log");
    int r = store_scan(c->cfg.store, KEY_LOG_PREFIX, collect_line, lines);
    if (r < 0) {
        json_decref(lines);
        return r;
    }
    *out = lines;
    return 0;
}

int coord_update_log_head(struct coord *c, json_t **out)
{
    struct buf head = BUF_INIT;
    *out = NULL;
    ENSURE(coord_state(c) == COORD_ACCEPTING_MARBLES, ERR_WRONG_STATE, "server is not in expected state");
    int r = store_get(c->cfg.store, KEY_LOG_HEAD, &head, NULL);
    if (r == 0 && js_parse(buf_view(&head), QY_JSON_MAX_SIZE, out) < 0)
        r = err_fail(ERR_CORRUPT, __func__, "the stored log head is not valid JSON");
    buf_free(&head);
    return r;
}

/* Loads the head at start (the log itself stays in the store). */
int coord_log_load(struct coord *c)
{
    json_t *head = NULL;
    struct buf b = BUF_INIT;
    int r = store_get(c->cfg.store, KEY_LOG_HEAD, &b, NULL);
    if (r < 0)
        buf_free(&b); /* a value that failed authentication may have left bytes */
    if (r == ERR_NOT_FOUND) {
        c->log_entries = 0;
        memset(c->log_hash, 0, 32);
        return 0;
    }
    TRY(r);
    r = js_parse(buf_view(&b), QY_JSON_MAX_SIZE, &head);
    buf_free(&b);
    ENSURE(r == 0, ERR_CORRUPT, "the stored log head is not valid JSON");
    uint64_t entries = 0;
    const char *hash = NULL;
    r = js_get_u64(head, "entries", true, &entries);
    if (r == 0)
        r = js_get_string(head, "sha256", true, &hash);
    if (r == 0)
        r = enc_hex_decode_fixed(c->log_hash, 32, view_str(hash));
    json_decref(head);
    ENSURE(r == 0, ERR_CORRUPT, "the stored log head is malformed");
    c->log_entries = entries;
    return 0;
}
