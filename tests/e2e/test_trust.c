/*
 * Which Coordinator a marble trusts (issue 13, item 4; docs/mesh-protocol.md): quarry-premain with
 * EDG_MARBLE_COORDINATOR_ROOT_CA refuses any server its root did not issue a certificate to - another
 * real quarry-coordinator (another deployment, same code and testkit), or a server holding a marble
 * certificate of the right Coordinator - before it sends anything, writes nothing and runs nothing;
 * without it the premain activates with whoever answers, and warns. With
 * EDG_MARBLE_COORDINATOR_POLICY it verifies the Coordinator's quote first and does not even connect
 * to the mesh address when the quote does not meet the policy.
 */
#include <criterion/criterion.h>
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "marbles.h"

#define KIT_SIGNER "d91c2b1a4ffd7cac4e6cc564d3afd3c642321a230a1597e0dfe127839049cd02"

static struct qc fake; /* another Coordinator: same code, same testkit, its own root */
static char fake_mesh[64];

/* q ready as in the demo, and a second Coordinator with the same manifest and token. */
static void setup_fake(void)
{
    setup_ready();
    qc_init(&fake, NULL);
    snprintf(fake.kit, sizeof(fake.kit), "%s", q.kit); /* it accepts the same marble quotes */
    qc_start(&fake, NULL);
    set_example_manifest(&fake);
    upload_token(&fake);
    snprintf(fake_mesh, sizeof(fake_mesh), "127.0.0.1:%u", fake.mesh_port);
}

static void teardown_fake(void)
{
    qc_cleanup(&fake);
    teardown();
}

static void write_text(const char *path, struct view text)
{
    cr_assert_eq(file_write_atomic(path, text, 0600), 0);
}

/* q's root certificate into work/root.pem; its PEM in *pem when not NULL. */
static const char *real_root(struct buf *pem)
{
    struct buf inter = BUF_INIT, root = BUF_INIT;
    coordinator_certs(&q, &inter, &root);
    const char *path = at("root.pem");
    write_text(path, buf_view(&root));
    if (pem != NULL)
        cr_assert_eq(buf_append_view(pem, buf_view(&root)), 0);
    buf_free(&inter), buf_free(&root);
    return path;
}

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1000 + (double)ts.tv_nsec / 1e6;
}

/* CPU time of the waited-for children so far (the premain, and the program it became). */
static double children_cpu_ms(void)
{
    struct rusage ru;
    getrusage(RUSAGE_CHILDREN, &ru);
    return (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1000 +
           (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1000;
}

/* EXPECT_RUN that also reports how long the premain took (reported, never asserted). */
static void expect_run_timed(const struct marble *m, int want, const char *what)
{
    double t0 = now_ms(), c0 = children_cpu_ms();
    EXPECT_RUN(m, want);
    fprintf(stderr, "measured: %s: %.0f ms wall, %.0f ms CPU\n", what, now_ms() - t0, children_cpu_ms() - c0);
}

/* Pinning the Coordinator's root ----------------------------------------------------------------- */

Test(trust, a_pinned_marble_refuses_another_coordinator, .init = setup_fake, .fini = teardown_fake, TIMEOUT)
{
    char pin[700], want[300];
    snprintf(pin, sizeof(pin), "EDG_MARBLE_COORDINATOR_ROOT_CA=%s", real_root(NULL));
    const char *pinned_env[] = {pin, NULL};
    const struct marble pinned = {"pinned", "backend", BACKEND_ID, NULL, probe, NULL, fake_mesh, pinned_env};
    expect_run_timed(&pinned, 1, "pinned marble refused by the other Coordinator's certificate");
    snprintf(want, sizeof(want), "quarry-premain: the server at %s is not the pinned Coordinator: its certificate is "
             "not issued by the Coordinator root (SSL certificate problem: ", fake_mesh);
    cr_expect(file_has(at("pinned.err"), want), "no \"%s\"", want);
    cr_expect_not(file_has(at("pinned.err"), "retrying"), "a wrong Coordinator is final, not a wait");
    cr_expect_eq(entries(at("pinned")), 0, "no files, no UUID, the program did not run");

    /* MarbleRun's default: the other Coordinator configures the marble, with a warning */
    const struct marble open = {"open", "backend", BACKEND_ID, NULL, probe, NULL, fake_mesh, NULL};
    expect_run_timed(&open, 0, "unverified marble activated by the other Coordinator");
    cr_expect(file_has(at("open.err"), "the Coordinator is not verified: whoever answers at its address configures "
                                       "this marble (set EDG_MARBLE_COORDINATOR_ROOT_CA or EDG_MARBLE_COORDINATOR_POLICY)"));
    cr_expect(exists(at("open/ran.args")), "the other Coordinator's configuration ran");
}

Test(trust, a_pinned_marble_activates_with_its_coordinator, .init = setup_ready, .fini = teardown, TIMEOUT)
{
    /* the root as a value (a Kubernetes secret in an environment variable), not a file */
    struct buf root = BUF_INIT, env = BUF_INIT;
    real_root(&root);
    cr_assert_eq(buf_appendf(&env, "EDG_MARBLE_COORDINATOR_ROOT_CA=%.*s", (int)root.size, (const char *)root.ptr), 0);
    cr_assert_eq(buf_terminate(&env), 0);
    const char *pinned_env[] = {(const char *)env.ptr, NULL};
    const struct marble pinned = {"pinned", "backend", BACKEND_ID, NULL, probe, NULL, NULL, pinned_env};
    expect_run_timed(&pinned, 0, "pinned marble activated");
    cr_expect(exists(at("pinned/ran.args")));
    cr_expect(file_has(at("pinned.err"), "activating only with the Coordinator of the pinned root"));
    cr_expect_not(file_has(at("pinned.err"), "not verified"));
    const struct marble plain = {"plain", "backend", BACKEND_ID, NULL, probe};
    expect_run_timed(&plain, 0, "unpinned marble activated");
    buf_free(&root), buf_free(&env);
}

/* The first PEM block of `pem` and the rest. */
static void split_chain(const struct buf *pem, struct buf *first, struct buf *rest)
{
    const char *text = (const char *)pem->ptr;
    const char *second = strstr(text + 1, "-----BEGIN CERTIFICATE-----");
    cr_assert_not_null(second);
    cr_assert_eq(buf_append(first, text, (size_t)(second - text)), 0);
    cr_assert_eq(buf_append(rest, second, pem->size - (size_t)(second - text)), 0);
}

static void wait_listening(uint16_t port)
{
    for (int i = 0; i < 400; i++, sleep_ms(25)) {
        int fd = socket(AF_INET, SOCK_STREAM, 0);
        struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(port),
                                .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
        bool up = connect(fd, (struct sockaddr *)&a, sizeof(a)) == 0;
        close(fd);
        if (up)
            return;
    }
    cr_assert_fail("nothing listens on port %u", port);
}

/* A marble's certificate chains to the Coordinator root too (through the intermediate), and marbles
 * hold their keys: a server with one is refused. */
Test(trust, a_marble_certificate_cannot_pose_as_the_coordinator, .init = setup_ready, .fini = teardown, TIMEOUT)
{
    struct att_testkit_quote_params id;
    cr_assert_eq(att_testkit_default_identity(q.tk, &id), 0);
    id.isvprodid = 2; /* the backend package */
    struct api_activation *a = NULL;
    int r = qc_activate(&q, "backend", &id, "3f0e1c9a-55b2-4d1e-9a57-1f0c6e9b2d11", &a);
    cr_assert_eq(r, 0, "%s", err_detail(r));
    struct buf leaf = BUF_INIT, inter = BUF_INIT;
    split_chain(&a->chain_pem, &leaf, &inter);
    write_text(at("impostor-cert.pem"), buf_view(&leaf));
    write_text(at("impostor-chain.pem"), buf_view(&inter));
    write_text(at("impostor-key.pem"), buf_view(&a->key_pem));
    api_activation_free(a);

    uint16_t port = free_port();
    char accept_addr[32], mesh[32];
    snprintf(accept_addr, sizeof(accept_addr), "127.0.0.1:%u", port);
    snprintf(mesh, sizeof(mesh), "127.0.0.1:%u", port);
    fflush(NULL);
    pid_t server = fork();
    cr_assert_geq(server, 0);
    if (server == 0) {
        const char *argv[] = {"openssl", "s_server", "-quiet", "-accept", accept_addr, "-cert", at("impostor-cert.pem"),
                              "-cert_chain", at("impostor-chain.pem"), "-key", at("impostor-key.pem"), NULL};
        if (freopen("/dev/null", "w", stdout) == NULL || freopen(at("impostor-server.err"), "w", stderr) == NULL)
            _exit(126);
        execvp("openssl", (char *const *)argv);
        _exit(127);
    }
    children[child_count++] = server;
    wait_listening(port);

    char pin[700];
    snprintf(pin, sizeof(pin), "EDG_MARBLE_COORDINATOR_ROOT_CA=%s", real_root(NULL));
    const char *pinned_env[] = {pin, NULL};
    const struct marble pinned = {"pinned", "backend", BACKEND_ID, NULL, probe, NULL, mesh, pinned_env};
    EXPECT_RUN(&pinned, 1);
    cr_expect(file_has(at("pinned.err"), "is not the pinned Coordinator: its certificate is not issued by the "
                                         "Coordinator root (SSL certificate problem: certificate chain too long)"));
    cr_expect_eq(entries(at("pinned")), 0);
    buf_free(&leaf), buf_free(&inter);
}

/* Verifying the Coordinator's quote -------------------------------------------------------------- */

static char policy_env[700], client_env[64], collateral_env[400], extra_root_env[400];

/* The settings with which a premain verifies q's quote against the policy `body` (a file). */
static const char **policy_settings(const char *body, const char **more)
{
    static const char *env[8];
    const char *path = at("policy.json");
    write_text(path, view_str(body));
    snprintf(policy_env, sizeof(policy_env), "EDG_MARBLE_COORDINATOR_POLICY=%s", path);
    snprintf(client_env, sizeof(client_env), "EDG_MARBLE_COORDINATOR_CLIENT_ADDR=127.0.0.1:%u", client_port);
    snprintf(collateral_env, sizeof(collateral_env), "QUARRY_COLLATERAL=%s", q.kit);
    snprintf(extra_root_env, sizeof(extra_root_env), "QUARRY_INSECURE_EXTRA_ROOT=%s/root_ca.pem", q.kit);
    size_t n = 0;
    env[n++] = policy_env, env[n++] = client_env, env[n++] = collateral_env, env[n++] = extra_root_env;
    for (size_t i = 0; more != NULL && more[i] != NULL && n < 7; i++)
        env[n++] = more[i];
    env[n] = NULL;
    return env;
}

#define KIT_POLICY "{\"coordinator\":{\"SignerID\":\"" KIT_SIGNER "\",\"ProductID\":1,\"SecurityVersion\":1}}"

Test(trust, a_policy_verifies_the_coordinator_before_activating, .init = setup_ready, .fini = teardown, TIMEOUT)
{
    const struct marble m = {"attested", "backend", BACKEND_ID, NULL, probe, NULL, NULL,
                             policy_settings(KIT_POLICY, NULL)};
    expect_run_timed(&m, 0, "marble activated after verifying the Coordinator's quote");
    cr_expect(exists(at("attested/ran.args")));
    cr_expect(file_has(at("attested.err"), "verifying the Coordinator's quote before activating"));
    cr_expect(file_has(at("attested.err"), "INSECURE: the Coordinator's quote may chain to an extra root"));
    cr_expect_not(file_has(at("attested.err"), "not verified"));

    /* with a pin as well, the quote must cover that root: here another certificate */
    char pin[700];
    snprintf(pin, sizeof(pin), "EDG_MARBLE_COORDINATOR_ROOT_CA=%s", qt_data_path("certs/admin.crt"));
    const char *more[] = {pin, NULL};
    const struct marble other = {"otherpin", "backend", BACKEND_ID, NULL, probe, NULL, NULL,
                                 policy_settings(KIT_POLICY, more)};
    EXPECT_RUN(&other, 1);
    cr_expect(file_has(at("otherpin.err"), "quarry-premain: the Coordinator at 127.0.0.1"));
    cr_expect(file_has(at("otherpin.err"), "has another root certificate than the pinned one"));
    cr_expect_eq(entries(at("otherpin")), 0);
}

/* A listening socket on loopback that nobody accepts from: a connection to it stays queued. */
static int listener(uint16_t *port)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof(a);
    cr_assert(fd >= 0 && bind(fd, (struct sockaddr *)&a, sizeof(a)) == 0 && listen(fd, 16) == 0 &&
              getsockname(fd, (struct sockaddr *)&a, &len) == 0);
    *port = ntohs(a.sin_port);
    return fd;
}

Test(trust, a_policy_mismatch_sends_nothing, .init = setup_ready, .fini = teardown, TIMEOUT)
{
    uint16_t port;
    int fd = listener(&port);
    char mesh[32];
    snprintf(mesh, sizeof(mesh), "127.0.0.1:%u", port);
    const struct marble m = {"mismatch", "backend", BACKEND_ID, NULL, probe, NULL, mesh,
                             policy_settings("{\"UniqueID\":\"1e3da45459deb425ac6fcdd2463a2c6c5fc66129423bb6948afc3eeb0fac6763\"}",
                                             NULL)};
    EXPECT_RUN(&m, 1);
    cr_expect(file_has(at("mismatch.err"), "quarry-premain: the Coordinator does not meet the policy: MRENCLAVE "));
    cr_expect(file_has(at("mismatch.err"), "does not match UniqueID 1e3da45459deb425"));
    cr_expect_eq(entries(at("mismatch")), 0);
    int c = accept(fd, NULL, NULL);
    cr_expect(c < 0 && (errno == EAGAIN || errno == EWOULDBLOCK), "the premain connected to the mesh address");
    if (c >= 0)
        close(c);
    close(fd);
}

/* Settings that cannot work are refused before anything happens, with what is wrong. */
Test(trust, bad_trust_settings_are_refused, .init = setup_idle, .fini = teardown, TIMEOUT)
{
    char closed[64], root_env[600];
    snprintf(closed, sizeof(closed), "EDG_MARBLE_COORDINATOR_CLIENT_ADDR=127.0.0.1:%u", free_port());
    snprintf(root_env, sizeof(root_env), "EDG_MARBLE_COORDINATOR_ROOT_CA=%s", probe);
    const struct {
        const char *env[4];
        const char *why;
    } bad[] = {
        {{"EDG_MARBLE_COORDINATOR_ROOT_CA=/nonexistent/root.pem"}, "EDG_MARBLE_COORDINATOR_ROOT_CA: "},
        {{root_env}, "EDG_MARBLE_COORDINATOR_ROOT_CA: "},
        {{"EDG_MARBLE_COORDINATOR_ROOT_CA=-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"},
         "EDG_MARBLE_COORDINATOR_ROOT_CA: "},
        {{"EDG_MARBLE_COORDINATOR_POLICY={\"SignerID\":\"" KIT_SIGNER "\"}"},
         "EDG_MARBLE_COORDINATOR_POLICY needs EDG_MARBLE_COORDINATOR_CLIENT_ADDR"},
        {{"EDG_MARBLE_COORDINATOR_POLICY={\"SignerID\":\"" KIT_SIGNER "\"}", closed},
         "EDG_MARBLE_COORDINATOR_POLICY needs QUARRY_PCCS_URL or QUARRY_COLLATERAL"},
        {{"EDG_MARBLE_COORDINATOR_POLICY={\"SignerID\":\"" KIT_SIGNER "\",\"ProductID\":\"1\"}", closed},
         "the policy's ProductID must be an unsigned integer, got string"},
        {{"EDG_MARBLE_COORDINATOR_POLICY={\"ProductID\":1}", closed},
         "EDG_MARBLE_COORDINATOR_POLICY names neither UniqueID nor SignerID"},
        {{"EDG_MARBLE_COORDINATOR_POLICY=/nonexistent/policy.json", closed}, "/nonexistent/policy.json"},
    };
    for (size_t i = 0; i < QY_ARRAY_LEN(bad); i++) {
        char dir[32];
        snprintf(dir, sizeof(dir), "bad%zu", i);
        const struct marble m = {dir, "backend", BACKEND_ID, NULL, probe, NULL, NULL, bad[i].env};
        EXPECT_RUN(&m, 1);
        char err[64];
        snprintf(err, sizeof(err), "%s.err", dir);
        cr_expect(file_has(at(err), bad[i].why), "case %zu: no \"%s\"", i, bad[i].why);
        cr_expect_eq(entries(at(dir)), 0);
    }

    /* a policy whose Coordinator is not up yet: retried like an activation, until the deadline */
    char collateral[400], timeout[] = "QUARRY_ACTIVATION_TIMEOUT=2";
    snprintf(collateral, sizeof(collateral), "QUARRY_COLLATERAL=%s", q.kit);
    const struct marble late = {"late", "backend", BACKEND_ID, NULL, probe, NULL, NULL,
                                (const char *[]){"EDG_MARBLE_COORDINATOR_POLICY={\"SignerID\":\"" KIT_SIGNER "\"}",
                                                 closed, collateral, timeout, NULL}};
    EXPECT_RUN(&late, 1);
    cr_expect(file_has(at("late.err"), "the Coordinator is not ready, retrying"));
    cr_expect_eq(entries(at("late")), 0);
}
