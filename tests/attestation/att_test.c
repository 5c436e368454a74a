#include "att_test.h"

#include <dirent.h>
#include <ftw.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

void at_tmpdir(char out[64])
{
    snprintf(out, 64, "/tmp/quarry-att-test-XXXXXX");
    cr_assert_not_null(mkdtemp(out));
}

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st, (void)flag, (void)ftw;
    return remove(path);
}

void at_rmdir(const char *dir)
{
    nftw(dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

int64_t at_time(const char *s)
{
    int64_t t;
    cr_assert_eq(qtime_parse_rfc3339(s, &t), 0, "bad time %s", s);
    return t;
}

void at_kit_new(const struct att_testkit_options *o, struct at_kit *k)
{
    at_tmpdir(k->dir);
    int r = att_testkit_init(k->dir, o);
    cr_assert_eq(r, 0, "testkit init: %s", err_detail(r));
    r = att_testkit_open(k->dir, &k->tk);
    cr_assert_eq(r, 0, "testkit open: %s", err_detail(r));
    cr_assert_eq(att_testkit_default_identity(k->tk, &k->id), 0);
}

void at_kit_free(struct at_kit *k)
{
    att_testkit_free(k->tk);
    k->tk = NULL;
    at_rmdir(k->dir);
}

void at_kit_quote(const struct at_kit *k, uint8_t report_byte, unsigned faults, struct buf *out)
{
    struct att_testkit_quote_params p = k->id;
    memset(p.report_data, report_byte, 64);
    p.faults = faults;
    int r = att_testkit_quote(k->tk, &p, out);
    cr_assert_eq(r, 0, "testkit quote: %s", err_detail(r));
}

void at_kit_verify(const struct at_kit *k, struct view quote, struct att_result *res)
{
    struct att_verifier *v = NULL;
    int r = att_testkit_verifier_new(k->tk, &v);
    cr_assert_eq(r, 0, "verifier: %s", err_detail(r));
    r = att_verify(v, quote, qtime_now(), res);
    cr_assert_eq(r, 0, "att_verify did not run: %s", err_detail(r));
    att_verifier_free(v);
}

struct att_verifier *at_verifier(const char *dir, struct view extra_root)
{
    struct att_collateral_source *src = NULL;
    if (dir != NULL)
        cr_assert_eq(att_collateral_dir_new(dir, &src), 0, "%s", err_detail(ERR_IO));
    struct att_verifier_config cfg = {.collateral = src,
                                      .no_collateral = dir == NULL,
                                      .insecure_extra_roots = &extra_root,
                                      .insecure_extra_root_count = extra_root.size > 0};
    struct att_verifier *v = NULL;
    int r = att_verifier_new(&cfg, &v);
    cr_assert_eq(r, 0, "verifier: %s", err_detail(r));
    return v;
}

static int cmp_names(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

const char *const *at_vector_names(void)
{
    static char names[64][128];
    static const char *list[65];
    size_t n = 0;
    DIR *d = opendir(qt_shared_path("vectors"));
    cr_assert_not_null(d, "no vectors directory");
    struct dirent *e;
    while ((e = readdir(d)) != NULL && n < 64) {
        struct stat st;
        if (e->d_name[0] == '.' || strlen(e->d_name) >= sizeof(names[0]))
            continue;
        if (stat(at_vector_path(e->d_name, "expected.json"), &st) != 0)
            continue;
        snprintf(names[n], sizeof(names[n]), "%.127s", e->d_name);
        list[n] = names[n];
        n++;
    }
    closedir(d);
    qsort(list, n, sizeof(list[0]), cmp_names);
    list[n] = NULL;
    return list;
}

const char *at_vector_path(const char *name, const char *file)
{
    static _Thread_local char path[4][4096];
    static _Thread_local int next;
    char *p = path[next++ % 4];
    snprintf(p, 4096, "%s/vectors/%s%s%s", qt_shared_dir(), name, file ? "/" : "",
             file ? file : "");
    return p;
}

json_t *at_expected(const char *name)
{
    struct buf b = BUF_INIT;
    json_t *j = NULL;
    qt_read(at_vector_path(name, "expected.json"), &b);
    cr_assert_eq(js_parse(buf_view(&b), QY_JSON_MAX_SIZE, &j), 0);
    buf_free(&b);
    return j;
}

const char *at_hex(const void *p, size_t size)
{
    static _Thread_local char out[4][1024];
    static _Thread_local int next;
    char *o = out[next++ % 4];
    const uint8_t *b = p;
    for (size_t i = 0; i < size && i < 500; i++)
        snprintf(o + 2 * i, 3, "%02x", b[i]);
    o[2 * (size < 500 ? size : 500)] = '\0';
    return o;
}
