#include "harness.h"

#include "store/store.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

void qc_init(struct qc *q, const struct att_testkit_options *o)
{
    memset(q, 0, sizeof(*q));
    snprintf(q->dir, sizeof(q->dir), "/tmp/quarry-test-coord-XXXXXX");
    cr_assert_not_null(mkdtemp(q->dir));
    snprintf(q->data, sizeof(q->data), "%s/data", q->dir);
    snprintf(q->kit, sizeof(q->kit), "%s/kit", q->dir);
    snprintf(q->log, sizeof(q->log), "%s/coordinator.log", q->dir);
    int r = att_testkit_init(q->kit, o);
    cr_assert_eq(r, 0, "testkit: %s", err_detail(r));
    cr_assert_eq(att_testkit_open(q->kit, &q->tk), 0);
}

static bool answers(struct qc *q)
{
    struct api_client_config cc = {q->client_addr, VIEW_EMPTY, true, VIEW_EMPTY, VIEW_EMPTY, 2000};
    struct api_client *c;
    long status = 0;
    struct buf out = BUF_INIT;
    if (api_client_new(&cc, &c) < 0)
        return false;
    bool ok = api_client_call(c, API_GET, "/api/v2/status", VIEW_EMPTY, &status, &out) == 0 && status == 200;
    api_client_free(c);
    buf_free(&out);
    return ok;
}

/* The ports the daemon bound (it listens on :0 and writes them to a file: no collisions between
 * tests running at the same time). */
static bool read_ports(struct qc *q, const char *file)
{
    struct buf b = BUF_INIT;
    json_t *j = NULL;
    bool ok = file_read(file, 4096, &b) == 0 && js_parse(buf_view(&b), 4096, &j) == 0;
    if (ok) {
        q->client_port = (uint16_t)json_integer_value(json_object_get(j, "client"));
        q->mesh_port = (uint16_t)json_integer_value(json_object_get(j, "mesh"));
        q->metrics_port = (uint16_t)json_integer_value(json_object_get(j, "metrics"));
        snprintf(q->client_addr, sizeof(q->client_addr), "localhost:%u", q->client_port);
        snprintf(q->mesh_addr, sizeof(q->mesh_addr), "localhost:%u", q->mesh_port);
    }
    json_decref(j);
    buf_free(&b);
    return ok;
}

static void ports_file(const struct qc *q, char *out, size_t size)
{
    snprintf(out, size, "%s/ports.json", q->dir);
}

void qc_spawn(struct qc *q, const char *const *extra)
{
    char exe[512], att[320], root[320], ports[320];
    snprintf(exe, sizeof(exe), "%s/src/programs/coordinator/quarry-coordinator", getenv("QY_BUILD_DIR"));
    snprintf(att, sizeof(att), "emulated:%s", q->kit);
    snprintf(root, sizeof(root), "%s/root_ca.pem", q->kit);
    ports_file(q, ports, sizeof(ports));
    unlink(ports);
    const char *argv[32] = {exe, "--data-dir", q->data, "--client-addr", "127.0.0.1:0", "--mesh-addr", "127.0.0.1:0",
                            "--attestation", att, "--insecure-extra-root", root, "--mesh-threads", "4",
                            "--ports-file", ports};
    size_t n = 15;
    if (q->no_attestation_args) { /* drop --attestation ATT --insecure-extra-root ROOT */
        memmove(&argv[7], &argv[11], 4 * sizeof(argv[0]));
        n -= 4;
    }
    for (size_t i = 0; extra && extra[i] && n < 31; i++)
        argv[n++] = extra[i];
    argv[n] = NULL;
    fflush(NULL);
    q->pid = fork();
    cr_assert_geq(q->pid, 0);
    if (q->pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL); /* never outlive a test that crashed */
        int fd = open(q->log, O_WRONLY | O_CREAT | O_APPEND, 0600);
        if (fd >= 0) {
            dup2(fd, 2);
            dup2(fd, 1);
        }
        struct rlimit rl = {q->nofile, q->nofile};
        if (q->nofile != 0 && setrlimit(RLIMIT_NOFILE, &rl) != 0)
            _exit(126);
        execv(exe, (char *const *)argv);
        _exit(127);
    }
}

void qc_start(struct qc *q, const char *const *extra)
{
    char ports[320];
    ports_file(q, ports, sizeof(ports));
    qc_spawn(q, extra);
    for (int i = 0; i < 400; i++) {
        if (read_ports(q, ports) && answers(q))
            return;
        int st;
        cr_assert_eq(waitpid(q->pid, &st, WNOHANG), 0, "quarry-coordinator exited; see %s", q->log);
        struct timespec ts = {0, 50 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    cr_assert_fail("quarry-coordinator did not answer in 20 s; see %s", q->log);
}

int qc_start_refused(struct qc *q, const char *const *extra)
{
    char ports[320];
    ports_file(q, ports, sizeof(ports));
    qc_spawn(q, extra);
    for (int i = 0; i < 1200; i++) {
        int st = qc_wait_exit(q, 0.05);
        if (st != -1)
            return st;
        cr_assert(!read_ports(q, ports), "quarry-coordinator started serving; see %s", q->log);
    }
    cr_assert_fail("quarry-coordinator neither served nor exited in 60 s; see %s", q->log);
    return -1;
}

int qc_wait_exit(struct qc *q, double seconds)
{
    for (double waited = 0; waited < seconds; waited += 0.05) {
        int st;
        if (q->pid > 0 && waitpid(q->pid, &st, WNOHANG) == q->pid) {
            q->pid = 0;
            return st;
        }
        struct timespec ts = {0, 50 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    return -1;
}

static int stop_with(struct qc *q, int sig)
{
    if (q->pid <= 0)
        return 0;
    kill(q->pid, sig);
    int st = 0;
    waitpid(q->pid, &st, 0);
    q->pid = 0;
    return st;
}

static void dump_log(struct qc *q)
{
    struct buf b = BUF_INIT;
    if (file_read(q->log, 1u << 20, &b) == 0)
        fprintf(stderr, "--- %s ---\n%.*s\n", q->log, (int)(b.size > 8192 ? 8192 : b.size),
                (const char *)b.ptr + (b.size > 8192 ? b.size - 8192 : 0));
    buf_free(&b);
}

/* A clean shutdown: exit status 0 (also no leak or sanitizer report in the daemon). */
void qc_stop(struct qc *q)
{
    int st = stop_with(q, SIGTERM);
    if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
        dump_log(q);
    cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0, "quarry-coordinator did not shut down cleanly (status %d)", st);
}

void qc_kill9(struct qc *q)
{
    stop_with(q, SIGKILL);
}

void qc_cleanup(struct qc *q)
{
    if (q->pid > 0)
        qc_stop(q);
    att_testkit_free(q->tk);
    char cmd[300];
    snprintf(cmd, sizeof(cmd), "rm -rf %s", q->dir);
    if (system(cmd) != 0)
        fprintf(stderr, "cannot remove %s\n", q->dir);
}

struct api_client *qc_client(struct qc *q, const char *user)
{
    struct buf cert = BUF_INIT, key = BUF_INIT;
    if (user != NULL) {
        char rel[128];
        snprintf(rel, sizeof(rel), "certs/%s.crt", user);
        qt_read(qt_data_path(rel), &cert);
        snprintf(rel, sizeof(rel), "certs/%s.key", user);
        qt_read(qt_data_path(rel), &key);
    }
    struct api_client_config cc = {q->client_addr, VIEW_EMPTY, true, buf_view(&cert), buf_view(&key), 30000};
    struct api_client *c;
    cr_assert_eq(api_client_new(&cc, &c), 0);
    buf_free(&cert);
    buf_free(&key);
    return c;
}

long qc_call(struct api_client *c, enum api_method m, const char *target, const char *body, json_t **json)
{
    long status = 0;
    struct buf out = BUF_INIT;
    int r = api_client_call(c, m, target, view_str(body ? body : ""), &status, &out);
    cr_assert_eq(r, 0, "%s %s: %s", m == API_GET ? "GET" : "POST", target, err_detail(r));
    if (json != NULL)
        *json = json_loadb((const char *)out.ptr, out.size, 0, NULL);
    buf_free(&out);
    return status;
}

long qc_set_manifest_text(struct qc *q, const char *text, json_t **json)
{
    struct buf b64 = BUF_INIT, body = BUF_INIT;
    cr_assert_eq(enc_b64(&b64, view_str(text)), 0);
    cr_assert_eq(buf_appendf(&body, "{\"manifest\":\"%.*s\"}", (int)b64.size, (const char *)b64.ptr), 0);
    cr_assert_eq(buf_terminate(&body), 0);
    struct api_client *c = qc_client(q, NULL);
    long status = qc_call(c, API_POST, "/api/v2/manifest", (const char *)body.ptr, json);
    api_client_free(c);
    buf_free(&b64);
    buf_free(&body);
    return status;
}

void qc_manifest_text(const char *name, struct buf *out)
{
    char rel[128];
    struct buf raw = BUF_INIT;
    snprintf(rel, sizeof(rel), "manifests/%s", name);
    qt_read(qt_data_path(rel), &raw);
    cr_assert_eq(buf_terminate(&raw), 0);
    qt_subst((const char *)raw.ptr, out);
    cr_assert_eq(buf_terminate(out), 0);
    buf_free(&raw);
}

long qc_set_manifest(struct qc *q, const char *name)
{
    struct buf text = BUF_INIT;
    qc_manifest_text(name, &text);
    long status = qc_set_manifest_text(q, (const char *)text.ptr, NULL);
    buf_free(&text);
    return status;
}

int qc_quarry(struct qc *q, const char *args, struct buf *out)
{
    char policy[400], outfile[400], cmd[8192];
    snprintf(policy, sizeof(policy), "%s/policy.json", q->dir);
    snprintf(outfile, sizeof(outfile), "%s/quarry.out", q->dir);
    if (access(policy, F_OK) != 0)
        cr_assert_eq(file_write_atomic(policy, view_str("{\"coordinator\":{\"SignerID\":"
                                                        "\"d91c2b1a4ffd7cac4e6cc564d3afd3c642321a230a1597e0dfe127839049cd02\","
                                                        "\"ProductID\":1,\"SecurityVersion\":1}}"), 0600), 0);
    snprintf(cmd, sizeof(cmd),
             "XDG_CACHE_HOME=%s/cache %s %s --coordinator %s --policy %s --collateral %s --insecure-extra-root "
             "%s/root_ca.pem >%s 2>&1",
             q->dir, getenv("QY_QUARRY"), args, q->client_addr, policy, q->kit, q->kit, outfile);
    int st = system(cmd);
    buf_reset(out);
    qt_read(outfile, out);
    cr_assert_eq(buf_terminate(out), 0);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

int qc_activate(struct qc *q, const char *marble_type, const struct att_testkit_quote_params *id, const char *uuid,
                struct api_activation **out)
{
    struct att_testkit_quote_params p;
    if (id == NULL)
        cr_assert_eq(att_testkit_default_identity(q->tk, &p), 0);
    else
        p = *id;
    struct att_source *src;
    cr_assert_eq(att_source_new_emulated(q->tk, &p, &src), 0);
    const char *names[] = {"localhost", "127.0.0.1"};
    struct api_activation_config cfg = {q->mesh_addr, marble_type, names, 2, uuid, src, NULL, NULL,
                                        VIEW_EMPTY, 1, 10, 100, NULL, NULL};
    int r = api_activate(&cfg, out);
    att_source_free(src);
    return r;
}

void qc_metrics(struct qc *q, struct buf *out)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(q->metrics_port),
                            .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    cr_assert_eq(connect(fd, (struct sockaddr *)&a, sizeof(a)), 0);
    const char *req = "GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
    cr_assert_eq(write(fd, req, strlen(req)), (ssize_t)strlen(req));
    char chunk[4096];
    ssize_t n;
    while ((n = read(fd, chunk, sizeof(chunk))) > 0)
        cr_assert_eq(buf_append(out, chunk, (size_t)n), 0);
    close(fd);
    cr_assert_eq(buf_terminate(out), 0);
}

long qc_state(struct qc *q)
{
    struct api_client *c = qc_client(q, NULL);
    json_t *j;
    cr_assert_eq(qc_call(c, API_GET, "/api/v2/status", NULL, &j), 200);
    long code = (long)json_integer_value(json_object_get(json_object_get(j, "data"), "code"));
    json_decref(j);
    api_client_free(c);
    return code;
}

const struct api_param *qc_param(const struct api_param *p, size_t n, const char *name)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(p[i].name, name) == 0)
            return &p[i];
    cr_assert_fail("no parameter %s", name);
    return NULL;
}

int qc_keyfile_lookup(void *ctx, const char *name, struct sealer **out)
{
    (void)name;
    return sealer_new(ctx, out);
}

int qc_keyfile_sealer(void *ctx, enum mf_seal_mode mode, struct sealer **out)
{
    (void)mode;
    return sealer_new(ctx, out);
}
