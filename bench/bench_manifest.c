/* Manifest parse + validation throughput, on the example manifest and on a large generated one
 * (50 marbles, 200 secrets, the size DESIGN.md's "manifest set" target speaks of). */
#include <stdlib.h>
#include <string.h>

#include "bench.h"
#include "manifest/manifest.h"

static void build_large(struct buf *out)
{
    json_t *m = json_pack("{s:{s:{s:b}},s:{},s:{}}", "Packages", "p", "Debug", 1, "Marbles", "Secrets");
    json_t *marbles = json_object_get(m, "Marbles"), *secrets = json_object_get(m, "Secrets");
    char name[64], tmpl[128];
    for (int i = 0; i < 200; i++) {
        snprintf(name, sizeof(name), "secret%d", i);
        json_object_set_new(secrets, name, i < 20 ? json_pack("{s:s,s:i}", "Type", "cert-rsa", "Size", 3072)
                                                  : json_pack("{s:s,s:i}", "Type", "symmetric-key", "Size", 256));
    }
    for (int i = 0; i < 50; i++) {
        json_t *env = json_object();
        for (int k = 0; k < 4; k++) {
            snprintf(name, sizeof(name), "KEY_%d", k);
            snprintf(tmpl, sizeof(tmpl), "{{ hex .Secrets.secret%d }}", 20 + (i * 4 + k) % 180);
            json_object_set_new(env, name, json_string(tmpl));
        }
        snprintf(name, sizeof(name), "marble%d", i);
        json_object_set_new(marbles, name, json_pack("{s:s,s:{s:o,s:[s,s]}}", "Package", "p", "Parameters",
                                                      "Env", env, "Argv", "./svc", "--serve"));
    }
    if (js_dump(out, m, JSON_INDENT(2)) < 0)
        abort();
    json_decref(m);
}

static double rate(struct view text, double seconds)
{
    size_t n = 0;
    double start = bench_now(), now;
    do {
        struct diag d = DIAG_INIT;
        struct manifest *m = NULL;
        if (manifest_load(text, MF_FORMAT_JSON, NULL, 0, &d, &m) != 0)
            abort();
        manifest_free(m);
        diag_free(&d);
        n++;
    } while ((now = bench_now()) - start < seconds);
    return (double)n / (now - start);
}

int main(int argc, char **argv)
{
    struct buf example = BUF_INIT, large = BUF_INIT;
    const char *path = argc > 1 ? argv[1] : "examples/manifest.json"; /* run from the repository root */
    if (file_read(path, QY_MANIFEST_MAX_SIZE, &example) < 0) {
        fprintf(stderr, "bench_manifest: cannot read %s\n", path);
        return 2;
    }
    build_large(&large);
    bench_row("manifest parse+check, example (per second)", rate(buf_view(&example), 1.0), "/s", "-", "-");
    double r = rate(buf_view(&large), 1.0);
    bench_row("manifest parse+check, 50 marbles/200 secrets", 1000.0 / r, "ms", "part of set < 3 s", "-");
    buf_free(&example);
    buf_free(&large);
    return 0;
}
