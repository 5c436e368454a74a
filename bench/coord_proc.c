/* A real quarry-coordinator process for benchmarks: see coord_proc.h. */
#include "coord_proc.h"

#include <fcntl.h>
#include <libgen.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "bench.h"

void bench_coord_die(struct bench_coord *c, const char *what)
{
    fprintf(stderr, "bench: %s\n", what);
    struct buf b = BUF_INIT;
    if (c->log[0] && file_read(c->log, 1u << 22, &b) == 0 && b.size > 0) {
        size_t tail = b.size > 4096 ? 4096 : b.size;
        fprintf(stderr, "--- tail of %s ---\n%.*s\n", c->log, (int)tail,
                (const char *)b.ptr + b.size - tail);
    }
    buf_free(&b);
    bench_coord_cleanup(c);
    exit(2);
}

/* BUILD/bench/bench_x -> BUILD/src/programs/coordinator/quarry-coordinator */
static void find_exe(struct bench_coord *c)
{
    const char *env = getenv("QY_COORDINATOR");
    char self[400] = {0};
    if (env != NULL && env[0] != '\0') {
        snprintf(c->exe, sizeof(c->exe), "%s", env);
    } else if (readlink("/proc/self/exe", self, sizeof(self) - 1) > 0) {
        char *bench_dir = dirname(self);
        snprintf(c->exe, sizeof(c->exe), "%s/../src/programs/coordinator/quarry-coordinator",
                 bench_dir);
    }
    if (access(c->exe, X_OK) != 0)
        bench_coord_die(c, "quarry-coordinator not found (build it, or set QY_COORDINATOR)");
}

void bench_coord_init(struct bench_coord *c)
{
    memset(c, 0, sizeof(*c));
    snprintf(c->dir, sizeof(c->dir), "/tmp/quarry-bench-coord-XXXXXX");
    if (mkdtemp(c->dir) == NULL) {
        c->dir[0] = '\0';
        bench_coord_die(c, "cannot make a temporary directory");
    }
    snprintf(c->data, sizeof(c->data), "%s/data", c->dir);
    snprintf(c->kit, sizeof(c->kit), "%s/kit", c->dir);
    snprintf(c->log, sizeof(c->log), "%s/coordinator.log", c->dir);
    snprintf(c->ports, sizeof(c->ports), "%s/ports.json", c->dir);
    find_exe(c);
    if (att_testkit_init(c->kit, NULL) != 0 || att_testkit_open(c->kit, &c->tk) != 0)
        bench_coord_die(c, "cannot make a testkit");
}

static bool read_ports(struct bench_coord *c)
{
    struct buf b = BUF_INIT;
    json_t *j = NULL;
    bool ok = file_read(c->ports, 4096, &b) == 0 && js_parse(buf_view(&b), 4096, &j) == 0;
    if (ok) {
        snprintf(c->client_addr, sizeof(c->client_addr), "127.0.0.1:%u",
                 (unsigned)json_integer_value(json_object_get(j, "client")));
        snprintf(c->mesh_addr, sizeof(c->mesh_addr), "127.0.0.1:%u",
                 (unsigned)json_integer_value(json_object_get(j, "mesh")));
    }
    json_decref(j);
    buf_free(&b);
    return ok;
}

long bench_coord_call(struct bench_coord *c, enum api_method m, const char *target,
                      struct view body, struct buf *out)
{
    struct api_client_config cc = {c->client_addr, VIEW_EMPTY, true,
                                   VIEW_EMPTY,     VIEW_EMPTY, 600000};
    struct api_client *cl = NULL;
    long status = 0;
    if (api_client_new(&cc, &cl) != 0 || api_client_call(cl, m, target, body, &status, out) != 0)
        status = 0;
    api_client_free(cl);
    return status;
}

static bool answers(struct bench_coord *c)
{
    struct buf out = BUF_INIT;
    long status = bench_coord_call(c, API_GET, "/api/v2/status", VIEW_EMPTY, &out);
    buf_free(&out);
    return status == 200;
}

static void spawn(struct bench_coord *c)
{
    char att[256], root[256];
    snprintf(att, sizeof(att), "emulated:%s", c->kit);
    snprintf(root, sizeof(root), "%s/root_ca.pem", c->kit);
    const char *argv[] = {c->exe,        "--data-dir",
                          c->data,       "--client-addr",
                          "127.0.0.1:0", "--mesh-addr",
                          "127.0.0.1:0", "--attestation",
                          att,           "--insecure-extra-root",
                          root,          "--ports-file",
                          c->ports,      "--log-level",
                          "warn",        NULL};
    fflush(NULL);
    c->pid = fork();
    if (c->pid < 0)
        bench_coord_die(c, "fork failed");
    if (c->pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL); /* never outlive a benchmark that crashed */
        int fd = open(c->log, O_WRONLY | O_CREAT | O_APPEND, 0600);
        if (fd >= 0) {
            dup2(fd, 1);
            dup2(fd, 2);
        }
        execv(c->exe, (char *const *)argv);
        _exit(127);
    }
}

double bench_coord_start(struct bench_coord *c)
{
    unlink(c->ports);
    c->client_addr[0] = c->mesh_addr[0] = '\0';
    double start = bench_now();
    spawn(c);
    while (bench_now() - start < 60) {
        if (read_ports(c) && answers(c))
            return bench_now() - start;
        int st;
        if (waitpid(c->pid, &st, WNOHANG) != 0) {
            c->pid = 0;
            bench_coord_die(c, "quarry-coordinator exited during start");
        }
        struct timespec ts = {0, 1000 * 1000}; /* 1 ms: the start time is measured with it */
        nanosleep(&ts, NULL);
    }
    bench_coord_die(c, "quarry-coordinator did not answer within 60 s");
    return 0;
}

void bench_coord_stop(struct bench_coord *c)
{
    if (c->pid <= 0)
        return;
    kill(c->pid, SIGTERM);
    int st = 0;
    waitpid(c->pid, &st, 0);
    c->pid = 0;
    if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
        fprintf(stderr, "bench: quarry-coordinator did not exit cleanly (status %d), see %s\n", st,
                c->log);
}

void bench_coord_cleanup(struct bench_coord *c)
{
    bench_coord_stop(c);
    att_testkit_free(c->tk);
    c->tk = NULL;
    if (c->dir[0] == '\0')
        return;
    char cmd[200];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", c->dir);
    if (system(cmd) != 0)
        fprintf(stderr, "bench: cannot remove %s\n", c->dir);
    c->dir[0] = '\0';
}

double bench_coord_set_manifest(struct bench_coord *c, struct view json)
{
    struct buf b64 = BUF_INIT, body = BUF_INIT, out = BUF_INIT;
    if (enc_b64(&b64, json) != 0 ||
        buf_appendf(&body, "{\"manifest\":\"%.*s\"}", (int)b64.size, (const char *)b64.ptr) != 0)
        bench_coord_die(c, "out of memory");
    double start = bench_now();
    long status = bench_coord_call(c, API_POST, "/api/v2/manifest", buf_view(&body), &out);
    double seconds = bench_now() - start;
    if (status != 200) {
        fprintf(stderr, "bench: POST /api/v2/manifest answered %ld: %.*s\n", status, (int)out.size,
                out.size ? (const char *)out.ptr : "");
        bench_coord_die(c, "cannot set the manifest");
    }
    buf_free(&b64);
    buf_free(&body);
    buf_free(&out);
    return seconds;
}

/* utime and stime are fields 14 and 15 of /proc/PID/stat; the name (field 2) may hold spaces. */
static double cpu_seconds(pid_t pid)
{
    char path[64], text[1024];
    snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
    FILE *f = fopen(path, "r");
    size_t n = f ? fread(text, 1, sizeof(text) - 1, f) : 0;
    if (f)
        fclose(f);
    text[n] = '\0';
    const char *p = strrchr(text, ')');
    unsigned long long utime = 0, stime = 0;
    if (p == NULL ||
        sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &utime, &stime) != 2)
        return 0;
    return (double)(utime + stime) / (double)sysconf(_SC_CLK_TCK);
}

static long status_kib(pid_t pid, const char *field)
{
    char path[64], line[256];
    long v = 0;
    size_t n = strlen(field);
    snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
    FILE *f = fopen(path, "r");
    while (f && fgets(line, sizeof(line), f))
        if (strncmp(line, field, n) == 0 && line[n] == ':')
            v = strtol(line + n + 1, NULL, 10);
    if (f)
        fclose(f);
    return v;
}

void bench_coord_usage(const struct bench_coord *c, struct bench_usage *out)
{
    out->cpu_seconds = cpu_seconds(c->pid);
    out->rss_kib = status_kib(c->pid, "VmRSS");
    out->hwm_kib = status_kib(c->pid, "VmHWM");
}
