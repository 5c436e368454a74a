#include "qt.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "manifest/manifest.h"

const char *qt_shared_dir(void)
{
    const char *d = getenv("QY_SHARED_DIR");
    struct stat st;
    if (d == NULL || stat(d, &st) != 0 || !S_ISDIR(st.st_mode))
        return NULL;
    return d;
}

static const char *join(const char *dir, const char *rel)
{
    static _Thread_local char path[4][4096];
    static _Thread_local int next;
    char *p = path[next++ % 4];
    snprintf(p, 4096, "%s/%s", dir ? dir : ".", rel);
    return p;
}

const char *qt_data_path(const char *rel)
{
    return join(getenv("QY_TEST_DATA"), rel);
}

const char *qt_shared_path(const char *rel)
{
    return join(qt_shared_dir(), rel);
}

void qt_read(const char *path, struct buf *out)
{
    int r = file_read(path, QY_FILE_MAX_SIZE, out);
    cr_assert_eq(r, 0, "cannot read %s: %s", path, err_detail(r));
}

static void append_json_escaped(struct buf *out, const char *path)
{
    struct buf content = BUF_INIT;
    qt_read(path, &content);
    json_t *s = json_stringn((const char *)content.ptr, content.size);
    struct buf enc = BUF_INIT;
    cr_assert(s != NULL && js_dump(&enc, s, JSON_ENCODE_ANY) == 0);
    cr_assert(buf_append(out, enc.ptr + 1, enc.size - 2) == 0); /* without the quotes */
    json_decref(s);
    buf_free(&enc);
    buf_free(&content);
}

void qt_subst(const char *text, struct buf *out)
{
    const char *p = text;
    while (*p) {
        const char *at = strchr(p, '@');
        const char *kinds[] = {"@CERT:", "@PUBKEY:"};
        const char *exts[] = {".crt", ".pub"};
        int kind = -1;
        for (int k = 0; at && k < 2; k++)
            if (strncmp(at, kinds[k], strlen(kinds[k])) == 0)
                kind = k;
        const char *end = kind >= 0 ? strchr(at + 1, '@') : NULL;
        if (at == NULL || kind < 0 || end == NULL) {
            size_t n = at ? (size_t)(at - p) + 1 : strlen(p);
            cr_assert(buf_append(out, p, n) == 0);
            p += n;
            continue;
        }
        cr_assert(buf_append(out, p, (size_t)(at - p)) == 0);
        const char *name = at + strlen(kinds[kind]);
        char rel[256];
        snprintf(rel, sizeof(rel), "certs/%.*s%s", (int)(end - name), name, exts[kind]);
        append_json_escaped(out, qt_data_path(rel));
        p = end + 1;
    }
}

json_t *qt_manifest_json(const char *name)
{
    struct buf raw = BUF_INIT, text = BUF_INIT;
    char rel[256];
    snprintf(rel, sizeof(rel), "manifests/%s", name);
    qt_read(qt_data_path(rel), &raw);
    cr_assert(buf_terminate(&raw) == 0);
    qt_subst((const char *)raw.ptr, &text);
    json_error_t e;
    json_t *j = json_loadb((const char *)text.ptr, text.size, JSON_REJECT_DUPLICATES, &e);
    cr_assert(j != NULL, "%s: %s", name, e.text);
    buf_free(&raw);
    buf_free(&text);
    return j;
}

int qt_load_json(const json_t *j, struct diag *d, struct manifest **out)
{
    struct buf text = BUF_INIT;
    struct manifest *m = NULL;
    cr_assert(js_dump(&text, j, JSON_INDENT(2)) == 0);
    int r = manifest_load(buf_view(&text), MF_FORMAT_JSON, NULL, 0, d, &m);
    buf_free(&text);
    if (out != NULL)
        *out = m;
    else
        manifest_free(m);
    return r;
}

bool qt_diag_has(const struct diag *d, enum diag_level level, const char *path, const char *needle)
{
    for (size_t i = 0; i < d->count; i++)
        if (d->items[i].level == level && strcmp(d->items[i].path, path) == 0 &&
            strstr(d->items[i].message, needle) != NULL)
            return true;
    return false;
}

void qt_diag_dump(const struct diag *d)
{
    for (size_t i = 0; i < d->count; i++)
        fprintf(stderr, "  %s %s: %s\n", d->items[i].level == DIAG_ERROR ? "E" : "W", d->items[i].path,
                d->items[i].message);
}
