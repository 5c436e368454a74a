/* Fuzz target: the Coordinator's answer to an activation as a marble reads it - the HTTP response
 * (api_http_parse_response), its JSON, then the refusal or the activation with this marble's
 * private key filled into the parameters' holes (api_activation_answer). Nothing may crash or leak;
 * an accepted activation is complete (argv NULL-terminated, every parameter named). */
#include <stdint.h>
#include <stdlib.h>

#include "api/api.h"
#include "api/api_int.h"
#include "crypto/crypto.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct crypto_key *key;

static void drop_key(void)
{
    crypto_key_free(key);
}

static void check(const struct api_activation *a)
{
    if (a->argv == NULL || a->argv[a->argc] != NULL || a->key_pem.size == 0)
        __builtin_trap();
    for (size_t i = 0; i < a->files_count; i++)
        if (a->files[i].name == NULL)
            __builtin_trap();
    for (size_t i = 0; i < a->env_count; i++)
        if (a->env[i].name == NULL)
            __builtin_trap();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (key == NULL) {
        if (crypto_key_generate(CRYPTO_KEY_EC_P256, 0, &key) != 0)
            abort();
        atexit(drop_key);
    }
    int status = 0;
    struct view payload;
    json_t *resp = NULL;
    struct api_activation *a = NULL;
    if (api_http_parse_response(view_of(data, size), &status, &payload) != 0 ||
        js_parse(payload, QY_API_RESPONSE_MAX, &resp) != 0)
        return 0;
    int r = api_activation_answer(key, status, resp, &a);
    if ((r == 0) != (a != NULL) || (r == 0 && status != 200))
        __builtin_trap();
    if (a != NULL)
        check(a);
    api_activation_free(a);
    json_decref(resp);
    return 0;
}
