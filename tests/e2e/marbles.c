#include "marbles.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <fcntl.h>
#include <netinet/in.h>
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

struct qc q;
char work[320]; /* the marbles' folders, their outputs, the probe program */
char probe[400];
uint16_t backend_port;
char token[64]; /* the apiToken the demo user uploads */
pid_t children[4];
size_t child_count;

/* Helpers -------------------------------------------------------------------------------------- */

const char *at(const char *rel)
{
    static _Thread_local char paths[8][600];
    static _Thread_local int next;
    char *p = paths[next++ % 8];
    snprintf(p, 600, "%s/%s", work, rel);
    return p;
}

bool exists(const char *path)
{
    struct stat st;
    return lstat(path, &st) == 0;
}

void read_text(const char *path, struct buf *out)
{
    buf_reset(out);
    qt_read(path, out);
    cr_assert_eq(buf_terminate(out), 0);
}

bool file_has(const char *path, const char *needle)
{
    struct buf b = BUF_INIT;
    bool has = file_read(path, 1u << 20, &b) == 0 && buf_terminate(&b) == 0 &&
               strstr((char *)b.ptr, needle) != NULL;
    buf_free(&b);
    return has;
}

void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* Waits until `path` contains `needle`; false after `seconds`. */
bool wait_for(const char *path, const char *needle, int seconds)
{
    for (int i = 0; i < seconds * 20; i++) {
        if (file_has(path, needle))
            return true;
        sleep_ms(50);
    }
    return false;
}

uint16_t free_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof(a);
    cr_assert(bind(fd, (struct sockaddr *)&a, sizeof(a)) == 0 &&
              getsockname(fd, (struct sockaddr *)&a, &len) == 0);
    close(fd);
    return ntohs(a.sin_port);
}

/* Entries in a folder (0 when it does not exist). */
int entries(const char *path)
{
    DIR *d = opendir(path);
    int n = 0;
    for (struct dirent *e; d && (e = readdir(d)) != NULL;)
        n += strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0;
    if (d)
        closedir(d);
    return n;
}

/* The Coordinator, the manifest and the user secret -------------------------------------------- */

struct api_client *demo_user(struct qc *c)
{
    struct buf cert = BUF_INIT, key = BUF_INIT;
    char path[600];
    snprintf(path, sizeof(path), "%s/examples/demo/admin.crt", getenv("QY_SOURCE_DIR"));
    qt_read(path, &cert);
    snprintf(path, sizeof(path), "%s/examples/demo/admin.key", getenv("QY_SOURCE_DIR"));
    qt_read(path, &key);
    struct api_client_config cc = {.address = c->client_addr, .insecure = true,
                                   .cert_pem = buf_view(&cert), .key_pem = buf_view(&key),
                                   .timeout_ms = 30000};
    struct api_client *cl;
    cr_assert_eq(api_client_new(&cc, &cl), 0);
    buf_free(&cert), buf_free(&key);
    return cl;
}

/* examples/manifest.json with backend's port replaced by a free one. */
void set_example_manifest(struct qc *c)
{
    char path[600], port[32];
    struct buf raw = BUF_INIT, text = BUF_INIT;
    snprintf(path, sizeof(path), "%s/examples/manifest.json", getenv("QY_SOURCE_DIR"));
    read_text(path, &raw);
    snprintf(port, sizeof(port), "127.0.0.1:%u", backend_port);
    const char *p = (const char *)raw.ptr, *hit;
    while ((hit = strstr(p, "127.0.0.1:18443")) != NULL) {
        cr_assert_eq(buf_append(&text, p, (size_t)(hit - p)), 0);
        cr_assert_eq(buf_append_str(&text, port), 0);
        p = hit + strlen("127.0.0.1:18443");
    }
    cr_assert_eq(buf_append_str(&text, p), 0);
    cr_assert_eq(buf_terminate(&text), 0);
    cr_assert_eq(qc_set_manifest_text(c, (const char *)text.ptr, NULL), 200);
    buf_free(&raw), buf_free(&text);
}

void upload_token(struct qc *to)
{
    uint8_t rnd[8];
    cr_assert_eq(crypto_random(rnd, sizeof(rnd)), 0);
    snprintf(token, sizeof(token), "token-%02x%02x%02x%02x%02x%02x%02x%02x", rnd[0], rnd[1], rnd[2],
             rnd[3], rnd[4], rnd[5], rnd[6], rnd[7]);
    struct buf b64 = BUF_INIT, body = BUF_INIT;
    cr_assert_eq(enc_b64(&b64, view_str(token)), 0);
    cr_assert_eq(buf_appendf(&body, "{\"secrets\":{\"apiToken\":{\"Key\":\"%.*s\"}}}",
                             (int)b64.size, (char *)b64.ptr),
                 0);
    cr_assert_eq(buf_terminate(&body), 0);
    struct api_client *c = demo_user(to);
    cr_assert_eq(qc_call(c, API_POST, "/api/v2/secrets", (const char *)body.ptr, NULL), 200);
    api_client_free(c);
    buf_free(&b64), buf_free(&body);
}

/* A program that stands in for a marble's: it shows that it ran, with which arguments. */
static void write_probe(void)
{
    snprintf(probe, sizeof(probe), "%s/probe.sh", work);
    static const char text[] = "#!/bin/sh\nprintf '%s\\n' \"$@\" > ran.args\n";
    cr_assert_eq(file_write_atomic(probe, view_str(text), 0755), 0);
}

/* The Coordinator's addresses stay the same across its restarts, and are known before it starts
 * (a marble may be waiting for it): given explicitly, after the harness's own flags. */
static char client_flag[32], mesh_flag[32];
static const char *fixed_ports[] = {"--client-addr", client_flag, "--mesh-addr", mesh_flag, NULL};
uint16_t client_port, mesh_port;

void start_coordinator(void)
{
    qc_start(&q, fixed_ports);
    q.client_port = client_port;
    q.mesh_port = mesh_port;
    snprintf(q.client_addr, sizeof(q.client_addr), "localhost:%u", client_port);
    snprintf(q.mesh_addr, sizeof(q.mesh_addr), "localhost:%u", mesh_port);
}

static void setup_common(void)
{
    qc_init(&q, NULL);
    snprintf(work, sizeof(work), "%s/marbles", q.dir);
    cr_assert_eq(mkdir(work, 0700), 0);
    write_probe();
    backend_port = free_port();
    client_port = free_port();
    mesh_port = free_port();
    snprintf(client_flag, sizeof(client_flag), "127.0.0.1:%u", client_port);
    snprintf(mesh_flag, sizeof(mesh_flag), "127.0.0.1:%u", mesh_port);
    child_count = 0;
}

/* A Coordinator with the example manifest and the user's secret, as after the demo's first steps. */
void setup_ready(void)
{
    setup_common();
    start_coordinator();
    set_example_manifest(&q);
    upload_token(&q);
}

/* Nothing started yet. */
void setup_idle(void)
{
    setup_common();
}

void teardown(void)
{
    for (size_t i = 0; i < child_count; i++) {
        if (children[i] > 0) {
            kill(children[i], SIGTERM);
            waitpid(children[i], NULL, 0);
        }
    }
    child_count = 0;
    if (q.pid > 0)
        kill(q.pid, SIGCONT); /* in case a test stopped it */
    qc_cleanup(&q);
}

/* The Coordinator's intermediate and root (GET /api/v2/quote: intermediate PEM then root PEM). */
void coordinator_certs(struct qc *from, struct buf *intermediate_pem, struct buf *root_pem)
{
    struct api_client *c = qc_client(from, NULL);
    json_t *j = NULL;
    cr_assert_eq(qc_call(c, API_GET, "/api/v2/quote", NULL, &j), 200);
    const char *chain = json_string_value(json_object_get(json_object_get(j, "data"), "cert"));
    cr_assert_not_null(chain);
    const char *second = strstr(chain + 1, "-----BEGIN CERTIFICATE-----");
    cr_assert_not_null(second);
    cr_assert_eq(buf_append(intermediate_pem, chain, (size_t)(second - chain)), 0);
    cr_assert_eq(buf_append_str(root_pem, second), 0);
    json_decref(j);
    api_client_free(c);
}

/* Marbles under quarry-premain ----------------------------------------------------------------- */



pid_t start_marble(const struct marble *m)
{
    char dir[1024], out[1024], err[1024], uuid[1100], source[1024], mesh[64], path[2048];
    snprintf(dir, sizeof(dir), "%s/%s", work, m->dir);
    snprintf(out, sizeof(out), "%s/%s.out", work, m->dir);
    snprintf(err, sizeof(err), "%s/%s.err", work, m->dir);
    if (m->uuid_file != NULL)
        snprintf(uuid, sizeof(uuid), "%s", m->uuid_file);
    else
        snprintf(uuid, sizeof(uuid), "%s/uuid", dir);
    if (m->source != NULL)
        snprintf(source, sizeof(source), "%s", m->source);
    else
        snprintf(source, sizeof(source), "emulated:%s%s", q.kit, m->identity ? m->identity : "");
    if (m->mesh != NULL)
        snprintf(mesh, sizeof(mesh), "%s", m->mesh);
    else
        snprintf(mesh, sizeof(mesh), "127.0.0.1:%u", mesh_port);
    snprintf(path, sizeof(path), "%s/examples:%s", getenv("QY_BUILD_DIR"),
             getenv("PATH") ? getenv("PATH") : "/usr/bin:/bin");
    char exe[1024];
    snprintf(exe, sizeof(exe), "%s/src/programs/premain/quarry-premain", getenv("QY_BUILD_DIR"));
    (void)mkdir(dir, 0700);
    fflush(NULL);
    pid_t pid = fork();
    cr_assert_geq(pid, 0);
    if (pid == 0) {
        int fo = open(out, O_WRONLY | O_CREAT | O_TRUNC, 0600),
            fe = open(err, O_WRONLY | O_CREAT | O_TRUNC, 0600);
        if (fo < 0 || fe < 0 || dup2(fo, 1) < 0 || dup2(fe, 2) < 0 || chdir(dir) != 0)
            _exit(126);
        if (m->type != NULL)
            setenv("EDG_MARBLE_TYPE", m->type, 1);
        else
            unsetenv("EDG_MARBLE_TYPE");
        setenv("EDG_MARBLE_COORDINATOR_ADDR", mesh, 1);
        setenv("EDG_MARBLE_DNS_NAMES", "localhost,127.0.0.1", 1);
        setenv("EDG_MARBLE_UUID_FILE", uuid, 1);
        setenv("QUARRY_QUOTE_SOURCE", source, 1);
        setenv("QUARRY_ACTIVATION_TIMEOUT", "120", 1);
        setenv("QUARRY_ACTIVATION_BACKOFF_MAX_MS", "300", 1);
        setenv("PATH", path, 1);
        for (size_t i = 0; m->env != NULL && m->env[i] != NULL; i++)
            putenv((char *)m->env[i]);
        const char *argv[] = {exe, m->program, NULL};
        execv(exe, (char *const *)argv);
        _exit(127);
    }
    return pid;
}

/* The exit status, or -1 when it was still running after `seconds` (then it is killed). */
int wait_marble(pid_t pid, int seconds)
{
    int st = 0;
    for (int i = 0; i < seconds * 20; i++) {
        if (waitpid(pid, &st, WNOHANG) == pid)
            return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
        sleep_ms(50);
    }
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
    return -1;
}

int run_marble(const struct marble *m)
{
    return wait_marble(start_marble(m), 120);
}

void dump(const char *dir)
{
    char name[64];
    struct buf b = BUF_INIT;
    snprintf(name, sizeof(name), "%s.err", dir);
    if (file_read(at(name), 1u << 20, &b) == 0)
        fprintf(stderr, "--- %s ---\n%.*s\n", at(name), (int)b.size, (const char *)b.ptr);
    buf_free(&b);
}
