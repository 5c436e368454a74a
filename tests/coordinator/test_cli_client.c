/* The quarry CLI against a live Coordinator: it verifies the quote and policy before trusting the root. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>

#include "harness.h"

static struct qc q;
static char conn[2048], out[512];

static void setup(void)
{
    qc_init(&q, NULL);
    qc_start(&q, NULL);
    char policy[400];
    snprintf(policy, sizeof(policy), "%s/policy.json", q.dir);
    cr_assert_eq(file_write_atomic(policy, view_str("{\"coordinator\":{\"SignerID\":"
                                                    "\"d91c2b1a4ffd7cac4e6cc564d3afd3c642321a230a1597e0dfe127839049cd02\","
                                                    "\"ProductID\":1,\"SecurityVersion\":1}}"), 0600), 0);
    snprintf(conn, sizeof(conn), "--coordinator %s --policy %s --collateral %s --insecure-extra-root %s/root_ca.pem",
             q.client_addr, policy, q.kit, q.kit);
    snprintf(out, sizeof(out), "%s/cli.out", q.dir);
}

static void teardown(void)
{
    qc_cleanup(&q);
}

/* Runs `quarry ARGS CONN`; returns the exit code, output in *text (owned). */
static int quarry(const char *args, bool with_conn, struct buf *text)
{
    char cmd[8192];
    snprintf(cmd, sizeof(cmd), "cd %s && XDG_CACHE_HOME=%s/cache %s %s %s >%s 2>&1", q.dir, q.dir, getenv("QY_QUARRY"),
             args, with_conn ? conn : "", out);
    int st = system(cmd);
    buf_reset(text);
    qt_read(out, text);
    cr_assert_eq(buf_terminate(text), 0);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

#define CONTAINS(b, s) cr_assert(strstr((const char *)(b).ptr, s) != NULL, "no \"%s\" in: %s", s, (const char *)(b).ptr)

Test(cli_client, commands_against_a_verified_coordinator, .init = setup, .fini = teardown, .timeout = 240)
{
    struct buf t = BUF_INIT;
    cr_assert_eq(quarry("status", true, &t), 0, "%s", (const char *)t.ptr);
    CONTAINS(t, "2: Coordinator is ready to accept a manifest.");
    char args[2048];
    /* a manifest with a recovery key; the secret is saved to a file */
    struct buf text = BUF_INIT, m = BUF_INIT;
    json_t *j = qt_manifest_json("coordinator.json");
    struct buf pem = BUF_INIT;
    qt_read(qt_data_path("certs/rec1.pub"), &pem);
    json_object_set_new(j, "RecoveryKeys", json_pack("{s:s%}", "rec1", (const char *)pem.ptr, pem.size));
    cr_assert_eq(js_dump(&m, j, JSON_INDENT(2)), 0);
    json_decref(j);
    char file[400];
    snprintf(file, sizeof(file), "%s/manifest.json", q.dir);
    cr_assert_eq(file_write_atomic(file, buf_view(&m), 0600), 0);
    snprintf(args, sizeof(args), "manifest set %s --recovery-dir %s/rec", file, q.dir);
    cr_assert_eq(quarry(args, true, &t), 0, "%s", (const char *)t.ptr);
    CONTAINS(t, "manifest set, fingerprint");
    CONTAINS(t, "rec1.secret");
    snprintf(args, sizeof(args), "manifest get -o %s/got.json", q.dir);
    cr_assert_eq(quarry(args, true, &t), 0, "%s", (const char *)t.ptr);
    snprintf(file, sizeof(file), "%s/got.json", q.dir);
    qt_read(file, &text);
    cr_assert(view_eq(buf_view(&text), buf_view(&m)), "manifest get returns the exact bytes (signature checked)");
    cr_assert_eq(quarry("certificate root", true, &t), 0);
    CONTAINS(t, "-----BEGIN CERTIFICATE-----");
    /* secrets as users */
    snprintf(file, sizeof(file), "%s/secrets.json", q.dir);
    cr_assert_eq(file_write_atomic(file, view_str("{\"apiToken\":{\"Key\":\"dG9rZW4=\"}}"), 0600), 0);
    snprintf(args, sizeof(args), "secret set %s --cert %s --key %s", file, qt_data_path("certs/admin.crt"),
             qt_data_path("certs/admin.key"));
    cr_assert_eq(quarry(args, true, &t), 0, "%s", (const char *)t.ptr);
    snprintf(args, sizeof(args), "secret get apiToken --cert %s --key %s", qt_data_path("certs/alice.crt"),
             qt_data_path("certs/alice.key"));
    cr_assert_eq(quarry(args, true, &t), 0, "%s", (const char *)t.ptr);
    CONTAINS(t, "\"Private\": \"dG9rZW4=\"");
    snprintf(args, sizeof(args), "secret set %s --cert %s --key %s", file, qt_data_path("certs/alice.crt"),
             qt_data_path("certs/alice.key"));
    cr_assert_eq(quarry(args, true, &t), 1, "alice may not write");
    CONTAINS(t, "not allowed to set secret apiToken");
    cr_assert_eq(quarry("update log --verify", true, &t), 0, "%s", (const char *)t.ptr);
    CONTAINS(t, "update log verified: 2 entries");
    CONTAINS(t, "\"update\":\"Secret set\"");
    buf_free(&t), buf_free(&text), buf_free(&m), buf_free(&pem);
}

Test(cli_client, refuses_a_coordinator_that_fails_the_policy, .init = setup, .fini = teardown, .timeout = 120)
{
    struct buf t = BUF_INIT;
    char policy[400], args[2048];
    snprintf(policy, sizeof(policy), "%s/wrong.json", q.dir);
    cr_assert_eq(file_write_atomic(policy, view_str("{\"SignerID\":\"00112233445566778899aabbccddeeff00112233445566778899"
                                                    "aabbccddeeff\",\"ProductID\":1,\"SecurityVersion\":1}"), 0600), 0);
    snprintf(args, sizeof(args), "status --coordinator %s --policy %s --collateral %s --insecure-extra-root %s/root_ca.pem",
             q.client_addr, policy, q.kit, q.kit);
    cr_assert_eq(quarry(args, false, &t), 1, "%s", (const char *)t.ptr);
    CONTAINS(t, "does not meet the policy");
    snprintf(args, sizeof(args), "status --coordinator %s --policy %s --collateral %s", q.client_addr, policy, q.kit);
    cr_assert_eq(quarry(args, false, &t), 1, "without trusting the testkit root the quote does not verify");
    CONTAINS(t, "quote does not verify");
    snprintf(args, sizeof(args), "status --coordinator %s --insecure", q.client_addr);
    cr_assert_eq(quarry(args, false, &t), 0);
    CONTAINS(t, "WARNING: --insecure");
    buf_free(&t);
}

/* A policy member of the wrong type would silently drop a check on the Coordinator: refused. */
Test(cli_client, a_malformed_policy_is_refused_not_weakened, .init = setup, .fini = teardown, .timeout = 120)
{
    static const char signer[] = "\"SignerID\":\"d91c2b1a4ffd7cac4e6cc564d3afd3c642321a230a1597e0dfe127839049cd02\"";
    const struct {
        const char *body, *why;
    } bad[] = {
        {"{$,\"ProductID\":\"1\",\"SecurityVersion\":1}", "the policy's ProductID must be an unsigned integer, got string"},
        {"{$,\"ProductID\":1,\"SecurityVersion\":-1}", "the policy's SecurityVersion must be an unsigned integer"},
        {"{$,\"Debug\":\"false\"}", "the policy's Debug must be a boolean, got string"},
        {"{$,\"AcceptedTCBStatuses\":\"UpToDate\"}", "the policy's AcceptedTCBStatuses must be an array"},
        {"{$,\"AcceptedTCBStatuses\":[1]}", "AcceptedTCBStatuses must be strings"},
        {"{\"coordinator\":\"x\"}", "expected a JSON object"},
        {"{\"UniqueID\":3}", "the policy's UniqueID must be a string, got number"},
        {"{$,\"AcceptedAdvisories\":\"INTEL-SA-00615\"}", "the policy's AcceptedAdvisories must be an array, got string"},
        {"{$,\"AcceptedAdvisories\":[615]}", "the policy's AcceptedAdvisories must be strings"},
        {"{$,\"signerID\":\"00\"}", "the policy names SignerID twice (\"SignerID\" and \"signerID\""},
    };
    struct buf t = BUF_INIT;
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        char body[512], policy[400], args[2048];
        const char *hole = strchr(bad[i].body, '$'); /* where the SignerID goes */
        if (hole != NULL)
            snprintf(body, sizeof(body), "%.*s%s%s", (int)(hole - bad[i].body), bad[i].body, signer, hole + 1);
        else
            snprintf(body, sizeof(body), "%s", bad[i].body);
        snprintf(policy, sizeof(policy), "%s/bad%zu.json", q.dir, i);
        cr_assert_eq(file_write_atomic(policy, view_str(body), 0600), 0);
        snprintf(args, sizeof(args), "status --coordinator %s --policy %s --collateral %s --insecure-extra-root %s/root_ca.pem",
                 q.client_addr, policy, q.kit, q.kit);
        cr_assert_neq(quarry(args, false, &t), 0, "%s: %s", body, (const char *)t.ptr);
        CONTAINS(t, bad[i].why);
    }
    buf_free(&t);
}

/* The Coordinator's quote goes through the Coordinator's own package check, TCB status and advisories
 * included (issue 13, 6f): a kit whose platform is SWHardeningNeeded with advisory INTEL-SA-00615. */
static void setup_advisory(void)
{
    static const char *const advisories[] = {"INTEL-SA-00615"};
    struct att_testkit_options o;
    att_testkit_options_init(&o);
    o.tcb_status = ATT_TCB_SW_HARDENING_NEEDED;
    o.advisories = advisories;
    o.advisory_count = 1;
    qc_init(&q, &o);
    qc_start(&q, NULL);
    snprintf(out, sizeof(out), "%s/cli.out", q.dir);
}

/* `quarry status` with a policy for the kit's identity plus `extra` members; returns the exit code. */
static int status_with(const char *name, const char *extra, struct buf *t)
{
    char policy[400], body[512], args[2048];
    snprintf(policy, sizeof(policy), "%s/%s.json", q.dir, name);
    snprintf(body, sizeof(body), "{\"SignerID\":\"d91c2b1a4ffd7cac4e6cc564d3afd3c642321a230a1597e0dfe127839049cd02\","
             "\"ProductID\":1,\"SecurityVersion\":1%s}", extra);
    cr_assert_eq(file_write_atomic(policy, view_str(body), 0600), 0);
    snprintf(args, sizeof(args), "status --refresh --coordinator %s --policy %s --collateral %s --insecure-extra-root "
             "%s/root_ca.pem", q.client_addr, policy, q.kit, q.kit);
    return quarry(args, false, t);
}

Test(cli_client, the_policy_applies_tcb_statuses_and_advisories, .init = setup_advisory, .fini = teardown,
     .timeout = 120)
{
    struct buf t = BUF_INIT;
    cr_assert_eq(status_with("other", ",\"AcceptedAdvisories\":[\"INTEL-SA-99999\"]", &t), 1, "%s", (const char *)t.ptr);
    CONTAINS(t, "the Coordinator does not meet the policy: TCB status SWHardeningNeeded has advisory INTEL-SA-00615, "
                "which is not accepted");
    cr_assert_eq(status_with("uptodate", ",\"AcceptedTCBStatuses\":[\"UpToDate\"]", &t), 1, "%s", (const char *)t.ptr);
    CONTAINS(t, "the Coordinator does not meet the policy: TCB status SWHardeningNeeded is not accepted");
    cr_assert_eq(status_with("reported", ",\"AcceptedAdvisories\":[\"intel-sa-99999\",\"INTEL-SA-00615\"]", &t), 0,
                 "%s", (const char *)t.ptr);
    CONTAINS(t, "2: Coordinator is ready to accept a manifest.");
    cr_assert_eq(status_with("default", "", &t), 0, "MarbleRun's default accepts SWHardeningNeeded: %s",
                 (const char *)t.ptr);
    buf_free(&t);
}
