/*
 * Collateral sources: the generic wrapper around a vtable, and the directory source, which reads
 * collateral laid out as ../shared/vectors/<name> (Intel PCS response bodies in files, issuer
 * chains as PEM files). Several spellings occur in the wild (a CRL as .der, .pem or hex), so each
 * item has a short list of candidate names; the first that exists is used. Files are bounded by the
 * same limits as network responses.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "att_int.h"

struct att_collateral_source {
    char *name;
    const struct att_collateral_ops *ops;
    void *ctx;
};

int att_collateral_source_new(const char *name, const struct att_collateral_ops *ops, void *ctx,
                              struct att_collateral_source **out)
{
    *out = NULL;
    struct att_collateral_source *s = calloc(1, sizeof(*s));
    char *n = strdup(name ? name : "collateral source");
    if (s == NULL || n == NULL) {
        free(s);
        free(n);
        if (ops->free != NULL)
            ops->free(ctx);
        FAIL(ERR_NOMEM, "cannot allocate a collateral source");
    }
    s->name = n;
    s->ops = ops;
    s->ctx = ctx;
    *out = s;
    return 0;
}

int att_collateral_fetch(struct att_collateral_source *s, const struct att_collateral_request *req,
                         struct att_collateral_item *out)
{
    return s->ops->fetch(s->ctx, req, out);
}

const char *att_collateral_source_name(const struct att_collateral_source *s)
{
    return s->name;
}

void att_collateral_item_free(struct att_collateral_item *it)
{
    buf_free(&it->body);
    buf_free(&it->issuer_chain);
}

void att_collateral_source_free(struct att_collateral_source *s)
{
    if (s == NULL)
        return;
    if (s->ops->free != NULL)
        s->ops->free(s->ctx);
    free(s->name);
    free(s);
}

/* The directory source ------------------------------------------------------------------------- */

struct dir_source {
    char *dir;
};

/* Reads the first of `names` that exists into out; ERR_NOT_FOUND when none does. */
static int read_first(const char *dir, const char *const *names, size_t count, size_t max,
                      struct buf *out)
{
    char path[QY_PATH_MAX];
    for (size_t i = 0; i < count; i++) {
        if (names[i] == NULL)
            continue;
        int n = snprintf(path, sizeof(path), "%s/%s", dir, names[i]);
        ENSURE(n > 0 && (size_t)n < sizeof(path), ERR_TOO_LARGE, "path too long");
        struct stat st;
        if (stat(path, &st) != 0) {
            ENSURE(errno == ENOENT || errno == ENOTDIR, ERR_IO, "%s: %s", path, strerror(errno));
            continue;
        }
        int r = file_read(path, max, out);
        ENSURE(r == 0, r, "%s: %s", path, err_detail(r));
        return 0;
    }
    FAIL(ERR_NOT_FOUND, "%s has no %s", dir, names[0]);
}

static int dir_fetch(void *ctx, const struct att_collateral_request *req,
                     struct att_collateral_item *out)
{
    struct dir_source *d = ctx;
    char fmspc[32], per_fmspc[64];
    snprintf(fmspc, sizeof(fmspc), "%02x%02x%02x%02x%02x%02x", req->fmspc[0], req->fmspc[1],
             req->fmspc[2], req->fmspc[3], req->fmspc[4], req->fmspc[5]);
    snprintf(per_fmspc, sizeof(per_fmspc), "tcb_info_%s.json", fmspc);
    const char *ca = req->ca == ATT_PCK_CA_PLATFORM ? "platform" : "processor";
    char crl_names[4][48];
    static const char *const exts[] = {"der", "pem", "hex", "crl"};
    static const char *const chains[] = {"tcb_info_issuer_chain.pem",
                                         "qe_identity_issuer_chain.pem"};
    static const char *const chains_qe[] = {"qe_identity_issuer_chain.pem",
                                            "tcb_info_issuer_chain.pem"};
    switch (req->kind) {
    case ATT_COLLATERAL_TCB_INFO: {
        const char *names[] = {per_fmspc, "tcb_info.json"};
        TRY(read_first(d->dir, names, 2, QY_ATT_COLLATERAL_MAX_SIZE, &out->body));
        return read_first(d->dir, chains, 2, QY_PEM_MAX_SIZE, &out->issuer_chain);
    }
    case ATT_COLLATERAL_QE_IDENTITY: {
        const char *names[] = {"qe_identity.json"};
        TRY(read_first(d->dir, names, 1, QY_ATT_COLLATERAL_MAX_SIZE, &out->body));
        return read_first(d->dir, chains_qe, 2, QY_PEM_MAX_SIZE, &out->issuer_chain);
    }
    case ATT_COLLATERAL_PCK_CRL: {
        const char *names[8];
        for (int i = 0; i < 4; i++) {
            snprintf(crl_names[i], sizeof(crl_names[i]), "pck_crl_%s.%s", ca, exts[i]);
            names[i] = crl_names[i];
        }
        const char *plain[] = {"pck_crl.der", "pck_crl.pem", "pck_crl.hex", "pck_crl.crl"};
        memcpy(names + 4, plain, sizeof(plain));
        return read_first(d->dir, names, 8, QY_ATT_CRL_MAX_SIZE, &out->body);
    }
    case ATT_COLLATERAL_ROOT_CA_CRL: {
        const char *names[] = {"root_ca_crl.der", "root_ca_crl.pem", "root_ca_crl.hex",
                               "root_ca_crl.crl"};
        return read_first(d->dir, names, 4, QY_ATT_CRL_MAX_SIZE, &out->body);
    }
    default:
        FAIL(ERR_INVALID_ARG, "unknown collateral kind %d", (int)req->kind);
    }
}

static void dir_free(void *ctx)
{
    struct dir_source *d = ctx;
    if (d != NULL)
        free(d->dir);
    free(d);
}

static const struct att_collateral_ops dir_ops = {dir_fetch, dir_free, false};

bool att_collateral_source_is_remote(const struct att_collateral_source *s)
{
    return s->ops->remote;
}

int att_collateral_dir_new(const char *dir, struct att_collateral_source **out)
{
    struct stat st;
    char name[QY_PATH_MAX + 16];
    *out = NULL;
    ENSURE(stat(dir, &st) == 0, ERR_IO, "%s: %s", dir, strerror(errno));
    ENSURE(S_ISDIR(st.st_mode), ERR_IO, "%s is not a directory", dir);
    struct dir_source *d = calloc(1, sizeof(*d));
    ENSURE(d != NULL, ERR_NOMEM, "out of memory");
    d->dir = strdup(dir);
    if (d->dir == NULL) {
        free(d);
        FAIL(ERR_NOMEM, "out of memory");
    }
    snprintf(name, sizeof(name), "directory %s", dir);
    return att_collateral_source_new(name, &dir_ops, d, out);
}
