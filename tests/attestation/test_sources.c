/* Quote sources: simulation, emulated (library and spec), and Gramine and configfs-tsm against fake
 * device directories (the tsm fake answers like the kernel, from a thread). */
#include <dirent.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "att_test.h"

static const uint8_t report_data[64] = {1, 2, 3, 4, 5, 6, 7, 8, [63] = 0x99};

static void write_file(const char *dir, const char *name, const void *data, size_t size)
{
    char path[256];
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    cr_assert_eq(file_write_atomic(path, view_of(data, size), 0644), 0, "%s", path);
}

Test(sources, specs)
{
    struct att_source *s = NULL;
    cr_assert_eq(att_source_new("simulation", &s), 0);
    cr_expect(att_source_is_simulation(s) && !att_source_is_emulated(s));
    cr_expect_str_eq(att_source_name(s), "simulation");
    struct buf q = BUF_INIT;
    cr_expect_eq(att_source_quote(s, report_data, &q), 0);
    cr_expect_eq(q.size, 0, "simulation gives no quote");
    att_source_free(s);
    cr_expect_eq(att_source_new("simulation:x", &s), ERR_INVALID_ARG);
    cr_expect_eq(att_source_new("sgx", &s), ERR_INVALID_ARG);
    cr_expect_eq(att_source_new("emulated", &s), ERR_INVALID_ARG);
    cr_expect_eq(att_source_new("gramine:", &s), ERR_INVALID_ARG);
    cr_expect_lt(att_source_new("emulated:/tmp/quarry-no-such-kit", &s), 0);
    cr_expect_null(s);
    cr_assert_eq(att_source_new("gramine", &s), 0);
    cr_expect(!att_source_is_simulation(s) && !att_source_is_emulated(s));
    att_source_free(s);
    att_source_free(NULL);
}

Test(sources, emulated_spec_and_library)
{
    struct at_kit k;
    at_kit_new(NULL, &k);
    char spec[128];
    snprintf(spec, sizeof(spec), "emulated:%s", k.dir);
    struct att_source *s = NULL;
    cr_assert_eq(att_source_new(spec, &s), 0, "%s", err_detail(-1));
    cr_expect(att_source_is_emulated(s));
    struct buf q = BUF_INIT;
    cr_assert_eq(att_source_quote(s, report_data, &q), 0);
    struct att_result res;
    at_kit_verify(&k, buf_view(&q), &res);
    cr_expect(res.verified, "%s", res.detail);
    cr_expect_eq(memcmp(res.report_data, report_data, 64), 0);
    cr_expect_eq(memcmp(res.sgx.mrenclave, k.id.mrenclave, 32), 0, "the identity of enclave.json");
    att_source_free(s);

    struct att_testkit_quote_params id = {.isvprodid = 42, .isvsvn = 5};
    memset(id.mrenclave, 0xee, 32);
    cr_assert_eq(att_source_new_emulated(k.tk, &id, &s), 0);
    buf_reset(&q);
    cr_assert_eq(att_source_quote(s, report_data, &q), 0);
    at_kit_verify(&k, buf_view(&q), &res);
    cr_expect(res.verified && res.sgx.isvprodid == 42 && res.sgx.mrenclave[0] == 0xee, "%s",
              res.detail);
    att_source_free(s);
    buf_free(&q);
    at_kit_free(&k);
}

/* emulated:DIR,k=v,...: the identity of enclave.json with some fields replaced (TEST ONLY). */
Test(sources, emulated_identity_overrides)
{
    struct at_kit k;
    at_kit_new(NULL, &k);
    char spec[512], hex[65];
    for (int i = 0; i < 32; i++)
        snprintf(hex + 2 * i, 3, "%02x", 0xa0 + i);
    snprintf(spec, sizeof(spec), "emulated:%s,mrenclave=%s,isvprodid=7,isvsvn=65535,debug", k.dir, hex);
    struct att_source *s = NULL;
    cr_assert_eq(att_source_new(spec, &s), 0, "%s", err_detail(-1));
    struct buf q = BUF_INIT;
    cr_assert_eq(att_source_quote(s, report_data, &q), 0);
    struct att_result res;
    at_kit_verify(&k, buf_view(&q), &res);
    cr_expect(res.verified, "%s", res.detail);
    cr_expect(res.sgx.mrenclave[0] == 0xa0 && res.sgx.mrenclave[31] == 0xbf);
    cr_expect_eq(memcmp(res.sgx.mrsigner, k.id.mrsigner, 32), 0, "mrsigner kept from enclave.json");
    cr_expect(res.sgx.isvprodid == 7 && res.sgx.isvsvn == 65535);
    cr_expect(res.debug, "debug set");
    att_source_free(s);
    buf_free(&q);

    static const char *const bad[] = {",isvsvn=65536", ",isvsvn=", ",isvprodid=-1", ",mrenclave=abc",
                                      ",mrsigner=zz", ",color=blue", ",,isvsvn=1", ",debug=2"};
    for (size_t i = 0; i < QY_ARRAY_LEN(bad); i++) {
        snprintf(spec, sizeof(spec), "emulated:%s%s", k.dir, bad[i]);
        s = NULL;
        cr_expect_eq(att_source_new(spec, &s), ERR_INVALID_ARG, "%s", bad[i]);
        cr_expect_null(s);
    }
    snprintf(spec, sizeof(spec), "emulated:%s,", k.dir); /* an empty list changes nothing */
    cr_assert_eq(att_source_new(spec, &s), 0);
    att_source_free(s);
    at_kit_free(&k);
}

Test(sources, gramine_fake_device)
{
    char dir[64];
    at_tmpdir(dir);
    static const uint8_t fake_quote[] = "a quote from the fake Gramine";
    write_file(dir, "user_report_data", "", 0);
    write_file(dir, "quote", fake_quote, sizeof(fake_quote));
    write_file(dir, "attestation_type", "dcap\n", 5);
    char spec[128];
    snprintf(spec, sizeof(spec), "gramine:%s", dir);
    struct att_source *s = NULL;
    cr_assert_eq(att_source_new(spec, &s), 0);
    struct buf q = BUF_INIT, written = BUF_INIT;
    cr_assert_eq(att_source_quote(s, report_data, &q), 0, "%s", err_detail(-1));
    cr_expect(view_eq(buf_view(&q), view_of(fake_quote, sizeof(fake_quote))));
    char path[128];
    snprintf(path, sizeof(path), "%s/user_report_data", dir);
    qt_read(path, &written);
    cr_expect(view_eq(buf_view(&written), view_of(report_data, 64)),
              "the report data reached the device");

    /* Not a DCAP enclave. */
    write_file(dir, "attestation_type", "none\n", 5);
    buf_reset(&q);
    cr_expect_eq(att_source_quote(s, report_data, &q), ERR_UNAVAILABLE);
    cr_expect(strstr(err_detail(ERR_UNAVAILABLE), "\"none\"") != NULL, "%s",
              err_detail(ERR_UNAVAILABLE));
    /* No device at all. */
    att_source_free(s);
    cr_assert_eq(att_source_new("gramine:/tmp/quarry-no-such-device", &s), 0);
    cr_expect_eq(att_source_quote(s, report_data, &q), ERR_UNAVAILABLE);
    att_source_free(s);
    buf_free(&q);
    buf_free(&written);
    at_rmdir(dir);
}

/* A fake configfs-tsm: answers each new report entry's inblob with outblob = "TDQUOTE" || inblob,
 * like the kernel's tdx_guest provider (generation, provider). */
struct fake_tsm {
    char dir[64];
    atomic_bool stop;
    atomic_int answered;
    const char *provider;
};

static void *fake_tsm_main(void *arg)
{
    struct fake_tsm *f = arg;
    while (!atomic_load(&f->stop)) {
        DIR *d = opendir(f->dir);
        struct dirent *e;
        while (d != NULL && (e = readdir(d)) != NULL) {
            char entry[512], path[640];
            struct stat st;
            if (e->d_name[0] == '.')
                continue;
            snprintf(entry, sizeof(entry), "%s/%s", f->dir, e->d_name);
            snprintf(path, sizeof(path), "%s/outblob", entry);
            if (stat(path, &st) == 0)
                continue;
            struct buf in = BUF_INIT, out = BUF_INIT;
            snprintf(path, sizeof(path), "%s/inblob", entry);
            if (file_read(path, 1024, &in) == 0 && in.size == 64) {
                int r = buf_append_str(&out, "TDQUOTE");
                if (r == 0)
                    r = buf_append_view(&out, buf_view(&in));
                char p2[640];
                snprintf(p2, sizeof(p2), "%s/generation", entry);
                if (r == 0)
                    r = file_write_atomic(p2, view_str("1\n"), 0644);
                snprintf(p2, sizeof(p2), "%s/provider", entry);
                if (r == 0)
                    r = file_write_atomic(p2, view_str(f->provider), 0644);
                snprintf(p2, sizeof(p2), "%s/outblob", entry);
                if (r == 0 && file_write_atomic(p2, buf_view(&out), 0644) == 0)
                    atomic_fetch_add(&f->answered, 1);
            }
            buf_free(&in);
            buf_free(&out);
        }
        if (d != NULL)
            closedir(d);
        usleep(2000);
    }
    return NULL;
}

/* The source writes inblob into an entry it creates: the fake must see an empty file first. */
static void run_tsm(const char *provider, int want, const char *needle)
{
    struct fake_tsm f = {.provider = provider};
    at_tmpdir(f.dir);
    atomic_init(&f.stop, false);
    atomic_init(&f.answered, 0);
    pthread_t th;
    cr_assert_eq(pthread_create(&th, NULL, fake_tsm_main, &f), 0);
    char spec[128];
    snprintf(spec, sizeof(spec), "tsm:%s", f.dir);
    struct att_source *s = NULL;
    cr_assert_eq(att_source_new(spec, &s), 0);
    cr_expect_str_eq(att_source_name(s), "tsm");
    struct buf q = BUF_INIT;
    int r = att_source_quote(s, report_data, &q);
    cr_expect_eq(r, want, "%s: %s", err_name(r), err_detail(r));
    if (want == 0) {
        cr_expect_eq(q.size, 7 + 64);
        cr_expect(q.size == 71 && memcmp(q.ptr, "TDQUOTE", 7) == 0 &&
                  memcmp(q.ptr + 7, report_data, 64) == 0);
    } else {
        cr_expect(strstr(err_detail(r), needle) != NULL, "%s", err_detail(r));
    }
    atomic_store(&f.stop, true);
    pthread_join(th, NULL);
    att_source_free(s);
    buf_free(&q);
    at_rmdir(f.dir);
}

Test(sources, tsm_fake_configfs)
{
    run_tsm("tdx_guest\n", 0, NULL);
}

Test(sources, tsm_unsupported_provider)
{
    run_tsm("sev_guest\n", ERR_UNSUPPORTED, "TSM provider \"sev_guest\" is not supported");
}

Test(sources, tsm_without_configfs)
{
    struct att_source *s = NULL;
    struct buf q = BUF_INIT;
    cr_assert_eq(att_source_new("tsm:/tmp/quarry-no-such-configfs", &s), 0);
    cr_expect_eq(att_source_quote(s, report_data, &q), ERR_UNAVAILABLE);
    att_source_free(s);
}
