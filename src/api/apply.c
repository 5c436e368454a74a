/*
 * Applying an activation: the marble's files and environment (api.h, "Applying an activation").
 * The premain must never start a half-configured program, so the files are all written or none:
 * each one atomically, and on a failure the ones already written (and the folders made for them)
 * are removed again, and a file that was there before (a marble restarted) gets its old contents
 * back: it is kept as a hard link beside it until every file is written. Gramine's key pseudo-files go first: Gramine's encrypted files cannot be
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

/* What this run changed, in order, to undo in reverse: a folder or file it created, or a file it
 * replaced, whose old contents are the hard link `backup`. */
enum undo_kind { UNDO_DIR, UNDO_FILE, UNDO_RESTORE };
struct undo_entry {
    enum undo_kind kind;
    char *path, *backup;
};
struct undo {
    struct undo_entry *e;
    size_t count, cap;
};

static int undo_push(struct undo *u, enum undo_kind kind, const char *path, const char *backup)
{
    struct undo_entry *n = arr_grow(u->e, &u->cap, u->count, sizeof(*n), 16);
    ENSURE(n != NULL, ERR_NOMEM, "out of memory");
    u->e = n;
    struct undo_entry *e = &u->e[u->count];
    *e = (struct undo_entry){kind, strdup(path), backup ? strdup(backup) : NULL};
    if (e->path == NULL || (backup != NULL && e->backup == NULL)) {
        free(e->path);
        free(e->backup);
        FAIL(ERR_NOMEM, "out of memory");
    }
    u->count++;
    return 0;
}

static void undo_pop(struct undo *u)
{
    struct undo_entry *e = &u->e[--u->count];
    free(e->path);
    free(e->backup);
}

/* Newest first: created files removed, replaced ones restored, folders removed once empty again. */
static void undo_run(struct undo *u)
{
    for (size_t i = u->count; i-- > 0;) {
        const struct undo_entry *e = &u->e[i];
        if (e->kind == UNDO_DIR)
            (void)rmdir(e->path);
        else if (e->kind == UNDO_FILE)
            (void)unlink(e->path);
        else
            (void)rename(e->backup, e->path);
    }
}

/* After success: the old contents of replaced files are not needed any more. */
static void undo_drop_backups(struct undo *u)
{
    for (size_t i = 0; i < u->count; i++)
        if (u->e[i].kind == UNDO_RESTORE)
            (void)unlink(u->e[i].backup);
}

static void undo_free(struct undo *u)
{
    while (u->count > 0)
        undo_pop(u);
    free(u->e);
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
        TRY_OUT(undo_push(&missing, UNDO_DIR, walk, NULL));
        const char *up = dirname(walk);
        memmove(walk, up, strlen(up) + 1);
    }
    for (size_t i = missing.count; i-- > 0;)
        TRY_OUT(undo_push(u, UNDO_DIR, missing.e[i].path, NULL));
    r = missing.count > 0 ? file_mkdirs(parent, 0700) : 0;
out:
    undo_free(&missing);
    return r;
}

/* Records `path` for the undo before it is written: created, or replaced with its old contents
 * kept as a hard link (named with our PID, so it collides with nothing of the marble's). */
static int record(const char *path, struct undo *u)
{
    struct stat st;
    if (lstat(path, &st) != 0) {
        ENSURE(errno == ENOENT, ERR_IO, "cannot inspect %s: %s", path, strerror(errno));
        return undo_push(u, UNDO_FILE, path, NULL);
    }
    char backup[QY_PATH_MAX];
    int n = snprintf(backup, sizeof(backup), "%s.quarry-undo-%ld", path, (long)getpid());
    ENSURE(n > 0 && (size_t)n < sizeof(backup), ERR_TOO_LARGE, "path too long: %.64s...", path);
    ENSURE(link(path, backup) == 0, ERR_IO, "cannot keep the previous %s: %s", path, strerror(errno));
    int r = undo_push(u, UNDO_RESTORE, path, backup);
    if (r < 0)
        (void)unlink(backup);
    return r;
}

static int write_one(const struct api_param *f, struct undo *u)
{
    ENSURE(f->name[0] != '\0', ERR_INVALID_ARG, "a file without a path");
    TRY(make_parents(f->name, u));
    /* Recorded first (a written file must never miss the undo), dropped again when the write
     * failed: then the path still holds what was there before. */
    TRY(record(f->name, u));
    int r = file_write_atomic(f->name, buf_view(&f->value), 0600);
    if (r < 0) {
        if (u->e[u->count - 1].kind == UNDO_RESTORE)
            (void)unlink(u->e[u->count - 1].backup);
        undo_pop(u);
    }
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
    undo_drop_backups(&u);
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
