/* template: the language (lexer, parser, positions), the functions and their rules, segments. */
#include <criterion/criterion.h>
#include <string.h>

#include "crypto/crypto.h"
#include "qt.h"
#include "template/template.h"

/* A table of secrets for tpl_data. */
struct tsec {
    const char *name;
    bool previous;
    struct tpl_secret s;
};

struct ttable {
    const struct tsec *items;
    size_t count;
};

static bool tfind(void *ctx, bool previous, const char *name, struct tpl_secret *out)
{
    const struct ttable *t = ctx;
    for (size_t i = 0; i < t->count; i++)
        if (t->items[i].previous == previous && strcmp(t->items[i].name, name) == 0) {
            *out = t->items[i].s;
            return true;
        }
    return false;
}

static const uint8_t key16[16] = {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15};
static const uint8_t pub3[3] = {0, 0, 42}, priv3[3] = {7, 0, 0}, plain_ok[3] = {1, 2, 3},
                     plain_nul[3] = {0, 1, 2};
static struct buf cert_der;

static void load_cert(void)
{
    struct buf pem = BUF_INIT;
    qt_read(qt_data_path("certs/admin.crt"), &pem);
    cr_assert_eq(crypto_cert_pem_to_der(buf_view(&pem), &cert_der), 0);
    buf_free(&pem);
}

static void free_cert(void)
{
    buf_free(&cert_der);
}

/* TestParseSecrets' data (coordinator/core/marbleapi_test.go), in both the current and the previous
 * set. */
static struct tsec parse_secrets_table[12];
static struct ttable parse_secrets = {parse_secrets_table, 12};

static struct tpl_data marblerun_data(void)
{
    struct view k = view_of(key16, 16);
    struct tsec base[6] = {
        {"mysecret", false, {MF_SECRET_SYMMETRIC_KEY, VIEW_EMPTY, k, k}},
        {"testcertificate",
         false,
         {MF_SECRET_CERT_ED25519, buf_view(&cert_der), view_of(priv3, 3), view_of(pub3, 3)}},
        {"emptysecret", false, {MF_SECRET_PLAIN, VIEW_EMPTY, VIEW_EMPTY, VIEW_EMPTY}},
        {"plain", false, {MF_SECRET_PLAIN, VIEW_EMPTY, view_of(plain_ok, 3), view_of(plain_ok, 3)}},
        {"plainnul",
         false,
         {MF_SECRET_PLAIN, VIEW_EMPTY, view_of(plain_nul, 3), view_of(plain_nul, 3)}},
        {"keypair", false, {MF_SECRET_CERT_ECDSA, VIEW_EMPTY, view_of(priv3, 3), view_of(pub3, 3)}},
    };
    for (int i = 0; i < 6; i++) {
        parse_secrets_table[i] = base[i];
        parse_secrets_table[6 + i] = base[i];
        parse_secrets_table[6 + i].previous = true;
    }
    return (struct tpl_data){.find = tfind,
                             .ctx = &parse_secrets,
                             .reserved = {.root_ca_cert = buf_view(&cert_der),
                                          .marble_cert = buf_view(&cert_der),
                                          .marble_public_key = view_of(pub3, 3),
                                          .coordinator_root_cert = buf_view(&cert_der),
                                          .coordinator_intermediate_cert = buf_view(&cert_der)}};
}

/* Parses and executes; holes are filled with the bytes "KEY". Returns the error code. */
static int render(const char *src, enum tpl_context ctx, const struct tpl_data *data,
                  struct buf *out)
{
    struct tpl *t = NULL;
    struct arena a = ARENA_INIT;
    struct tpl_segment *segs = NULL;
    size_t n = 0;
    buf_reset(out);
    int r = tpl_parse(view_str(src), ctx, &t);
    if (r == 0)
        r = tpl_execute(t, data, &a, &segs, &n);
    if (r == 0)
        cr_assert_eq(tpl_segments_fill(segs, n, view_str("KEY"), out), 0);
    cr_assert_eq(buf_terminate(out), 0);
    tpl_free(t);
    arena_free(&a);
    return r;
}

static void expect_ok(const char *src, enum tpl_context ctx, const struct tpl_data *data,
                      struct view want)
{
    struct buf out = BUF_INIT;
    int r = render(src, ctx, data, &out);
    cr_assert_eq(r, 0, "%s: %s", src, err_detail(r));
    cr_assert(view_eq(buf_view(&out), want), "%s: got \"%.*s\"", src, (int)out.size,
              (const char *)out.ptr);
    buf_free(&out);
}

static void expect_err(const char *src, enum tpl_context ctx, const struct tpl_data *data,
                       const char *detail)
{
    struct buf out = BUF_INIT;
    int r = render(src, ctx, data, &out);
    cr_assert_eq(r, ERR_TEMPLATE, "%s: %s", src, err_name(r));
    cr_assert_str_eq(err_detail(r), detail, "%s", src);
    buf_free(&out);
}

TestSuite(parse_secrets, .init = load_cert, .fini = free_cert);

Test(parse_secrets, marbleruns_cases_current_and_previous)
{
    struct tpl_data d = marblerun_data();
    const char *prefixes[] = {".Secrets", ".Previous.Secrets"};
    for (int p = 0; p < 2; p++) {
        char src[256];
#define T(fmt) (snprintf(src, sizeof(src), fmt, prefixes[p]), src)
        expect_ok(T("{{ raw %s.mysecret }}"), TPL_FILE, &d, view_of(key16, 16));
        expect_ok(T("{{ hex %s.mysecret }}"), TPL_FILE, &d,
                  view_str("000102030405060708090a0b0c0d0e0f"));
        expect_ok(T("{{ base64 %s.mysecret }}"), TPL_FILE, &d,
                  view_str("AAECAwQFBgcICQoLDA0ODw=="));
        expect_err(T("{{ pem %s.mysecret }}"), TPL_FILE, &d,
                   "1:4: error calling pem: invalid secret type for pem encoding");
        struct buf out = BUF_INIT;
        cr_assert_eq(render(T("{{ pem %s.testcertificate.Cert }}"), TPL_FILE, &d, &out), 0);
        cr_assert_eq(strncmp((char *)out.ptr, "-----BEGIN CERTIFICATE-----\n", 28), 0);
        struct buf der = BUF_INIT;
        cr_assert_eq(crypto_cert_pem_to_der(buf_view(&out), &der), 0);
        cr_assert(view_eq(buf_view(&der), buf_view(&cert_der)));
        buf_free(&der);
        buf_free(&out);
        expect_ok(T("{{ pem %s.testcertificate.Public }}"), TPL_FILE, &d,
                  view_str("-----BEGIN PUBLIC KEY-----\nAAAq\n-----END PUBLIC KEY-----\n"));
        expect_ok(T("{{ pem %s.testcertificate.Private }}"), TPL_FILE, &d,
                  view_str("-----BEGIN PRIVATE KEY-----\nBwAA\n-----END PRIVATE KEY-----\n"));
        const char *missing =
            p == 0 ? "1:4: error calling raw: secret \"idontexist\" does not exist"
                   : "1:4: error calling raw: secret \"Previous.idontexist\" does not exist";
        expect_err(T("{{ raw %s.idontexist }}"), TPL_FILE, &d, missing);
        expect_err(T("{{ raw %s.emptysecret }}"), TPL_FILE, &d,
                   "1:4: error calling raw: tried to parse secret with empty value");
        expect_err(T("{{ pem %s.keypair.Cert }}"), TPL_FILE, &d,
                   "1:4: error calling pem: tried to parse secret with empty value");
        expect_ok(T("{{ string %s.plain }}"), TPL_ENV, &d, view_of(plain_ok, 3));
        expect_err(T("{{ string %s.plainnul }}"), TPL_ENV, &d,
                   "1:4: error calling string: secret contains null bytes");
        expect_err(T("{{ string %s.mysecret }}"), TPL_ENV, &d,
                   "1:4: error calling string: only secrets of type plain are allowed to use "
                   "string encoding "
                   "for environment variables");
        /* a bare certificate secret through raw/hex/base64 is its public key (§2.3) */
        expect_ok(T("{{ hex %s.keypair }}"), TPL_FILE, &d, view_str("00002a"));
#undef T
    }
}

Test(parse_secrets, reserved_secrets)
{
    struct tpl_data d = marblerun_data();
    const char *ok[] = {"RootCA.Cert", "MarbleCert.Cert", "CoordinatorRoot.Cert",
                        "CoordinatorIntermediate.Cert"};
    for (size_t i = 0; i < QY_ARRAY_LEN(ok); i++) {
        char src[128];
        struct buf out = BUF_INIT;
        snprintf(src, sizeof(src), "{{ pem .MarbleRun.%s }}", ok[i]);
        cr_assert_eq(render(src, TPL_FILE, &d, &out), 0, "%s", src);
        cr_assert_eq(strncmp((char *)out.ptr, "-----BEGIN CERTIFICATE-----\n", 28), 0);
        buf_free(&out);
    }
    expect_ok("{{ pem .MarbleRun.MarbleCert.Public }}", TPL_ENV, &d,
              view_str("-----BEGIN PUBLIC KEY-----\nAAAq\n-----END PUBLIC KEY-----\n"));
    const char *bad[] = {"RootCA.Private",
                         "RootCA.Public",
                         "CoordinatorRoot.Private",
                         "CoordinatorRoot.Public",
                         "CoordinatorIntermediate.Private",
                         "CoordinatorIntermediate.Public"};
    for (size_t i = 0; i < QY_ARRAY_LEN(bad); i++) {
        char src[128];
        snprintf(src, sizeof(src), "{{ pem .MarbleRun.%s }}", bad[i]);
        expect_err(src, TPL_FILE, &d,
                   "1:4: error calling pem: tried to parse secret with empty value");
    }
    expect_err("{{ pem .MarbleRun.Intermediate.Cert }}", TPL_FILE, &d,
               "1:18: can't evaluate field Intermediate of .MarbleRun (RootCA, MarbleCert, "
               "CoordinatorRoot or "
               "CoordinatorIntermediate)");
}

/* The marble's private key: a hole in each encoding, filled by the premain. */
Test(parse_secrets, marble_private_key_is_a_hole)
{
    struct tpl_data d = marblerun_data();
    struct {
        const char *src;
        enum tpl_context ctx;
        enum tpl_key_encoding enc;
    } cases[] = {
        {"a{{ pem .MarbleRun.MarbleCert.Private }}b", TPL_FILE, TPL_KEY_PEM},
        {"a{{ raw .MarbleRun.MarbleCert.Private }}b", TPL_FILE, TPL_KEY_RAW},
        {"a{{ hex .MarbleRun.MarbleCert.Private }}b", TPL_ENV, TPL_KEY_HEX},
        {"a{{ .MarbleRun.MarbleCert.Private | base64 }}b", TPL_ENV, TPL_KEY_BASE64},
    };
    for (size_t i = 0; i < QY_ARRAY_LEN(cases); i++) {
        struct tpl *t = NULL;
        struct arena a = ARENA_INIT;
        struct tpl_segment *segs = NULL;
        size_t n = 0;
        cr_assert_eq(tpl_parse(view_str(cases[i].src), cases[i].ctx, &t), 0);
        cr_assert_eq(tpl_execute(t, &d, &a, &segs, &n), 0);
        cr_assert_eq(n, 3);
        cr_assert_eq(segs[0].kind, TPL_SEG_BYTES);
        cr_assert(view_eq(segs[0].bytes, view_str("a")));
        cr_assert_eq(segs[1].kind, TPL_SEG_PRIVATE_KEY);
        cr_assert_eq(segs[1].encoding, cases[i].enc);
        cr_assert(view_eq(segs[2].bytes, view_str("b")));
        struct view lit;
        cr_assert_not(tpl_segments_literal(segs, n, &lit));
        /* the premain's fill */
        struct buf out = BUF_INIT;
        const uint8_t key[2] = {0xfe, 0x01};
        cr_assert_eq(tpl_segments_fill(segs, n, view_of(key, 2), &out), 0);
        const char *want[] = {"a-----BEGIN PRIVATE KEY-----\n/gE=\n-----END PRIVATE KEY-----\nb",
                              ("a\xfe\x01"
                               "b"),
                              "afe01b", "a/gE=b"};
        cr_assert(view_eq(buf_view(&out), view_str(want[i])), "case %zu: %.*s", i, (int)out.size,
                  out.ptr);
        buf_free(&out);
        tpl_free(t);
        arena_free(&a);
    }
    expect_err(
        "{{ .MarbleRun.MarbleCert.Private }}", TPL_FILE, &d,
        "1:4: the marble's private key cannot be printed as it is: use pem, raw, hex or base64");
    expect_err("{{ hex (pem .MarbleRun.MarbleCert.Private) }}", TPL_FILE, &d,
               "1:4: error calling hex: the marble's private key can be encoded only once, with "
               "pem, raw, hex or "
               "base64");
    expect_err("{{ string .MarbleRun.MarbleCert.Private }}", TPL_ENV, &d,
               "1:4: error calling string: only secrets of type plain are allowed to use string "
               "encoding for environment variables");
    /* the marble's bare secret through hex is its public key */
    expect_ok("{{ hex .MarbleRun.MarbleCert }}", TPL_ENV, &d, view_str("00002a"));
}

/* The language ----------------------------------------------------------------------------------
 */

TestSuite(lang, .init = load_cert, .fini = free_cert);

Test(lang, text_trim_comments_pipelines_literals)
{
    struct tpl_data d = marblerun_data();
    expect_ok("", TPL_FILE, &d, view_str(""));
    expect_ok("plain { text } with {single} braces", TPL_FILE, &d,
              view_str("plain { text } with {single} braces"));
    expect_ok("a  \n {{- hex .Secrets.plain -}} \n\t b", TPL_FILE, &d, view_str("a010203b"));
    expect_ok("x{{/* a comment\n over lines */}}y", TPL_FILE, &d, view_str("xy"));
    expect_ok("x  {{- /* trimmed */ -}}  y", TPL_FILE, &d, view_str("xy"));
    expect_ok("{{ .Secrets.plain | hex }}", TPL_FILE, &d, view_str("010203"));
    expect_ok("{{ .Secrets.testcertificate.Public | pem }}", TPL_FILE, &d,
              view_str("-----BEGIN PUBLIC KEY-----\nAAAq\n-----END PUBLIC KEY-----\n"));
    expect_ok("{{ hex (raw .Secrets.plain) }}", TPL_FILE, &d, view_str("010203"));
    expect_ok("{{ .Secrets.plain | raw | base64 }}", TPL_FILE, &d, view_str("AQID"));
    expect_ok("{{ ( ( .Secrets.plain ) ) | hex }}", TPL_FILE, &d, view_str("010203"));
    expect_ok("{{ \"quoted \\\"x\\\" \\x41\\101\\n\" }}|{{ `raw\\n` }}", TPL_FILE, &d,
              view_str("quoted \"x\" AA\n|raw\\n"));
    expect_ok("{{\n  hex\n  .Secrets.plain\n}}", TPL_FILE, &d, view_str("010203"));
    expect_ok("{{ hex .Secrets.plain }}{{ hex .Secrets.plain }}", TPL_ENV, &d,
              view_str("010203010203"));
}

Test(lang, errors_have_line_and_column)
{
    struct tpl_data d = marblerun_data();
    struct {
        const char *src;
        enum tpl_context ctx;
        const char *detail;
    } cases[] = {
        {"{{ pemm .Secrets.plain }}", TPL_FILE, "1:4: unknown function \"pemm\""},
        {"line one\nline {{ hex .Secrets.plain }} and {{ if .Secrets }}x{{ end }}", TPL_FILE,
         "2:38: \"if\" actions are not supported"},
        {"{{ range .Secrets }}{{ end }}", TPL_FILE, "1:4: \"range\" actions are not supported"},
        {"{{ with .Secrets }}{{ end }}", TPL_FILE, "1:4: \"with\" actions are not supported"},
        {"{{ define \"x\" }}{{ end }}", TPL_FILE, "1:4: \"define\" actions are not supported"},
        {"{{ template \"x\" }}", TPL_FILE, "1:4: \"template\" actions are not supported"},
        {"{{ block \"x\" . }}{{ end }}", TPL_FILE, "1:4: \"block\" actions are not supported"},
        {"{{ printf \"%s\" .Secrets.plain }}", TPL_FILE,
         "1:4: function \"printf\" is not supported"},
        {"{{ index .Secrets \"my-key\" }}", TPL_FILE, "1:4: function \"index\" is not supported"},
        {"{{ $x := .Secrets }}", TPL_FILE, "1:4: variables are not supported"},
        {"{{ 42 }}", TPL_FILE, "1:4: numbers are not supported"},
        {"a {{-hex .Secrets.plain}} b", TPL_FILE,
         "1:5: numbers are not supported"}, /* "{{-" needs a space */
        {"{{ true }}", TPL_FILE, "1:4: constant \"true\" is not supported"},
        {"{{ 'a' }}", TPL_FILE, "1:4: character constants are not supported"},
        {"{{ hex .Secrets.plain @ }}", TPL_FILE, "1:23: unrecognized character in action: '@'"},
        {"ab\n{{ hex .Secrets.plain", TPL_FILE, "2:1: unclosed action"},
        {"{{ hex (raw .Secrets.plain }}", TPL_FILE, "1:8: unclosed left paren"},
        {"{{ hex .Secrets.plain) }}", TPL_FILE, "1:22: unexpected right paren"},
        {"{{ }}", TPL_FILE, "1:4: missing value for command"},
        {"{{ hex .Secrets.plain | }}", TPL_FILE, "1:25: missing value for command"},
        {"{{ \"abc }}", TPL_FILE, "1:4: unterminated quoted string"},
        {"{{ `abc }}", TPL_FILE, "1:4: unterminated raw quoted string"},
        {"{{ \"\\q\" }}", TPL_FILE,
         "1:5: invalid escape in quoted string (\\u and \\U are not supported)"},
        {"{{/* open", TPL_FILE, "1:1: unclosed comment"},
        {"{{/* c */ x }}", TPL_FILE, "1:10: comment ends before closing delimiter"},
        {"{{ raw .Secrets.plain }}", TPL_ENV,
         "1:4: function \"raw\" is not allowed in Env (it may produce NUL bytes; use hex or "
         "base64)"},
        {"{{ string .Secrets.plain }}", TPL_FILE,
         "1:4: function \"string\" is allowed in Env only (use raw in Files)"},
        {"{{ .Secrets.plain .Secrets.plain }}", TPL_FILE,
         "1:19: can't give argument to non-function"},
        {"{{ hex }}", TPL_FILE, "1:4: wrong number of args for hex: want 1 got 0"},
        {"{{ hex .Secrets.plain .Secrets.plain }}", TPL_FILE,
         "1:4: wrong number of args for hex: want 1 got 2"},
        {"{{ .Secrets.plain | hex .Secrets.plain }}", TPL_FILE,
         "1:21: wrong number of args for hex: want 1 got 2"},
        {"{{ pem hex .Secrets.plain }}", TPL_FILE,
         "1:8: wrong number of args for hex: want 1 got 0 (use parentheses)"},
        {"{{ .Secrets.plain | .Secrets.plain }}", TPL_FILE,
         "1:21: can't give argument to non-function"},
        {"{{ .Secrets.plain }}", TPL_FILE,
         "1:4: cannot print a Secret directly: use pem, raw, hex or base64"},
        {"{{ .Secrets.nope }}", TPL_FILE, "1:4: secret \"nope\" does not exist"},
        {"{{ pem .Secrets.nope.Cert }}", TPL_FILE, "1:21: secret \"nope\" does not exist"},
        {"{{ pem .Secrets.plain.Type }}", TPL_FILE,
         "1:22: field Type of a secret is not supported (Cert, Private or Public)"},
        {"{{ pem .secrets.plain }}", TPL_FILE,
         "1:8: can't evaluate field secrets (the data has .Secrets, .Previous and .MarbleRun)"},
        {"{{ pem .Previous.Foo }}", TPL_FILE,
         "1:17: can't evaluate field Foo of .Previous (it has .Secrets)"},
        {"{{ pem .Secrets.testcertificate.Cert.Raw }}", TPL_FILE,
         "1:37: can't evaluate field Raw in a Certificate"},
        {"{{ pem . }}", TPL_FILE,
         "1:4: error calling pem: invalid secret type for pem encoding (got this value)"},
        {"{{ pem \"x\" }}", TPL_FILE,
         "1:4: error calling pem: invalid secret type for pem encoding (got a string)"},
        {"{{ hex (pem .Secrets.testcertificate.Public) }}", TPL_FILE,
         "1:4: error calling hex: invalid secret type for hex encoding (got a string)"},
        {"x{{ \"a\\x00b\" }}", TPL_ENV,
         "1:5: the value contains NUL bytes, which environment variables cannot hold"},
        {"{{ pem (raw .Secrets.plain) }}", TPL_FILE,
         "1:4: error calling pem: invalid secret type for pem encoding"},
    };
    for (size_t i = 0; i < QY_ARRAY_LEN(cases); i++)
        expect_err(cases[i].src, cases[i].ctx, &d, cases[i].detail);
}

Test(lang, bounds)
{
    struct tpl *t = NULL;
    struct buf big = BUF_INIT;
    for (int i = 0; i <= QY_TPL_MAX_ACTIONS; i++)
        cr_assert_eq(buf_append_str(&big, "{{\"\"}}"), 0);
    cr_assert_eq(tpl_parse(buf_view(&big), TPL_FILE, &t), ERR_TEMPLATE);
    cr_assert(strstr(err_detail(ERR_TEMPLATE), "more than 4096 actions") != NULL);
    buf_reset(&big);
    cr_assert_eq(buf_append_str(&big, "{{ "), 0);
    for (int i = 0; i < 40; i++)
        cr_assert_eq(buf_append_str(&big, "("), 0);
    cr_assert_eq(buf_append_str(&big, ".Secrets.x"), 0);
    cr_assert_eq(tpl_parse(buf_view(&big), TPL_FILE, &t), ERR_TEMPLATE);
    cr_assert(strstr(err_detail(ERR_TEMPLATE), "nested deeper than 16") != NULL, "%s",
              err_detail(ERR_TEMPLATE));
    buf_reset(&big);
    cr_assert_eq(buf_reserve(&big, QY_TPL_MAX_SIZE + 1), 0);
    memset(big.ptr, 'x', QY_TPL_MAX_SIZE + 1);
    big.size = QY_TPL_MAX_SIZE + 1;
    cr_assert_eq(tpl_parse(buf_view(&big), TPL_FILE, &t), ERR_TOO_LARGE);
    cr_assert_null(t);
    buf_free(&big);
}

/* Truncating a template anywhere never crashes and never succeeds with a dangling action. */
Test(lang, truncations_and_mutations)
{
    struct tpl_data d = marblerun_data();
    const char *src = "a {{- /* c */ -}} {{ .Secrets.plain | raw | hex }} {{ pem "
                      "(.Secrets.testcertificate.Cert) }}"
                      " {{ \"s\\x41\" }} {{ `r` }} {{ base64 .MarbleRun.MarbleCert.Private }}";
    size_t n = strlen(src);
    for (size_t len = 0; len <= n; len++) {
        struct buf out = BUF_INIT;
        char *cut = strndup(src, len);
        int r = render(cut, TPL_FILE, &d, &out);
        cr_assert(r == 0 || r == ERR_TEMPLATE, "%zu: %s", len, err_name(r));
        free(cut);
        buf_free(&out);
    }
    char *m = strdup(src);
    for (size_t i = 0; i < n; i++) {
        for (int c = 0; c < 256; c += 37) {
            char save = m[i];
            m[i] = (char)(c ? c : 1);
            struct buf out = BUF_INIT;
            int r = render(m, TPL_FILE, &d, &out);
            cr_assert(r == 0 || r == ERR_TEMPLATE || r == ERR_TOO_LARGE, "%zu/%d: %s", i, c,
                      err_name(r));
            m[i] = save;
            buf_free(&out);
        }
    }
    free(m);
}

/* NUL bytes in Env text (tpl_execute on its own; manifests refuse such data earlier) */
Test(lang, nul_in_env_text)
{
    static const char src[] = "a\nb\x01\x00{{ \"x\" }}";
    struct tpl *t = NULL;
    struct arena a = ARENA_INIT;
    struct tpl_segment *segs = NULL;
    size_t n = 0;
    struct tpl_data d = {0};
    cr_assert_eq(tpl_parse(view_of(src, sizeof(src) - 1), TPL_ENV, &t), 0);
    cr_assert_eq(tpl_execute(t, &d, &a, &segs, &n), ERR_TEMPLATE);
    cr_assert_str_eq(err_detail(ERR_TEMPLATE),
                     "2:3: the value contains NUL bytes, which environment variables cannot hold");
    tpl_free(t);
    cr_assert_eq(tpl_parse(view_of(src, sizeof(src) - 1), TPL_FILE, &t), 0);
    cr_assert_eq(tpl_execute(t, &d, &a, &segs, &n), 0);
    cr_assert_eq(n, 1);
    cr_assert(view_eq(segs[0].bytes, view_of("a\nb\x01\x00x", 6)));
    tpl_free(t);
    arena_free(&a);
}

/* The wire names of the key holes (the Coordinator writes them, the marble parses them). */
Test(template, key_encoding_names_round_trip_and_unknown_ones_are_refused)
{
    for (unsigned e = TPL_KEY_PEM; e <= TPL_KEY_BASE64; e++) {
        enum tpl_key_encoding back;
        cr_assert_eq(tpl_key_encoding_parse(tpl_key_encoding_name((enum tpl_key_encoding)e), &back), 0);
        cr_assert_eq(back, e);
    }
    enum tpl_key_encoding out;
    const char *bad[] = {"", "PEM", "string", "base64 ", "der"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        cr_assert_eq(tpl_key_encoding_parse(bad[i], &out), ERR_BAD_REQUEST, "%s", bad[i]);
        cr_assert(strstr(err_detail(ERR_BAD_REQUEST), "unknown private key encoding") != NULL);
    }
    struct buf b = BUF_INIT;
    cr_assert_eq(tpl_key_encode(TPL_KEY_HEX, view_str("\x01\xab"), &b), 0);
    cr_assert(view_eq(buf_view(&b), view_str("01ab")));
    buf_free(&b);
}
