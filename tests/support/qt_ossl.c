#include "qt_ossl.h"

#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

void qt_tmpdir(char out[256])
{
    snprintf(out, 256, "/tmp/quarry-test-XXXXXX");
    cr_assert_not_null(mkdtemp(out), "mkdtemp failed");
}

void qt_rmtree(const char *dir)
{
    char cmd[512];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    cr_assert_eq(system(cmd), 0);
}

const char *qt_write_pem(const char *dir, const char *name, const char *label, struct view der)
{
    static _Thread_local char paths[4][512];
    static _Thread_local int next;
    char *path = paths[next++ % 4];
    snprintf(path, 512, "%s/%s", dir, name);
    struct buf pem = BUF_INIT;
    cr_assert_eq(enc_pem(&pem, label, der), 0);
    cr_assert_eq(file_write_atomic(path, buf_view(&pem), 0600), 0, "%s", err_detail(-1));
    buf_free(&pem);
    return path;
}

int qt_run(const char *cmd, struct buf *out)
{
    FILE *p = popen(cmd, "r");
    cr_assert_not_null(p, "popen %s", cmd);
    char chunk[4096];
    size_t n;
    while ((n = fread(chunk, 1, sizeof(chunk), p)) > 0)
        if (out != NULL)
            cr_assert_eq(buf_append(out, chunk, n), 0);
    int st = pclose(p);
    if (out != NULL)
        cr_assert_eq(buf_terminate(out), 0);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

bool qt_openssl_verify(struct view anchor, struct view untrusted, struct view leaf, bool partial,
                       struct buf *out)
{
    char dir[256];
    qt_tmpdir(dir);
    char ca[512], un[512] = "", lf[512], cmd[2048];
    snprintf(ca, sizeof(ca), "%s", qt_write_pem(dir, "ca.pem", "CERTIFICATE", anchor));
    if (untrusted.size > 0)
        snprintf(un, sizeof(un), "-untrusted '%s'",
                 qt_write_pem(dir, "un.pem", "CERTIFICATE", untrusted));
    snprintf(lf, sizeof(lf), "%s", qt_write_pem(dir, "leaf.pem", "CERTIFICATE", leaf));
    snprintf(cmd, sizeof(cmd), "openssl verify %s -CAfile '%s' %s '%s' 2>&1",
             partial ? "-partial_chain" : "", ca, un, lf);
    int st = qt_run(cmd, out);
    qt_rmtree(dir);
    return st == 0;
}

void qt_openssl_text(struct view der, struct buf *out)
{
    char dir[256], cmd[1024];
    qt_tmpdir(dir);
    snprintf(cmd, sizeof(cmd), "openssl x509 -noout -text -in '%s' 2>&1",
             qt_write_pem(dir, "c.pem", "CERTIFICATE", der));
    cr_assert_eq(qt_run(cmd, out), 0, "openssl x509 failed: %s",
                 out->ptr ? (const char *)out->ptr : "");
    qt_rmtree(dir);
}
