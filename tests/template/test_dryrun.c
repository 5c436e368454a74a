/* template: the dry run of reference §2.4 (TestTemplateDryRun), MarbleRun's sample manifest, the
 * CLI, and rendering whole marbles for activation. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include "crypto/crypto.h"
#include "qt.h"
#include "qt_ossl.h"
#include "template/template.h"

/* A manifest with one marble whose Files and Env are given as JSON object bodies. */
static int load(const char *files, const char *env, struct diag *d, struct manifest **out)
{
    char text[4096];
    snprintf(text, sizeof(text),
             "{\"Packages\":{\"p\":{\"Debug\":true}},"
             "\"Marbles\":{\"m\":{\"Package\":\"p\",\"Parameters\":{\"Files\":{%s},\"Env\":{%s}}}},"
             "\"Secrets\":{\"foo\":{\"Type\":\"symmetric-key\",\"Size\":128},"
             "\"bar\":{\"Type\":\"symmetric-key\",\"Size\":128,\"Shared\":true},"
             "\"cert\":{\"Type\":\"cert-ecdsa\",\"Size\":256},"
             "\"generated\":{\"Type\":\"plain\"},"
             "\"userPlain\":{\"Type\":\"plain\",\"UserDefined\":true},"
             "\"userKey\":{\"Type\":\"symmetric-key\",\"Size\":128,\"UserDefined\":true}}}",
             files, env);
    const struct manifest_checker checkers[] = {tpl_checker()};
    struct manifest *m = NULL;
    int r = manifest_load(view_str(text), MF_FORMAT_JSON, checkers, 1, d, out ? out : &m);
    manifest_free(m);
    return r;
}

static void accept(const char *files, const char *env)
{
    struct diag d = DIAG_INIT;
    int r = load(files, env, &d, NULL);
    if (r != 0)
        qt_diag_dump(&d);
    cr_assert_eq(r, 0, "files %s env %s", files, env);
    diag_free(&d);
}

static void reject(const char *files, const char *env, const char *path, const char *message)
{
    struct diag d = DIAG_INIT;
    cr_assert_eq(load(files, env, &d, NULL), ERR_MANIFEST, "files %s env %s", files, env);
    if (!qt_diag_has(&d, DIAG_ERROR, path, message))
        qt_diag_dump(&d);
    cr_assert(qt_diag_has(&d, DIAG_ERROR, path, message), "%s: %s", path, message);
    cr_assert_eq(d.errors, 1);
    diag_free(&d);
}

Test(dry_run, marbleruns_template_dry_run_cases)
{
    accept("\"/a\":\"{{ raw .Secrets.bar }}\",\"/b\":\"{{ hex .Secrets.foo }}\"", "");
    accept("\"/a\":\"{{ raw .Secrets.bar }}\",\"/b\":\"{{ hex .Secrets.foo }}\","
           "\"/c\":\"{{ raw .Previous.Secrets.foo }}\",\"/d\":\"{{ hex .Previous.Secrets.bar }}\"",
           "");
    reject("\"/b\":\"{{ hex .Secrets.undefined }}\"", "", "Marbles.m.Parameters.Files./b",
           "1:4: error calling hex: secret \"undefined\" does not exist");
    reject("\"/b\":\"{{ pem .Secrets.foo }}\"", "", "Marbles.m.Parameters.Files./b",
           "1:4: error calling pem: invalid secret type for pem encoding");
    reject("", "\"K\":\"{{ raw .Secrets.foo }}\"", "Marbles.m.Parameters.Env.K",
           "1:4: function \"raw\" is not allowed in Env");
    reject("", "\"K\":\"{{ raw .Secrets.userPlain }}\"", "Marbles.m.Parameters.Env.K",
           "1:4: function \"raw\" is not allowed in Env");
    reject("", "\"K\":{\"Encoding\":\"base64\",\"Data\":\"AE1hcmJsZQBSdW4A\"}",
           "Marbles.m.Parameters.Env.K", "content contains NUL bytes");
    reject("", "\"K\":{\"Encoding\":\"base64\",\"Data\":\"AE1hcmJsZQBSdW4A\",\"NoTemplates\":true}",
           "Marbles.m.Parameters.Env.K", "content contains NUL bytes");
    accept("\"/1\":\"{{ pem .MarbleRun.RootCA.Cert }}\",\"/2\":\"{{ pem .MarbleRun.MarbleCert.Cert "
           "}}\","
           "\"/3\":\"{{ pem .MarbleRun.MarbleCert.Private }}\",\"/4\":\"{{ pem "
           ".MarbleRun.CoordinatorRoot.Cert }}\","
           "\"/5\":\"{{ pem .MarbleRun.CoordinatorIntermediate.Cert }}\"",
           "");
    const char *bad[] = {"RootCA.Private",
                         "RootCA.Public",
                         "CoordinatorRoot.Private",
                         "CoordinatorRoot.Public",
                         "CoordinatorIntermediate.Private",
                         "CoordinatorIntermediate.Public"};
    for (size_t i = 0; i < QY_ARRAY_LEN(bad); i++) {
        char files[128];
        snprintf(files, sizeof(files), "\"/x\":\"{{ pem .MarbleRun.%s }}\"", bad[i]);
        reject(files, "", "Marbles.m.Parameters.Files./x",
               "1:4: error calling pem: tried to parse secret with empty value");
    }
}

Test(dry_run, placeholders_follow_marbleruns_shapes)
{
    /* user-defined secrets are 0x41 in every field, even the Cert of a symmetric key */
    accept("\"/a\":\"{{ pem .Secrets.userKey.Cert }}{{ raw .Secrets.userPlain }}\"",
           "\"U\":\"{{ string .Secrets.userPlain }}\"");
    /* generated symmetric keys have no certificate */
    reject("\"/a\":\"{{ pem .Secrets.foo.Cert }}\"", "", "Marbles.m.Parameters.Files./a",
           "1:4: error calling pem: tried to parse secret with empty value");
    /* certificate secrets have all three */
    accept("\"/a\":\"{{ pem .Secrets.cert.Cert }}{{ pem .Secrets.cert.Private }}{{ pem "
           ".Secrets.cert.Public }}\"",
           "");
    /* a plain secret that is not user-defined is never generated: empty */
    reject("\"/a\":\"{{ raw .Secrets.generated }}\"", "", "Marbles.m.Parameters.Files./a",
           "tried to parse secret with empty value");
    accept("", "\"G\":\"{{ string .Secrets.generated }}\"");
    /* NoTemplates data is not a template */
    accept("\"/a\":{\"Data\":\"{{ bogus }}\",\"NoTemplates\":true}",
           "\"E\":{\"Data\":\"{{ raw .X }}\",\"NoTemplates\":true}");
    /* every problem is reported, each at its path */
    struct diag d = DIAG_INIT;
    cr_assert_eq(load("\"/a\":\"{{ pemm .Secrets.foo }}\",\"/etc/key.pem\":\"x{{ if }}\"",
                      "\"A\":\"{{ string .Secrets.foo }}\"", &d, NULL),
                 ERR_MANIFEST);
    cr_assert_eq(d.errors, 3);
    cr_assert(qt_diag_has(&d, DIAG_ERROR, "Marbles.m.Parameters.Files./a",
                          "1:4: unknown function \"pemm\""));
    cr_assert(qt_diag_has(&d, DIAG_ERROR, "Marbles.m.Parameters.Files./etc/key.pem",
                          "1:5: \"if\" actions are not supported"));
    cr_assert(
        qt_diag_has(&d, DIAG_ERROR, "Marbles.m.Parameters.Env.A", "only secrets of type plain"));
    diag_free(&d);
}

/* §2.4 at WriteSecrets (TestWriteSecrets_Legacy): the uploaded values replace the placeholders. */
static const uint8_t nul_plain[] = {'a', 0, 'b'};

static bool uploaded(void *ctx, bool previous, const char *name, struct tpl_secret *out)
{
    (void)ctx, (void)previous;
    if (strcmp(name, "userPlain") != 0)
        return false;
    *out = (struct tpl_secret){MF_SECRET_PLAIN, VIEW_EMPTY, view_of(nul_plain, 3),
                               view_of(nul_plain, 3)};
    return true;
}

Test(dry_run, uploaded_values_are_checked)
{
    struct diag d = DIAG_INIT;
    struct manifest *m = NULL;
    cr_assert_eq(load("", "\"U\":\"{{ string .Secrets.userPlain }}\"", &d, &m), 0);
    struct tpl_data values = {.find = uploaded};
    cr_assert_eq(tpl_dry_run(m, &values, &d), 1);
    cr_assert(qt_diag_has(&d, DIAG_ERROR, "Marbles.m.Parameters.Env.U",
                          "1:4: error calling string: secret contains null bytes"));
    manifest_free(m);
    diag_free(&d);
}

/* MarbleRun's sample manifest is invalid for exactly these reasons: the manifest rules' six and the
 * `raw` in Env the dry run finds (tests/manifest checks the six without the dry run). */
Test(dry_run, sample_manifest_is_invalid_for_its_exact_reasons)
{
    QT_REQUIRE_SHARED();
    struct buf text = BUF_INIT;
    qt_read(qt_shared_path("marblerun/sample-manifest.json"), &text);
    struct diag d = DIAG_INIT;
    struct manifest *m = NULL;
    const struct manifest_checker checkers[] = {tpl_checker()};
    cr_assert_eq(manifest_load(buf_view(&text), MF_FORMAT_AUTO, checkers, 1, &d, &m), ERR_MANIFEST);
    const char *users[] = {"Users.Alice.Certificate", "Users.Bob.Certificate",
                           "Users.Admin.Certificate"};
    for (int i = 0; i < 3; i++)
        cr_assert(qt_diag_has(&d, DIAG_ERROR, users[i], "invalid certificate: no PEM block found"),
                  "%s", users[i]);
    const char *shared[] = {"symmetricKeyShared", "certShared", "rsaShared"};
    for (int i = 0; i < 3; i++) {
        char path[64], msg[128];
        snprintf(path, sizeof(path), "Roles.secrets-admin.ResourceNames[%d]", i);
        snprintf(msg, sizeof(msg),
                 "WriteSecret is granted on secret \"%s\", which is not user-defined", shared[i]);
        cr_assert(qt_diag_has(&d, DIAG_ERROR, path, msg), "%s", path);
    }
    cr_assert(qt_diag_has(&d, DIAG_ERROR, "Marbles.backendFirst.Parameters.Env.API_KEY",
                          "1:4: function \"raw\" is not allowed in Env"));
    if (d.errors != 7)
        qt_diag_dump(&d);
    cr_assert_eq(d.errors, 7, "and nothing else");
    diag_free(&d);
    buf_free(&text);
}

Test(dry_run, valid_samples_pass_the_dry_run)
{
    QT_REQUIRE_SHARED();
    const char *valid[] = {"estore-manifest.json",        "gramine-hello-manifest.json",
                           "gramine-nginx-manifest.json", "gramine-redis-manifest.json",
                           "helloc++-manifest.json",      "helloworld-manifest.json",
                           "occlum-hello-manifest.json"};
    for (size_t i = 0; i < QY_ARRAY_LEN(valid); i++) {
        char rel[128];
        snprintf(rel, sizeof(rel), "marblerun/%s", valid[i]);
        struct buf text = BUF_INIT;
        qt_read(qt_shared_path(rel), &text);
        struct diag d = DIAG_INIT;
        struct manifest *m = NULL;
        const struct manifest_checker checkers[] = {tpl_checker()};
        int r = manifest_load(buf_view(&text), MF_FORMAT_AUTO, checkers, 1, &d, &m);
        if (r != 0)
            qt_diag_dump(&d);
        cr_assert_eq(r, 0, "%s", valid[i]);
        manifest_free(m);
        diag_free(&d);
        buf_free(&text);
    }
}

Test(dry_run, quarry_manifest_check_reports_template_errors)
{
    const char *quarry = getenv("QY_QUARRY");
    if (quarry == NULL)
        cr_skip_test("QY_QUARRY is not set");
    char dir[256], path[300], cmd[1024];
    qt_tmpdir(dir);
    snprintf(path, sizeof(path), "%s/m.json", dir);
    const char *text =
        "{\"Packages\":{\"p\":{\"Debug\":true}},\"Marbles\":{\"web\":{\"Package\":\"p\","
        "\"Parameters\":{\"Files\":{\"/etc/key.pem\":\"{{ pemm .Secrets.k }}\"}}}},"
        "\"Secrets\":{\"k\":{\"Type\":\"cert-ecdsa\",\"Size\":256}}}";
    cr_assert_eq(file_write_atomic(path, view_str(text), 0600), 0);
    snprintf(cmd, sizeof(cmd), "'%s' manifest check '%s' 2>&1", quarry, path);
    struct buf out = BUF_INIT;
    cr_assert_eq(qt_run(cmd, &out), 1, "%s", out.ptr);
    cr_assert(
        strstr(
            (char *)out.ptr,
            "error: Marbles.web.Parameters.Files./etc/key.pem: 1:4: unknown function \"pemm\"") !=
            NULL,
        "%s", out.ptr);
    qt_rmtree(dir);
    buf_free(&out);
}

/* Rendering a marble at activation ------------------------------------------------------------ */

static const uint8_t sym[16] = {0xde, 0xad, 0xbe, 0xef, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11};
static const uint8_t fake_cert[4] = {0x30, 0x02, 0x05, 0x00};

static bool activation_find(void *ctx, bool previous, const char *name, struct tpl_secret *out)
{
    (void)ctx;
    if (strcmp(name, "symmetricKeyShared") == 0 || strcmp(name, "symmetricKeyPrivate") == 0) {
        struct view k = view_of(sym, previous ? 8 : 16);
        *out = (struct tpl_secret){MF_SECRET_SYMMETRIC_KEY, VIEW_EMPTY, k, k};
        return true;
    }
    if (strcmp(name, "certShared") == 0 || strcmp(name, "certPrivate") == 0) {
        *out = (struct tpl_secret){MF_SECRET_CERT_ED25519, view_of(fake_cert, 4), view_str("priv"),
                                   view_str("pub")};
        return true;
    }
    if (strcmp(name, "genericSecret") == 0) {
        *out =
            (struct tpl_secret){MF_SECRET_PLAIN, VIEW_EMPTY, view_str("hello"), view_str("hello")};
        return true;
    }
    return false;
}

static struct view value_of(const struct tpl_value *vals, size_t n, const char *name,
                            struct buf *out)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(vals[i].name, name) == 0) {
            buf_reset(out);
            cr_assert_eq(tpl_segments_fill(vals[i].segments, vals[i].count, view_str("PKCS8"), out),
                         0);
            return buf_view(out);
        }
    cr_assert_fail("no value %s", name);
    return VIEW_EMPTY;
}

Test(render, marble_parameters_with_predefined_env)
{
    json_t *j = qt_manifest_json("base.json");
    struct diag d = DIAG_INIT;
    struct manifest *m = NULL;
    cr_assert_eq(qt_load_json(j, &d, &m), 0);
    json_decref(j);
    struct tpl_data data = {.find = activation_find,
                            .reserved = {.root_ca_cert = view_of(fake_cert, 4),
                                         .marble_cert = view_str("leaf"),
                                         .marble_public_key = view_str("pub"),
                                         .coordinator_root_cert = view_str("root"),
                                         .coordinator_intermediate_cert = view_str("inter")}};
    struct tpl_rendered *r = NULL;
    int rc = tpl_render_marble(manifest_marble(m, "backendFirst"), &data, TPL_PREDEFINED_ENV, &r);
    cr_assert_eq(rc, 0, "%s", err_detail(rc));
    struct buf v = BUF_INIT, want = BUF_INIT;
    cr_assert_eq(r->files_count, 3);
    cr_assert(
        view_eq(value_of(r->files, r->files_count, "/tmp/abc.txt", &v), view_str("helloworld")));
    cr_assert(view_eq(value_of(r->files, r->files_count, "/tmp/defg.txt", &v), view_str("foo")));
    cr_assert(view_eq(value_of(r->files, r->files_count, "/tmp/key.hex", &v),
                      view_str("deadbeef000102030405060708090a0b")));
    cr_assert(view_eq(value_of(r->env, r->env_count, "GENERIC", &v), view_str("hello")));
    cr_assert(view_eq(value_of(r->env, r->env_count, "IS_FIRST", &v), view_str("true")));
    cr_assert(
        view_eq(value_of(r->env, r->env_count, "TEST_SECRET_CERT", &v),
                view_str("-----BEGIN CERTIFICATE-----\nMAIFAA==\n-----END CERTIFICATE-----\n")));
    cr_assert(
        view_eq(value_of(r->env, r->env_count, "MARBLE_PREDEFINED_ROOT_CA", &v),
                view_str("-----BEGIN CERTIFICATE-----\nMAIFAA==\n-----END CERTIFICATE-----\n")));
    cr_assert_eq(enc_pem(&want, "CERTIFICATE", view_str("leaf")), 0);
    cr_assert_eq(enc_pem(&want, "CERTIFICATE", view_str("inter")), 0);
    cr_assert(
        view_eq(value_of(r->env, r->env_count, "MARBLE_PREDEFINED_MARBLE_CERTIFICATE_CHAIN", &v),
                buf_view(&want)));
    buf_reset(&want);
    cr_assert_eq(enc_pem(&want, "PRIVATE KEY", view_str("PKCS8")), 0);
    cr_assert(view_eq(value_of(r->env, r->env_count, "MARBLE_PREDEFINED_PRIVATE_KEY", &v),
                      buf_view(&want)));
    buf_reset(&want);
    cr_assert_eq(enc_pem(&want, "CERTIFICATE", view_str("root")), 0);
    cr_assert(view_eq(value_of(r->env, r->env_count, "MARBLE_PREDEFINED_COORDINATOR_ROOT_CA", &v),
                      buf_view(&want)));
    cr_assert_eq(r->env_count, 8);
    for (size_t i = 1; i < r->env_count; i++)
        cr_assert_lt(strcmp(r->env[i - 1].name, r->env[i].name), 0);
    tpl_rendered_free(r);
    buf_free(&v), buf_free(&want);
    manifest_free(m);
    diag_free(&d);
}

static bool never_uploaded(void *ctx, bool previous, const char *name, struct tpl_secret *out)
{
    (void)ctx, (void)previous, (void)name;
    *out = (struct tpl_secret){.type = MF_SECRET_CERT_ED25519};
    return true;
}

Test(render, errors_name_the_path)
{
    const char *text = "{\"Packages\":{\"p\":{\"Debug\":true}},\"Marbles\":{\"web\":{\"Package\":"
                       "\"p\",\"Parameters\":"
                       "{\"Files\":{\"/etc/key.pem\":\"{{ pem .Secrets.unset.Private "
                       "}}\",\"/v\":{\"Data\":\"{{ x\",\"NoTemplates\":true}},"
                       "\"Env\":{\"MARBLE_PREDEFINED_ROOT_CA\":\"mine\"}}}},"
                       "\"Secrets\":{\"unset\":{\"Type\":\"cert-ed25519\",\"UserDefined\":true}}}";
    struct diag d = DIAG_INIT;
    struct manifest *m = NULL;
    cr_assert_eq(manifest_load(view_str(text), MF_FORMAT_JSON, NULL, 0, &d, &m), 0);
    struct tpl_rendered *r = NULL;
    struct tpl_data data = {.find = NULL};
    int rc = tpl_render_marble(manifest_marble(m, "web"), &data, 0, &r);
    cr_assert_eq(rc, ERR_TEMPLATE);
    cr_assert_str_eq(
        err_detail(rc),
        "Marbles.web.Parameters.Files./etc/key.pem: 1:22: secret \"unset\" does not exist");
    cr_assert_null(r);
    /* a user-defined secret that was never uploaded */
    struct tpl_data unset = {.find = never_uploaded};
    rc = tpl_render_marble(manifest_marble(m, "web"), &unset, 0, &r);
    cr_assert_eq(rc, ERR_TEMPLATE);
    cr_assert_str_eq(
        err_detail(rc),
        "Marbles.web.Parameters.Files./etc/key.pem: 1:4: error calling pem: tried to parse "
        "secret with empty value");
    /* without the flag the manifest's MARBLE_PREDEFINED_* stays; NoTemplates is verbatim */
    struct manifest *m2 = NULL;
    const char *ok =
        "{\"Packages\":{\"p\":{\"Debug\":true}},\"Marbles\":{\"web\":{\"Package\":\"p\","
        "\"Parameters\":"
        "{\"Files\":{\"/v\":{\"Data\":\"{{ "
        "x\",\"NoTemplates\":true}},\"Env\":{\"MARBLE_PREDEFINED_ROOT_CA\":\"mine\"}}}}}";
    cr_assert_eq(manifest_load(view_str(ok), MF_FORMAT_JSON, NULL, 0, &d, &m2), 0);
    cr_assert_eq(tpl_render_marble(manifest_marble(m2, "web"), &data, 0, &r), 0);
    struct buf v = BUF_INIT;
    cr_assert(view_eq(value_of(r->files, r->files_count, "/v", &v), view_str("{{ x")));
    cr_assert(
        view_eq(value_of(r->env, r->env_count, "MARBLE_PREDEFINED_ROOT_CA", &v), view_str("mine")));
    struct view lit;
    cr_assert(tpl_segments_literal(r->env[0].segments, r->env[0].count, &lit));
    tpl_rendered_free(r);
    /* with the flag, the predefined value wins; missing reserved certificates are a caller bug */
    cr_assert_eq(tpl_render_marble(manifest_marble(m2, "web"), &data, TPL_PREDEFINED_ENV, &r),
                 ERR_INVALID_ARG);
    buf_free(&v);
    manifest_free(m);
    manifest_free(m2);
    diag_free(&d);
}
