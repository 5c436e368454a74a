/*
 * Quote sources: what produces this process's own quote over 64 bytes of report data.
 *
 *   gramine  Gramine's pseudo-files: write user_report_data, read quote. The pair is one exchange
 *            with the enclave runtime, so requests are serialised.
 *   tsm      Linux configfs-tsm (Documentation/ABI/testing/configfs-tsm): mkdir a report entry,
 *            write inblob, read outblob; `generation` detects another writer in between, `provider`
 *            says which TEE answered. One entry per request, removed afterwards.
 *   emulated the testkit's software QE (INSECURE), for the identity in the kit's enclave.json or
 *            the one named after the directory (emulated:DIR,mrenclave=HEX,isvsvn=N,...).
 *   simulation no quote at all (INSECURE).
 * Device roots are parameters so the tests drive gramine and tsm against fake directories.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "att_int.h"

enum source_kind { SRC_SIMULATION, SRC_EMULATED, SRC_GRAMINE, SRC_TSM };

struct att_source {
    enum source_kind kind;
    char *root;
    struct att_testkit *owned_kit; /* emulated:DIR */
    const struct att_testkit *kit;
    struct att_testkit_quote_params id;
    pthread_mutex_t lock;
    atomic_uint next_entry;
};

static int source_alloc(enum source_kind kind, const char *root, struct att_source **out)
{
    struct att_source *s = calloc(1, sizeof(*s));
    ENSURE(s != NULL, ERR_NOMEM, "out of memory");
    s->kind = kind;
    if (root != NULL && (s->root = strdup(root)) == NULL) {
        free(s);
        FAIL(ERR_NOMEM, "out of memory");
    }
    pthread_mutex_init(&s->lock, NULL);
    atomic_init(&s->next_entry, 0);
    *out = s;
    return 0;
}

/* One "key=value" (or "debug") of an emulated spec's identity overrides. */
static int parse_override(const char *item, size_t size, struct att_testkit_quote_params *id)
{
    const char *eq = memchr(item, '=', size);
    size_t klen = eq ? (size_t)(eq - item) : size;
    struct view val = eq ? view_of(eq + 1, size - klen - 1) : VIEW_EMPTY;
    if (klen == 5 && strncmp(item, "debug", 5) == 0) {
        ENSURE(eq == NULL || (val.size == 1 && (val.ptr[0] == '0' || val.ptr[0] == '1')),
               ERR_INVALID_ARG, "emulated source: debug takes no value, or 0 or 1");
        id->debug = eq == NULL || val.ptr[0] == '1';
        return 0;
    }
    if ((klen == 9 && strncmp(item, "mrenclave", 9) == 0) ||
        (klen == 8 && strncmp(item, "mrsigner", 8) == 0)) {
        int r = enc_hex_decode_fixed(klen == 9 ? id->mrenclave : id->mrsigner, 32, val);
        ENSURE(r == 0, ERR_INVALID_ARG, "emulated source: %.*s must be 64 hex digits", (int)klen,
               item);
        return 0;
    }
    if ((klen == 9 && strncmp(item, "isvprodid", 9) == 0) ||
        (klen == 6 && strncmp(item, "isvsvn", 6) == 0)) {
        char num[8];
        uint64_t v = 0;
        bool ok = val.size > 0 && val.size < sizeof(num);
        if (ok) {
            memcpy(num, val.ptr, val.size);
            num[val.size] = '\0';
            ok = enc_dec_u64("the value", num, 0, 65535, &v) == 0;
        }
        ENSURE(ok, ERR_INVALID_ARG, "emulated source: %.*s must be 0 to 65535", (int)klen, item);
        *(klen == 9 ? &id->isvprodid : &id->isvsvn) = (uint16_t)v;
        return 0;
    }
    FAIL(ERR_INVALID_ARG,
         "emulated source: unknown override \"%.*s\" (mrenclave=, mrsigner=, isvprodid=, isvsvn=, "
         "debug)",
         (int)(klen > 32 ? 32 : klen), item);
}

/* "k=v,k=v,...": the identity this process claims instead of the kit's enclave.json (TEST ONLY:
 * a demo or a test runs marbles with different identities from one kit). */
static int parse_identity_overrides(const char *list, struct att_testkit_quote_params *id)
{
    while (*list != '\0') {
        size_t n = strcspn(list, ",");
        ENSURE(n > 0, ERR_INVALID_ARG, "emulated source: empty identity override");
        TRY(parse_override(list, n, id));
        list += n + (list[n] == ',');
    }
    return 0;
}

int att_source_new(const char *spec, struct att_source **out)
{
    *out = NULL;
    ENSURE(spec != NULL, ERR_INVALID_ARG, "no quote source given");
    const char *colon = strchr(spec, ':');
    size_t n = colon ? (size_t)(colon - spec) : strlen(spec);
    const char *arg = colon ? colon + 1 : NULL;
    ENSURE(arg == NULL || (arg[0] != '\0' && strlen(arg) < QY_PATH_MAX), ERR_INVALID_ARG,
           "quote source \"%.64s\": empty or too long argument", spec);
    if (n == 10 && strncmp(spec, "simulation", n) == 0) {
        ENSURE(arg == NULL, ERR_INVALID_ARG, "the simulation source takes no argument");
        return source_alloc(SRC_SIMULATION, NULL, out);
    }
    if (n == 7 && strncmp(spec, "gramine", n) == 0)
        return source_alloc(SRC_GRAMINE, arg ? arg : "/dev/attestation", out);
    if (n == 3 && strncmp(spec, "tsm", n) == 0)
        return source_alloc(SRC_TSM, arg ? arg : "/sys/kernel/config/tsm/report", out);
    if (n == 8 && strncmp(spec, "emulated", n) == 0) {
        ENSURE(arg != NULL, ERR_INVALID_ARG,
               "the emulated source needs a testkit directory (emulated:DIR)");
        char dir[QY_PATH_MAX];
        const char *overrides = strchr(arg, ',');
        snprintf(dir, sizeof(dir), "%.*s", (int)(overrides ? (size_t)(overrides - arg) : strlen(arg)),
                 arg);
        struct att_testkit *tk = NULL;
        TRY(att_testkit_open(dir, &tk));
        struct att_source *s = NULL;
        int r = source_alloc(SRC_EMULATED, dir, &s);
        if (r == 0)
            r = att_testkit_default_identity(tk, &s->id);
        if (r == 0 && overrides != NULL)
            r = parse_identity_overrides(overrides + 1, &s->id);
        if (r < 0) {
            att_testkit_free(tk);
            att_source_free(s);
            return r;
        }
        s->owned_kit = tk;
        s->kit = tk;
        *out = s;
        return 0;
    }
    FAIL(ERR_INVALID_ARG,
         "unknown quote source \"%.64s\" (emulated:DIR, simulation, gramine[:ROOT], tsm[:ROOT])",
         spec);
}

int att_source_new_emulated(const struct att_testkit *tk, const struct att_testkit_quote_params *id,
                            struct att_source **out)
{
    TRY(source_alloc(SRC_EMULATED, att_testkit_dir(tk), out));
    (*out)->kit = tk;
    (*out)->id = *id;
    return 0;
}

void att_source_free(struct att_source *s)
{
    if (s == NULL)
        return;
    att_testkit_free(s->owned_kit);
    pthread_mutex_destroy(&s->lock);
    free(s->root);
    free(s);
}

bool att_source_is_simulation(const struct att_source *s)
{
    return s->kind == SRC_SIMULATION;
}

bool att_source_is_emulated(const struct att_source *s)
{
    return s->kind == SRC_EMULATED;
}

const char *att_source_name(const struct att_source *s)
{
    static const char *const names[] = {"simulation", "emulated", "gramine", "tsm"};
    return names[s->kind];
}

/* Files --------------------------------------------------------------------------------------- */

static int path_of(char *out, size_t size, const char *a, const char *b, const char *c)
{
    int n = c ? snprintf(out, size, "%s/%s/%s", a, b, c) : snprintf(out, size, "%s/%s", a, b);
    ENSURE(n > 0 && (size_t)n < size, ERR_TOO_LARGE, "path too long");
    return 0;
}

/* A small text attribute ("1\n", "tdx_guest\n") without its trailing newline; "" when absent. */
static int read_attr(const char *path, char *out, size_t size)
{
    struct buf b = BUF_INIT;
    out[0] = '\0';
    int r = file_read(path, 256, &b);
    if (r == ERR_NOT_FOUND)
        return 0;
    TRY(r);
    size_t n = b.size;
    while (n > 0 && (b.ptr[n - 1] == '\n' || b.ptr[n - 1] == '\0'))
        n--;
    snprintf(out, size, "%.*s", (int)n, (const char *)b.ptr);
    buf_free(&b);
    return 0;
}

static void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* Gramine ---------------------------------------------------------------------------------------
 */

static int gramine_quote(struct att_source *s, const uint8_t report_data[64], struct buf *quote)
{
    char path[QY_PATH_MAX], type[64];
    struct buf q = BUF_INIT;
    TRY(path_of(path, sizeof(path), s->root, "attestation_type", NULL));
    TRY(read_attr(path, type, sizeof(type)));
    ENSURE(type[0] == '\0' || strcmp(type, "dcap") == 0, ERR_UNAVAILABLE,
           "Gramine's attestation type is \"%s\", not \"dcap\" (sgx.remote_attestation = \"dcap\")",
           type);
    pthread_mutex_lock(&s->lock);
    int r = path_of(path, sizeof(path), s->root, "user_report_data", NULL);
    if (r == 0)
        r = file_write_in_place(path, view_of(report_data, 64), false);
    if (r == 0)
        r = path_of(path, sizeof(path), s->root, "quote", NULL);
    if (r == 0)
        r = file_read(path, QY_ATT_QUOTE_MAX_SIZE, &q);
    pthread_mutex_unlock(&s->lock);
    if (r == 0 && q.size == 0)
        r = err_fail(ERR_UNAVAILABLE, __func__, "%s is empty", path);
    if (r == 0)
        r = buf_append_view(quote, buf_view(&q));
    buf_free(&q);
    return r;
}

/* configfs-tsm ------------------------------------------------------------------------------------
 */

static int tsm_exchange(const char *entry, const uint8_t report_data[64], struct buf *out)
{
    char path[QY_PATH_MAX], gen0[32], gen1[32], provider[64];
    TRY(path_of(path, sizeof(path), entry, "generation", NULL));
    TRY(read_attr(path, gen0, sizeof(gen0)));
    TRY(path_of(path, sizeof(path), entry, "inblob", NULL));
    /* for configfs, O_CREAT changes nothing for the attributes the kernel made, and lets a fake
     * directory be plain files */
    TRY(file_write_in_place(path, view_of(report_data, 64), true));
    TRY(path_of(path, sizeof(path), entry, "outblob", NULL));
    int r = ERR_NOT_FOUND;
    for (long waited = 0; r == ERR_NOT_FOUND && waited <= QY_ATT_TSM_WAIT_MS; waited += 10) {
        r = file_read(path, QY_ATT_QUOTE_MAX_SIZE, out);
        if (r == ERR_NOT_FOUND)
            sleep_ms(10);
    }
    ENSURE(r == 0, r == ERR_NOT_FOUND ? ERR_TIMEOUT : r, "%s: %s", path, err_detail(r));
    ENSURE(out->size > 0, ERR_UNAVAILABLE, "%s is empty (no TSM provider?)", path);
    TRY(path_of(path, sizeof(path), entry, "generation", NULL));
    TRY(read_attr(path, gen1, sizeof(gen1)));
    unsigned long long g0 = strtoull(gen0, NULL, 10), g1 = strtoull(gen1, NULL, 10);
    ENSURE(gen1[0] == '\0' || g1 == g0 + 1, ERR_CONFLICT,
           "the report entry was written by someone else (generation %llu, expected %llu)", g1,
           g0 + 1);
    TRY(path_of(path, sizeof(path), entry, "provider", NULL));
    TRY(read_attr(path, provider, sizeof(provider)));
    ENSURE(provider[0] == '\0' || strcmp(provider, "tdx_guest") == 0, ERR_UNSUPPORTED,
           "TSM provider \"%s\" is not supported (tdx_guest)", provider);
    return 0;
}

static int tsm_quote(struct att_source *s, const uint8_t report_data[64], struct buf *quote)
{
    char entry[QY_PATH_MAX], name[64];
    struct buf q = BUF_INIT;
    snprintf(name, sizeof(name), "quarry-%ld-%u", (long)getpid(),
             atomic_fetch_add(&s->next_entry, 1));
    TRY(path_of(entry, sizeof(entry), s->root, name, NULL));
    ENSURE(mkdir(entry, 0700) == 0, errno == ENOENT ? ERR_UNAVAILABLE : ERR_IO,
           "cannot create %s: %s", entry, strerror(errno));
    int r = tsm_exchange(entry, report_data, &q);
    (void)rmdir(entry); /* configfs removes the attributes with the entry */
    if (r == 0)
        r = buf_append_view(quote, buf_view(&q));
    buf_free(&q);
    return r;
}

int att_source_quote(struct att_source *s, const uint8_t report_data[64], struct buf *quote)
{
    switch (s->kind) {
    case SRC_SIMULATION:
        return 0;
    case SRC_EMULATED: {
        struct att_testkit_quote_params p = s->id;
        memcpy(p.report_data, report_data, 64);
        return att_testkit_quote(s->kit, &p, quote);
    }
    case SRC_GRAMINE:
        return gramine_quote(s, report_data, quote);
    case SRC_TSM:
        return tsm_quote(s, report_data, quote);
    default:
        FAIL(ERR_INTERNAL, "unknown quote source kind %d", (int)s->kind);
    }
}
