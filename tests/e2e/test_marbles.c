/*
 * The marble side end to end, as `make demo` runs it: a real quarry-coordinator (the harness of
 * tests/coordinator) with the example manifest, quarry-premain processes with testkit identities,
 * the example backend and frontend over mutual TLS. What each marble receives is checked against
 * values obtained independently (the client API as the demo user, the Coordinator's certificates,
 * `openssl verify`); and the premain's failure modes: a Coordinator that starts late or restarts
 * mid-activation, a refusal, a failed write, the UUID file.
 */
#include <criterion/criterion.h>
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "crypto/crypto.h"
#include "marbles.h"
#include "pki/pki.h"
#include "qt_ossl.h"

/* What the marbles received -------------------------------------------------------------------- */

/* NUL-separated "NAME=value" entries of /proc/PID/environ; the value of one. */
static bool env_of(const struct buf *environ_, const char *name, struct view *out)
{
    size_t n = strlen(name);
    for (size_t off = 0; off < environ_->size;) {
        const char *e = (const char *)environ_->ptr + off;
        size_t len = strnlen(e, environ_->size - off);
        if (len > n && strncmp(e, name, n) == 0 && e[n] == '=') {
            *out = view_of(e + n + 1, len - n - 1);
            return true;
        }
        off += len + 1;
    }
    return false;
}

static void expect_env(const struct buf *environ_, const char *name, struct view want)
{
    struct view v;
    cr_assert(env_of(environ_, name, &v), "%s is not set", name);
    cr_expect(view_eq(v, want), "%s is not what was expected", name);
}

/* GET /api/v2/secrets?s=NAME as the demo user: the named field, decoded. */
static void secret_field(const char *name, const char *field, struct buf *out)
{
    char target[128];
    snprintf(target, sizeof(target), "/api/v2/secrets?s=%s", name);
    struct api_client *c = demo_user(&q);
    json_t *j = NULL;
    cr_assert_eq(qc_call(c, API_GET, target, NULL, &j), 200);
    json_t *v = json_object_get(
        json_object_get(json_object_get(json_object_get(j, "data"), "secrets"), name), field);
    cr_assert(json_is_string(v), "GET %s: no %s", target, field);
    buf_reset(out);
    cr_assert_eq(enc_b64_decode(out, view_str(json_string_value(v))), 0);
    json_decref(j);
    api_client_free(c);
}

static void der_of(struct view pem, struct buf *der)
{
    buf_reset(der);
    cr_assert_eq(crypto_cert_pem_to_der(pem, der), 0);
}

static void expect_file_mode(const char *path, mode_t want)
{
    struct stat st;
    cr_assert_eq(stat(path, &st), 0, "%s is missing", path);
    cr_expect_eq(st.st_mode & 07777, want, "%s has mode %o, want %o", path, st.st_mode & 07777,
                 want);
}

/* The backend marble's files, environment and argv against the manifest's templates rendered from
 * independent sources. */
static void check_backend(pid_t pid)
{
    struct buf env = BUF_INIT, b = BUF_INIT, want = BUF_INIT, der = BUF_INIT, inter = BUF_INIT,
               root = BUF_INIT;
    char path[64];
    /* argv: the manifest's Argv verbatim */
    snprintf(path, sizeof(path), "/proc/%d/cmdline", (int)pid);
    read_text(path, &b);
    cr_assert_eq(buf_appendf(&want, "backend%c--listen%c127.0.0.1:%u%c", 0, 0, backend_port, 0), 0);
    cr_expect(view_eq(view_of(b.ptr, b.size), buf_view(&want)), "argv is the manifest's Argv");
    snprintf(path, sizeof(path), "/proc/%d/environ", (int)pid);
    qt_read(path, &env);

    /* the UUID file: canonical, 0600; it names the certificate */
    read_text(at("backend/uuid"), &b);
    cr_assert_eq(b.size, 36);
    char uuid[UUID_TEXT_SIZE];
    cr_assert_eq(uuid_canonical((const char *)b.ptr, uuid), 0);
    cr_expect_str_eq((const char *)b.ptr, uuid);
    expect_file_mode(at("backend/uuid"), 0600);

    /* exactly the manifest's files, 0600, in folders made 0700 */
    struct buf list = BUF_INIT;
    char cmd[700];
    snprintf(cmd, sizeof(cmd), "cd '%s' && find backend -type f | sort | tr '\\n' ' '",
             at("backend"));
    cr_assert_eq(qt_run(cmd, &list), 0);
    cr_assert_eq(buf_terminate(&list), 0);
    cr_expect_str_eq((const char *)list.ptr,
                     "backend/data.key backend/shared-cert.pem backend/tls/ca.pem "
                     "backend/tls/cert.pem backend/tls/key.pem ");
    buf_free(&list);
    static const char *const files[] = {
        "backend/backend/data.key", "backend/backend/shared-cert.pem", "backend/backend/tls/ca.pem",
        "backend/backend/tls/cert.pem", "backend/backend/tls/key.pem"};
    for (size_t i = 0; i < QY_ARRAY_LEN(files); i++)
        expect_file_mode(at(files[i]), 0600);
    expect_file_mode(at("backend/backend"), 0700);
    expect_file_mode(at("backend/backend/tls"), 0700);

    /* {{ pem .MarbleRun.MarbleCert.Cert }}: the chain's leaf, for this UUID, marble type backend */
    struct buf cert = BUF_INIT;
    read_text(at("backend/backend/tls/cert.pem"), &cert);
    struct view chain;
    cr_assert(env_of(&env, "MARBLE_PREDEFINED_MARBLE_CERTIFICATE_CHAIN", &chain));
    cr_expect(chain.size > cert.size && memcmp(chain.ptr, cert.ptr, cert.size) == 0,
              "cert.pem is the chain's leaf");
    der_of(buf_view(&cert), &der);
    cr_expect_not_null(memmem(der.ptr, der.size, uuid, 36), "CN = the UUID");
    struct buf text = BUF_INIT;
    qt_openssl_text(buf_view(&der), &text);
    cr_expect_not_null(strstr((char *)text.ptr, "1.3.9903.2.1"), "the marble-type extension");
    cr_expect_not_null(strstr((char *)text.ptr, "backend"));
    buf_free(&text);
    struct buf leaf = BUF_INIT;
    cr_assert_eq(buf_append_view(&leaf, buf_view(&der)), 0);

    /* {{ pem .MarbleRun.MarbleCert.Private }}: the key of that certificate, never seen by the
     * Coordinator */
    read_text(at("backend/backend/tls/key.pem"), &b);
    expect_env(&env, "MARBLE_PREDEFINED_PRIVATE_KEY", buf_view(&b));
    struct crypto_key *own = NULL, *certified = NULL;
    cr_assert_eq(crypto_key_from_pem(buf_view(&b), &own), 0);
    cr_assert_eq(pki_cert_public_key(buf_view(&leaf), &certified), 0);
    cr_expect(crypto_key_public_eq(own, certified), "key.pem is the certificate's key");
    crypto_key_free(own), crypto_key_free(certified);

    /* {{ pem .MarbleRun.RootCA.Cert }}: the marble root, a self-signed sibling of the intermediate
     */
    coordinator_certs(&q, &inter, &root);
    struct buf ca = BUF_INIT, inter_der = BUF_INIT, root_der = BUF_INIT;
    read_text(at("backend/backend/tls/ca.pem"), &ca);
    expect_env(&env, "MARBLE_PREDEFINED_ROOT_CA", buf_view(&ca));
    expect_env(&env, "MARBLE_PREDEFINED_COORDINATOR_ROOT_CA", buf_view(&root));
    cr_expect(view_eq(view_of(chain.ptr + cert.size, chain.size - cert.size), buf_view(&inter)),
              "the chain ends with the Coordinator's intermediate");
    der_of(buf_view(&ca), &der);
    der_of(buf_view(&inter), &inter_der);
    der_of(buf_view(&root), &root_der);
    struct buf out = BUF_INIT;
    cr_expect(qt_openssl_verify(buf_view(&der), VIEW_EMPTY, buf_view(&leaf), false, &out),
              "leaf vs marble root: %s", (char *)out.ptr);
    buf_reset(&out);
    cr_expect(
        qt_openssl_verify(buf_view(&root_der), buf_view(&inter_der), buf_view(&leaf), false, &out),
        "leaf vs Coordinator root: %s", (char *)out.ptr);
    struct crypto_key *k1 = NULL, *k2 = NULL;
    cr_assert_eq(pki_cert_public_key(buf_view(&der), &k1), 0);
    cr_assert_eq(pki_cert_public_key(buf_view(&inter_der), &k2), 0);
    cr_expect(crypto_key_public_eq(k1, k2), "the marble root carries the intermediate's key");
    crypto_key_free(k1), crypto_key_free(k2);

    /* {{ pem .Secrets.sharedCert.Cert }}: what the demo user reads, verifying against the root */
    secret_field("sharedCert", "Cert", &b);
    buf_reset(&want);
    cr_assert_eq(enc_pem(&want, "CERTIFICATE", buf_view(&b)), 0);
    struct buf shared = BUF_INIT;
    read_text(at("backend/backend/shared-cert.pem"), &shared);
    cr_expect(view_eq(buf_view(&shared), buf_view(&want)),
              "shared-cert.pem is the shared secret's certificate");
    buf_reset(&out);
    cr_expect(
        qt_openssl_verify(buf_view(&root_der), buf_view(&inter_der), buf_view(&b), false, &out),
        "sharedCert vs Coordinator root: %s", (char *)out.ptr);

    /* {{ string .Secrets.apiToken }}: the demo user's upload */
    secret_field("apiToken", "Private", &b);
    cr_expect(view_eq(buf_view(&b), view_str(token)), "GET /secrets returns the uploaded token");
    expect_env(&env, "API_TOKEN", view_str(token));

    /* {{ hex .Secrets.dataKey }} and {{ base64 .Secrets.dataKey }}: one 32-byte per-marble key */
    read_text(at("backend/backend/data.key"), &b);
    cr_assert_eq(b.size, 64, "hex of a 256-bit key");
    for (size_t i = 0; i < b.size; i++)
        cr_expect((b.ptr[i] >= '0' && b.ptr[i] <= '9') || (b.ptr[i] >= 'a' && b.ptr[i] <= 'f'),
                  "lowercase hex");
    struct buf raw = BUF_INIT, b64 = BUF_INIT;
    cr_assert_eq(enc_hex_decode(&raw, buf_view(&b)), 0);
    cr_assert_eq(enc_b64(&b64, buf_view(&raw)), 0);
    expect_env(&env, "DATA_KEY_B64", buf_view(&b64));

    buf_free(&env), buf_free(&b), buf_free(&want), buf_free(&der), buf_free(&inter),
        buf_free(&root);
    buf_free(&cert), buf_free(&leaf), buf_free(&ca), buf_free(&inter_der), buf_free(&root_der),
        buf_free(&out);
    buf_free(&shared), buf_free(&raw), buf_free(&b64);
}

/* The demo
 * ------------------------------------------------------------------------------------------ */

Test(marbles, demo_flow_and_what_the_marbles_receive, .init = setup_ready, .fini = teardown,
     TIMEOUT)
{
    /* backend: quarry-premain execs the manifest's Argv ("backend" found in PATH) */
    pid_t backend = start_marble(&(struct marble){"backend", "backend", BACKEND_ID, NULL, NULL});
    children[child_count++] = backend;
    if (!wait_for(at("backend.out"), "listening", 60))
        dump("backend");
    cr_assert(file_has(at("backend.out"), "listening"), "backend did not start");

    /* frontend calls it over mutual TLS, with the same user-defined token */
    const struct marble frontend = {"frontend", "frontend", FRONTEND_ID, NULL, NULL};
    EXPECT_RUN(&frontend, 0);
    cr_expect(file_has(at("frontend.out"), "over mutual TLS (TLSv1.3)"));
    cr_expect(file_has(at("frontend.out"), "your API token matches mine"));
    cr_expect(file_has(at("backend.out"), "(token matches)"));

    /* an impostor with another MRENCLAVE is refused with the reason, and gets nothing */
    const struct marble impostor = {"impostor", "frontend", IMPOSTOR_ID, NULL, NULL};
    EXPECT_RUN(&impostor, 1);
    cr_expect(file_has(at("impostor.err"),
                       "quarry-premain: the Coordinator refused this marble: marble "
                       "verification failed: MRENCLAVE 1e3da454"));
    cr_expect(file_has(at("impostor.err"), "does not match UniqueID c5da79a7"));
    cr_expect_eq(entries(at("impostor")), 0, "no files, no UUID");

    /* backend accepts only frontends of its own mesh: its own certificate (type backend) is refused
     */
    char cmd[2048];
    snprintf(cmd, sizeof(cmd),
             "cd '%s' && openssl s_client -connect 127.0.0.1:%u -cert backend/tls/cert.pem -key "
             "backend/tls/key.pem "
             "-CAfile backend/tls/ca.pem </dev/null >/dev/null 2>&1",
             at("backend"), backend_port);
    (void)qt_run(cmd, NULL);
    cr_expect(wait_for(
        at("backend.out"),
        "refused a client: the peer's certificate is not of the expected marble type", 10));
    snprintf(cmd, sizeof(cmd), "openssl s_client -connect 127.0.0.1:%u </dev/null >/dev/null 2>&1",
             backend_port);
    (void)qt_run(cmd, NULL);
    cr_expect(wait_for(at("backend.out"), "peer did not return a certificate", 10));

    check_backend(backend);
}

/* The UUID file -------------------------------------------------------------------------------- */

static void read_key(const char *dir, struct buf *out)
{
    char rel[128];
    snprintf(rel, sizeof(rel), "%s/backend/data.key", dir);
    read_text(at(rel), out);
}

Test(marbles, the_uuid_file_keeps_the_per_marble_key, .init = setup_ready, .fini = teardown,
     TIMEOUT)
{
    struct buf k1 = BUF_INIT, k = BUF_INIT, uuid = BUF_INIT, s1 = BUF_INIT, s = BUF_INIT,
               der = BUF_INIT;
    const struct marble one = {"one", "backend", BACKEND_ID, NULL, probe};
    EXPECT_RUN(&one, 0);
    cr_expect(exists(at("one/ran.args")), "the program ran");
    read_key("one", &k1);
    read_text(at("one/uuid"), &uuid);
    read_text(at("one/backend/shared-cert.pem"), &s1);

    /* the same UUID (the file is reused, not rewritten): the same per-marble key, a new certificate
     */
    const struct marble two = {"two", "backend", BACKEND_ID, at("one/uuid"), probe};
    EXPECT_RUN(&two, 0);
    read_key("two", &k);
    cr_expect(view_eq(buf_view(&k), buf_view(&k1)), "same UUID, same per-marble key");
    cr_expect_not(exists(at("two/uuid")));
    read_text(at("two/backend/tls/cert.pem"), &s);
    der_of(buf_view(&s), &der);
    cr_expect_not_null(memmem(der.ptr, der.size, uuid.ptr, 36), "the certificate names the UUID");
    read_text(at("two/backend/shared-cert.pem"), &s);
    cr_expect(view_eq(buf_view(&s), buf_view(&s1)), "the shared secret is shared");

    /* another UUID: another key */
    const struct marble three = {"three", "backend", BACKEND_ID, NULL, probe};
    EXPECT_RUN(&three, 0);
    read_key("three", &k);
    cr_expect_not(view_eq(buf_view(&k), buf_view(&k1)), "another UUID, another key");

    /* any form Go's uuid.Parse accepts names the same marble */
    struct buf odd = BUF_INIT;
    cr_assert_eq(buf_append_str(&odd, "{"), 0);
    for (size_t i = 0; i < 36; i++)
        cr_assert_eq(buf_append_byte(&odd, (uint8_t)(uuid.ptr[i] >= 'a' && uuid.ptr[i] <= 'f'
                                                         ? uuid.ptr[i] - 32
                                                         : uuid.ptr[i])),
                     0);
    cr_assert_eq(buf_append_str(&odd, "}\n"), 0);
    cr_assert_eq(file_write_atomic(at("four.uuid"), buf_view(&odd), 0600), 0);
    const struct marble four = {"four", "backend", BACKEND_ID, at("four.uuid"), probe};
    EXPECT_RUN(&four, 0);
    read_key("four", &k);
    cr_expect(view_eq(buf_view(&k), buf_view(&k1)), "the canonical form is used");

    /* not a UUID: refused before anything happens */
    cr_assert_eq(file_write_atomic(at("five.uuid"), view_str("not-a-uuid\n"), 0600), 0);
    const struct marble five = {"five", "backend", BACKEND_ID, at("five.uuid"), probe};
    EXPECT_RUN(&five, 1);
    cr_expect(file_has(at("five.err"), "five.uuid does not hold a UUID"));
    cr_expect_eq(entries(at("five")), 0);
    buf_free(&k1), buf_free(&k), buf_free(&uuid), buf_free(&s1), buf_free(&s), buf_free(&der),
        buf_free(&odd);
}

/* Refusals and failures write nothing ---------------------------------------------------------- */

Test(marbles, a_refusal_is_clear_and_writes_nothing, .init = setup_ready, .fini = teardown, TIMEOUT)
{
    const struct marble impostor = {"impostor", "frontend", IMPOSTOR_ID, NULL, probe};
    EXPECT_RUN(&impostor, 1);
    cr_expect(
        file_has(at("impostor.err"), "quarry-premain: the Coordinator refused this marble: "));
    cr_expect(file_has(at("impostor.err"), "does not match UniqueID"));
    cr_expect_eq(entries(at("impostor")), 0, "no files, no UUID, the program did not run");

    const struct marble unknown = {"unknown", "nonexistent", BACKEND_ID, NULL, probe};
    EXPECT_RUN(&unknown, 1);
    cr_expect(file_has(at("unknown.err"), "unknown marble type"));
    cr_expect_eq(entries(at("unknown")), 0);

    const struct marble untyped = {"untyped", NULL, BACKEND_ID, NULL, probe};
    EXPECT_RUN(&untyped, 1);
    cr_expect(file_has(at("untyped.err"), "EDG_MARBLE_TYPE is not set"));
    cr_expect_eq(entries(at("untyped")), 0);

    /* outside its TEE a marble fails at once (no quote: nothing to retry) */
    const struct marble no_tee = {"notee", "backend", NULL, NULL, probe, "gramine:/nonexistent"};
    EXPECT_RUN(&no_tee, 1);
    cr_expect(file_has(at("notee.err"), "cannot make a quote (gramine)"));
    cr_expect_not(file_has(at("notee.err"), "retrying"));
    cr_expect_eq(entries(at("notee")), 0);
}

Test(marbles, a_failed_write_leaves_nothing_and_runs_nothing, .init = setup_ready, .fini = teardown,
     TIMEOUT)
{
    /* a folder where a file must go (fails for root too): the key file, written after others in
     * both the manifest's order and the sorted one, so the files written before it are removed */
    cr_assert_eq(mkdir(at("blocked"), 0700), 0);
    cr_assert_eq(file_mkdirs(at("blocked/backend/tls/key.pem"), 0700), 0);
    const struct marble blocked = {"blocked", "backend", BACKEND_ID, NULL, probe};
    EXPECT_RUN(&blocked, 1);
    cr_expect(file_has(at("blocked.err"), "writing backend/tls/key.pem"));
    struct buf out = BUF_INIT;
    char cmd[700];
    snprintf(cmd, sizeof(cmd), "cd '%s' && find . -mindepth 1 | sort | tr '\\n' ' '",
             at("blocked"));
    cr_assert_eq(qt_run(cmd, &out), 0);
    cr_assert_eq(buf_terminate(&out), 0);
    cr_expect_str_eq((const char *)out.ptr, "./backend ./backend/tls ./backend/tls/key.pem ",
                     "only what was there before: no file, no UUID, no ran.args");
    buf_free(&out);
}

/* A read-only folder: root writes anyway, so this runs only as another user, and says so. */
Test(marbles, a_read_only_folder_leaves_nothing, .init = setup_ready, .fini = teardown, TIMEOUT)
{
    if (geteuid() == 0)
        cr_skip_test("running as root, who may write into a read-only folder");
    cr_assert_eq(mkdir(at("readonly"), 0700), 0);
    cr_assert_eq(mkdir(at("readonly/backend"), 0500), 0);
    const struct marble ro = {"readonly", "backend", BACKEND_ID, NULL, probe};
    EXPECT_RUN(&ro, 1);
    cr_expect_eq(entries(at("readonly/backend")), 0);
    cr_expect_eq(entries(at("readonly")), 1);
    chmod(at("readonly/backend"), 0700);
}

/* A Coordinator that is not there yet, or goes away mid-activation ----------------------------- */

Test(marbles, the_coordinator_starting_late, .init = setup_idle, .fini = teardown, TIMEOUT)
{
    const struct marble late = {"late", "backend", BACKEND_ID, NULL, probe};
    pid_t pid = start_marble(&late);
    children[child_count++] = pid;
    cr_assert(wait_for(at("late.err"), "cannot reach the Coordinator", 30),
              "no retry while it is down");
    cr_assert_eq(waitpid(pid, NULL, WNOHANG), 0, "the premain gave up");
    start_coordinator();
    cr_assert(wait_for(at("late.err"), "not accepting marbles yet", 30),
              "no retry while it has no manifest");
    set_example_manifest(&q);
    upload_token(&q);
    int st = wait_marble(pid, 120);
    children[--child_count] = 0;
    if (st != 0)
        dump("late");
    cr_assert_eq(st, 0);
    cr_expect(exists(at("late/ran.args")));
    cr_expect(exists(at("late/backend/tls/key.pem")));
}

/* Is there an established connection to the mesh port (queued while the Coordinator is stopped)? */
static bool mesh_connection_pending(void)
{
    static const char *const tables[] = {"/proc/net/tcp", "/proc/net/tcp6"};
    for (size_t t = 0; t < 2; t++) {
        FILE *f = fopen(tables[t], "r");
        char line[512];
        while (f && fgets(line, sizeof(line), f)) {
            unsigned port = 0, state = 0;
            if (sscanf(line, " %*u: %*[0-9A-Fa-f]:%x %*[0-9A-Fa-f]:%*x %x", &port, &state) == 2 &&
                port == mesh_port && state == 1) {
                fclose(f);
                return true;
            }
        }
        if (f)
            fclose(f);
    }
    return false;
}

Test(marbles, the_coordinator_restarting_mid_activation, .init = setup_ready, .fini = teardown,
     TIMEOUT)
{
    /* the marble connects to a Coordinator that has frozen, which then dies and comes back */
    cr_assert_eq(kill(q.pid, SIGSTOP), 0);
    const struct marble m = {"restart", "backend", BACKEND_ID, NULL, probe};
    pid_t pid = start_marble(&m);
    children[child_count++] = pid;
    bool pending = false;
    for (int i = 0; i < 400 && !pending; i++, sleep_ms(25))
        pending = mesh_connection_pending();
    cr_assert(pending, "the marble never connected");
    sleep_ms(300);
    qc_kill9(&q);
    cr_assert(wait_for(at("restart.err"), "retrying", 30), "no retry after the Coordinator died");
    cr_assert_eq(waitpid(pid, NULL, WNOHANG), 0, "the premain gave up");
    start_coordinator(); /* the same state: manifest and secrets are sealed on disk */
    int st = wait_marble(pid, 120);
    children[--child_count] = 0;
    if (st != 0)
        dump("restart");
    cr_assert_eq(st, 0);
    cr_expect(exists(at("restart/ran.args")));
    cr_expect(exists(at("restart/backend/data.key")));
}

/* The private key on the wire
 * ------------------------------------------------------------------------ */

struct tap {
    struct buf sent, received;
};

static void on_wire(void *ctx, bool sent, struct view bytes)
{
    struct tap *t = ctx;
    cr_assert_eq(buf_append_view(sent ? &t->sent : &t->received, bytes), 0);
}

/* Every string under a "data" key, base64-decoded: the literal segments of the parameters. */
static void decode_segments(const json_t *j, struct buf *out)
{
    const char *k;
    json_t *v;
    size_t i;
    if (json_is_object(j)) {
        json_object_foreach((json_t *)j, k, v)
        {
            if (strcmp(k, "data") == 0 && json_is_string(v))
                cr_assert_eq(enc_b64_decode(out, view_str(json_string_value(v))), 0);
            else
                decode_segments(v, out);
        }
    } else if (json_is_array(j)) {
        json_array_foreach(j, i, v) decode_segments(v, out);
    }
}

static void expect_absent(const struct buf *hay, struct view needle, const char *what,
                          const char *where)
{
    cr_expect(needle.size >= 16, "%s: a needle of %zu bytes proves little", what, needle.size);
    cr_expect_null(memmem(hay->ptr, hay->size, needle.ptr, needle.size),
                   "the private key (%s) is in %s", what, where);
}

/* x as raw bytes, hex, HEX, and base64 at each of the three alignments it could have in a longer
 * base64 text (the middle, which does not depend on the neighbours). */
static void expect_no_encoding(const struct buf *hay, struct view x, const char *what,
                               const char *where)
{
    struct buf e = BUF_INIT;
    char label[96];
    expect_absent(hay, x, what, where);
    cr_assert_eq(enc_hex(&e, x), 0);
    snprintf(label, sizeof(label), "%s, hex", what);
    expect_absent(hay, buf_view(&e), label, where);
    buf_reset(&e);
    cr_assert_eq(enc_hex_upper(&e, x), 0);
    expect_absent(hay, buf_view(&e), label, where);
    for (size_t shift = 0; shift < 3; shift++) {
        buf_reset(&e);
        cr_assert_eq(enc_b64(&e, view_of(x.ptr + shift, x.size - shift)), 0);
        snprintf(label, sizeof(label), "%s, base64 +%zu", what, shift);
        expect_absent(hay, view_of(e.ptr + 4, e.size - 8), label, where);
    }
    buf_free(&e);
}

Test(marbles, the_private_key_never_crosses_the_wire, .init = setup_ready, .fini = teardown,
     TIMEOUT)
{
    char spec[600];
    snprintf(spec, sizeof(spec), "emulated:%s%s", q.kit, BACKEND_ID);
    struct att_source *src = NULL;
    cr_assert_eq(att_source_new(spec, &src), 0);
    struct tap t = {BUF_INIT, BUF_INIT};
    const char *names[] = {"localhost"};
    struct api_activation_config cfg = {
        .coordinator = q.mesh_addr,
        .marble_type = "backend",
        .names = names,
        .names_count = 1,
        .uuid = "0d5fbd3e-3b0d-4b6c-bb7e-0e3c3a1f2b4d",
        .quote_source = src,
        .max_attempts = 1,
        .insecure_wire_tap = on_wire,
        .insecure_wire_tap_ctx = &t,
    };
    struct api_activation *a = NULL;
    int r = api_activate(&cfg, &a);
    cr_assert_eq(r, 0, "%s", err_detail(r));

    /* the tap saw the exchange, and the hole was filled here */
    cr_assert_not_null(memmem(t.sent.ptr, t.sent.size, "POST /api/v2/activate", 21));
    cr_assert_not_null(memmem(t.received.ptr, t.received.size, "\"privateKey\"", 12),
                       "the answer has a key hole");
    const struct api_param *key_file = qc_param(a->files, a->files_count, "backend/tls/key.pem");
    cr_assert_not_null(key_file);
    cr_expect(view_eq(buf_view(&key_file->value), buf_view(&a->key_pem)));

    /* the key in every encoding: PKCS#8 DER, the bare scalar, the PEM text */
    struct crypto_key *k = NULL;
    struct buf der = BUF_INIT, decoded = BUF_INIT;
    cr_assert_eq(crypto_key_from_pem(buf_view(&a->key_pem), &k), 0);
    cr_assert_eq(crypto_key_private_der(k, &der), 0);
    BIGNUM *bn = NULL;
    uint8_t scalar[32];
    cr_assert_eq(EVP_PKEY_get_bn_param(crypto_key_evp(k), OSSL_PKEY_PARAM_PRIV_KEY, &bn), 1);
    cr_assert_eq(BN_bn2binpad(bn, scalar, sizeof(scalar)), 32);
    BN_clear_free(bn);
    /* the PEM's second line: its first is the same for every P-256 key */
    const char *body = strstr((const char *)a->key_pem.ptr, "-----\n");
    cr_assert_not_null(body);
    struct view pem_line = view_of(body + 6 + 65, 64);

    const char *body_start = memmem(t.received.ptr, t.received.size, "\r\n\r\n", 4);
    cr_assert_not_null(body_start);
    json_t *resp =
        json_loadb(body_start + 4,
                   t.received.size - (size_t)(body_start + 4 - (char *)t.received.ptr), 0, NULL);
    cr_assert_not_null(resp);
    decode_segments(resp, &decoded);
    json_decref(resp);
    cr_assert_gt(decoded.size, 1000, "the literal segments (certificates, secrets) were decoded");

    const struct buf *where[] = {&t.sent, &t.received, &decoded};
    const char *names_of[] = {"the request", "the response", "the response's decoded segments"};
    for (size_t w = 0; w < 3; w++) {
        expect_no_encoding(where[w], buf_view(&der), "PKCS#8 DER", names_of[w]);
        expect_no_encoding(where[w], view_of(scalar, 32), "scalar", names_of[w]);
        expect_absent(where[w], pem_line, "PEM", names_of[w]);
    }
    mem_wipe(scalar, sizeof(scalar));
    crypto_key_free(k);
    buf_free(&der), buf_free(&decoded), buf_free(&t.sent), buf_free(&t.received);
    api_activation_free(a);
    att_source_free(src);
}
