/* YAML manifests, legacy manifests, migration, and MarbleRun's own samples. */
#include <criterion/criterion.h>
#include <string.h>

#include "manifest/manifest.h"
#include "qt.h"

static struct manifest *load_ok(const char *text, struct diag *d)
{
    struct manifest *m = NULL;
    int r = manifest_load(view_str(text), MF_FORMAT_AUTO, NULL, 0, d, &m);
    if (r != 0)
        qt_diag_dump(d);
    cr_assert_eq(r, 0, "%s", err_name(r));
    return m;
}

Test(yaml, converts_as_marbleruns_cli_does)
{
    const char *yaml = "Packages:\n"
                       "  web:\n"
                       "    Debug: false\n"
                       "    SignerID: \"ab\"\n"
                       "    ProductID: 0x10\n"
                       "    SecurityVersion: 2\n"
                       "Marbles:\n"
                       "  web:\n"
                       "    Package: web\n"
                       "    Parameters:\n"
                       "      Env:\n"
                       "        HTML: \"<b>&</b>\"\n"
                       "        EMPTY:\n"
                       "        QUOTED: '123'\n"
                       "      Argv: [./web, --port, \"8080\"]\n";
    struct diag d = DIAG_INIT;
    struct manifest *m = load_ok(yaml, &d);
    cr_assert(m->from_yaml);
    /* compact, keys sorted, Go's HTML-safe escapes, plain scalars resolved */
    const char *want = "{\"Marbles\":{\"web\":{\"Package\":\"web\",\"Parameters\":{\"Argv\":[\"./web\",\"--port\",\"8080\"],"
                       "\"Env\":{\"EMPTY\":null,\"HTML\":\"\\u003cb\\u003e\\u0026\\u003c/b\\u003e\",\"QUOTED\":\"123\"}}}},"
                       "\"Packages\":{\"web\":{\"Debug\":false,\"ProductID\":16,\"SecurityVersion\":2,\"SignerID\":\"ab\"}}}";
    cr_assert(view_eq(m->raw, view_str(want)), "got %.*s", (int)m->raw.size, (const char *)m->raw.ptr);
    manifest_free(m);
    diag_free(&d);
}

Test(yaml, number_in_argv_is_a_type_error_as_in_marblerun)
{
    /* An unquoted 1 is a YAML integer, so it becomes a JSON number, which MarbleRun's decoder refuses
     * for a []string; so do we. */
    struct diag d = DIAG_INIT;
    struct manifest *m = NULL;
    const char *yaml = "Packages: {p: {Debug: true}}\nMarbles: {m: {Package: p, Parameters: {Argv: [a, 1]}}}\n";
    cr_assert_eq(manifest_load(view_str(yaml), MF_FORMAT_AUTO, NULL, 0, &d, &m), ERR_MANIFEST);
    cr_assert(qt_diag_has(&d, DIAG_ERROR, "Marbles.m.Parameters.Argv[1]", "expected a string, got number"));
    diag_free(&d);
}

Test(yaml, same_fingerprint_as_the_equivalent_canonical_json)
{
    const char *yaml = "Marbles:\n  m:\n    Package: p\nPackages:\n  p:\n    Debug: true\n";
    const char *json = "{\"Marbles\":{\"m\":{\"Package\":\"p\"}},\"Packages\":{\"p\":{\"Debug\":true}}}";
    struct diag d = DIAG_INIT;
    struct manifest *a = load_ok(yaml, &d), *b = load_ok(json, &d);
    cr_assert_eq(memcmp(a->fingerprint, b->fingerprint, 32), 0);
    manifest_free(a);
    manifest_free(b);
    diag_free(&d);
}

Test(legacy, converted_with_a_deprecation_warning)
{
    const char *text = "{\"ServiceID\":\"oracle\",\"Version\":\"1.0.0\",\"RequiredCapabilities\":[\"secrets\",\"network\"]}";
    struct diag d = DIAG_INIT;
    struct manifest *m = load_ok(text, &d);
    cr_assert(m->legacy);
    cr_assert(qt_diag_has(&d, DIAG_WARNING, "", "legacy manifest format (ServiceID, Version, RequiredCapabilities) is deprecated"));
    cr_assert(qt_diag_has(&d, DIAG_WARNING, "Packages.oracle", "names no enclave identity"));
    const struct mf_package *p = manifest_package(m, "oracle");
    cr_assert_not_null(p);
    cr_assert(p->debug);
    const struct mf_marble *mb = manifest_marble(m, "oracle");
    cr_assert_str_eq(mb->package, "oracle");
    const struct mf_files *env = &mb->params.env;
    cr_assert_eq(env->count, 4);
    cr_assert_str_eq(env->items[0].name, "REQUIRED_CAPABILITIES");
    cr_assert(view_eq(env->items[0].data, view_str("secrets,network")));
    cr_assert_str_eq(env->items[1].name, "SERVICE_ID");
    cr_assert(view_eq(env->items[1].data, view_str("oracle")));
    cr_assert_str_eq(env->items[2].name, "SERVICE_KEY");
    cr_assert(view_eq(env->items[2].data, view_str("{{ hex .Secrets.ServiceKey }}")));
    cr_assert_str_eq(env->items[3].name, "VERSION");
    cr_assert(view_eq(env->items[3].data, view_str("1.0.0")));
    cr_assert_eq(mb->params.files.count, 3);
    cr_assert_str_eq(mb->params.files.items[1].name, "quarry/tls/cert.pem");
    const struct mf_secret *s = manifest_secret(m, "ServiceKey");
    cr_assert(s && s->type == MF_SECRET_SYMMETRIC_KEY && s->size == 256 && !s->shared);
    manifest_free(m);
    diag_free(&d);
}

Test(legacy, migrate_prints_what_load_stores)
{
    const char *text = "{\"serviceid\":\"vrf\",\"version\":\"2\",\"RequiredCapabilities\":[\"storage\",\"teleport\"]}";
    struct diag d = DIAG_INIT;
    struct buf out = BUF_INIT;
    cr_assert_eq(manifest_migrate(view_str(text), &d, &out), 0);
    cr_assert(qt_diag_has(&d, DIAG_WARNING, "RequiredCapabilities[1]", "unknown capability \"teleport\""));
    struct manifest *m = load_ok(text, &d);
    cr_assert(view_eq(m->raw, buf_view(&out)), "the fingerprint is that of the migrated text");
    cr_assert_eq(buf_terminate(&out), 0);
    struct manifest *again = load_ok((const char *)out.ptr, &d);
    cr_assert_not(again->legacy);
    cr_assert_eq(memcmp(again->fingerprint, m->fingerprint, 32), 0);
    cr_assert(manifest_secret(again, "StorageKey")->shared);
    manifest_free(m);
    manifest_free(again);
    buf_free(&out);
    diag_free(&d);
}

Test(legacy, malformed_legacy_manifests)
{
    struct diag d = DIAG_INIT;
    struct manifest *m;
    cr_assert_eq(manifest_load(view_str("{\"ServiceID\":\"a\"}"), MF_FORMAT_AUTO, NULL, 0, &d, &m), ERR_MANIFEST);
    cr_assert(qt_diag_has(&d, DIAG_ERROR, "Version", "missing"));
    diag_free(&d);
    cr_assert_eq(manifest_load(view_str("{\"ServiceID\":\"a b\",\"Version\":\"1\"}"), MF_FORMAT_AUTO, NULL, 0, &d, &m),
                 ERR_MANIFEST);
    cr_assert(qt_diag_has(&d, DIAG_ERROR, "ServiceID", "is not a valid service name"));
    diag_free(&d);
    cr_assert_eq(manifest_load(view_str("{\"ServiceID\":\"a\",\"Version\":\"1\",\"Marbles\":{}}"), MF_FORMAT_AUTO,
                               NULL, 0, &d, &m), ERR_MANIFEST);
    cr_assert(qt_diag_has(&d, DIAG_ERROR, "Marbles", "cannot also have manifest sections"));
    diag_free(&d);
    cr_assert_eq(manifest_load(view_str("{\"ServiceID\":\"a\",\"Version\":1}"), MF_FORMAT_AUTO, NULL, 0, &d, &m),
                 ERR_MANIFEST);
    cr_assert(qt_diag_has(&d, DIAG_ERROR, "Version", "expected a string, got number"));
    diag_free(&d);
}

Test(legacy, yaml_legacy_manifests_convert_too)
{
    struct diag d = DIAG_INIT;
    struct manifest *m = load_ok("ServiceID: oracle\nVersion: \"1.0\"\n", &d);
    cr_assert(m->legacy);
    manifest_free(m);
    diag_free(&d);
}

/* MarbleRun's samples must load as MarbleRun loads them. */

static struct diag check_sample(const char *name, bool valid)
{
    struct buf text = BUF_INIT;
    char rel[128];
    snprintf(rel, sizeof(rel), "marblerun/%s", name);
    qt_read(qt_shared_path(rel), &text);
    struct diag d = DIAG_INIT;
    struct manifest *m = NULL;
    int r = manifest_load(buf_view(&text), MF_FORMAT_AUTO, NULL, 0, &d, &m);
    if ((r == 0) != valid)
        qt_diag_dump(&d);
    cr_assert_eq(r == 0, valid, "%s: %s", name, err_name(r));
    manifest_free(m);
    buf_free(&text);
    return d;
}

Test(samples, valid_samples_load)
{
    QT_REQUIRE_SHARED();
    const char *valid[] = {"estore-manifest.json", "gramine-hello-manifest.json", "gramine-nginx-manifest.json",
                           "gramine-redis-manifest.json", "helloc++-manifest.json", "helloworld-manifest.json",
                           "occlum-hello-manifest.json"};
    for (size_t i = 0; i < sizeof(valid) / sizeof(valid[0]); i++) {
        struct diag d = check_sample(valid[i], true);
        cr_assert_eq(d.errors, 0);
        diag_free(&d);
    }
    struct diag d = check_sample("gramine-nginx-manifest.json", true);
    cr_assert(qt_diag_has(&d, DIAG_WARNING, "Secrets.ServerCert.Cert.Subject.DNSNames", "unknown key, ignored"));
    cr_assert(qt_diag_has(&d, DIAG_WARNING, "Packages.nginx.UniqueID", "not a 64-digit hex MRENCLAVE"));
    diag_free(&d);
}

Test(samples, sample_manifest_is_invalid_for_its_exact_reasons)
{
    QT_REQUIRE_SHARED();
    struct diag d = check_sample("sample-manifest.json", false);
    const char *users[] = {"Users.Alice.Certificate", "Users.Bob.Certificate", "Users.Admin.Certificate"};
    for (int i = 0; i < 3; i++)
        cr_assert(qt_diag_has(&d, DIAG_ERROR, users[i], "invalid certificate: no PEM block found"), "%s", users[i]);
    const char *shared[] = {"symmetricKeyShared", "certShared", "rsaShared"};
    for (int i = 0; i < 3; i++) {
        char path[64], msg[128];
        snprintf(path, sizeof(path), "Roles.secrets-admin.ResourceNames[%d]", i);
        snprintf(msg, sizeof(msg), "WriteSecret is granted on secret \"%s\", which is not user-defined", shared[i]);
        cr_assert(qt_diag_has(&d, DIAG_ERROR, path, msg), "%s", path);
    }
    /* and nothing else: the seventh reason, `raw` in Env, is the template dry run's, which this load does
     * not run (tests/template/test_dryrun.c asserts all seven with it) */
    cr_assert_eq(d.errors, 6, "and nothing else");
    diag_free(&d);
}

Test(samples, templates_are_invalid_as_written)
{
    QT_REQUIRE_SHARED();
    struct diag d = check_sample("manifest-template.json", false);
    cr_assert(qt_diag_has(&d, DIAG_ERROR, "Roles.<RoleName>.ResourceNames", "expected an array, got string"));
    diag_free(&d);
    d = check_sample("manifest-template.yaml", false);
    cr_assert(qt_diag_has(&d, DIAG_ERROR, "Packages.<PackageName>.SignerID", "missing"));
    cr_assert(qt_diag_has(&d, DIAG_ERROR, "Secrets.<SecretName>.Size", "invalid size 0 for a symmetric key"));
    cr_assert(qt_diag_has(&d, DIAG_ERROR, "TLS.<TLSConfigName>.Outgoing[0]", "missing Addr"));
    cr_assert(qt_diag_has(&d, DIAG_ERROR, "Roles.<RoleName>.ResourceType", "unrecognized resource type \"\""));
    cr_assert(qt_diag_has(&d, DIAG_ERROR, "Users.<UserName>.Certificate", "invalid certificate"));
    cr_assert(qt_diag_has(&d, DIAG_ERROR, "RecoveryKeys.<KeyName>", "invalid recovery key"));
    diag_free(&d);
}
