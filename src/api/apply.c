/*
 * Applying an activation: the marble's files and environment (api.h, "Applying an activation").
 * The premain must never start a half-configured program, so the files are all written or none:
 * each one atomically, and on a failure the ones already written (and the folders made for them)
 * are removed again. Gramine's key pseudo-files go first: Gramine's encrypted files cannot be
 * written before their keys are set, and a pseudo-file is neither created nor renamed, only
 * written.
 */
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "api.h"

/* Paths created by this run, in creation order, to undo them in reverse. */
struct undo {
    char **paths;
    bool *is_dir;
    size_t count, cap;
};

static int undo_push(struct undo *u, const char *path, bool is_dir)
{
    if (u->count == u->cap) {
        size_t cap = u->cap ? u->cap * 2 : 16;
        char **p = calloc(cap, sizeof(*p));
        bool *d = calloc(cap, sizeof(*d));
        if (p == NULL || d == NULL) {
            free(p);
            free(d);
            FAIL(ERR_NOMEM, "out of memory");
        }
        if (u->count > 0) {
            memcpy(p, u->paths, u->count * sizeof(*p));
            memcpy(d, u->is_dir, u->count * sizeof(*d));
        }
        free(u->paths);
        free(u->is_dir);
        u->paths = p;
        u->is_dir = d;
        u->cap = cap;
    }
    u->paths[u->count] = strdup(path);
    ENSURE(u->paths[u->count] != NULL, ERR_NOMEM, "out of memory");
    u->is_dir[u->count++] = is_dir;
    return 0;
}

/* Removes what was created, newest first: files, then folders once they are empty again. */
static void undo_run(struct undo *u)
{
    for (size_t i = u->count; i-- > 0;) {
        if (u->is_dir[i])
            (void)rmdir(u->paths[i]);
        else
            (void)unlink(u->paths[i]);
    }
}

static void undo_free(struct undo *u)
{
    for (size_t i = 0; i < u->count; i++)
        free(u->paths[i]);
    free(u->paths);
    free(u->is_dir);
}

static bool is_gramine_key(const char *path)
{
    static const char keys[] = "/dev/attestation/keys/";
    return strncmp(path, keys, sizeof(keys) - 1) == 0 ||
           strcmp(path, "/dev/attestation/protected_files_key") == 0;
}

/* Creates the missing folders above `path`, recording them (shallowest first) for the undo. */
static int make_parents(const char *path, struct undo *u)
{
    char parent[QY_PATH_MAX], walk[QY_PATH_MAX];
    struct undo missing = {0}; /* deepest first, as found walking up */
    struct stat st;
    int r = ERR_INTERNAL;
    ENSURE(strlen(path) < sizeof(parent), ERR_TOO_LARGE, "path too long: %.64s...", path);
    snprintf(walk, sizeof(walk), "%s", path);
    snprintf(parent, sizeof(parent), "%s", dirname(walk));
    snprintf(walk, sizeof(walk), "%s", parent);
    while (strcmp(walk, ".") != 0 && strcmp(walk, "/") != 0 && stat(walk, &st) != 0 &&
           errno == ENOENT) {
        ENSURE_OUT(missing.count < QY_APPLY_MAX_DEPTH, ERR_TOO_LARGE,
                   "%s: too many missing folders", path);
        TRY_OUT(undo_push(&missing, walk, true));
        const char *up = dirname(walk);
        memmove(walk, up, strlen(up) + 1);
    }
    for (size_t i = missing.count; i-- > 0;)
        TRY_OUT(undo_push(u, missing.paths[i], true));
    r = missing.count > 0 ? file_mkdirs(parent, 0700) : 0;
out:
    undo_free(&missing);
    return r;
}

static int write_one(const struct api_param *f, struct undo *u)
{
    ENSURE(f->name[0] != '\0', ERR_INVALID_ARG, "a file without a path");
    TRY(make_parents(f->name, u));
    /* Recorded first (a written file must never miss the undo), dropped again when the write
     * failed: then the path still holds what was there before, which is not ours to remove. */
    TRY(undo_push(u, f->name, false));
    int r = file_write_atomic(f->name, buf_view(&f->value), 0600);
    if (r < 0)
        free(u->paths[--u->count]);
    return r;
}

int api_activation_write_files(const struct api_activation *a)
{
    struct undo u = {0};
    int r = ERR_INTERNAL;
    for (size_t i = 0; i < a->files_count; i++) {
        if (is_gramine_key(a->files[i].name)) {
            r = file_write_in_place(a->files[i].name, buf_view(&a->files[i].value), true);
            ENSURE_OUT(r == 0, r, "writing the Gramine key %s: %s", a->files[i].name,
                       err_detail(r));
        }
    }
    for (size_t i = 0; i < a->files_count; i++) {
        if (is_gramine_key(a->files[i].name))
            continue;
        r = write_one(&a->files[i], &u);
        ENSURE_OUT(r == 0, r, "writing %s: %s", a->files[i].name, err_detail(r));
    }
    r = 0;
out:
    if (r < 0)
        undo_run(&u);
    undo_free(&u);
    return r;
}

int api_activation_set_env(const struct api_activation *a)
{
    for (size_t i = 0; i < a->env_count; i++) {
        const struct api_param *e = &a->env[i];
        ENSURE(e->name[0] != '\0' && strchr(e->name, '=') == NULL, ERR_ENCODING,
               "environment variable name \"%.64s\" is empty or contains '='", e->name);
        ENSURE(e->value.size == 0 || memchr(e->value.ptr, '\0', e->value.size) == NULL,
               ERR_ENCODING, "environment variable %.64s contains a NUL byte", e->name);
    }
    for (size_t i = 0; i < a->env_count; i++) {
        const struct api_param *e = &a->env[i];
        char *value = malloc(e->value.size + 1);
        ENSURE(value != NULL, ERR_NOMEM, "out of memory");
        if (e->value.size > 0)
            memcpy(value, e->value.ptr, e->value.size);
        value[e->value.size] = '\0';
        int rc = setenv(e->name, value, 1);
        int saved = errno;
        mem_wipe(value, e->value.size);
        free(value);
        ENSURE(rc == 0, ERR_NOMEM, "cannot set %.64s: %s", e->name, strerror(saved));
    }
    return 0;
}
