/* Updates end to end (reference/marblerun.md §9.5-§11, §14.2): package and multi-party manifest
 * updates against real quarry-coordinator processes, restarts and kill -9 in the middle, the update
 * log's proof against entries changed, removed or reordered in the store, sign-quote and monotonic
 * counters under concurrency. */
#include <criterion/criterion.h>
#include <openssl/x509.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "crypto/crypto.h"
#include "harness.h"
#include "pki/pki.h"
#include "store/store.h"

#define TIMEOUT .timeout = 600
#define UUID_A "0d5fbd3e-3b0d-4b6c-bb7e-0e3c3a1f2b4d"
#define UUID_SHARED "6ba7b810-9dad-41d1-80b4-00c04fd430c8"
#define PKG_UPDATE(svn) "{\"Packages\":{\"frontend\":{\"SecurityVersion\":" #svn "}}}"

static struct qc q;

static void setup(void)
{
    qc_init(&q, NULL);
    qc_start(&q, NULL);
}

static void teardown(void)
{
    qc_cleanup(&q);
}

/* Helpers ------------------------------------------------------------------------------------------ */

static json_t *data_of(json_t *j)
{
    return json_object_get(j, "data");
}

static const char *message_of(json_t *j)
{
    const char *m = json_string_value(json_object_get(j, "message"));
    return m ? m : "";
}

static long call_as(const char *user, enum api_method m, const char *target, const char *body, json_t **j)
{
    struct api_client *c = qc_client(&q, user);
    long s = qc_call(c, m, target, body, j);
    api_client_free(c);
    return s;
}

/* POST {"manifest": base64(text)} as `user`. */
static long post_manifest(const char *user, const char *target, const char *text, json_t **j)
{
    struct buf b64 = BUF_INIT, body = BUF_INIT;
    cr_assert_eq(enc_b64(&b64, view_str(text)), 0);
    cr_assert_eq(buf_appendf(&body, "{\"manifest\":\"%.*s\"}", (int)b64.size, (const char *)b64.ptr), 0);
    cr_assert_eq(buf_terminate(&body), 0);
    long s = call_as(user, API_POST, target, (const char *)body.ptr, j);
    buf_free(&b64), buf_free(&body);
    return s;
}

static void expect_refused(const char *user, const char *text, long status, const char *needle)
{
    json_t *j = NULL;
    long s = post_manifest(user, "/api/v2/update", text, &j);
    cr_assert_eq(s, status, "%s: HTTP %ld: %s", text, s, message_of(j));
    cr_assert(strstr(message_of(j), needle) != NULL, "\"%s\" not in \"%s\"", needle, message_of(j));
    json_decref(j);
}

static json_t *update_log(void)
{
    json_t *j;
    cr_assert_eq(call_as(NULL, API_GET, "/api/v2/update", NULL, &j), 200);
    json_t *lines = json_incref(json_object_get(data_of(j), "updateLog"));
    json_decref(j);
    return lines;
}

static const char *log_line(json_t *lines, size_t i)
{
    return json_string_value(json_array_get(lines, i));
}

/* The "update" field of each log line, in order, equals `want`. */
static void expect_log(json_t *lines, const char *const *want, size_t n)
{
    cr_assert_eq(json_array_size(lines), n, "%zu log lines, expected %zu", json_array_size(lines), n);
    for (size_t i = 0; i < n; i++) {
        json_t *e = json_loads(log_line(lines, i), 0, NULL);
        cr_assert_str_eq(json_string_value(json_object_get(e, "update")), want[i], "line %zu", i);
        json_decref(e);
    }
}

/* GET /secrets as admin: data.secrets. */
static json_t *secrets(const char *query)
{
    json_t *j;
    char target[256];
    snprintf(target, sizeof(target), "/api/v2/secrets?%s", query);
    cr_assert_eq(call_as("admin", API_GET, target, NULL, &j), 200);
    json_t *s = json_incref(json_object_get(data_of(j), "secrets"));
    json_decref(j);
    return s;
}

static void secret_field(json_t *set, const char *name, const char *field, struct buf *out)
{
    buf_reset(out);
    const char *b64 = json_string_value(json_object_get(json_object_get(set, name), field));
    cr_assert_not_null(b64, "%s.%s", name, field);
    cr_assert_eq(enc_b64_decode(out, view_str(b64)), 0);
}

/* The intermediate and the root from /quote (PEM chain: intermediate, then root), as DER. */
static void ca_der(struct buf *intermediate, struct buf *root)
{
    json_t *j;
    cr_assert_eq(call_as(NULL, API_GET, "/api/v2/quote", NULL, &j), 200);
    const char *chain = json_string_value(json_object_get(data_of(j), "cert"));
    const char *second = strstr(chain + 1, "-----BEGIN CERTIFICATE-----");
    cr_assert_not_null(second);
    buf_reset(intermediate), buf_reset(root);
    cr_assert_eq(crypto_cert_pem_to_der(view_str(chain), intermediate), 0);
    cr_assert_eq(crypto_cert_pem_to_der(view_str(second), root), 0);
    json_decref(j);
}

/* `cert` (DER) carries a signature by the key of `issuer` (DER). */
static bool signed_by(struct view cert, struct view issuer)
{
    const unsigned char *p = cert.ptr, *i = issuer.ptr;
    X509 *c = d2i_X509(NULL, &p, (long)cert.size), *is = d2i_X509(NULL, &i, (long)issuer.size);
    bool ok = c && is && X509_verify(c, X509_get0_pubkey(is)) == 1;
    X509_free(c);
    X509_free(is);
    return ok;
}

/* Activates `type` as the kit's identity with ISVSVN `svn`; with ca_pem, only if that Coordinator root
 * issued the mesh API's certificate. Called from worker threads too: no assertions. Network errors are
 * retried (32 handshakes at once on a loaded or sanitized machine may time out); refusals are final. */
static int activate_svn(const char *type, uint16_t svn, const char *uuid, struct view ca_pem,
                        struct api_activation **out)
{
    struct att_testkit_quote_params p;
    struct att_source *src = NULL;
    *out = NULL;
    int r = att_testkit_default_identity(q.tk, &p);
    p.isvsvn = svn;
    if (r == 0)
        r = att_source_new_emulated(q.tk, &p, &src);
    const char *names[] = {"localhost"};
    struct api_activation_config cfg = {.coordinator = q.mesh_addr, .marble_type = type, .names = names,
                                        .names_count = 1, .uuid = uuid, .quote_source = src, .ca_pem = ca_pem,
                                        .deadline_seconds = 240, .backoff_max_ms = 500,
                                        .connect_timeout_ms = 60000};
    if (r == 0)
        r = api_activate(&cfg, out);
    att_source_free(src);
    return r;
}

static void marble_root_pem(const struct api_activation *a, struct buf *out)
{
    buf_reset(out);
    cr_assert_eq(buf_append_view(out, buf_view(&qc_param(a->env, a->env_count, "MARBLE_PREDEFINED_ROOT_CA")->value)), 0);
}

/* TestUpdateManifestInvalid ------------------------------------------------------------------------ */

Test(updates, package_update_refusals_and_effects, .init = setup, .fini = teardown, TIMEOUT)
{
    cr_assert_eq(qc_set_manifest(&q, "updates.json"), 200);
    struct buf int1 = BUF_INIT, root1 = BUF_INIT, int2 = BUF_INIT, root2 = BUF_INIT, mroot1 = BUF_INIT,
               mroot2 = BUF_INIT, mroot2_der = BUF_INIT, a = BUF_INIT, b = BUF_INIT;
    ca_der(&int1, &root1);
    struct api_activation *act;
    cr_assert_eq(activate_svn("frontend", 3, UUID_A, VIEW_EMPTY, &act), 0);
    marble_root_pem(act, &mroot1);
    api_activation_free(act);
    json_t *before = secrets("s=symmetricKeyShared&s=certShared"), *manifest_before, *manifest_after, *j;
    cr_assert_eq(call_as(NULL, API_GET, "/api/v2/manifest", NULL, &manifest_before), 200);

    expect_refused("admin", "{\"Packages\":{\"nope\":{\"SecurityVersion\":5}}}", 500,
                   "user admin is not allowed to update one or more packages of [nope]");
    expect_refused("admin", "{\"Packages\":{\"frontend\":{\"Debug\":true,\"SecurityVersion\":5}}}", 500,
                   "checking update manifest: update manifest contains unupdatable values");
    expect_refused("admin", "{\"Packages\":{\"frontend\":{\"ProductID\":1,\"SecurityVersion\":5}}}", 500,
                   "update manifest contains unupdatable values");
    expect_refused("admin", "{\"Packages\":{\"frontend\":{\"Debug\":false}}}", 500,
                   "checking update manifest: update manifest does not specify a SecurityVersion to update");
    expect_refused("admin", PKG_UPDATE(2), 500,
                   "checking update manifest: update manifest tries to downgrade SecurityVersion of the original "
                   "manifest");
    expect_refused("admin", "{\"Packages\":{\"backend\":{\"SecurityVersion\":5}}}", 500,
                   "user admin is not allowed to update one or more packages of [backend]");
    expect_refused("admin", "{\"Packages\":{\"frontend\":{\"SecurityVersion\":5},\"backend\":{\"SecurityVersion\":5}}}",
                   500, "not allowed to update one or more packages of [backend frontend]");
    expect_refused("admin", "{}", 500, "checking update manifest: no packages defined");
    expect_refused("admin", "{\"Packages\":", 500, "unmarshaling manifest");
    expect_refused("alice", PKG_UPDATE(5), 500, "user alice is not allowed to update one or more packages");
    expect_refused("carol", PKG_UPDATE(5), 401, "unauthorized user: client certificate did not match any");
    expect_refused(NULL, PKG_UPDATE(5), 401, "unauthorized user: no client certificate provided");
    json_t *lines = update_log();
    cr_assert_eq(json_array_size(lines), 1, "refusals leave no trace");
    json_decref(lines);

    cr_assert_eq(post_manifest("admin", "/api/v2/update", PKG_UPDATE(5), &j), 200);
    cr_assert_eq(json_integer_value(json_object_get(data_of(j), "missingAcknowledgments")), 0);
    cr_assert(json_is_null(json_object_get(data_of(j), "missingUsers")));
    cr_assert_null(json_object_get(data_of(j), "recoverySecrets"));
    json_decref(j);
    expect_refused("admin", PKG_UPDATE(4), 500, "tries to downgrade SecurityVersion"); /* below the current 5 */

    /* the root stays; the intermediate and the marble root are new */
    ca_der(&int2, &root2);
    cr_assert(view_eq(buf_view(&root1), buf_view(&root2)), "root unchanged");
    cr_assert_not(view_eq(buf_view(&int1), buf_view(&int2)), "intermediate rotated");
    cr_assert_eq(activate_svn("frontend", 5, UUID_A, VIEW_EMPTY, &act), 0);
    marble_root_pem(act, &mroot2);
    api_activation_free(act);
    cr_assert_not(view_eq(buf_view(&mroot1), buf_view(&mroot2)), "marble root rotated");
    cr_assert_eq(crypto_cert_pem_to_der(buf_view(&mroot2), &mroot2_der), 0);
    /* the shared symmetric key stays; the shared certificate is issued anew under the new intermediate */
    json_t *after = secrets("s=symmetricKeyShared&s=certShared");
    secret_field(before, "symmetricKeyShared", "Private", &a);
    secret_field(after, "symmetricKeyShared", "Private", &b);
    cr_assert(view_eq(buf_view(&a), buf_view(&b)), "symmetric key kept");
    secret_field(before, "certShared", "Cert", &a);
    secret_field(after, "certShared", "Cert", &b);
    cr_assert_not(view_eq(buf_view(&a), buf_view(&b)), "certificate regenerated");
    cr_assert(signed_by(buf_view(&a), buf_view(&int1)), "control: the old one was the old intermediate's");
    cr_assert_not(signed_by(buf_view(&a), buf_view(&int2)), "the old certificate does not verify any more");
    cr_assert_not(signed_by(buf_view(&a), buf_view(&mroot2_der)));
    cr_assert(signed_by(buf_view(&b), buf_view(&int2)) && signed_by(buf_view(&b), buf_view(&mroot2_der)));
    /* the manifest, its fingerprint and signature stay (MarbleRun); the log says what happened */
    cr_assert_eq(call_as(NULL, API_GET, "/api/v2/manifest", NULL, &manifest_after), 200);
    cr_assert(json_equal(manifest_before, manifest_after));
    lines = update_log();
    const char *const want[] = {"Initial manifest set", "SecurityVersion increased"};
    expect_log(lines, want, 2);
    const char *l = log_line(lines, 1);
    cr_assert(strstr(l, "\"package\":\"frontend\"") && strstr(l, "\"new version\":5") && strstr(l, "\"user\":\"admin\""),
              "%s", l);
    json_decref(lines);
    /* v1: the raw manifest; data null, refusals 400 */
    cr_assert_eq(call_as("admin", API_POST, "/update", PKG_UPDATE(6), &j), 200);
    cr_assert(json_is_null(data_of(j)));
    json_decref(j);
    cr_assert_eq(call_as("admin", API_POST, "/update", PKG_UPDATE(1), &j), 400);
    cr_assert_str_eq(json_string_value(json_object_get(j, "status")), "error");
    json_decref(j);
    cr_assert_eq(call_as(NULL, API_POST, "/update", PKG_UPDATE(7), NULL), 401);
    json_decref(before), json_decref(after), json_decref(manifest_before), json_decref(manifest_after);
    buf_free(&int1), buf_free(&root1), buf_free(&int2), buf_free(&root2), buf_free(&mroot1), buf_free(&mroot2);
    buf_free(&mroot2_der), buf_free(&a), buf_free(&b);
}

/* TestSecurityLevelUpdate -------------------------------------------------------------------------- */

static void expect_svn_refused(uint16_t svn)
{
    struct api_activation *a = NULL;
    int r = activate_svn("frontend", svn, UUID_A, VIEW_EMPTY, &a);
    cr_assert_eq(r, ERR_POLICY, "SVN %u: %s", svn, err_detail(r));
    cr_assert(strstr(err_detail(r), "SecurityVersion") != NULL, "%s", err_detail(r));
}

static void expect_svn_ok(uint16_t svn, struct view mesh_root)
{
    struct api_activation *a = NULL;
    int r = activate_svn("frontend", svn, UUID_A, mesh_root, &a);
    cr_assert_eq(r, 0, "SVN %u: %s", svn, err_detail(r));
    api_activation_free(a);
}

Test(updates, old_security_version_refused_after_update_and_restarts, .init = setup, .fini = teardown, TIMEOUT)
{
    cr_assert_eq(qc_set_manifest(&q, "updates.json"), 200);
    expect_svn_ok(3, VIEW_EMPTY);
    json_t *j;
    cr_assert_eq(post_manifest("admin", "/api/v2/update", PKG_UPDATE(5), &j), 200);
    json_decref(j);
    expect_svn_refused(3);
    expect_svn_refused(4);
    struct api_activation *a;
    cr_assert_eq(activate_svn("frontend", 5, UUID_A, VIEW_EMPTY, &a), 0);
    /* the mesh API's certificate is issued by the Coordinator root, across updates and restarts */
    struct buf root = BUF_INIT;
    cr_assert_eq(buf_append_view(&root, buf_view(&qc_param(a->env, a->env_count,
                                                           "MARBLE_PREDEFINED_COORDINATOR_ROOT_CA")->value)), 0);
    api_activation_free(a);
    expect_svn_ok(6, buf_view(&root));
    qc_stop(&q);
    qc_start(&q, NULL);
    cr_assert_eq(qc_state(&q), 3);
    expect_svn_refused(3);
    expect_svn_ok(5, buf_view(&root));
    qc_kill9(&q);
    qc_start(&q, NULL);
    cr_assert_eq(qc_state(&q), 3);
    expect_svn_refused(3);
    expect_svn_ok(5, buf_view(&root));
    struct api_activation *be = NULL;
    cr_assert_eq(activate_svn("backend", 3, UUID_A, VIEW_EMPTY, &be), 0, "the other package keeps its version");
    api_activation_free(be);
    buf_free(&root);
}

/* TestMultiPartyUpdate ------------------------------------------------------------------------------ */

static void expect_users(json_t *data, const char *users)
{
    json_t *u;
    size_t i;
    char got[256] = "";
    json_array_foreach(json_object_get(data, "missingUsers"), i, u) {
        size_t n = strlen(got);
        snprintf(got + n, sizeof(got) - n, "%s%s", i ? " " : "", json_string_value(u));
    }
    cr_assert_str_eq(got, users);
}

static void expect_missing(json_t *j, json_int_t missing, const char *users)
{
    cr_assert_eq(json_integer_value(json_object_get(data_of(j), "missingAcknowledgments")), missing);
    expect_users(data_of(j), users);
}

static void manifest_is(const char *text)
{
    json_t *j;
    struct buf raw = BUF_INIT;
    cr_assert_eq(call_as(NULL, API_GET, "/api/v2/manifest", NULL, &j), 200);
    cr_assert_eq(enc_b64_decode(&raw, view_str(json_string_value(json_object_get(data_of(j), "manifest")))), 0);
    cr_assert(view_eq(buf_view(&raw), view_str(text)), "the manifest in force is not the expected one");
    buf_free(&raw);
    json_decref(j);
}

static void hex_of(struct view v, struct buf *out)
{
    buf_reset(out);
    cr_assert_eq(enc_hex(out, v), 0);
}

Test(updates, multi_party_update, .init = setup, .fini = teardown, TIMEOUT)
{
    struct buf v1 = BUF_INIT, v2 = BUF_INIT, old_key = BUF_INIT, old_hex = BUF_INIT, plain = BUF_INIT;
    qc_manifest_text("multiparty.json", &v1);
    qc_manifest_text("multiparty_v2.json", &v2);
    const char *m1 = (const char *)v1.ptr, *m2 = (const char *)v2.ptr;
    cr_assert_eq(qc_set_manifest_text(&q, m1, NULL), 200);
    json_t *j;
    /* nothing pending */
    cr_assert_eq(post_manifest("admin", "/api/v2/update-manifest", m2, &j), 404);
    cr_assert_str_eq(message_of(j), "no update in progress");
    json_decref(j);
    cr_assert_eq(call_as("admin", API_POST, "/api/v2/update-cancel", "", NULL), 404);
    cr_assert_eq(call_as(NULL, API_GET, "/api/v2/update-manifest", NULL, NULL), 404);
    cr_assert_eq(call_as("admin", API_POST, "/api/v2/secrets", "{\"secrets\":{\"userToken\":{\"Key\":\"dG9rZW4=\"}}}", NULL),
                 200);
    json_t *s = secrets("s=symmetricKeyShared");
    secret_field(s, "symmetricKeyShared", "Private", &old_key);
    hex_of(buf_view(&old_key), &old_hex);
    json_decref(s);

    /* admin starts it: 2 of 3 missing */
    cr_assert_eq(post_manifest("admin", "/api/v2/update", m2, &j), 200);
    expect_missing(j, 2, "alice bob");
    json_decref(j);
    cr_assert_eq(post_manifest("alice", "/api/v2/update", m2, &j), 500);
    cr_assert_str_eq(message_of(j),
                     "update already in progress. Acknowledge the update to apply it, or cancel it to start a new one");
    json_decref(j);
    cr_assert_eq(call_as(NULL, API_GET, "/api/v2/update-manifest", NULL, &j), 200);
    cr_assert_str_eq(json_string_value(json_object_get(data_of(j), "message")),
                     "2 users still need to acknowledge the update manifest");
    struct buf pending = BUF_INIT;
    cr_assert_eq(enc_b64_decode(&pending, view_str(json_string_value(json_object_get(data_of(j), "manifest")))), 0);
    cr_assert(view_eq(buf_view(&pending), buf_view(&v2)));
    buf_free(&pending);
    json_decref(j);
    /* the initiator again: no change; another manifest, an unknown user: refused */
    cr_assert_eq(post_manifest("admin", "/api/v2/update-manifest", m2, &j), 200);
    expect_missing(j, 2, "alice bob");
    json_decref(j);
    cr_assert_eq(post_manifest("alice", "/api/v2/update-manifest", m1, &j), 500);
    cr_assert_str_eq(message_of(j), "provided manifest does not match the pending manifest");
    json_decref(j);
    cr_assert_eq(post_manifest("carol", "/api/v2/update-manifest", m2, NULL), 401);
    /* alice: 1 missing; bob: applied, with new recovery secrets (the keys changed) */
    cr_assert_eq(post_manifest("alice", "/api/v2/update-manifest", m2, &j), 200);
    expect_missing(j, 1, "bob");
    cr_assert_str_eq(json_string_value(json_object_get(data_of(j), "message")),
                     "1 user still needs to acknowledge the update manifest.\nThe following users have not yet "
                     "accepted: bob");
    cr_assert_null(json_object_get(data_of(j), "recoverySecrets"));
    json_decref(j);
    manifest_is(m1);
    cr_assert_eq(post_manifest("bob", "/api/v2/update-manifest", m2, &j), 200);
    expect_missing(j, 0, "");
    cr_assert_str_eq(json_string_value(json_object_get(data_of(j), "message")),
                     "All users have acknowledged the update manifest. Update successfully applied");
    json_t *rs = json_object_get(data_of(j), "recoverySecrets");
    cr_assert_eq(json_object_size(rs), 2);
    struct buf ct = BUF_INIT, pem = BUF_INIT;
    struct crypto_key *rec1;
    cr_assert_eq(enc_b64_decode(&ct, view_str(json_string_value(json_object_get(rs, "rec1")))), 0);
    qt_read(qt_data_path("certs/rec1.key"), &pem);
    cr_assert_eq(crypto_key_from_pem(buf_view(&pem), &rec1), 0);
    cr_assert_eq(crypto_rsa_oaep_decrypt(rec1, buf_view(&ct), &plain), 0, "rec1's new secret is for rec1");
    cr_assert_eq(plain.size, 32);
    crypto_key_free(rec1);
    buf_free(&ct), buf_free(&pem);
    json_decref(j);
    manifest_is(m2);
    json_t *lines = update_log();
    static const char initiated[] =
        "Complete Manifest update initiated by user. Waiting for acknowledgments to apply the update";
    const char *const want[] = {"Initial manifest set", "Secret set", initiated,
                                "Complete Manifest update acknowledged by user",
                                "Complete Manifest update acknowledged by user", "Complete Manifest updated"};
    expect_log(lines, want, 6);
    cr_assert(strstr(log_line(lines, 2), "\"missingAcknowledgments\":2") != NULL, "%s", log_line(lines, 2));
    cr_assert(strstr(log_line(lines, 4), "\"user\":\"bob\"") != NULL, "%s", log_line(lines, 4));
    json_decref(lines);

    /* the new manifest in force: root secret rotated, the old key in .Previous, the upload kept */
    struct api_activation *a;
    cr_assert_eq(activate_svn("frontend", 1, UUID_A, VIEW_EMPTY, &a), ERR_POLICY, "SecurityVersion 2 now");
    cr_assert_eq(activate_svn("frontend", 2, UUID_A, VIEW_EMPTY, &a), 0);
    cr_assert_not(view_eq(buf_view(&qc_param(a->files, a->files_count, "shared.key")->value), buf_view(&old_hex)));
    cr_assert(view_eq(buf_view(&qc_param(a->files, a->files_count, "previous.key")->value), buf_view(&old_hex)));
    cr_assert(view_eq(buf_view(&qc_param(a->files, a->files_count, "token")->value), view_str("token")));
    cr_assert_eq(qc_param(a->files, a->files_count, "new.key")->value.size, 64);
    api_activation_free(a);
    /* re-keyed state: a restart opens it, and the activation count (MaxActivations 1) survived */
    qc_stop(&q);
    qc_start(&q, NULL);
    cr_assert_eq(qc_state(&q), 3);
    manifest_is(m2);
    cr_assert_eq(activate_svn("frontend", 2, UUID_A, VIEW_EMPTY, &a), ERR_POLICY, "MaxActivations 1");
    s = secrets("s=userToken");
    secret_field(s, "userToken", "Private", &plain);
    cr_assert(view_eq(buf_view(&plain), view_str("token")));
    json_decref(s);

    /* a new update, cancelled */
    cr_assert_eq(post_manifest("alice", "/api/v2/update", m1, &j), 200);
    expect_missing(j, 2, "admin bob");
    json_decref(j);
    cr_assert_eq(call_as("bob", API_POST, "/api/v2/update-cancel", "", &j), 200);
    cr_assert_str_eq(json_string_value(json_object_get(data_of(j), "message")), "Update successfully cancelled");
    json_decref(j);
    cr_assert_eq(call_as(NULL, API_GET, "/api/v2/update-manifest", NULL, NULL), 404);
    lines = update_log();
    cr_assert(strstr(log_line(lines, json_array_size(lines) - 1),
                     "\"update\":\"Complete Manifest update cancelled by user\"") != NULL);
    json_decref(lines);
    /* v1: raw bodies, string answers */
    cr_assert_eq(call_as("alice", API_POST, "/update", m1, &j), 200);
    cr_assert(json_is_null(data_of(j)));
    json_decref(j);
    cr_assert_eq(call_as(NULL, API_GET, "/update-manifest", NULL, NULL), 200);
    cr_assert_eq(call_as("bob", API_POST, "/update-manifest", m1, &j), 200);
    cr_assert_str_eq(json_string_value(data_of(j)), "1 user still needs to acknowledge the update manifest");
    json_decref(j);
    cr_assert_eq(call_as("admin", API_POST, "/update-cancel", "", &j), 200);
    cr_assert_str_eq(json_string_value(data_of(j)), "Update successfully cancelled");
    json_decref(j);
    cr_assert_eq(call_as("admin", API_POST, "/update-cancel", "", NULL), 404);
    buf_free(&v1), buf_free(&v2), buf_free(&old_key), buf_free(&old_hex), buf_free(&plain);
}

/* A pending update across restarts ------------------------------------------------------------------- */

static void expect_pending(json_int_t missing, const char *users)
{
    json_t *j;
    cr_assert_eq(call_as(NULL, API_GET, "/api/v2/update-manifest", NULL, &j), 200);
    json_t *d = data_of(j);
    expect_users(d, users);
    char want[128];
    snprintf(want, sizeof(want), "%lld %s still need%s to acknowledge the update manifest", (long long)missing,
             missing == 1 ? "user" : "users", missing == 1 ? "s" : "");
    cr_assert_str_eq(json_string_value(json_object_get(d, "message")), want);
    json_decref(j);
}

Test(updates, pending_update_survives_sigterm_and_kill9, .init = setup, .fini = teardown, TIMEOUT)
{
    struct buf v1 = BUF_INIT, v2 = BUF_INIT;
    qc_manifest_text("multiparty.json", &v1);
    qc_manifest_text("multiparty_v2.json", &v2);
    const char *m1 = (const char *)v1.ptr, *m2 = (const char *)v2.ptr;
    cr_assert_eq(qc_set_manifest_text(&q, m1, NULL), 200);
    json_t *j;
    cr_assert_eq(post_manifest("admin", "/api/v2/update", m2, &j), 200);
    json_decref(j);
    qc_kill9(&q); /* right after it started */
    qc_start(&q, NULL);
    expect_pending(2, "alice bob");
    cr_assert_eq(post_manifest("alice", "/api/v2/update-manifest", m2, &j), 200);
    expect_missing(j, 1, "bob");
    json_decref(j);
    qc_stop(&q);
    qc_start(&q, NULL);
    expect_pending(1, "bob");
    cr_assert_eq(post_manifest("alice", "/api/v2/update-manifest", m2, &j), 200);
    expect_missing(j, 1, "bob");
    json_decref(j);
    qc_kill9(&q);
    qc_start(&q, NULL);
    expect_pending(1, "bob");
    manifest_is(m1);
    cr_assert_eq(post_manifest("bob", "/api/v2/update-manifest", m2, &j), 200);
    expect_missing(j, 0, "");
    json_decref(j);
    manifest_is(m2);
    qc_kill9(&q);
    qc_start(&q, NULL);
    manifest_is(m2);
    cr_assert_eq(call_as(NULL, API_GET, "/api/v2/update-manifest", NULL, NULL), 404);
    buf_free(&v1), buf_free(&v2);
}

/* A legacy document as a multi-party update: its fingerprint is that of its conversion, not of the
 * bytes sent, and the pending update stays readable and acknowledgeable. */
Test(updates, legacy_manifest_as_multi_party_update, .init = setup, .fini = teardown, TIMEOUT)
{
    struct buf v1 = BUF_INIT;
    qc_manifest_text("multiparty.json", &v1);
    cr_assert_eq(qc_set_manifest_text(&q, (const char *)v1.ptr, NULL), 200);
    const char *legacy = "{\"ServiceID\": \"oracle\", \"Version\": \"1.0.0\"}";
    json_t *j;
    cr_assert_eq(post_manifest("admin", "/api/v2/update", legacy, &j), 200, "%s", message_of(j));
    expect_missing(j, 2, "alice bob");
    json_decref(j);
    expect_pending(2, "alice bob");
    cr_assert_eq(post_manifest("alice", "/api/v2/update-manifest", legacy, &j), 200, "%s", message_of(j));
    expect_missing(j, 1, "bob");
    json_decref(j);
    cr_assert_eq(post_manifest("bob", "/api/v2/update-manifest", legacy, &j), 200, "%s", message_of(j));
    expect_missing(j, 0, "");
    json_decref(j);
    cr_assert_eq(call_as(NULL, API_GET, "/api/v2/update-manifest", NULL, NULL), 404);
    /* in force: the conversion (the manifest in force is the one fingerprinted), not the bytes sent */
    struct buf raw = BUF_INIT, hex = BUF_INIT;
    uint8_t digest[32];
    cr_assert_eq(call_as(NULL, API_GET, "/api/v2/manifest", NULL, &j), 200);
    cr_assert_eq(enc_b64_decode(&raw, view_str(json_string_value(json_object_get(data_of(j), "manifest")))), 0);
    cr_assert_not(view_eq(buf_view(&raw), view_str(legacy)));
    cr_assert_eq(buf_terminate(&raw), 0);
    cr_assert(strstr((const char *)raw.ptr, "\"Marbles\"") != NULL, "a converted manifest");
    struct view rv = buf_view(&raw);
    cr_assert_eq(crypto_sha256(&rv, 1, digest), 0);
    cr_assert_eq(enc_hex(&hex, view_of(digest, 32)), 0);
    cr_assert(view_eq(buf_view(&hex), view_str(json_string_value(json_object_get(data_of(j), "manifestFingerprint")))),
              "the fingerprint is the SHA-256 of the converted manifest");
    json_decref(j);
    buf_free(&raw), buf_free(&hex), buf_free(&v1);
}

/* The update log against tampering in the store ------------------------------------------------------ */

static int keyfile_sealer(void *ctx, const char *name, struct sealer **out)
{
    (void)name;
    char spec[512];
    snprintf(spec, sizeof(spec), "keyfile:%s/insecure-seal.key", (const char *)ctx);
    return sealer_new(spec, out);
}

/* The Coordinator's own store, opened here with its key file (the Coordinator is stopped). */
static struct store *open_store(void)
{
    char spec[512];
    struct kv_backend *kv;
    struct store *s;
    snprintf(spec, sizeof(spec), "sqlite:%s/state.db", q.data);
    cr_assert_eq(kv_backend_open(spec, &kv), 0);
    cr_assert_eq(store_open(kv, keyfile_sealer, q.data, &s), 0);
    cr_assert_eq(store_status(s), STORE_OPEN);
    return s;
}

static void log_key(unsigned n, char *key, size_t size)
{
    snprintf(key, size, "log:%016x", n);
}

static void get_entry(struct store *s, unsigned n, struct buf *out)
{
    char key[64];
    log_key(n, key, sizeof(key));
    buf_reset(out);
    cr_assert_eq(store_get(s, key, out, NULL), 0, "%s", key);
    cr_assert_eq(buf_terminate(out), 0);
}

/* Writes entries (a NULL value deletes), with valid encryption: only the chain can tell. */
static void write_entries(const unsigned *n, const struct buf *const *values, size_t count)
{
    struct store *s = open_store();
    struct store_txn *t = store_txn_new();
    for (size_t i = 0; i < count; i++) {
        char key[64];
        log_key(n[i], key, sizeof(key));
        if (values[i] == NULL)
            cr_assert_eq(store_txn_del(t, key, STORE_REV_ANY), 0);
        else
            cr_assert_eq(store_txn_put(t, key, buf_view(values[i]), STORE_REV_ANY), 0);
    }
    cr_assert_eq(store_commit(s, t), 0);
    store_txn_free(t);
    store_free(s);
}

/* Restarts the Coordinator on the store as it is and runs quarry update log --verify. */
static void verify_after_restart(int want_exit, const char *needle)
{
    struct buf out = BUF_INIT;
    qc_start(&q, NULL);
    int rc = qc_quarry(&q, "update log --verify", &out);
    cr_assert_eq(rc, want_exit, "exit %d: %s", rc, (const char *)out.ptr);
    cr_assert(strstr((const char *)out.ptr, needle) != NULL, "\"%s\" not in: %s", needle, (const char *)out.ptr);
    qc_stop(&q);
    buf_free(&out);
}

/* The entry with another user named: still valid JSON with a valid prevHash. */
static void alter(const struct buf *e, struct buf *out)
{
    const char *at = strstr((const char *)e->ptr, "\"user\":\"admin\"");
    cr_assert_not_null(at, "%s", (const char *)e->ptr);
    cr_assert_eq(buf_append(out, e->ptr, (size_t)(at - (const char *)e->ptr)), 0);
    cr_assert_eq(buf_append_str(out, "\"user\":\"alice\""), 0);
    cr_assert_eq(buf_append_str(out, at + strlen("\"user\":\"admin\"")), 0);
}

Test(updates, tampered_update_log_fails_verify, .init = setup, .fini = teardown, TIMEOUT)
{
    cr_assert_eq(qc_set_manifest(&q, "updates.json"), 200);
    for (int i = 0; i < 2; i++)
        cr_assert_eq(call_as("admin", API_POST, "/api/v2/secrets",
                             "{\"secrets\":{\"userToken\":{\"Key\":\"dG9rZW4=\"}}}", NULL), 200);
    cr_assert_eq(post_manifest("admin", "/api/v2/update", PKG_UPDATE(5), NULL), 200);
    qc_stop(&q); /* log: 0 initial, 1 and 2 secret set, 3 SecurityVersion increased */
    struct store *s = open_store();
    struct buf e1 = BUF_INIT, e2 = BUF_INIT, e3 = BUF_INIT, changed1 = BUF_INIT, changed3 = BUF_INIT;
    get_entry(s, 1, &e1);
    get_entry(s, 2, &e2);
    get_entry(s, 3, &e3);
    store_free(s);
    verify_after_restart(0, "update log verified: 4 entries");

    alter(&e1, &changed1);
    alter(&e3, &changed3);
    const unsigned one[] = {1}, two[] = {2}, three[] = {3}, both[] = {1, 2};
    const struct buf *changed_v[] = {&changed1}, *changed_last[] = {&changed3}, *none[] = {NULL}, *orig1[] = {&e1},
                     *orig2[] = {&e2}, *orig3[] = {&e3}, *swapped[] = {&e2, &e1}, *orig12[] = {&e1, &e2};

    write_entries(one, changed_v, 1); /* an entry changed */
    verify_after_restart(1, "update log entry 3 does not follow entry 2: changed, removed or reordered");
    write_entries(one, orig1, 1);
    write_entries(three, changed_last, 1); /* the last entry changed */
    verify_after_restart(1, "does not end at its signed head");
    write_entries(three, orig3, 1);
    write_entries(two, none, 1); /* an entry removed */
    verify_after_restart(1, "update log entry 3 does not follow entry 2");
    write_entries(two, orig2, 1);
    write_entries(three, none, 1); /* the last entry removed */
    verify_after_restart(1, "does not end at its signed head (3 entries, the head says 4)");
    write_entries(three, orig3, 1);
    write_entries(both, swapped, 2); /* two entries reordered */
    verify_after_restart(1, "update log entry 2 does not follow entry 1");
    write_entries(both, orig12, 2);
    verify_after_restart(0, "update log verified: 4 entries"); /* restored: verifies again */
    buf_free(&e1), buf_free(&e2), buf_free(&e3), buf_free(&changed1), buf_free(&changed3);
}

/* The CLI ------------------------------------------------------------------------------------------- */

static void write_text(const char *name, const char *text, char *path, size_t size)
{
    snprintf(path, size, "%s/%s", q.dir, name);
    cr_assert_eq(file_write_atomic(path, view_str(text), 0600), 0);
}

Test(updates, quarry_commands, .init = setup, .fini = teardown, TIMEOUT)
{
    struct buf v1 = BUF_INIT, v2 = BUF_INIT, out = BUF_INIT, got = BUF_INIT;
    char p2[512], pkg[512], args[2048], pending[512];
    const char *data = getenv("QY_TEST_DATA");
    qc_manifest_text("multiparty.json", &v1);
    qc_manifest_text("multiparty_v2.json", &v2);
    cr_assert_eq(qc_set_manifest_text(&q, (const char *)v1.ptr, NULL), 200);
    write_text("v2.json", (const char *)v2.ptr, p2, sizeof(p2));
    write_text("pkg.json", PKG_UPDATE(3), pkg, sizeof(pkg));
    snprintf(pending, sizeof(pending), "%s/pending.json", q.dir);

#define RUN(want, needle, ...)                                                                                \
    do {                                                                                                       \
        snprintf(args, sizeof(args), __VA_ARGS__);                                                             \
        int rc_ = qc_quarry(&q, args, &out);                                                                   \
        cr_assert_eq(rc_, want, "quarry %s: exit %d: %s", args, rc_, (const char *)out.ptr);                   \
        cr_assert(strstr((const char *)out.ptr, needle) != NULL, "\"%s\" not in: %s", needle,                  \
                  (const char *)out.ptr);                                                                      \
    } while (0)

    RUN(0, "2 acknowledgement(s) missing; not yet acknowledged by: alice bob",
        "manifest update apply %s --cert %s/certs/admin.crt --key %s/certs/admin.key", p2, data, data);
    RUN(0, "alice\nbob\n", "manifest update get --missing");
    RUN(0, "", "manifest update get -o %s", pending);
    qt_read(pending, &got);
    cr_assert(view_eq(buf_view(&got), view_str((const char *)v2.ptr)), "the pending manifest's bytes");
    RUN(0, "1 user still needs to acknowledge the update manifest.\nThe following users have not yet accepted: bob",
        "manifest update acknowledge %s --cert %s/certs/alice.crt --key %s/certs/alice.key", p2, data, data);
    RUN(0, "Update successfully cancelled", "manifest update cancel --cert %s/certs/bob.crt --key %s/certs/bob.key",
        data, data);
    RUN(1, "no update in progress", "manifest update get");
    RUN(0, "2 acknowledgement(s) missing", "manifest update apply %s --cert %s/certs/admin.crt --key %s/certs/admin.key",
        p2, data, data);
    RUN(0, "1 user still needs", "manifest update acknowledge %s --cert %s/certs/alice.crt --key %s/certs/alice.key",
        p2, data, data);
    RUN(0, "All users have acknowledged the update manifest",
        "manifest update acknowledge %s --recovery-dir %s/rec --cert %s/certs/bob.crt --key %s/certs/bob.key", p2,
        q.dir, data, data);
    char rec[512];
    snprintf(rec, sizeof(rec), "%s/rec/rec2.secret", q.dir);
    qt_read(rec, &got);
    cr_assert_gt(got.size, 0, "recovery secret saved");
    /* the updated manifest has no UpdateSecurityVersion role: a package update is refused, with the reason */
    RUN(1, "not allowed to update one or more packages of [frontend]",
        "package update %s --cert %s/certs/admin.crt --key %s/certs/admin.key", pkg, data, data);
    RUN(2, "not a package update", "package update %s --cert %s/certs/admin.crt --key %s/certs/admin.key", p2, data,
        data);
    RUN(0, "update log verified: 8 entries", "update log --verify");
    RUN(0, "\"update\":\"Complete Manifest updated\"", "update log");
#undef RUN
    buf_free(&v1), buf_free(&v2), buf_free(&out), buf_free(&got);
}

/* Sign-quote ---------------------------------------------------------------------------------------- */

static void sign_quote_body(struct view quote, struct buf *body)
{
    struct buf b64 = BUF_INIT;
    cr_assert_eq(enc_b64(&b64, quote), 0);
    cr_assert_eq(buf_appendf(body, "{\"sgxQuote\":\"%.*s\"}", (int)b64.size, (const char *)b64.ptr), 0);
    cr_assert_eq(buf_terminate(body), 0);
    buf_free(&b64);
}

/* POSTs the quote and checks the signature over base64(quote as sent) || tcbStatus with the root. */
static void expect_signed(struct view quote, const char *status)
{
    struct buf body = BUF_INIT, msg = BUF_INIT, sig = BUF_INIT, inter = BUF_INIT, root = BUF_INIT;
    json_t *j;
    sign_quote_body(quote, &body);
    cr_assert_eq(call_as(NULL, API_POST, "/api/v2/sign-quote", (const char *)body.ptr, &j), 200, "%s", message_of(j));
    cr_assert_str_eq(json_string_value(json_object_get(data_of(j), "tcbStatus")), status);
    cr_assert_eq(enc_b64_decode(&sig, view_str(json_string_value(json_object_get(data_of(j), "verificationSignature")))),
                 0);
    ca_der(&inter, &root);
    cr_assert_eq(enc_b64(&msg, quote), 0);
    cr_assert_eq(buf_append_str(&msg, status), 0);
    cr_assert_eq(pki_verify_root_signature(buf_view(&root), buf_view(&msg), buf_view(&sig)), 0);
    cr_assert_eq(buf_append_str(&msg, "x"), 0);
    cr_assert_neq(pki_verify_root_signature(buf_view(&root), buf_view(&msg), buf_view(&sig)), 0, "control");
    json_decref(j);
    buf_free(&body), buf_free(&msg), buf_free(&sig), buf_free(&inter), buf_free(&root);
}

static void kit_quote(unsigned faults, struct buf *quote)
{
    struct att_testkit_quote_params p;
    cr_assert_eq(att_testkit_default_identity(q.tk, &p), 0);
    p.faults = faults;
    p.isvsvn = 1; /* no package is asked about: any identity the kit signs */
    cr_assert_eq(att_testkit_quote(q.tk, &p, quote), 0);
}

Test(features, sign_quote, .init = setup, .fini = teardown, TIMEOUT)
{
    cr_assert_eq(qc_set_manifest(&q, "updates.json"), 200);
    struct buf quote = BUF_INIT, oe = BUF_INIT, body = BUF_INIT, out = BUF_INIT;
    kit_quote(0, &quote);
    expect_signed(buf_view(&quote), "UpToDate");
    uint8_t h[16] = {1, 0, 0, 0, 2, 0, 0, 0};
    for (int i = 0; i < 8; i++)
        h[8 + i] = (uint8_t)((uint64_t)quote.size >> (8 * i));
    cr_assert_eq(buf_append(&oe, h, sizeof(h)), 0);
    cr_assert_eq(buf_append_view(&oe, buf_view(&quote)), 0);
    expect_signed(buf_view(&oe), "UpToDate"); /* the OpenEnclave envelope, signed as sent */
    json_t *j;
    buf_reset(&quote);
    kit_quote(ATT_TK_FAULT_BAD_SIGNATURE, &quote);
    sign_quote_body(buf_view(&quote), &body);
    cr_assert_eq(call_as(NULL, API_POST, "/api/v2/sign-quote", (const char *)body.ptr, &j), 400);
    cr_assert_str_eq(json_string_value(json_object_get(j, "status")), "fail");
    cr_assert_str_eq(message_of(j), "quote verification failed");
    cr_assert(strncmp(json_string_value(json_object_get(data_of(j), "sgxQuote")), "quote verification failed: ", 27) == 0);
    json_decref(j);
    cr_assert_eq(call_as(NULL, API_POST, "/api/v2/sign-quote", "{", &j), 400);
    cr_assert_str_eq(json_string_value(json_object_get(data_of(j), "sgxQuote")), "failed to parse JSON data");
    cr_assert(strncmp(message_of(j), "bad request: ", 13) == 0, "%s", message_of(j));
    json_decref(j);
    cr_assert_eq(call_as(NULL, API_GET, "/api/v2/sign-quote", NULL, NULL), 405);
    /* quarry quote sign checks the signature with the verified root */
    char path[512];
    buf_reset(&quote);
    kit_quote(0, &quote);
    snprintf(path, sizeof(path), "%s/quote.bin", q.dir);
    cr_assert_eq(file_write_atomic(path, buf_view(&quote), 0600), 0);
    char args[600];
    snprintf(args, sizeof(args), "quote sign %s", path);
    int rc = qc_quarry(&q, args, &out);
    cr_assert_eq(rc, 0, "%s", (const char *)out.ptr);
    cr_assert(strstr((const char *)out.ptr, "\"tcbStatus\": \"UpToDate\"") != NULL, "%s", (const char *)out.ptr);
    buf_free(&quote), buf_free(&oe), buf_free(&body), buf_free(&out);
}

Test(features, sign_quote_reports_the_tcb_status, TIMEOUT)
{
    struct att_testkit_options o;
    att_testkit_options_init(&o);
    o.tcb_status = ATT_TCB_OUT_OF_DATE;
    qc_init(&q, &o);
    qc_start(&q, NULL);
    cr_assert_eq(qc_set_manifest(&q, "updates.json"), 200);
    struct buf quote = BUF_INIT;
    kit_quote(0, &quote);
    expect_signed(buf_view(&quote), "OutOfDate"); /* not an error: the status is what gets signed */
    buf_free(&quote);
    qc_cleanup(&q);
}

Test(features, gates_off_answer_403, .init = setup, .fini = teardown, TIMEOUT)
{
    cr_assert_eq(qc_set_manifest(&q, "coordinator.json"), 200);
    struct buf quote = BUF_INIT, body = BUF_INIT;
    kit_quote(0, &quote);
    sign_quote_body(buf_view(&quote), &body);
    json_t *j;
    cr_assert_eq(call_as(NULL, API_POST, "/api/v2/sign-quote", (const char *)body.ptr, &j), 403);
    cr_assert_str_eq(json_string_value(json_object_get(j, "status")), "error");
    cr_assert_str_eq(message_of(j), "SignQuoteEndpoint feature is not enabled in the manifest");
    json_decref(j);
    cr_assert_eq(call_as(NULL, API_POST, "/api/v2/monotonic-counter", "{\"name\":\"c\",\"value\":1}", &j), 403);
    cr_assert_str_eq(message_of(j), "MonotonicCounter feature is not enabled in the manifest");
    json_decref(j);
    buf_free(&quote), buf_free(&body);
}

/* Monotonic counters --------------------------------------------------------------------------------- */

static struct api_client *marble_client(const struct api_activation *a)
{
    /* 32 marbles shake hands at once with an ASan-built Coordinator that shares 2 cores with the
     * suite's other tests: a handshake may take longer than the 10 s default */
    struct api_client_config cc = {q.client_addr, VIEW_EMPTY, true, buf_view(&a->chain_pem), buf_view(&a->key_pem),
                                   60000, 60000};
    struct api_client *c = NULL;
    return api_client_new(&cc, &c) == 0 ? c : NULL;
}

static _Thread_local char transport_error[256]; /* why the last call of this thread got no answer */

/* POST /monotonic-counter; the HTTP status (-1: no answer, see transport_error), *previous from a 200. */
static long counter(struct api_client *c, const char *name, uint64_t value, uint64_t *previous)
{
    char body[256];
    long status = 0;
    struct buf out = BUF_INIT;
    snprintf(body, sizeof(body), "{\"name\":\"%s\",\"value\":%llu}", name, (unsigned long long)value);
    int r = api_client_call(c, API_POST, "/api/v2/monotonic-counter", view_str(body), &status, &out);
    if (r < 0) {
        snprintf(transport_error, sizeof(transport_error), "%s", err_detail(r));
        status = -1;
    }
    json_t *j = json_loadb((const char *)out.ptr, out.size, 0, NULL);
    *previous = (uint64_t)json_integer_value(json_object_get(json_object_get(j, "data"), "value"));
    json_decref(j);
    buf_free(&out);
    return status;
}

struct worker {
    int index;
    uint64_t wins; /* increments of the shared counter this worker made */
    char error[512];
};

/* No criterion assertions off the main thread: failures are reported in w->error. */
static void *count_worker(void *arg)
{
    struct worker *w = arg;
    struct api_activation *own = NULL, *shared = NULL;
    struct api_client *co = NULL, *cs = NULL;
    uint8_t rnd[16];
    char uuid[UUID_TEXT_SIZE];
    uint64_t prev = 0, cur = 0;
    if (crypto_random(rnd, sizeof(rnd)) < 0)
        return NULL;
    uuid_v4(rnd, uuid);
    int r = activate_svn("frontend", 3, uuid, VIEW_EMPTY, &own);
    if (r == 0)
        r = activate_svn("frontend", 3, UUID_SHARED, VIEW_EMPTY, &shared);
    if (r < 0) {
        snprintf(w->error, sizeof(w->error), "activation: %s", err_detail(r));
        goto out;
    }
    co = marble_client(own);
    cs = marble_client(shared);
    if (co == NULL || cs == NULL) {
        snprintf(w->error, sizeof(w->error), "no client");
        goto out;
    }
    for (uint64_t i = 1; i <= 10; i++) { /* its own counter: each call returns the value before */
        long s = counter(co, "own", i, &prev);
        if (s != 200 || prev != i - 1) {
            snprintf(w->error, sizeof(w->error), "own counter: HTTP %ld, previous %llu at %llu%s%.200s", s,
                     (unsigned long long)prev, (unsigned long long)i, s < 0 ? ": " : "", s < 0 ? transport_error : "");
            goto out;
        }
    }
    if (counter(co, "own", 3, &prev) != 200 || prev != 10) {
        snprintf(w->error, sizeof(w->error), "a lower value moved the counter: %llu", (unsigned long long)prev);
        goto out;
    }
    for (int i = 0; i < 10; i++) { /* the shared counter: read, then try to add one */
        if (counter(cs, "shared", 0, &cur) != 200 || counter(cs, "shared", cur + 1, &prev) != 200) {
            snprintf(w->error, sizeof(w->error), "shared counter call failed");
            goto out;
        }
        if (prev < cur) {
            snprintf(w->error, sizeof(w->error), "the shared counter went down: %llu after %llu",
                     (unsigned long long)prev, (unsigned long long)cur);
            goto out;
        }
        w->wins += prev == cur;
    }
out:
    api_client_free(co);
    api_client_free(cs);
    api_activation_free(own);
    api_activation_free(shared);
    return NULL;
}

/* 32 marbles at once, with an ASan-built Coordinator sharing 2 cores with the suite's other tests
 * (the floods among them): a marble starved that long of CPU would miss the 10 s request deadline,
 * which this test is not about. */
static void setup_patient(void)
{
    qc_init(&q, NULL);
    const char *extra[] = {"--request-timeout", "60", NULL};
    qc_start(&q, extra);
}

Test(features, monotonic_counters_under_32_marbles, .init = setup_patient, .fini = teardown, TIMEOUT)
{
    cr_assert_eq(qc_set_manifest(&q, "updates.json"), 200);
    enum { N = 32 };
    pthread_t th[N];
    struct worker w[N];
    for (int i = 0; i < N; i++) {
        w[i] = (struct worker){i, 0, ""};
        cr_assert_eq(pthread_create(&th[i], NULL, count_worker, &w[i]), 0);
    }
    uint64_t wins = 0;
    for (int i = 0; i < N; i++) /* all of them first: the workers write into this frame */
        pthread_join(th[i], NULL);
    for (int i = 0; i < N; i++) {
        cr_assert_str_eq(w[i].error, "", "worker %d: %s", i, w[i].error);
        wins += w[i].wins;
    }
    /* every stored increment had exactly one winner: lost or doubled updates would break the sum */
    struct api_activation *a;
    cr_assert_eq(activate_svn("frontend", 3, UUID_SHARED, VIEW_EMPTY, &a), 0);
    struct api_client *c = marble_client(a);
    uint64_t final = 0;
    cr_assert_eq(counter(c, "shared", 0, &final), 200);
    cr_assert_eq(final, wins, "counter %llu, increments %llu", (unsigned long long)final, (unsigned long long)wins);
    cr_assert_geq(final, 10);
    /* who may ask: a marble certificate of this Coordinator, nothing else */
    uint64_t prev;
    struct api_client *nobody = qc_client(&q, NULL), *user = qc_client(&q, "admin");
    json_t *j;
    cr_assert_eq(qc_call(nobody, API_POST, "/api/v2/monotonic-counter", "{\"name\":\"c\",\"value\":1}", &j), 401);
    cr_assert(strncmp(message_of(j), "unauthorized marble: ", 21) == 0, "%s", message_of(j));
    json_decref(j);
    cr_assert_eq(qc_call(user, API_POST, "/api/v2/monotonic-counter", "{\"name\":\"c\",\"value\":1}", NULL), 401);
    cr_assert_eq(qc_call(nobody, API_POST, "/api/v2/monotonic-counter", "{\"name\":3}", NULL), 400);
    api_client_free(nobody), api_client_free(user);
    /* a marble's certificate is no secret (its peers all see it): behind a leaf of someone else's it
     * authenticates nothing, and the counter stays where it was */
    struct buf chain = BUF_INIT, key = BUF_INIT;
    qt_read(qt_data_path("certs/carol.crt"), &chain);
    qt_read(qt_data_path("certs/carol.key"), &key);
    cr_assert_eq(buf_append_view(&chain, buf_view(&a->chain_pem)), 0);
    struct api_client_config cc = {q.client_addr, VIEW_EMPTY, true, buf_view(&chain), buf_view(&key), 30000};
    struct api_client *thief;
    cr_assert_eq(api_client_new(&cc, &thief), 0);
    cr_assert_eq(qc_call(thief, API_POST, "/api/v2/monotonic-counter",
                         "{\"name\":\"shared\",\"value\":9223372036854775807}", &j), 401);
    cr_assert(strncmp(message_of(j), "unauthorized marble: ", 21) == 0, "%s", message_of(j));
    json_decref(j);
    api_client_free(thief);
    buf_free(&chain), buf_free(&key);
    cr_assert_eq(counter(c, "shared", 0, &prev), 200);
    cr_assert_eq(prev, final, "unchanged by the refused call");
    /* durable: the same after a restart */
    qc_stop(&q); /* with the marble's connection open */
    qc_start(&q, NULL);
    api_client_free(c);
    c = marble_client(a); /* a new connection, the same certificate */
    cr_assert_eq(counter(c, "shared", 0, &prev), 200);
    cr_assert_eq(prev, final);
    /* after an update, certificates of the old intermediate no longer authenticate; the same marble
     * (type and UUID) activated anew continues its counters */
    cr_assert_eq(post_manifest("admin", "/api/v2/update", PKG_UPDATE(5), NULL), 200);
    cr_assert_eq(counter(c, "shared", 0, &prev), 401);
    api_client_free(c);
    api_activation_free(a);
    cr_assert_eq(activate_svn("frontend", 5, UUID_SHARED, VIEW_EMPTY, &a), 0);
    c = marble_client(a);
    cr_assert_eq(counter(c, "shared", final + 5, &prev), 200);
    cr_assert_eq(prev, final);
    cr_assert_eq(counter(c, "shared", 0, &prev), 200);
    cr_assert_eq(prev, final + 5);
    api_client_free(c);
    api_activation_free(a);
}
