/*
 * A package policy kept in a file: what `quarry --policy FILE` and quarry-premain's
 * EDG_MARBLE_COORDINATOR_POLICY say the Coordinator must be. The format is MarbleRun's "era" config
 * ({"coordinator": {...}}) or a bare package object, with the members of a manifest package
 * (reference/marblerun.md §1.2): Debug, UniqueID, SignerID, ProductID, SecurityVersion,
 * AcceptedTCBStatuses, AcceptedAdvisories. Member names match case-insensitively, as Go's decoder
 * does; two members naming the same field are refused (which one would win is not obvious), and so
 * is a member of the wrong type: silently dropping it would drop a check on the Coordinator. Other
 * members are ignored, as MarbleRun's decoder ignores them.
 */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "att_int.h"

struct att_policy_file {
    json_t *json; /* owns every string the policy borrows */
    const char *statuses[QY_ATT_ACCEPTED_STATUSES_MAX];
    const char *advisories[QY_ATT_ACCEPTED_ADVISORIES_MAX];
    struct att_policy policy;
};

static const char *type_wanted(json_type type)
{
    switch (type) {
    case JSON_STRING:
        return "a string";
    case JSON_INTEGER:
        return "an unsigned integer";
    case JSON_ARRAY:
        return "an array";
    case JSON_TRUE:
        return "a boolean";
    default:
        return "something else";
    }
}

/* The member `name` of `obj` (case-insensitive): NULL when absent; refused when named twice. */
static int find(const json_t *obj, const char *name, const json_t **out)
{
    const char *key, *first = NULL;
    json_t *v;
    *out = NULL;
    json_object_foreach((json_t *)obj, key, v) {
        if (strcasecmp(key, name) != 0)
            continue;
        ENSURE(first == NULL, ERR_DUPLICATE, "the policy names %s twice (\"%s\" and \"%s\"; names are case-insensitive)",
               name, first, key);
        first = key;
        *out = v;
    }
    return 0;
}

/* The member `name` of the package, which must have `type` when present (JSON_TRUE: a boolean). */
static int member(const json_t *pkg, const char *name, json_type type, const json_t **out)
{
    TRY(find(pkg, name, out));
    const json_t *v = *out;
    bool ok = v == NULL || json_typeof(v) == type || (type == JSON_TRUE && json_is_boolean(v));
    ENSURE(ok && (type != JSON_INTEGER || json_integer_value(v) >= 0), ERR_TYPE, "the policy's %s must be %s, got %s",
           name, type_wanted(type), js_type_name(v));
    return 0;
}

/* An array of strings into `slots` (at most `max`), borrowed from the JSON. */
static int strings(const json_t *list, const char *name, size_t max, size_t item_max, const char **slots,
                   size_t *count)
{
    size_t i;
    json_t *v;
    *count = 0;
    ENSURE(json_array_size(list) <= max, ERR_TOO_LARGE, "the policy's %s lists %zu entries, the limit is %zu", name,
           json_array_size(list), max);
    json_array_foreach((json_t *)list, i, v) {
        ENSURE(json_is_string(v), ERR_TYPE, "the policy's %s must be strings", name);
        ENSURE(json_string_length(v) <= item_max, ERR_TOO_LARGE, "the policy's %s has an entry of %zu bytes, the limit is %zu",
               name, json_string_length(v), item_max);
        slots[(*count)++] = json_string_value(v);
    }
    return 0;
}

static int decode(struct att_policy_file *f, const char *name)
{
    const json_t *pkg;
    TRY(find(f->json, "coordinator", &pkg));
    pkg = pkg ? pkg : f->json;
    ENSURE(json_is_object(pkg), ERR_TYPE, "%s: expected a JSON object", name);
    const json_t *debug, *unique, *signer, *product, *svn, *statuses, *advisories;
    TRY(member(pkg, "Debug", JSON_TRUE, &debug));
    TRY(member(pkg, "UniqueID", JSON_STRING, &unique));
    TRY(member(pkg, "SignerID", JSON_STRING, &signer));
    TRY(member(pkg, "ProductID", JSON_INTEGER, &product));
    TRY(member(pkg, "SecurityVersion", JSON_INTEGER, &svn));
    TRY(member(pkg, "AcceptedTCBStatuses", JSON_ARRAY, &statuses));
    TRY(member(pkg, "AcceptedAdvisories", JSON_ARRAY, &advisories));
    struct att_policy *p = &f->policy;
    p->debug = json_is_true(debug);
    p->unique_id = json_string_value(unique);
    p->signer_id = json_string_value(signer);
    p->has_product_id = product != NULL;
    p->product_id = (uint64_t)json_integer_value(product);
    p->has_security_version = svn != NULL;
    p->security_version = (uint64_t)json_integer_value(svn);
    ENSURE((p->unique_id && p->unique_id[0]) || (p->signer_id && p->signer_id[0]), ERR_INVALID_ARG,
           "%s names neither UniqueID nor SignerID of the Coordinator", name);
    TRY(strings(statuses, "AcceptedTCBStatuses", QY_ATT_ACCEPTED_STATUSES_MAX, QY_NAME_MAX, f->statuses,
                &p->accepted_tcb_status_count));
    TRY(strings(advisories, "AcceptedAdvisories", QY_ATT_ACCEPTED_ADVISORIES_MAX, QY_ATT_ADVISORY_ID_MAX,
                f->advisories, &p->accepted_advisory_count));
    p->accepted_tcb_statuses = f->statuses;
    p->accepted_advisories = f->advisories;
    return 0;
}

int att_policy_file_parse(struct view text, const char *name, struct att_policy_file **out)
{
    *out = NULL;
    struct att_policy_file *f = calloc(1, sizeof(*f));
    ENSURE(f != NULL, ERR_NOMEM, "out of memory");
    int r = js_parse(text, QY_JSON_MAX_SIZE, &f->json);
    if (r == 0)
        r = decode(f, name);
    if (r < 0) {
        att_policy_file_free(f);
        return r;
    }
    *out = f;
    return 0;
}

int att_policy_file_load(const char *path, struct att_policy_file **out)
{
    struct buf b = BUF_INIT;
    *out = NULL;
    int r = file_read(path, QY_JSON_MAX_SIZE, &b);
    if (r == 0)
        r = att_policy_file_parse(buf_view(&b), path, out);
    buf_free(&b);
    return r;
}

const struct att_policy *att_policy_file_policy(const struct att_policy_file *f)
{
    return &f->policy;
}

void att_policy_file_free(struct att_policy_file *f)
{
    if (f == NULL)
        return;
    json_decref(f->json);
    free(f);
}
