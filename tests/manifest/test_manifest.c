/* Manifest decoding and validation: reference/marblerun.md §1 and the cases of §14.2. */
#include <criterion/criterion.h>
#include <string.h>

#include "manifest/manifest.h"
#include "qt.h"

static json_t *base(void)
{
    return qt_manifest_json("base.json");
}

static json_t *at(json_t *j, const char *path)
{
    /* a tiny "A/B/C" walker over objects, creating what is missing */
    json_t *cur = j;
    const char *p = path;
    while (*p) {
        const char *slash = strchr(p, '/');
        size_t n = slash ? (size_t)(slash - p) : strlen(p);
        char key[128];
        snprintf(key, sizeof(key), "%.*s", (int)n, p);
        json_t *next = json_object_get(cur, key);
        if (next == NULL) {
            next = json_object();
            json_object_set_new(cur, key, next);
        }
        cur = next;
        p += n + (slash ? 1 : 0);
    }
    return cur;
}

/* Loads j and asserts the outcome; returns the diagnostics for further checks (free them). */
static struct diag expect(json_t *j, bool valid)
{
    struct diag d = DIAG_INIT;
    int r = qt_load_json(j, &d, NULL);
    if ((r == 0) != valid)
        qt_diag_dump(&d);
    cr_assert_eq(r == 0, valid, "expected %s, got %s", valid ? "valid" : "invalid", err_name(r));
    if (!valid)
        cr_assert_eq(r, ERR_MANIFEST);
    json_decref(j);
    return d;
}

static void expect_error(json_t *j, const char *path, const char *needle)
{
    struct diag d = expect(j, false);
    if (!qt_diag_has(&d, DIAG_ERROR, path, needle))
        qt_diag_dump(&d);
    cr_assert(qt_diag_has(&d, DIAG_ERROR, path, needle), "no error at \"%s\" containing \"%s\"", path,
              needle);
    diag_free(&d);
}

static void expect_valid(json_t *j)
{
    struct diag d = expect(j, true);
    diag_free(&d);
}

/* TestManifestCheck ------------------------------------------------------------------------- */

Test(check, base_manifest_is_valid)
{
    expect_valid(base());
}

Test(check, base_manifest_decodes_every_section)
{
    struct diag d = DIAG_INIT;
    struct manifest *m;
    json_t *j = base();
    cr_assert_eq(qt_load_json(j, &d, &m), 0);
    json_decref(j);
    cr_assert_eq(m->packages.count, 2);
    cr_assert_str_eq(m->packages.items[0].name, "backend", "sorted by name");
    const struct mf_package *p = manifest_package(m, "frontend");
    cr_assert(p->product_id.set && p->product_id.value == 45);
    cr_assert(p->security_version.set && p->security_version.value == 3);
    const struct mf_marble *mb = manifest_marble(m, "backendFirst");
    cr_assert_eq(mb->max_activations, 1);
    cr_assert(mb->disable_secret_binding);
    cr_assert_eq(mb->params.argv.count, 3);
    cr_assert_str_eq(mb->params.argv.items[2], "serve");
    cr_assert_eq(mb->params.files.count, 3);
    cr_assert_str_eq(mb->params.files.items[1].name, "/tmp/defg.txt");
    cr_assert(view_eq(mb->params.files.items[1].data, view_str("foo")));
    cr_assert_eq(mb->params.files.items[1].encoding, MF_ENC_BASE64);
    const struct mf_secret *s = manifest_secret(m, "certPrivate");
    cr_assert_eq(s->type, MF_SECRET_CERT_RSA);
    cr_assert_eq(s->size, 2048);
    cr_assert_eq(s->valid_for, 7);
    cr_assert_str_eq(s->cert.subject.common_name, "Quarry Unit Test");
    cr_assert(manifest_secret(m, "genericSecret")->user_defined);
    const struct mf_user *u = manifest_user(m, "admin");
    cr_assert_gt(u->certificate_der.size, 100);
    cr_assert_eq(u->roles.count, 3);
    cr_assert_eq(manifest_role(m, "packageUpdater")->resource_type, MF_RES_PACKAGES);
    const struct mf_tls_tag *t = manifest_tls_tag(m, "anotherWeb");
    cr_assert_eq(t->incoming.count, 1);
    cr_assert(t->incoming.items[0].disable_client_auth);
    cr_assert_str_eq(t->incoming.items[0].cert, "certShared");
    cr_assert_eq(m->config.features, MF_FEATURE_SIGN_QUOTE);
    cr_assert_eq(m->infrastructures.count, 1);
    cr_assert_eq(m->infrastructures.items[0].cpusvn.size, 16);
    cr_assert_eq(m->infrastructures.items[0].qesvn.value, 2);
    cr_assert_null(manifest_marble(m, "nope"));
    cr_assert(qt_diag_has(&d, DIAG_WARNING, "Infrastructures", "not enforced"));
    manifest_free(m);
    diag_free(&d);
}

Test(check, with_recovery_keys)
{
    json_t *j = base();
    json_object_set_new(j, "RecoveryKeys",
                        json_pack("{s:s}", "one", "placeholder"));
    json_decref(j);
    struct buf text = BUF_INIT;
    qt_subst("{\"RecoveryKeys\":{\"one\":\"@PUBKEY:rec1@\",\"two\":\"@PUBKEY:rec2@\"}}", &text);
    json_t *keys = json_loadb((const char *)text.ptr, text.size, 0, NULL);
    j = base();
    json_object_update(j, keys);
    json_decref(keys);
    buf_free(&text);
    json_object_set_new(at(j, "Config"), "RecoveryThreshold", json_integer(2));
    struct diag d = DIAG_INIT;
    struct manifest *m;
    cr_assert_eq(qt_load_json(j, &d, &m), 0);
    cr_assert_eq(m->recovery_keys.count, 2);
    cr_assert_eq(m->recovery_keys.items[0].bits, 2048);
    manifest_free(m);
    diag_free(&d);
    json_decref(j);
}

static json_t *recovery_key(const char *pubname)
{
    struct buf text = BUF_INIT;
    char tmpl[64];
    snprintf(tmpl, sizeof(tmpl), "\"@PUBKEY:%s@\"", pubname);
    qt_subst(tmpl, &text);
    json_t *s = json_loadb((const char *)text.ptr, text.size, JSON_DECODE_ANY, NULL);
    buf_free(&text);
    return s;
}

Test(check, recovery_key_problems)
{
    json_t *j = base();
    json_object_set_new(at(j, "RecoveryKeys"), "ec", recovery_key("ec"));
    expect_error(j, "RecoveryKeys.ec", "unsupported key type EC (RSA is required)");
    j = base();
    json_object_set_new(at(j, "RecoveryKeys"), "small", recovery_key("small"));
    expect_error(j, "RecoveryKeys.small", "RSA key of 1024 bits is too small");
    j = base();
    json_object_set_new(at(j, "RecoveryKeys"), "junk", json_string("not a key"));
    expect_error(j, "RecoveryKeys.junk", "no PEM block found");
}

Test(check, recovery_thresholds)
{
    json_t *j = base();
    json_object_set_new(at(j, "RecoveryKeys"), "a", recovery_key("rec1"));
    json_object_set_new(at(j, "Config"), "RecoveryThreshold", json_integer(2));
    expect_error(j, "Config.RecoveryThreshold",
                 "not enough recovery keys (1) defined to meet the recovery threshold of 2");
    j = base();
    json_object_set_new(at(j, "RecoveryKeys"), "a", recovery_key("rec1"));
    json_object_set_new(at(j, "Config"), "RecoveryThreshold", json_integer(1));
    expect_error(j, "Config.RecoveryThreshold", "invalid recovery threshold 1: if set, it must be at least 2");
}

static void add_user(json_t *j, const char *name, const char *cert, json_t *roles)
{
    struct buf text = BUF_INIT;
    char tmpl[64];
    snprintf(tmpl, sizeof(tmpl), "\"@CERT:%s@\"", cert);
    qt_subst(tmpl, &text);
    json_t *pem = json_loadb((const char *)text.ptr, text.size, JSON_DECODE_ANY, NULL);
    buf_free(&text);
    json_object_set_new(at(j, "Users"), name, json_pack("{s:o,s:o}", "Certificate", pem, "Roles", roles));
}

static json_t *with_update_role(void)
{
    json_t *j = base();
    json_object_set_new(at(j, "Roles"), "updateManifest",
                        json_pack("{s:s,s:[s]}", "ResourceType", "Manifest", "Actions", "UpdateManifest"));
    json_array_append_new(json_object_get(at(j, "Users/admin"), "Roles"), json_string("updateManifest"));
    return j;
}

Test(check, update_threshold_cases)
{
    expect_valid(with_update_role()); /* threshold 0 = all eligible users */

    json_t *j = with_update_role();
    json_object_set_new(at(j, "Config"), "UpdateThreshold", json_integer(1));
    expect_valid(j);

    j = with_update_role();
    add_user(j, "alice", "alice", json_pack("[s]", "updateManifest"));
    json_object_set_new(at(j, "Config"), "UpdateThreshold", json_integer(1));
    expect_valid(j);

    j = with_update_role();
    add_user(j, "alice", "alice", json_pack("[s]", "updateManifest"));
    json_object_set_new(at(j, "Config"), "UpdateThreshold", json_integer(3));
    expect_error(j, "Config.UpdateThreshold",
                 "not enough users with manifest update permissions (2) to meet the threshold of 3");

    j = with_update_role();
    json_object_set_new(at(j, "Roles"), "u2",
                        json_pack("{s:s,s:[s]}", "ResourceType", "Manifest", "Actions", "updatemanifest"));
    json_object_set_new(at(j, "Roles"), "u3",
                        json_pack("{s:s,s:[s]}", "ResourceType", "Manifest", "Actions", "UPDATEMANIFEST"));
    json_t *more = json_pack("[s,s]", "u2", "u3");
    json_array_extend(json_object_get(at(j, "Users/admin"), "Roles"), more);
    json_decref(more);
    json_object_set_new(at(j, "Config"), "UpdateThreshold", json_integer(3));
    expect_error(j, "Config.UpdateThreshold", "(1) to meet the threshold of 3");
}

Test(check, same_certificate_for_two_users)
{
    json_t *j = with_update_role();
    add_user(j, "admin2", "admin", json_pack("[s]", "updateManifest"));
    expect_error(j, "Users.admin2.Certificate", "same certificate as user \"admin\"");
}

Test(check, debug_packages_without_signer_are_accepted_with_warnings)
{
    json_t *j = base();
    json_object_set_new(j, "Packages", json_pack("{s:{s:b},s:{s:b,s:i}}", "backend", "Debug", 1,
                                                 "frontend", "Debug", 1, "ProductID", 45));
    struct diag d = expect(j, true);
    cr_assert(qt_diag_has(&d, DIAG_WARNING, "Packages.backend.SignerID", "accepted because the package is Debug"));
    cr_assert(qt_diag_has(&d, DIAG_WARNING, "Packages.frontend.SecurityVersion", "missing"));
    cr_assert_not(qt_diag_has(&d, DIAG_WARNING, "Packages.frontend.ProductID", "missing"));
    diag_free(&d);
}

/* TestSetManifestInvalid_Legacy: package identity rules ------------------------------------- */

static json_t *with_frontend_package(json_t *pkg)
{
    json_t *j = base();
    json_object_set_new(json_object_get(j, "Packages"), "frontend", pkg);
    return j;
}

Test(check, package_identity_rules)
{
    json_t *j = base();
    json_object_set_new(at(j, "Marbles/frontend"), "Package", json_string("db"));
    expect_error(j, "Marbles.frontend.Package", "package \"db\" is not defined");

    expect_error(with_frontend_package(json_pack("{s:b}", "Debug", 0)), "Packages.frontend.SignerID",
                 "missing: a package without UniqueID needs SignerID, ProductID and SecurityVersion");
    expect_valid(with_frontend_package(json_pack("{s:b}", "Debug", 1)));
    expect_error(with_frontend_package(json_pack("{s:s}", "SignerID", "ab")), "Packages.frontend.ProductID",
                 "missing");
    expect_error(with_frontend_package(json_pack("{s:s,s:i}", "SignerID", "ab", "ProductID", 1)),
                 "Packages.frontend.SecurityVersion", "missing");
    expect_valid(with_frontend_package(
        json_pack("{s:s,s:i,s:i}", "SignerID", "ab", "ProductID", 0, "SecurityVersion", 0)));
    const char *uid = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f";
    expect_error(with_frontend_package(json_pack("{s:s,s:i}", "UniqueID", uid, "ProductID", 1)),
                 "Packages.frontend", "UniqueID is set together with SignerID, ProductID or SecurityVersion");
    expect_error(with_frontend_package(json_pack("{s:s,s:s}", "UniqueID", uid, "SignerID", "ab")),
                 "Packages.frontend", "UniqueID is set together");
    expect_valid(with_frontend_package(json_pack("{s:s,s:i,s:b}", "UniqueID", uid, "SecurityVersion", 1, "Debug", 1)));
    expect_valid(with_frontend_package(json_pack("{s:s}", "UniqueID", uid)));
}

Test(check, null_means_absent_for_optional_numbers)
{
    expect_error(with_frontend_package(json_pack("{s:s,s:n,s:i}", "SignerID", "ab", "ProductID", "SecurityVersion", 1)),
                 "Packages.frontend.ProductID", "missing");
}

Test(check, unreferenced_packages_are_not_checked)
{
    json_t *j = base();
    json_object_set_new(json_object_get(j, "Packages"), "spare", json_object());
    expect_valid(j);
}

/* TestFile --------------------------------------------------------------------------------- */

static const struct mf_file *first_env_file(const struct manifest *m, const char *marble, const char *name)
{
    const struct mf_marble *mb = manifest_marble(m, marble);
    for (size_t i = 0; i < mb->params.files.count; i++)
        if (strcmp(mb->params.files.items[i].name, name) == 0)
            return &mb->params.files.items[i];
    return NULL;
}

Test(check, file_forms_and_encodings)
{
    json_t *j = base();
    json_t *files = at(j, "Marbles/frontend/Parameters/Files");
    json_object_set_new(files, "plain", json_string("string"));
    json_object_set_new(files, "b64", json_pack("{s:s,s:s}", "Encoding", "base64", "Data", "YmFy"));
    json_object_set_new(files, "str", json_pack("{s:s,s:s}", "Encoding", "string", "Data", "YmFy"));
    json_object_set_new(files, "hex", json_pack("{s:s,s:s}", "Encoding", "HEX", "Data", "4d6172626c6552756e"));
    json_object_set_new(files, "raw", json_pack("{s:s,s:b}", "Data", "{{ string .Secrets.symmetricKeyShared }}",
                                                "NoTemplates", 1));
    json_object_set_new(files, "empty", json_pack("{s:s}", "encoding", ""));
    struct diag d = DIAG_INIT;
    struct manifest *m;
    cr_assert_eq(qt_load_json(j, &d, &m), 0);
    json_decref(j);
    const struct mf_file *f = first_env_file(m, "frontend", "plain");
    cr_assert_eq(f->encoding, MF_ENC_STRING);
    cr_assert(view_eq(f->data, view_str("string")));
    cr_assert(view_eq(first_env_file(m, "frontend", "b64")->data, view_str("bar")));
    cr_assert(view_eq(first_env_file(m, "frontend", "str")->data, view_str("YmFy")));
    cr_assert(view_eq(first_env_file(m, "frontend", "hex")->data, view_str("MarbleRun")));
    f = first_env_file(m, "frontend", "raw");
    cr_assert(f->no_templates);
    cr_assert(view_eq(f->data, view_str("{{ string .Secrets.symmetricKeyShared }}")));
    cr_assert_eq(first_env_file(m, "frontend", "empty")->data.size, 0);
    manifest_free(m);
    diag_free(&d);
}

Test(check, file_errors)
{
    json_t *j = base();
    json_object_set_new(at(j, "Marbles/frontend/Parameters/Files"), "f",
                        json_pack("{s:s,s:s}", "Encoding", "rot13", "Data", "x"));
    expect_error(j, "Marbles.frontend.Parameters.Files.f.Encoding", "unknown encoding type: rot13");
    j = base();
    json_object_set_new(at(j, "Marbles/frontend/Parameters/Files"), "f",
                        json_pack("{s:s,s:s}", "Encoding", "base64", "Data", "!!!"));
    expect_error(j, "Marbles.frontend.Parameters.Files.f.Data", "not valid base64");
    j = base();
    json_object_set_new(at(j, "Marbles/frontend/Parameters/Files"), "f",
                        json_pack("{s:s,s:s}", "Encoding", "hex", "Data", "abc"));
    expect_error(j, "Marbles.frontend.Parameters.Files.f.Data", "not valid hex");
    j = base();
    json_object_set_new(at(j, "Marbles/frontend/Parameters/Files"), "f", json_integer(3));
    expect_error(j, "Marbles.frontend.Parameters.Files.f", "expected a string or an object");
    j = base();
    json_object_set_new(at(j, "Marbles/frontend/Parameters/Env"), "NULS",
                        json_pack("{s:s,s:s}", "Encoding", "base64", "Data", "AE1hcmJsZQBSdW4A"));
    expect_error(j, "Marbles.frontend.Parameters.Env.NULS", "content contains NUL bytes");
    j = base();
    json_object_set_new(at(j, "Marbles/frontend/Parameters/Env"), "A=B", json_string("x"));
    expect_error(j, "Marbles.frontend.Parameters.Env.A=B", "invalid environment variable name");
}

/* TestIsUpdateManifest ---------------------------------------------------------------------- */

static bool is_update(json_t *j)
{
    struct buf text = BUF_INIT;
    struct diag d = DIAG_INIT;
    struct manifest *m = NULL;
    cr_assert_eq(js_dump(&text, j, JSON_COMPACT), 0);
    cr_assert_eq(manifest_parse(buf_view(&text), MF_FORMAT_JSON, &d, &m), 0);
    bool u = manifest_is_update(m);
    manifest_free(m);
    diag_free(&d);
    buf_free(&text);
    json_decref(j);
    return u;
}

Test(check, update_manifest_detection)
{
    cr_assert(is_update(json_object()));
    cr_assert(is_update(json_pack("{s:{s:{s:i}}}", "Packages", "frontend", "SecurityVersion", 5)));
    cr_assert(is_update(json_pack("{s:{s:{s:i}},s:{s:[s]}}", "Packages", "frontend", "SecurityVersion", 5,
                                  "Config", "FeatureGates", "MonotonicCounter")));
    const char *sections[] = {"Marbles", "Secrets", "Users", "Roles", "TLS", "Infrastructures"};
    for (size_t i = 0; i < sizeof(sections) / sizeof(sections[0]); i++)
        cr_assert_not(is_update(json_pack("{s:{s:{s:i}},s:{s:{}}}", "Packages", "frontend", "SecurityVersion",
                                          5, sections[i], "x")), "%s", sections[i]);
    cr_assert_not(is_update(json_pack("{s:{s:s}}", "RecoveryKeys", "k", "")));
    cr_assert(is_update(json_pack("{s:{}}", "Marbles")), "an empty section is absent");
}

/* Rules 4-12 --------------------------------------------------------------------------------- */

Test(check, top_level_requirements)
{
    expect_error(json_pack("{s:{},s:{}}", "Packages", "Marbles"), "Packages", "no packages defined");
    expect_error(json_pack("{}"), "Marbles", "no marbles defined");
    expect_error(json_pack("[]"), "", "a manifest must be a JSON object, got array");
}

Test(check, marble_tls_tags_must_exist)
{
    json_t *j = base();
    json_object_set_new(at(j, "Marbles/frontend"), "TLS", json_pack("[s]", "nope"));
    expect_error(j, "Marbles.frontend.TLS[0]", "TLS tag \"nope\" is not defined");
}

Test(check, tls_tag_rules)
{
    json_t *j = base();
    json_object_set_new(at(j, "TLS"), "t", json_pack("{s:[{s:s}]}", "Incoming", "Addr", "x"));
    expect_error(j, "TLS.t.Incoming[0]", "missing Port");
    j = base();
    json_object_set_new(at(j, "TLS"), "t", json_pack("{s:[{s:s,s:s,s:b}]}", "Incoming", "Port", "1", "Cert", "nope",
                                                     "DisableClientAuth", 1));
    expect_error(j, "TLS.t.Incoming[0]", "Cert references undefined secret \"nope\"");
    j = base();
    json_object_set_new(at(j, "TLS"), "t", json_pack("{s:[{s:s,s:s}]}", "Incoming", "Port", "1", "Cert", "certShared"));
    expect_error(j, "TLS.t.Incoming[0]", "defines Cert but does not disable client authentication");
    j = base();
    json_object_set_new(at(j, "TLS"), "t", json_pack("{s:[{s:s,s:b}]}", "Incoming", "Port", "1", "DisableClientAuth", 1));
    expect_error(j, "TLS.t.Incoming[0]", "disables client authentication without a Cert");
    j = base();
    json_object_set_new(at(j, "TLS"), "t", json_pack("{s:[{s:s}]}", "Outgoing", "Port", "1"));
    expect_error(j, "TLS.t.Outgoing[0]", "missing Addr");
    j = base();
    json_object_set_new(at(j, "TLS"), "t", json_pack("{s:[{s:s}]}", "Outgoing", "Addr", "h"));
    expect_error(j, "TLS.t.Outgoing[0]", "missing Port");
}

Test(check, user_rules)
{
    json_t *j = base();
    json_object_set_new(at(j, "Users"), "bob", json_pack("{s:[]}", "Roles"));
    expect_error(j, "Users.bob.Certificate", "missing");
    j = base();
    add_user(j, "bob", "bob", json_pack("[s]", "ghost"));
    expect_error(j, "Users.bob.Roles[0]", "role \"ghost\" is not defined");
    j = base();
    json_object_set_new(at(j, "Users"), "bob", json_pack("{s:s}", "Certificate", "cert-bob"));
    expect_error(j, "Users.bob.Certificate", "invalid certificate: no PEM block found");
    j = base();
    json_object_set_new(at(j, "Users"), "bob", json_pack("{s:s}", "Certificate",
                        "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"));
    expect_error(j, "Users.bob.Certificate", "invalid certificate: not an X.509 certificate");
}

static json_t *with_role(json_t *role)
{
    json_t *j = base();
    json_object_set_new(at(j, "Roles"), "r", role);
    return j;
}

Test(check, role_rules)
{
    expect_error(with_role(json_pack("{s:s,s:[s],s:[s]}", "ResourceType", "Packages", "ResourceNames", "db",
                                     "Actions", "UpdateSecurityVersion")),
                 "Roles.r.ResourceNames[0]", "package \"db\" is not defined");
    expect_error(with_role(json_pack("{s:s,s:[s],s:[s]}", "ResourceType", "Packages", "ResourceNames", "frontend",
                                     "Actions", "ReadSecret")),
                 "Roles.r.Actions[0]", "unknown action \"ReadSecret\" for resource type Packages");
    expect_valid(with_role(json_pack("{s:s,s:[s],s:[s]}", "ResourceType", "Packages", "ResourceNames", "frontend",
                                     "Actions", "updatesecurityversion")));
    expect_error(with_role(json_pack("{s:s,s:[s],s:[s]}", "ResourceType", "Secrets", "ResourceNames", "ghost",
                                     "Actions", "ReadSecret")),
                 "Roles.r.ResourceNames[0]", "secret \"ghost\" is not defined");
    expect_error(with_role(json_pack("{s:s,s:[s],s:[s]}", "ResourceType", "Secrets", "ResourceNames",
                                     "genericSecret", "Actions", "Delete")),
                 "Roles.r.Actions[0]", "unknown action \"Delete\" for resource type Secrets");
    expect_error(with_role(json_pack("{s:s,s:[s],s:[s]}", "ResourceType", "Secrets", "ResourceNames",
                                     "symmetricKeyShared", "Actions", "WriteSecret")),
                 "Roles.r.ResourceNames[0]", "WriteSecret is granted on secret \"symmetricKeyShared\", which is not user-defined");
    expect_error(with_role(json_pack("{s:s,s:[s],s:[s]}", "ResourceType", "Secrets", "ResourceNames",
                                     "symmetricKeyPrivate", "Actions", "readsecret")),
                 "Roles.r.ResourceNames[0]", "which is unique to each marble");
    expect_error(with_role(json_pack("{s:s,s:[s],s:[s]}", "ResourceType", "Manifest", "ResourceNames", "x",
                                     "Actions", "UpdateManifest")),
                 "Roles.r.ResourceNames", "resource names are not allowed for resource type Manifest");
    expect_error(with_role(json_pack("{s:s,s:[s]}", "ResourceType", "Manifest", "Actions", "WriteSecret")),
                 "Roles.r.Actions[0]", "unknown action \"WriteSecret\" for resource type Manifest");
    expect_error(with_role(json_pack("{s:s,s:[s]}", "ResourceType", "manifest", "Actions", "UpdateManifest")),
                 "Roles.r.ResourceType", "unrecognized resource type \"manifest\"");
    expect_error(with_role(json_pack("{s:[s]}", "Actions", "UpdateManifest")), "Roles.r.ResourceType",
                 "unrecognized resource type \"\"");
}

static json_t *with_secret(json_t *secret)
{
    json_t *j = base();
    json_object_set_new(at(j, "Secrets"), "s", secret);
    return j;
}

Test(check, secret_rules)
{
    expect_error(with_secret(json_pack("{s:s}", "Type", "Symmetric-Key")), "Secrets.s.Type",
                 "unknown type \"Symmetric-Key\"");
    expect_error(with_secret(json_pack("{s:s,s:i}", "Type", "symmetric-key", "Size", 0)), "Secrets.s.Size",
                 "invalid size 0 for a symmetric key");
    expect_error(with_secret(json_pack("{s:s,s:i}", "Type", "symmetric-key", "Size", 12)), "Secrets.s.Size",
                 "invalid size 12");
    expect_valid(with_secret(json_pack("{s:s,s:b}", "Type", "symmetric-key", "UserDefined", 1)));
    expect_error(with_secret(json_pack("{s:s,s:i}", "Type", "cert-ed25519", "Size", 256)), "Secrets.s.Size",
                 "invalid size 256 for cert-ed25519: none is expected");
    expect_error(with_secret(json_pack("{s:s,s:i}", "Type", "cert-ecdsa", "Size", 255)), "Secrets.s.Size",
                 "unsupported size 255: does not map to a supported curve");
    expect_valid(with_secret(json_pack("{s:s,s:i}", "Type", "cert-ecdsa", "Size", 521)));
    expect_error(with_secret(json_pack("{s:s}", "Type", "cert-rsa")), "Secrets.s.Size", "invalid RSA key size 0");
    expect_error(with_secret(json_pack("{s:s,s:i,s:i,s:{s:s}}", "Type", "cert-ecdsa", "Size", 256, "ValidFor", 3,
                                       "Cert", "NotAfter", "2030-01-01T00:00:00Z")),
                 "Secrets.s", "both Cert.NotAfter and ValidFor are specified");
    expect_valid(with_secret(json_pack("{s:s,s:i,s:i,s:{s:s}}", "Type", "cert-ecdsa", "Size", 256, "ValidFor", 3,
                                       "Cert", "NotAfter", "0001-01-01T00:00:00Z")));
    expect_error(with_secret(json_pack("{s:s,s:i,s:{s:s}}", "Type", "cert-ecdsa", "Size", 256, "Cert", "NotAfter",
                                       "tomorrow")),
                 "Secrets.s.Cert.NotAfter", "is not an RFC 3339 time");
    expect_error(with_secret(json_pack("{s:s,s:i,s:{s:[s]}}", "Type", "cert-ecdsa", "Size", 256, "Cert",
                                       "IPAddresses", "10.0.0.300")),
                 "Secrets.s.Cert.IPAddresses[0]", "invalid IP address \"10.0.0.300\"");
    expect_error(with_secret(json_pack("{s:s,s:i,s:{s:[i]}}", "Type", "cert-ecdsa", "Size", 256, "Cert",
                                       "ExtKeyUsage", 14)),
                 "Secrets.s.Cert.ExtKeyUsage[0]", "unknown extended key usage 14");
    expect_error(with_secret(json_pack("{s:s,s:i,s:{s:i}}", "Type", "cert-ecdsa", "Size", 256, "Cert",
                                       "KeyUsage", 512)),
                 "Secrets.s.Cert.KeyUsage", "512 is out of range (0..511)");
}

Test(check, cert_template_fields)
{
    json_t *j = with_secret(json_pack(
        "{s:s,s:i,s:{s:{s:s,s:[s],s:[s,s]},s:[s],s:[s,s],s:[s],s:[{s:s,s:s,s:s},s],s:i,s:[i,i],s:b,s:i}}",
        "Type", "cert-ecdsa", "Size", 256, "Cert", "Subject", "CommonName", "svc", "Country", "DE",
        "Organization", "A", "B", "DNSNames", "svc.local", "IPAddresses", "10.0.0.1", "::1", "EmailAddresses",
        "a@b.c", "URIs", "Scheme", "spiffe", "Host", "example.org", "Path", "/svc", "urn:x:y", "KeyUsage", 5,
        "ExtKeyUsage", 1, 2, "IsCA", 0, "MaxPathLen", -1));
    struct diag d = DIAG_INIT;
    struct manifest *m;
    cr_assert_eq(qt_load_json(j, &d, &m), 0);
    json_decref(j);
    const struct mf_cert_template *t = &manifest_secret(m, "s")->cert;
    cr_assert_str_eq(t->subject.common_name, "svc");
    cr_assert_eq(t->subject.organization.count, 2);
    cr_assert_str_eq(t->ip_addresses.items[1], "::1");
    cr_assert_str_eq(t->uris.items[0], "spiffe://example.org/svc");
    cr_assert_str_eq(t->uris.items[1], "urn:x:y");
    cr_assert_eq(t->key_usage, 5);
    cr_assert_eq(t->ext_key_usage.count, 2);
    cr_assert_eq(t->max_path_len, -1);
    manifest_free(m);
    diag_free(&d);
}

Test(check, config_rules)
{
    json_t *j = base();
    json_object_set_new(at(j, "Config"), "SealMode", json_string("productkey"));
    expect_error(j, "Config.SealMode", "unknown seal mode \"productkey\"");
    j = base();
    json_object_set_new(at(j, "Config"), "FeatureGates", json_pack("[s,s]", "monotoniccounter", "Teleport"));
    expect_error(j, "Config.FeatureGates[1]", "unknown feature gate \"Teleport\"");
    j = base();
    json_object_set_new(at(j, "Config"), "FeatureGates", json_pack("[s]", "AzureHSMSealing"));
    expect_error(j, "Config.FeatureGates[0]", "AzureHSMSealing is not supported");
    j = base();
    json_object_set_new(at(j, "Config"), "SealMode", json_string("Disabled"));
    json_object_set_new(at(j, "Config"), "FeatureGates", json_pack("[s]", "MONOTONICCOUNTER"));
    struct diag d = DIAG_INIT;
    struct manifest *m;
    cr_assert_eq(qt_load_json(j, &d, &m), 0);
    cr_assert_eq(m->config.seal_mode, MF_SEAL_DISABLED);
    cr_assert_eq(m->config.features, MF_FEATURE_MONOTONIC_COUNTER);
    manifest_free(m);
    diag_free(&d);
    json_decref(j);
}

Test(check, all_problems_are_reported_not_only_the_first)
{
    json_t *j = base();
    json_object_set_new(at(j, "Marbles/frontend"), "Package", json_string("db"));
    json_object_set_new(at(j, "Config"), "SealMode", json_string("nope"));
    json_object_set_new(at(j, "Secrets"), "s", json_pack("{s:s}", "Type", "x"));
    struct diag d = expect(j, false);
    cr_assert_eq(d.errors, 3);
    diag_free(&d);
}

/* Go decoding semantics ---------------------------------------------------------------------- */

Test(decode, keys_are_case_insensitive_and_unknown_keys_warn)
{
    json_t *j = base();
    json_t *pkgs = json_object_get(j, "Packages");
    json_incref(pkgs);
    json_object_del(j, "Packages");
    json_object_set_new(j, "packages", pkgs);
    json_object_set_new(at(j, "Marbles/frontend"), "maxactivations", json_integer(2));
    json_object_set_new(at(j, "Marbles/frontend"), "Colour", json_string("blue"));
    struct diag d = DIAG_INIT;
    struct manifest *m;
    cr_assert_eq(qt_load_json(j, &d, &m), 0);
    cr_assert_eq(manifest_marble(m, "frontend")->max_activations, 2);
    cr_assert(qt_diag_has(&d, DIAG_WARNING, "Marbles.frontend.Colour", "unknown key, ignored"));
    manifest_free(m);
    diag_free(&d);
    json_decref(j);
}

Test(decode, case_variants_of_one_key_are_duplicates)
{
    json_t *j = base();
    json_object_set_new(at(j, "Marbles/frontend"), "package", json_string("backend"));
    expect_error(j, "Marbles.frontend.package", "duplicate key");
}

Test(decode, wrong_types_name_their_path)
{
    json_t *j = base();
    json_object_set_new(at(j, "Marbles/frontend"), "MaxActivations", json_integer(-1));
    expect_error(j, "Marbles.frontend.MaxActivations", "-1 is out of range");
    j = base();
    json_object_set_new(at(j, "Marbles/frontend"), "MaxActivations", json_real(1.5));
    expect_error(j, "Marbles.frontend.MaxActivations", "got a fraction or exponent");
    j = base();
    json_object_set_new(at(j, "Packages/frontend"), "Debug", json_string("false"));
    expect_error(j, "Packages.frontend.Debug", "expected a boolean, got string");
    j = base();
    json_object_set_new(at(j, "Marbles/frontend/Parameters"), "Argv", json_string("./x"));
    expect_error(j, "Marbles.frontend.Parameters.Argv", "expected an array, got string");
    j = base();
    json_object_set_new(at(j, "Marbles/frontend/Parameters"), "Argv", json_pack("[s,i]", "./x", 3));
    expect_error(j, "Marbles.frontend.Parameters.Argv[1]", "expected a string, got number");
    j = base();
    json_object_set_new(j, "Secrets", json_pack("[]"));
    expect_error(j, "Secrets", "expected an object, got array");
    j = base();
    json_object_set_new(at(j, "Infrastructures/Azure"), "QESVN", json_integer(70000));
    expect_error(j, "Infrastructures.Azure.QESVN", "70000 is out of range (0..65535)");
    j = base();
    json_object_set_new(at(j, "Infrastructures/Azure"), "CPUSVN", json_pack("[i,i]", 1, 256));
    expect_error(j, "Infrastructures.Azure.CPUSVN[1]", "256 is out of range (0..255)");
    j = base();
    json_object_set_new(at(j, "Secrets/certShared"), "Cert", json_string("MIIB"));
    expect_error(j, "Secrets.certShared.Cert", "give a template object");
    j = base();
    json_object_set_new(at(j, "Marbles/frontend/Parameters"), "Argv", json_pack("[s#]", "a\0b", (size_t)3));
    expect_error(j, "Marbles.frontend.Parameters.Argv[0]", "must not contain NUL characters");
}

Test(decode, ignored_certificate_fields_warn)
{
    json_t *j = base();
    json_object_set_new(at(j, "Secrets/certShared/Cert"), "OCSPServer", json_pack("[s]", "http://x"));
    json_object_set_new(at(j, "Secrets/certShared/Cert"), "SerialNumber", json_integer(42));
    struct diag d = expect(j, true);
    cr_assert(qt_diag_has(&d, DIAG_WARNING, "Secrets.certShared.Cert.OCSPServer", "not supported"));
    cr_assert(qt_diag_has(&d, DIAG_WARNING, "Secrets.certShared.Cert.SerialNumber", "set by the Coordinator"));
    diag_free(&d);
}

Test(decode, raw_bytes_and_fingerprint)
{
    const char *text = "{\"Packages\":{\"p\":{\"Debug\":true}},\"Marbles\":{\"m\":{\"Package\":\"p\"}}}";
    struct diag d = DIAG_INIT;
    struct manifest *m;
    cr_assert_eq(manifest_load(view_str(text), MF_FORMAT_AUTO, NULL, 0, &d, &m), 0);
    cr_assert(view_eq(m->raw, view_str(text)));
    char hex[65];
    manifest_fingerprint_hex(m, hex);
    /* echo -n '<text>' | sha256sum */
    cr_assert_str_eq(hex, "f823a35c752b994a45bdca6d86bf6dc1a7cea97a91a9588d4b35a6f9e08dcbb9");
    manifest_free(m);
    diag_free(&d);
}
