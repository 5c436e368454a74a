/*
 * Users and their permissions, rebuilt from the manifest (reference/marblerun.md §9): each role a user
 * holds grants its actions (lower-cased) over its resource names. Authentication is byte equality of
 * the TLS client certificate's DER with a user's certificate - no chain, no expiry, no issuer checks,
 * as MarbleRun; unlike MarbleRun, only the leaf the handshake proved counts (coordinator.h). Comparisons of certificates are constant time per candidate.
 */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "coord_int.h"

const struct mf_user *coord_user_by_cert(const struct manifest *m, struct view cert)
{
    for (size_t i = 0; i < m->users.count; i++) {
        const struct mf_user *u = &m->users.items[i];
        if (u->certificate_der.size > 0 && view_eq_ct(u->certificate_der, cert))
            return u;
    }
    return NULL;
}

static bool role_grants(const struct mf_role *r, enum mf_resource_type type, const char *action, const char *name)
{
    if (r->resource_type != type)
        return false;
    bool has_action = false;
    for (size_t i = 0; i < r->actions.count && !has_action; i++)
        has_action = strcasecmp(r->actions.items[i], action) == 0;
    if (!has_action)
        return false;
    if (name == NULL)
        return true;
    for (size_t i = 0; i < r->resource_names.count; i++)
        if (strcmp(r->resource_names.items[i], name) == 0)
            return true;
    return false;
}

bool coord_user_may(const struct manifest *m, const struct mf_user *u, enum mf_resource_type type,
                    const char *action, const char *name)
{
    for (size_t i = 0; i < u->roles.count; i++) {
        const struct mf_role *r = manifest_role(m, u->roles.items[i]);
        if (r != NULL && role_grants(r, type, action, name))
            return true;
    }
    return false;
}
