/* quarry recover: one recovery key owner's part of bringing a sealed Coordinator back (docs/recovery.md). */
#include <string.h>

#include "cli.h"
#include "crypto/crypto.h"

#define RECOVER_USAGE                                                                                          \
    "quarry recover SECRET_FILE --key RECOVERY_KEY.pem [--ephemeral] [--coordinator HOST:PORT] "                \
    "[--policy FILE --collateral DIR|--pccs URL | --insecure]"

/* The secret as saved by `quarry manifest set --recovery-dir`: RSA-OAEP ciphertext, decrypted with
 * the owner's private key. A file of 16, 32 or 33 bytes is taken as already decrypted. */
static int plain_secret(const char *file, const struct crypto_key *key, struct buf *plain)
{
    struct buf raw = BUF_INIT;
    int r = file_read(file, 64 * 1024, &raw);
    if (r == 0 && (raw.size == 16 || raw.size == 32 || raw.size == 33))
        r = buf_append_view(plain, buf_view(&raw));
    else if (r == 0 && (r = crypto_rsa_oaep_decrypt(key, buf_view(&raw), plain)) < 0)
        r = err_fail(ERR_KEY, __func__, "%s does not decrypt with this key: %s", file, err_detail(r));
    buf_free(&raw);
    return r;
}

/* --ephemeral: the secret travels encrypted to the Coordinator's ephemeral key (air-gapped signing). */
static int encrypt_to_ephemeral(struct api_client *cl, struct view plain, struct buf *out)
{
    json_t *data = NULL;
    struct buf spki = BUF_INIT;
    struct crypto_key *eph = NULL;
    int r = cli_call(cl, API_GET, "/api/v2/recover/public-key", VIEW_EMPTY, &data);
    if (r == 0)
        r = js_get_b64(data, "ephemeralPublicKey", true, &spki);
    if (r == 0)
        r = crypto_key_from_public_der(buf_view(&spki), &eph);
    if (r == 0)
        r = crypto_rsa_oaep_encrypt(eph, plain, out);
    crypto_key_free(eph);
    buf_free(&spki);
    json_decref(data);
    return r;
}

static int upload(struct api_client *cl, struct view secret, struct view sig)
{
    struct buf s64 = BUF_INIT, g64 = BUF_INIT, body = BUF_INIT;
    json_t *data = NULL;
    int r = enc_b64(&s64, secret);
    if (r == 0)
        r = enc_b64(&g64, sig);
    if (r == 0)
        r = buf_appendf(&body, "{\"recoverySecret\":\"%.*s\",\"recoverySecretSignature\":\"%.*s\"}", (int)s64.size,
                        (const char *)s64.ptr, (int)g64.size, (const char *)g64.ptr);
    if (r == 0)
        r = cli_call(cl, API_POST, "/api/v2/recover", buf_view(&body), &data);
    if (r == 0)
        printf("%s\n", json_string_value(json_object_get(data, "message")));
    json_decref(data);
    buf_free(&s64), buf_free(&g64), buf_free(&body);
    return r;
}

int cli_recover(int argc, char **argv)
{
    struct cli_conn conn;
    const char *key_file = NULL;
    bool ephemeral = false;
    char *pos[1];
    size_t npos = 0, n = 0;
    struct cli_opt opts[32];
    memset(&conn, 0, sizeof(conn));
    cli_conn_options(&conn, opts, &n);
    /* the recovery key is --key here (there is no user certificate) */
    for (size_t i = 0; i < n; i++)
        if (strcmp(opts[i].name, "--key") == 0)
            opts[i].value = &key_file;
    opts[n++] = (struct cli_opt){"--ephemeral", false, NULL, &ephemeral};
    int rc = cli_parse(argc, argv, opts, n, pos, 1, &npos, RECOVER_USAGE);
    if (rc != CLI_OK)
        return rc;
    if (npos != 1 || key_file == NULL)
        return cli_usage_error(RECOVER_USAGE, "expected the secret file and --key");
    conn.no_cache = true; /* in recovery the Coordinator shows a temporary root */
    struct buf pem = BUF_INIT, plain = BUF_INIT, sig = BUF_INIT, sent = BUF_INIT;
    struct crypto_key *key = NULL;
    struct api_client *cl = NULL;
    int r = file_read(key_file, QY_PEM_MAX_SIZE, &pem);
    if (r == 0)
        r = crypto_key_from_pem(buf_view(&pem), &key);
    if (r == 0)
        r = plain_secret(pos[0], key, &plain);
    if (r == 0) /* the signature covers the plain secret: PKCS#1 v1.5 over SHA-256 */
        r = crypto_sign(key, CRYPTO_SIG_RSA_PKCS1_SHA256, buf_view(&plain), &sig);
    if (r == 0)
        r = cli_connect(&conn, false, &cl);
    if (r == 0)
        r = ephemeral ? encrypt_to_ephemeral(cl, buf_view(&plain), &sent) : buf_append_view(&sent, buf_view(&plain));
    if (r == 0)
        r = upload(cl, buf_view(&sent), buf_view(&sig));
    crypto_key_free(key);
    cli_disconnect(&conn, cl);
    buf_free(&pem), buf_free(&plain), buf_free(&sig), buf_free(&sent);
    return r == 0 ? CLI_OK : cli_fail(r);
}
