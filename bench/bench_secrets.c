/* Generating the secrets of a manifest with 200 secrets, 20 of them RSA-3072 certificates
 * (DESIGN.md: such a manifest is set in < 3 s on a 2-core machine), on all cores and on one; and
 * the per-marble secrets of one activation (HKDF keys and a P-256 certificate). */
#include <stdlib.h>

#include "bench.h"
#include "secrets/secrets.h"

static struct manifest *build(void)
{
    json_t *m = json_pack("{s:{s:{s:b}},s:{s:{s:s}},s:{}}", "Packages", "p", "Debug", 1, "Marbles",
                          "m", "Package", "p", "Secrets");
    json_t *secrets = json_object_get(m, "Secrets");
    char name[64];
    for (int i = 0; i < 200; i++) {
        snprintf(name, sizeof(name), "secret%03d", i);
        json_t *s =
            i < 20   ? json_pack("{s:s,s:i,s:b}", "Type", "cert-rsa", "Size", 3072, "Shared", 1)
            : i < 40 ? json_pack("{s:s,s:i,s:b}", "Type", "cert-ecdsa", "Size", 256, "Shared", 1)
            : i < 150
                ? json_pack("{s:s,s:i,s:b}", "Type", "symmetric-key", "Size", 256, "Shared", 1)
            : i < 180 ? json_pack("{s:s,s:i}", "Type", "symmetric-key", "Size", 128)
                      : json_pack("{s:s,s:b}", "Type", "plain", "UserDefined", 1);
        json_object_set_new(secrets, name, s);
    }
    json_object_set_new(secrets, "marbleCert",
                        json_pack("{s:s,s:i}", "Type", "cert-ecdsa", "Size", 256));
    struct buf text = BUF_INIT;
    struct diag d = DIAG_INIT;
    struct manifest *out = NULL;
    if (js_dump(&text, m, JSON_COMPACT) != 0 ||
        manifest_load(buf_view(&text), MF_FORMAT_JSON, NULL, 0, &d, &out) != 0)
        abort();
    json_decref(m);
    buf_free(&text);
    diag_free(&d);
    return out;
}

/* A pre-generated pool of RSA-3072 keys, as the Coordinator could keep through sec_gen.key_source.
 */
struct pool {
    struct crypto_key *keys[20];
    size_t next;
};

static int from_pool(void *ctx, enum crypto_key_type type, unsigned rsa_bits,
                     struct crypto_key **out)
{
    struct pool *p = ctx;
    size_t i = __atomic_fetch_add(&p->next, 1, __ATOMIC_SEQ_CST);
    if (type != CRYPTO_KEY_RSA || rsa_bits != 3072 || i >= 20)
        return ERR_EXHAUSTED;
    *out = p->keys[i];
    p->keys[i] = NULL;
    return 0;
}

static double shared_seconds(const struct manifest *m, const struct pki_ca *ca, unsigned threads,
                             struct pool *pool)
{
    struct sec_gen g = {
        .ca = ca, .threads = threads, .key_source = pool ? from_pool : NULL, .key_ctx = pool};
    struct sec_set s = SEC_SET_INIT;
    double start = bench_now();
    if (sec_generate_shared(m, &g, NULL, 0, &s) != 0)
        abort();
    double t = bench_now() - start;
    sec_set_free(&s);
    return t;
}

int main(void)
{
    struct pki_ca *ca = NULL;
    struct manifest *m = build();
    if (pki_ca_generate(NULL, &ca) != 0)
        abort();
    /* RSA key generation time varies a lot from key to key: report the mean of three runs */
    double all = 0, one = 0;
    for (int i = 0; i < 3; i++)
        all += shared_seconds(m, ca, 0, NULL) / 3;
    one = shared_seconds(m, ca, 1, NULL);
    struct pool pool = {0};
    for (int i = 0; i < 20; i++)
        if (crypto_key_generate(CRYPTO_KEY_RSA, 3072, &pool.keys[i]) != 0)
            abort();
    double pooled = shared_seconds(m, ca, 0, &pool);
    bench_row("secrets of a manifest (200, 20 RSA-3072), all cores", all * 1000, "ms",
              "part of set < 3 s", "-");
    bench_row("secrets of a manifest (200, 20 RSA-3072), 1 thread", one * 1000, "ms", "-", "-");
    bench_row("same, RSA keys from a pre-generated pool", pooled * 1000, "ms", "-", "-");
    uint8_t root[SEC_ROOT_SECRET_SIZE] = {1};
    struct sec_marble mb = {"123e4567-e89b-42d3-a456-426614174000", manifest_marble(m, "m"), root,
                            NULL};
    struct sec_gen g = {.ca = ca, .threads = 1};
    size_t n = 0;
    double start = bench_now(), now;
    do {
        struct sec_set cur = SEC_SET_INIT, prev = SEC_SET_INIT;
        if (sec_generate_marble(m, &g, &mb, &cur, &prev) != 0)
            abort();
        sec_set_free(&cur);
        sec_set_free(&prev);
        n++;
    } while ((now = bench_now()) - start < 1.0);
    bench_row("per-marble secrets (30 HKDF keys + 1 P-256 cert)", (now - start) / (double)n * 1e6,
              "us", "-", "-");
    pki_ca_free(ca);
    manifest_free(m);
    return 0;
}
