/*
 * Legacy manifests: the service layer Quarry replaces described each service by ServiceID, Version
 * and RequiredCapabilities, with certificates pinned by hand. Such a document is converted into a
 * full manifest (one package, one marble named after the service) with a deprecation warning. The
 * mapping is documented in docs/legacy-manifests.md; keep the two in step.
 */
#include <string.h>
#include <strings.h>

#include "manifest_int.h"

static const char *const sections[] = {"Packages", "Infrastructures", "Marbles", "Users", "Secrets",
                                       "RecoveryKeys", "Roles", "TLS", "Config"};

bool mf_legacy_detect(const json_t *root)
{
    return json_is_object(root) && js_object_get_ci(root, "ServiceID") != NULL;
}

static bool valid_service_id(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > 64 || s[0] == '.' || s[0] == '-')
        return false;
    return strspn(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-") == n;
}

/* What each capability grants (docs/legacy-manifests.md). */
struct capability {
    const char *name;
    void (*grant)(json_t *files, json_t *env, json_t *secrets);
};

static void grant_network(json_t *files, json_t *env, json_t *secrets)
{
    (void)env, (void)secrets;
    json_object_set_new(files, "quarry/tls/cert.pem", json_string("{{ pem .MarbleRun.MarbleCert.Cert }}"));
    json_object_set_new(files, "quarry/tls/key.pem", json_string("{{ pem .MarbleRun.MarbleCert.Private }}"));
    json_object_set_new(files, "quarry/tls/ca.pem", json_string("{{ pem .MarbleRun.RootCA.Cert }}"));
}

static void grant_secrets(json_t *files, json_t *env, json_t *secrets)
{
    (void)files;
    json_object_set_new(secrets, "ServiceKey", json_pack("{s:s,s:i}", "Type", "symmetric-key", "Size", 256));
    json_object_set_new(env, "SERVICE_KEY", json_string("{{ hex .Secrets.ServiceKey }}"));
}

static void grant_storage(json_t *files, json_t *env, json_t *secrets)
{
    (void)files;
    json_object_set_new(secrets, "StorageKey",
                        json_pack("{s:s,s:i,s:b}", "Type", "symmetric-key", "Size", 256, "Shared", 1));
    json_object_set_new(env, "STORAGE_KEY", json_string("{{ hex .Secrets.StorageKey }}"));
}

static const struct capability capabilities[] = {
    {"network", grant_network},
    {"secrets", grant_secrets},
    {"storage", grant_storage},
};

/* Reads a legacy string member; errors and absence are reported with its path. */
static const char *legacy_string(const json_t *root, const char *key, struct diag *d)
{
    json_t *v = js_object_get_ci(root, key);
    if (v == NULL || json_is_null(v)) {
        diag_add(d, DIAG_ERROR, key, "missing (required in a legacy manifest)");
        return NULL;
    }
    if (!json_is_string(v) || memchr(json_string_value(v), 0, json_string_length(v)) != NULL) {
        diag_add(d, DIAG_ERROR, key, "expected a string, got %s", js_type_name(v));
        return NULL;
    }
    return json_string_value(v);
}

static void apply_capabilities(const json_t *caps, json_t *files, json_t *env, json_t *secrets,
                               struct diag *d)
{
    char path[64];
    size_t i;
    json_t *c;
    json_t *names = json_array();
    json_array_foreach(caps, i, c) {
        snprintf(path, sizeof(path), "RequiredCapabilities[%zu]", i);
        if (!json_is_string(c)) {
            diag_add(d, DIAG_ERROR, path, "expected a string, got %s", js_type_name(c));
            continue;
        }
        const struct capability *cap = NULL;
        for (size_t k = 0; k < QY_ARRAY_LEN(capabilities); k++)
            if (strcasecmp(json_string_value(c), capabilities[k].name) == 0)
                cap = &capabilities[k];
        if (cap == NULL) {
            diag_add(d, DIAG_WARNING, path,
                     "unknown capability \"%s\": nothing is granted for it (known: network, "
                     "secrets, storage)", json_string_value(c));
            continue;
        }
        cap->grant(files, env, secrets);
        json_array_append_new(names, json_string(cap->name));
    }
    if (json_array_size(names) > 0) {
        struct buf joined = BUF_INIT;
        json_array_foreach(names, i, c) {
            if ((i > 0 && buf_append_byte(&joined, ',') < 0) ||
                buf_append_str(&joined, json_string_value(c)) < 0)
                break;
        }
        json_object_set_new(env, "REQUIRED_CAPABILITIES",
                            json_stringn(joined.ptr ? (const char *)joined.ptr : "", joined.size));
        buf_free(&joined);
    }
    json_decref(names);
}

int mf_legacy_convert(const json_t *root, struct diag *d, json_t **out)
{
    size_t errors_before = d->errors;
    *out = NULL;
    const char *key;
    json_t *v;
    json_object_foreach((json_t *)root, key, v) {
        bool known = strcasecmp(key, "ServiceID") == 0 || strcasecmp(key, "Version") == 0 ||
                     strcasecmp(key, "RequiredCapabilities") == 0;
        for (size_t i = 0; i < QY_ARRAY_LEN(sections) && !known; i++)
            if (strcasecmp(key, sections[i]) == 0)
                diag_add(d, DIAG_ERROR, key,
                         "a legacy manifest (with ServiceID) cannot also have manifest sections");
        if (!known)
            diag_add(d, DIAG_WARNING, key, "unknown key in a legacy manifest, ignored");
    }
    const char *service = legacy_string(root, "ServiceID", d);
    const char *version = legacy_string(root, "Version", d);
    if (service != NULL && !valid_service_id(service))
        diag_add(d, DIAG_ERROR, "ServiceID",
                 "\"%s\" is not a valid service name (1-64 letters, digits, '.', '_' or '-')", service);
    json_t *caps = js_object_get_ci(root, "RequiredCapabilities");
    if (caps != NULL && !json_is_array(caps) && !json_is_null(caps))
        diag_add(d, DIAG_ERROR, "RequiredCapabilities", "expected an array, got %s",
                 js_type_name(caps));
    if (d->errors != errors_before)
        return ERR_MANIFEST;

    json_t *files = json_object(), *env = json_object(), *secrets = json_object();
    json_object_set_new(env, "SERVICE_ID", json_string(service));
    json_object_set_new(env, "VERSION", json_string(version));
    if (json_is_array(caps))
        apply_capabilities(caps, files, env, secrets, d);
    json_t *params = json_pack("{s:o}", "Env", env);
    if (json_object_size(files) > 0)
        json_object_set_new(params, "Files", files);
    else
        json_decref(files);
    json_t *m = json_pack("{s:{s:{s:b}}, s:{s:{s:s, s:o}}}", "Packages", service, "Debug", 1,
                          "Marbles", service, "Package", service, "Parameters", params);
    if (m != NULL && json_object_size(secrets) > 0)
        json_object_set(m, "Secrets", secrets);
    json_decref(secrets);
    if (d->errors != errors_before) {
        json_decref(m);
        return ERR_MANIFEST;
    }
    ENSURE(m != NULL, ERR_NOMEM, "cannot build the converted manifest");
    diag_add(d, DIAG_WARNING, "",
             "legacy manifest format (ServiceID, Version, RequiredCapabilities) is deprecated: "
             "converted to a full manifest; run `quarry manifest migrate` to switch");
    char path[QY_DIAG_PATH_MAX];
    snprintf(path, sizeof(path), "Packages.%s", service);
    diag_add(d, DIAG_WARNING, path,
             "the legacy format names no enclave identity, so this package accepts any debug "
             "enclave; set UniqueID (or SignerID, ProductID and SecurityVersion) and Debug false "
             "for production");
    *out = m;
    return 0;
}
