/* Fuzz target: what a store reads back from its backend, which whoever holds the disk can change -
 * the sealed data key (sys:dek), its sealer's name (sys:sealer), the check value, the recovery data
 * and the encrypted records. The input is the backend's content as records [u8 key size][key]
 * [u16le value size][value] (a memory backend stands in for SQLite); the seeds are real stores
 * under the fixed keys below. The store is opened, read in full, and, when sealed, unlocked with
 * the seeds' data key, as recovery would. Nothing may crash or leak. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "store/store.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The seeds' key file and data key (fuzz/corpus/store was written with them). */
static const uint8_t kek[32] = "quarry-fuzz-store-key-encryption";
static const uint8_t dek[STORE_DEK_SIZE] = "quarry-fuzz-store-data-key-32byt";
static char keyfile[64];

static void drop_keyfile(void)
{
    unlink(keyfile);
}

static int lookup(void *ctx, const char *name, struct sealer **out)
{
    (void)ctx;
    char spec[80];
    *out = NULL;
    if (strcmp(name, "disabled") == 0)
        return sealer_new("none", out);
    ENSURE(strcmp(name, "insecure-key-file") == 0, ERR_NOT_FOUND, "no sealer \"%s\" here", name);
    snprintf(spec, sizeof(spec), "keyfile:%s", keyfile);
    return sealer_new(spec, out);
}

/* The backend's content: at most 64 records; a partial last record is ignored. */
static int load(struct kv_backend *kv, const uint8_t *data, size_t size)
{
    struct rd r = rd_init(view_of(data, size));
    for (int n = 0; n < 64 && rd_remaining(&r) > 0; n++) {
        uint8_t ksize;
        uint16_t vsize;
        struct view v;
        char key[256];
        /* rd_copy, not memcpy: an empty key is a view with no pointer (regress-empty-key-*) */
        if (rd_u8(&r, &ksize) < 0 || rd_copy(&r, key, ksize) < 0 || rd_u16le(&r, &vsize) < 0 ||
            rd_bytes(&r, vsize, &v) < 0)
            break;
        key[ksize] = '\0'; /* as SQLite hands TEXT back: up to the first NUL */
        struct kv_op op = {key, v, false, STORE_REV_ANY};
        size_t start[2] = {0, 1};
        int result;
        TRY(kv->commit(kv, &op, start, 1, &result));
    }
    return 0;
}

/* The keys a scan saw, read again one by one afterwards (a scan callback may not re-enter the
 * store: the backend is locked meanwhile). */
struct keys {
    char name[64][256];
    size_t count;
};

static int note_key(void *ctx, const char *key, struct view value, uint64_t rev)
{
    (void)value, (void)rev;
    struct keys *k = ctx;
    if (k->count < 64 && strlen(key) < 256)
        memcpy(k->name[k->count++], key, strlen(key) + 1);
    return 0;
}

static void read_all(struct store *s)
{
    static struct keys k;
    k.count = 0;
    if (store_scan(s, "", note_key, &k) < 0)
        return;
    for (size_t i = 0; i < k.count; i++) {
        struct buf b = BUF_INIT;
        if (store_get(s, k.name[i], &b, NULL) < 0)
            __builtin_trap(); /* what the scan decrypted reads back */
        buf_free(&b);
    }
}

static void exercise(struct store *s)
{
    struct buf b = BUF_INIT;
    struct sealer *sealer = NULL;
    int r = store_recovery_data(s, &b);
    if (r == 0 && store_status(s) == STORE_SEALED && store_check_dek(s, dek) == 0 &&
        lookup(NULL, "insecure-key-file", &sealer) == 0 && store_unlock(s, dek, sealer) == 0 &&
        store_status(s) != STORE_OPEN)
        __builtin_trap();
    if (r == 0 && store_status(s) == STORE_OPEN)
        read_all(s);
    buf_free(&b);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (keyfile[0] == '\0') {
        snprintf(keyfile, sizeof(keyfile), "/tmp/quarry-fuzz-kek-%ld", (long)getpid());
        if (file_write_atomic(keyfile, view_of(kek, sizeof(kek)), 0600) != 0)
            abort();
        atexit(drop_keyfile);
    }
    struct kv_backend *kv = NULL;
    struct store *s = NULL;
    if (kv_backend_open("memory", &kv) != 0)
        abort();
    if (load(kv, data, size) < 0) {
        kv->free(kv);
        return 0;
    }
    if (store_open(kv, lookup, NULL, &s) == 0) /* takes kv over */
        exercise(s);
    store_free(s);
    return 0;
}
