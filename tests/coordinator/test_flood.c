/*
 * A real quarry-coordinator against what anyone who can reach its ports can do to its servers
 * (issue 13): floods of idle and slow connections under a small descriptor limit, a second
 * Coordinator on the same address, SIGHUP. Measured times are printed; the assertions leave a
 * loaded machine plenty of room.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "harness.h"
#include "qt_net.h"

#define FLOOD 400
#define NOFILE 256
#define TIMEOUT .timeout = 300
#define UUID "5f3b2d1e-8c7a-4e6b-9d0f-1a2b3c4d5e6f"

static struct qc q;

static void setup(void)
{
    qc_init(&q, NULL);
}

static void teardown(void)
{
    qc_cleanup(&q);
}

static long file_size(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 ? (long)st.st_size : -1;
}

static bool log_has(const char *needle)
{
    struct buf b = BUF_INIT;
    bool has = file_read(q.log, 64u << 20, &b) == 0 && buf_terminate(&b) == 0 &&
               strstr((const char *)b.ptr, needle) != NULL;
    buf_free(&b);
    return has;
}

static void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000};
    nanosleep(&ts, NULL);
}

/* An attacker's connections to one port: a third idle, a third stopped after the header of a TLS
 * record, a third trickling the record a byte per round. What the server closes is opened again. */
struct flood {
    uint16_t port;
    int fd[FLOOD];
    size_t reopened;
};

static void flood_open(struct flood *f, size_t i)
{
    static const char record[] = {0x16, 0x03, 0x01, 0x02, 0x00};
    f->fd[i] = qt_tcp_connect(f->port);
    cr_assert_geq(f->fd[i], 0, "connect: %s", strerror(errno));
    if (i % 3 != 0)
        (void)send(f->fd[i], record, sizeof(record), MSG_NOSIGNAL);
}

static void flood_start(struct flood *f, uint16_t port)
{
    f->port = port;
    f->reopened = 0;
    for (size_t i = 0; i < FLOOD; i++)
        flood_open(f, i);
}

static void flood_round(struct flood *f)
{
    for (size_t i = 0; i < FLOOD; i++) {
        if (qt_tcp_closed_within(f->fd[i], 0)) {
            close(f->fd[i]);
            flood_open(f, i);
            f->reopened++;
        } else if (i % 3 == 2) {
            (void)send(f->fd[i], "", 1, MSG_NOSIGNAL);
        }
    }
}

static void flood_stop(struct flood *f)
{
    for (size_t i = 0; i < FLOOD; i++)
        close(f->fd[i]);
}

/* GET /api/v2/status on a new connection: the seconds it took; fails the test when unanswered. */
static double status_seconds(long timeout_ms)
{
    struct api_client_config cc = {q.client_addr, VIEW_EMPTY, true, VIEW_EMPTY, VIEW_EMPTY, timeout_ms};
    struct api_client *c;
    cr_assert_eq(api_client_new(&cc, &c), 0);
    long status = 0;
    struct buf out = BUF_INIT;
    double t0 = qt_now();
    int r = api_client_call(c, API_GET, "/api/v2/status", VIEW_EMPTY, &status, &out);
    double t = qt_now() - t0;
    api_client_free(c);
    buf_free(&out);
    cr_assert(r == 0 && status == 200, "GET /api/v2/status under the flood: %s, status %ld, after %.2f s",
              r < 0 ? err_detail(r) : "answered", status, t);
    return t;
}

static double activate_seconds(void)
{
    struct api_activation *a = NULL;
    double t0 = qt_now();
    int r = qc_activate(&q, "frontend", NULL, UUID, &a);
    double t = qt_now() - t0;
    cr_assert_eq(r, 0, "activation under the flood: %s, after %.2f s", err_detail(r), t);
    api_activation_free(a);
    return t;
}

struct measured {
    double status_max, activation_max;
    long log_growth;
    double seconds;
    int tries;
};

/* Holds the flood on `port` for `seconds` while clients of both ports are served. */
static void serve_through_a_flood(uint16_t port, double seconds, struct measured *m, struct flood *f)
{
    memset(m, 0, sizeof(*m));
    flood_start(f, port);
    long before = file_size(q.log);
    double start = qt_now();
    while (qt_now() - start < seconds) {
        flood_round(f);
        double s = status_seconds(20000), a = activate_seconds();
        m->status_max = s > m->status_max ? s : m->status_max;
        m->activation_max = a > m->activation_max ? a : m->activation_max;
        m->tries++;
        sleep_ms(500);
    }
    m->seconds = qt_now() - start;
    m->log_growth = file_size(q.log) - before;
}

static void report(const char *what, const struct measured *m, const struct flood *f)
{
    fprintf(stderr,
            "%s: %d connections held (descriptor limit %d), %zu reopened after the server closed them; "
            "over %d tries GET /api/v2/status took at most %.3f s, an activation at most %.3f s; the log "
            "grew %ld bytes in %.1f s\n",
            what, FLOOD, NOFILE, f->reopened, m->tries, m->status_max, m->activation_max, m->log_growth,
            m->seconds);
}

/* A Coordinator under NOFILE descriptors, one of its ports flooded for `seconds`. */
static void flood_test(bool mesh, double seconds)
{
    q.nofile = NOFILE;
    qc_start(&q, NULL);
    cr_assert_eq(qc_set_manifest(&q, "coordinator.json"), 200);
    struct measured m;
    struct flood f;
    serve_through_a_flood(mesh ? q.mesh_port : q.client_port, seconds, &m, &f);
    report(mesh ? "mesh port flooded" : "client port flooded", &m, &f);
    cr_assert_lt(m.log_growth, 1 << 20, "the log grew %ld bytes in %.1f s", m.log_growth, m.seconds);
    flood_stop(&f);
    qc_stop(&q);
}

/* Issue 13, item 1: 988 idle connections under 1,024 descriptors silenced the Coordinator, whose
 * accept loop spun writing "Too many open files" at 18 MB/s. */
Test(flood, the_client_port_flooded_under_a_small_descriptor_limit, .init = setup, .fini = teardown, TIMEOUT)
{
    flood_test(false, 10.0);
}

Test(flood, the_mesh_port_flooded_under_a_small_descriptor_limit, .init = setup, .fini = teardown, TIMEOUT)
{
    flood_test(true, 5.0);
}

/* A cap above what the descriptors allow: accept() fails with EMFILE. The server pauses, closes
 * waiting connections and logs that once per 10 s, instead of spinning and logging every failure
 * (18 MB/s before). */
Test(flood, accept_errors_pause_and_are_logged_rate_limited, .init = setup, .fini = teardown, TIMEOUT)
{
    q.nofile = NOFILE;
    const char *extra[] = {"--max-connections", "1000", NULL};
    qc_start(&q, extra);
    cr_assert(log_has("--max-connections is more than the descriptor limit leaves"));
    struct flood f;
    flood_start(&f, q.client_port);
    long before = file_size(q.log);
    double start = qt_now(), worst = 0;
    int tries = 0;
    while (qt_now() - start < 5.0) {
        flood_round(&f);
        double s = status_seconds(30000);
        worst = s > worst ? s : worst;
        tries++;
        sleep_ms(500);
    }
    long grown = file_size(q.log) - before;
    fprintf(stderr,
            "accept errors (cap 1000, descriptor limit %d, %d connections): GET /api/v2/status took at most "
            "%.3f s over %d tries; the log grew %ld bytes in %.1f s\n",
            NOFILE, FLOOD, worst, tries, grown, qt_now() - start);
    cr_assert(log_has("cannot accept connections: pausing and closing idle ones"), "the accept errors happened");
    cr_assert_lt(grown, 1 << 20, "the log grew %ld bytes", grown);
    flood_stop(&f);
    qc_stop(&q);
}

/* Issue 13, item 5: with SO_REUSEPORT a second Coordinator on the same address started and took
 * part of the connections. */
static void second_on(const char *client, const char *mesh)
{
    struct qc q2;
    qc_init(&q2, NULL);
    const char *extra[] = {"--client-addr", client, "--mesh-addr", mesh, NULL};
    qc_spawn(&q2, extra);
    int st = qc_wait_exit(&q2, 60);
    if (st == -1)
        qc_kill9(&q2);
    cr_assert(st != -1, "a second Coordinator on %s and %s started", client, mesh);
    cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 1, "it exits with status 1 (%d)", st);
    struct buf b = BUF_INIT;
    cr_assert_eq(file_read(q2.log, 1u << 20, &b), 0);
    cr_assert_eq(buf_terminate(&b), 0);
    cr_assert(strstr((const char *)b.ptr, "the address is in use") != NULL, "its log says why: %s",
              (const char *)b.ptr);
    buf_free(&b);
    qc_cleanup(&q2);
}

Test(flood, a_second_coordinator_on_the_same_address_fails_to_start, .init = setup, .fini = teardown, TIMEOUT)
{
    qc_start(&q, NULL);
    char client[64], mesh[64];
    snprintf(client, sizeof(client), "127.0.0.1:%u", q.client_port);
    snprintf(mesh, sizeof(mesh), "127.0.0.1:%u", q.mesh_port);
    second_on(client, mesh);
    second_on(client, "127.0.0.1:0"); /* the client address alone */
    for (int i = 0; i < 10; i++)     /* every call reaches the first */
        cr_assert_eq(qc_state(&q), 2);
    qc_stop(&q);
}

/* Issue 13, item 6: SIGHUP ended the Coordinator (exit 129). */
Test(flood, sighup_is_logged_and_the_coordinator_keeps_serving, .init = setup, .fini = teardown, TIMEOUT)
{
    qc_start(&q, NULL);
    cr_assert_eq(kill(q.pid, SIGHUP), 0);
    for (int i = 0; i < 200 && !log_has("SIGHUP"); i++)
        sleep_ms(50);
    cr_assert(log_has("SIGHUP: the log goes to standard error, nothing to reopen; still running"));
    cr_assert_eq(qc_state(&q), 2);
    qc_stop(&q);
}
