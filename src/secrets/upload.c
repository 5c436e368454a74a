/*
 * User-defined secret uploads (reference §9.4, MarbleRun's ParseUserSecrets): the request is a map
 * name -> {Cert, Private, Key}; each entry is checked against the manifest's definition of that
 * secret. Quarry is stricter than MarbleRun in two places, both about certificate secrets: the
 * certificate's key must fit the declared type, and a given private key must be the certificate's.
 */
#include <string.h>

#include "secrets_int.h"

static bool key_fits(const struct mf_secret *def, const struct crypto_key *k)
{
    enum crypto_key_type t = crypto_key_type(k);
    switch (def->type) {
    case MF_SECRET_CERT_RSA:
        return t == CRYPTO_KEY_RSA && (def->size == 0 || (uint64_t)crypto_key_bits(k) == def->size);
    case MF_SECRET_CERT_ECDSA: {
        int bits = t == CRYPTO_KEY_EC_P224   ? 224
                   : t == CRYPTO_KEY_EC_P256 ? 256
                   : t == CRYPTO_KEY_EC_P384 ? 384
                   : t == CRYPTO_KEY_EC_P521 ? 521
                                             : 0;
        return bits != 0 && (def->size == 0 || def->size == (uint64_t)bits);
    }
    case MF_SECRET_CERT_ED25519:
        return t == CRYPTO_KEY_ED25519;
    case MF_SECRET_SYMMETRIC_KEY:
    case MF_SECRET_PLAIN:
    case MF_SECRET_UNKNOWN:
    default:
        return false;
    }
}

static int cert_value(const struct mf_secret *def, struct view cert, struct sec_value *v)
{
    int r = ERR_INTERNAL;
    struct crypto_key *pub = NULL, *priv = NULL;
    ENSURE(cert.size > 0, ERR_SECRET, "secret %s: Cert is required for a %s secret", def->name,
           def->type_name);
    if (pki_cert_public_key(cert, &pub) < 0)
        FAIL(ERR_SECRET, "secret %s: Cert is not a DER certificate: %s", def->name,
             err_detail(ERR_CERT));
    ENSURE_OUT(key_fits(def, pub), ERR_SECRET,
               "secret %s: the certificate's key does not fit a %s secret%s", def->name,
               def->type_name, def->size ? " of the declared size" : "");
    if (v->private_key.size > 0) {
        if (crypto_key_from_private_der(buf_view(&v->private_key), &priv) < 0)
            FAIL_OUT(ERR_SECRET, "secret %s: Private is not a PKCS#8 private key", def->name);
        ENSURE_OUT(crypto_key_public_eq(priv, pub), ERR_SECRET,
                   "secret %s: Private is not the key of the certificate", def->name);
    }
    TRY_OUT(buf_set(&v->cert, cert));
    TRY_OUT(crypto_key_public_der(pub, &v->public_key));
    r = 0;
out:
    crypto_key_free(pub);
    crypto_key_free(priv);
    return r;
}

static int parse_one(const struct manifest *m, const char *name, const json_t *obj,
                     struct sec_value *v)
{
    int r = ERR_INTERNAL;
    struct buf cert = BUF_INIT, key = BUF_INIT;
    const struct mf_secret *def = manifest_secret(m, name);
    ENSURE(def != NULL, ERR_SECRET,
           "secret manifest specifies a secret which the original manifest does not contain: %.64s",
           name);
    ENSURE(def->user_defined, ERR_SECRET_READONLY, "secret %s is not writeable", def->name);
    ENSURE(json_is_object(obj), ERR_BAD_REQUEST,
           "secret %s: expected an object with Cert, Private or Key, got %s", def->name,
           js_type_name(obj));
    json_t *c;
    TRY(js_member_ci(obj, "Cert", &c));
    ENSURE(c == NULL || json_is_null(c) || json_is_string(c), ERR_SECRET,
           "secret %s: Cert must be a base64 DER certificate", def->name);
    TRY(sec_value_from_def(def, v)); /* user_defined, checked above */
    TRY_OUT(sec_json_bytes(obj, def->name, "Cert", QY_CERT_DER_MAX_SIZE, &cert));
    TRY_OUT(sec_json_bytes(obj, def->name, "Private", QY_USER_SECRET_MAX_SIZE, &v->private_key));
    TRY_OUT(sec_json_bytes(obj, def->name, "Key", QY_USER_SECRET_MAX_SIZE, &key));
    switch (def->type) {
    case MF_SECRET_SYMMETRIC_KEY:
        ENSURE_OUT(def->size > 0 && def->size % 8 == 0, ERR_SECRET, "invalid secret size: %s",
                   def->name);
        ENSURE_OUT(cert.size == 0 && v->private_key.size == 0, ERR_SECRET,
                   "secret %s: only Key may be set for a symmetric-key secret", def->name);
        ENSURE_OUT(key.size * 8 == def->size, ERR_SECRET,
                   "declared size and actual size don't match: %s (%zu bits given, %llu declared)",
                   def->name, key.size * 8, (unsigned long long)def->size);
        TRY_OUT(buf_set(&v->private_key, buf_view(&key)));
        TRY_OUT(buf_set(&v->public_key, buf_view(&key)));
        break;
    case MF_SECRET_PLAIN:
        ENSURE_OUT(cert.size == 0 && v->private_key.size == 0, ERR_SECRET,
                   "secret %s: only Key may be set for a plain secret", def->name);
        TRY_OUT(buf_set(&v->private_key, buf_view(&key)));
        TRY_OUT(buf_set(&v->public_key, buf_view(&key)));
        break;
    case MF_SECRET_CERT_RSA:
    case MF_SECRET_CERT_ECDSA:
    case MF_SECRET_CERT_ED25519:
        ENSURE_OUT(key.size == 0, ERR_SECRET,
                   "secret %s: Key may not be set for a %s secret (use Cert and Private)",
                   def->name, def->type_name);
        TRY_OUT(cert_value(def, buf_view(&cert), v));
        break;
    case MF_SECRET_UNKNOWN:
    default:
        FAIL_OUT(ERR_SECRET, "secret %s has an unknown type", def->name);
    }
    r = 0;
out:
    buf_free(&cert);
    buf_free(&key);
    if (r < 0)
        sec_value_clear(v);
    return r;
}

int sec_parse_user_secrets_json(const struct manifest *m, const json_t *obj, struct sec_set *out)
{
    int r = ERR_INTERNAL;
    struct sec_value v = {0};
    sec_set_free(out);
    ENSURE(obj != NULL && json_is_object(obj), ERR_BAD_REQUEST,
           "expected an object of secrets, got %s", obj ? js_type_name(obj) : "nothing");
    ENSURE(json_object_size(obj) > 0, ERR_BAD_REQUEST, "no new secrets defined");
    ENSURE(json_object_size(obj) <= m->secrets.count, ERR_SECRET,
           "secret manifest specifies a secret which the original manifest does not contain");
    const char *name;
    json_t *val;
    json_object_foreach((json_t *)obj, name, val)
    {
        TRY_OUT(parse_one(m, name, val, &v));
        TRY_OUT(sec_set_take(out, &v));
    }
    r = 0;
out:
    sec_value_clear(&v);
    if (r < 0)
        sec_set_free(out);
    return r;
}

int sec_parse_user_secrets(const struct manifest *m, struct view body, struct sec_set *out)
{
    json_t *root = NULL;
    sec_set_free(out);
    int r = js_parse(body, QY_JSON_MAX_SIZE, &root);
    if (r < 0)
        FAIL(r == ERR_NOMEM || r == ERR_TOO_LARGE ? r : ERR_BAD_REQUEST, "%s", err_detail(r));
    r = sec_parse_user_secrets_json(m, root, out);
    json_decref(root);
    return r;
}
