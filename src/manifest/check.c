/*
 * The validation rules of reference/marblerun.md §1.11, in its order, followed by the checks
 * MarbleRun makes later while setting a manifest (secret sizes, user certificates, recovery keys).
 * Messages name the JSON path they are about; they say the same as MarbleRun's, in words that point
 * at the fix. Quarry adds a few checks of its own, marked as such below.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "crypto/crypto.h"
#include "manifest_int.h"

/* A path built with printf, for the fixed-depth paths of these rules. */
struct path {
    char s[QY_DIAG_PATH_MAX];
};

static const char *pathf(struct path *p, const char *fmt, ...) QY_PRINTF(2, 3);
static const char *pathf(struct path *p, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(p->s, sizeof(p->s), fmt, ap);
    va_end(ap);
    return p->s;
}

static bool is_hex(const char *s, size_t digits)
{
    if (strlen(s) != digits)
        return false;
    for (; *s; s++)
        if (!((*s >= '0' && *s <= '9') || (*s >= 'a' && *s <= 'f') || (*s >= 'A' && *s <= 'F')))
            return false;
    return true;
}

/* Rule 3.2/3.3: a package pins an enclave either by UniqueID (MRENCLAVE) alone, or by SignerID,
 * ProductID and SecurityVersion together. A debug package may pin less (warnings only). */
static void check_package(const struct mf_package *p, struct diag *d)
{
    struct path at;
    enum diag_level level = p->debug ? DIAG_WARNING : DIAG_ERROR;
    const char *debug_note = p->debug ? " (accepted because the package is Debug)" : "";
    if (p->unique_id[0] != '\0') {
        if (p->signer_id[0] != '\0' || p->product_id.set || p->security_version.set)
            diag_add(d, level, pathf(&at, "Packages.%s", p->name),
                     "UniqueID is set together with SignerID, ProductID or SecurityVersion%s",
                     debug_note);
    } else {
        static const char need[] = "missing: a package without UniqueID needs SignerID, ProductID "
                                   "and SecurityVersion";
        if (p->signer_id[0] == '\0')
            diag_add(d, level, pathf(&at, "Packages.%s.SignerID", p->name), "%s%s", need, debug_note);
        if (!p->product_id.set)
            diag_add(d, level, pathf(&at, "Packages.%s.ProductID", p->name), "%s%s", need, debug_note);
        if (!p->security_version.set)
            diag_add(d, level, pathf(&at, "Packages.%s.SecurityVersion", p->name), "%s%s", need,
                     debug_note);
    }
    /* Quarry: identities that can never match are almost certainly placeholders. */
    if (p->unique_id[0] != '\0' && !is_hex(p->unique_id, 64))
        diag_add(d, DIAG_WARNING, pathf(&at, "Packages.%s.UniqueID", p->name),
                 "is not a 64-digit hex MRENCLAVE: no enclave can match it");
    if (p->signer_id[0] != '\0' && !is_hex(p->signer_id, 64))
        diag_add(d, DIAG_WARNING, pathf(&at, "Packages.%s.SignerID", p->name),
                 "is not a 64-digit hex MRSIGNER: no enclave can match it");
    static const char *const statuses[] = {"UpToDate", "SWHardeningNeeded", "ConfigurationNeeded",
                                           "ConfigurationAndSWHardeningNeeded", "OutOfDate",
                                           "OutOfDateConfigurationNeeded", "Revoked"};
    for (size_t i = 0; i < p->accepted_tcb_statuses.count; i++) {
        bool known = false;
        for (size_t k = 0; k < QY_ARRAY_LEN(statuses); k++)
            known |= strcasecmp(p->accepted_tcb_statuses.items[i], statuses[k]) == 0;
        if (!known)
            diag_add(d, DIAG_WARNING, pathf(&at, "Packages.%s.AcceptedTCBStatuses[%zu]", p->name, i),
                     "unknown TCB status \"%s\": it never matches", p->accepted_tcb_statuses.items[i]);
    }
}

/* Quarry: parameters the premain could not apply. */
static void check_parameters(const struct mf_marble *mb, struct diag *d)
{
    struct path at;
    for (size_t i = 0; i < mb->params.env.count; i++) {
        const struct mf_file *e = &mb->params.env.items[i];
        if (e->name[0] == '\0' || strchr(e->name, '=') != NULL)
            diag_add(d, DIAG_ERROR, pathf(&at, "Marbles.%s.Parameters.Env.%s", mb->name, e->name),
                     "invalid environment variable name (empty or contains '=')");
        if (memchr(e->data.ptr, 0, e->data.size) != NULL)
            diag_add(d, DIAG_ERROR, pathf(&at, "Marbles.%s.Parameters.Env.%s", mb->name, e->name),
                     "content contains NUL bytes, which environment variables cannot hold");
    }
    for (size_t i = 0; i < mb->params.files.count; i++)
        if (mb->params.files.items[i].name[0] == '\0')
            diag_add(d, DIAG_ERROR, pathf(&at, "Marbles.%s.Parameters.Files", mb->name),
                     "a file has an empty path");
}

/* Rules 1-3. */
static void check_marbles(const struct manifest *m, struct diag *d)
{
    struct path at;
    if (m->packages.count == 0)
        diag_add(d, DIAG_ERROR, "Packages", "no packages defined");
    if (m->marbles.count == 0)
        diag_add(d, DIAG_ERROR, "Marbles", "no marbles defined");
    bool *checked = calloc(m->packages.count + 1, sizeof(bool));
    for (size_t i = 0; i < m->marbles.count; i++) {
        const struct mf_marble *mb = &m->marbles.items[i];
        const struct mf_package *p = manifest_package(m, mb->package);
        if (mb->package[0] == '\0')
            diag_add(d, DIAG_ERROR, pathf(&at, "Marbles.%s.Package", mb->name), "missing");
        else if (p == NULL)
            diag_add(d, DIAG_ERROR, pathf(&at, "Marbles.%s.Package", mb->name),
                     "package \"%s\" is not defined", mb->package);
        else if (checked == NULL || !checked[p - m->packages.items]) {
            check_package(p, d);
            if (checked != NULL)
                checked[p - m->packages.items] = true;
        }
        for (size_t t = 0; t < mb->tls.count; t++)
            if (manifest_tls_tag(m, mb->tls.items[t]) == NULL)
                diag_add(d, DIAG_ERROR, pathf(&at, "Marbles.%s.TLS[%zu]", mb->name, t),
                         "TLS tag \"%s\" is not defined", mb->tls.items[t]);
        check_parameters(mb, d);
    }
    free(checked);
}

/* Rule 4. */
static void check_tls(const struct manifest *m, struct diag *d)
{
    struct path at;
    for (size_t i = 0; i < m->tls.count; i++) {
        const struct mf_tls_tag *t = &m->tls.items[i];
        for (size_t k = 0; k < t->incoming.count; k++) {
            const struct mf_tls_entry *e = &t->incoming.items[k];
            pathf(&at, "TLS.%s.Incoming[%zu]", t->name, k);
            if (e->port[0] == '\0')
                diag_add(d, DIAG_ERROR, at.s, "missing Port");
            if (e->cert[0] != '\0') {
                if (manifest_secret(m, e->cert) == NULL)
                    diag_add(d, DIAG_ERROR, at.s, "Cert references undefined secret \"%s\"", e->cert);
                if (!e->disable_client_auth)
                    diag_add(d, DIAG_ERROR, at.s,
                             "defines Cert but does not disable client authentication");
            } else if (e->disable_client_auth) {
                diag_add(d, DIAG_ERROR, at.s, "disables client authentication without a Cert");
            }
        }
        for (size_t k = 0; k < t->outgoing.count; k++) {
            const struct mf_tls_entry *e = &t->outgoing.items[k];
            pathf(&at, "TLS.%s.Outgoing[%zu]", t->name, k);
            if (e->addr[0] == '\0')
                diag_add(d, DIAG_ERROR, at.s, "missing Addr");
            if (e->port[0] == '\0')
                diag_add(d, DIAG_ERROR, at.s, "missing Port");
        }
    }
}

/* Rule 5, with the certificate parse MarbleRun does when setting the manifest. */
static void check_users(struct manifest *m, struct diag *d)
{
    struct path at;
    for (size_t i = 0; i < m->users.count; i++) {
        struct mf_user *u = &m->users.items[i];
        pathf(&at, "Users.%s.Certificate", u->name);
        if (u->certificate[0] == '\0') {
            diag_add(d, DIAG_ERROR, at.s, "missing");
        } else {
            struct buf der = BUF_INIT;
            int r = crypto_cert_pem_to_der(view_str(u->certificate), &der);
            if (r < 0) {
                diag_add(d, DIAG_ERROR, at.s, "invalid certificate: %s", err_detail(r));
            } else {
                u->certificate_der.ptr = arena_memdup(&m->arena, der.ptr, der.size);
                u->certificate_der.size = u->certificate_der.ptr ? der.size : 0;
            }
            buf_free(&der);
        }
        for (size_t k = 0; k < u->roles.count; k++)
            if (manifest_role(m, u->roles.items[k]) == NULL)
                diag_add(d, DIAG_ERROR, pathf(&at, "Users.%s.Roles[%zu]", u->name, k),
                         "role \"%s\" is not defined", u->roles.items[k]);
    }
    /* One certificate, one user: authentication is by exact certificate match. MarbleRun compares
     * the PEM text; comparing the DER also catches re-wrapped copies. */
    for (size_t i = 0; i < m->users.count; i++) {
        for (size_t k = 0; k < i; k++) {
            const struct mf_user *a = &m->users.items[k], *b = &m->users.items[i];
            bool same = strcmp(a->certificate, b->certificate) == 0 && a->certificate[0] != '\0';
            same |= a->certificate_der.size > 0 && view_eq(a->certificate_der, b->certificate_der);
            if (same) {
                diag_add(d, DIAG_ERROR, pathf(&at, "Users.%s.Certificate", b->name),
                         "same certificate as user \"%s\"", a->name);
                break;
            }
        }
    }
}

static void check_role_packages(const struct manifest *m, const struct mf_role *r, struct diag *d)
{
    struct path at;
    for (size_t k = 0; k < r->resource_names.count; k++)
        if (manifest_package(m, r->resource_names.items[k]) == NULL)
            diag_add(d, DIAG_ERROR, pathf(&at, "Roles.%s.ResourceNames[%zu]", r->name, k),
                     "package \"%s\" is not defined", r->resource_names.items[k]);
    for (size_t k = 0; k < r->actions.count; k++)
        if (strcasecmp(r->actions.items[k], "UpdateSecurityVersion") != 0)
            diag_add(d, DIAG_ERROR, pathf(&at, "Roles.%s.Actions[%zu]", r->name, k),
                     "unknown action \"%s\" for resource type Packages (UpdateSecurityVersion)",
                     r->actions.items[k]);
}

static void check_role_secrets(const struct manifest *m, const struct mf_role *r, struct diag *d)
{
    struct path at;
    bool read = false, write = false;
    for (size_t k = 0; k < r->actions.count; k++) {
        const char *a = r->actions.items[k];
        if (strcasecmp(a, "ReadSecret") == 0)
            read = true;
        else if (strcasecmp(a, "WriteSecret") == 0)
            write = true;
        else
            diag_add(d, DIAG_ERROR, pathf(&at, "Roles.%s.Actions[%zu]", r->name, k),
                     "unknown action \"%s\" for resource type Secrets (ReadSecret or WriteSecret)", a);
    }
    for (size_t k = 0; k < r->resource_names.count; k++) {
        const char *name = r->resource_names.items[k];
        const struct mf_secret *s = manifest_secret(m, name);
        pathf(&at, "Roles.%s.ResourceNames[%zu]", r->name, k);
        if (s == NULL) {
            diag_add(d, DIAG_ERROR, at.s, "secret \"%s\" is not defined", name);
            continue;
        }
        if (write && !s->user_defined)
            diag_add(d, DIAG_ERROR, at.s,
                     "WriteSecret is granted on secret \"%s\", which is not user-defined", name);
        if (read && !s->shared && !s->user_defined)
            diag_add(d, DIAG_ERROR, at.s,
                     "ReadSecret is granted on secret \"%s\", which is unique to each marble "
                     "(only shared or user-defined secrets can be read)", name);
    }
}

/* Rule 6. */
static void check_roles(const struct manifest *m, struct diag *d)
{
    struct path at;
    for (size_t i = 0; i < m->roles.count; i++) {
        const struct mf_role *r = &m->roles.items[i];
        switch (r->resource_type) {
        case MF_RES_PACKAGES:
            check_role_packages(m, r, d);
            break;
        case MF_RES_SECRETS:
            check_role_secrets(m, r, d);
            break;
        case MF_RES_MANIFEST:
            if (r->resource_names.count > 0)
                diag_add(d, DIAG_ERROR, pathf(&at, "Roles.%s.ResourceNames", r->name),
                         "resource names are not allowed for resource type Manifest");
            for (size_t k = 0; k < r->actions.count; k++)
                if (strcasecmp(r->actions.items[k], "UpdateManifest") != 0)
                    diag_add(d, DIAG_ERROR, pathf(&at, "Roles.%s.Actions[%zu]", r->name, k),
                             "unknown action \"%s\" for resource type Manifest (UpdateManifest)",
                             r->actions.items[k]);
            break;
        case MF_RES_UNKNOWN:
        default:
            diag_add(d, DIAG_ERROR, pathf(&at, "Roles.%s.ResourceType", r->name),
                     "unrecognized resource type \"%s\" (Packages, Secrets or Manifest)",
                     r->resource_type_name);
            break;
        }
    }
}

/* Rule 7, and the size checks MarbleRun makes when it generates the secrets. */
static void check_secret(const struct mf_secret *s, struct diag *d)
{
    struct path at;
    pathf(&at, "Secrets.%s.Size", s->name);
    bool cert = mf_secret_is_cert(s->type);
    switch (s->type) {
    case MF_SECRET_SYMMETRIC_KEY:
        if (!s->user_defined && (s->size == 0 || s->size % 8 != 0 || s->size > QY_SYMKEY_MAX_BITS))
            diag_add(d, DIAG_ERROR, at.s,
                     "invalid size %llu for a symmetric key: a multiple of 8 from 8 to %u bits",
                     (unsigned long long)s->size, QY_SYMKEY_MAX_BITS);
        break;
    case MF_SECRET_CERT_RSA:
        if (!s->user_defined && (s->size < QY_RSA_MIN_BITS || s->size > QY_RSA_MAX_BITS))
            diag_add(d, DIAG_ERROR, at.s, "invalid RSA key size %llu: %u to %u bits",
                     (unsigned long long)s->size, QY_RSA_MIN_BITS, QY_RSA_MAX_BITS);
        break;
    case MF_SECRET_CERT_ECDSA:
        if (!s->user_defined && s->size != 224 && s->size != 256 && s->size != 384 && s->size != 521)
            diag_add(d, DIAG_ERROR, at.s,
                     "unsupported size %llu: does not map to a supported curve (224, 256, 384, 521)",
                     (unsigned long long)s->size);
        break;
    case MF_SECRET_CERT_ED25519:
        if (s->size != 0)
            diag_add(d, DIAG_ERROR, at.s, "invalid size %llu for cert-ed25519: none is expected",
                     (unsigned long long)s->size);
        break;
    case MF_SECRET_PLAIN:
        break;
    case MF_SECRET_UNKNOWN:
    default:
        diag_add(d, DIAG_ERROR, pathf(&at, "Secrets.%s.Type", s->name),
                 "unknown type \"%s\" (symmetric-key, cert-rsa, cert-ecdsa, cert-ed25519 or plain)",
                 s->type_name);
        return;
    }
    if (cert && s->cert.not_after.set && s->valid_for != 0)
        diag_add(d, DIAG_ERROR, pathf(&at, "Secrets.%s", s->name),
                 "ambiguous certificate validity: both Cert.NotAfter and ValidFor are specified");
    if (s->valid_for > QY_VALID_FOR_MAX_DAYS)
        diag_add(d, DIAG_ERROR, pathf(&at, "Secrets.%s.ValidFor", s->name),
                 "%llu days is more than the limit of %u", (unsigned long long)s->valid_for,
                 QY_VALID_FOR_MAX_DAYS);
    if (!cert && (s->valid_for != 0 || s->cert.subject.common_name || s->cert.dns_names.count))
        diag_add(d, DIAG_WARNING, pathf(&at, "Secrets.%s", s->name),
                 "Cert and ValidFor are ignored for %s secrets", s->type_name);
}

/* Rule 8: users count once, however many UpdateManifest roles they hold; as in MarbleRun, a role
 * counts when its first action is UpdateManifest. */
static void check_update_threshold(const struct manifest *m, struct diag *d)
{
    size_t eligible = 0;
    for (size_t i = 0; i < m->users.count; i++) {
        const struct mf_user *u = &m->users.items[i];
        bool can = false;
        for (size_t k = 0; k < u->roles.count && !can; k++) {
            const struct mf_role *r = manifest_role(m, u->roles.items[k]);
            can = r && r->resource_type == MF_RES_MANIFEST && r->actions.count > 0 &&
                  strcasecmp(r->actions.items[0], "UpdateManifest") == 0;
        }
        eligible += can;
    }
    if (eligible < m->config.update_threshold)
        diag_add(d, DIAG_ERROR, "Config.UpdateThreshold",
                 "not enough users with manifest update permissions (%zu) to meet the threshold "
                 "of %llu", eligible, (unsigned long long)m->config.update_threshold);
}

/* Rules 9-12, and the recovery keys' PEM. */
static void check_config(struct manifest *m, struct diag *d)
{
    struct path at;
    const struct mf_config *cfg = &m->config;
    if (cfg->seal_mode == MF_SEAL_UNKNOWN)
        diag_add(d, DIAG_ERROR, "Config.SealMode",
                 "unknown seal mode \"%s\" (ProductKey, UniqueKey or Disabled)", cfg->seal_mode_name);
    for (size_t i = 0; i < cfg->feature_gates.count; i++) {
        const char *g = cfg->feature_gates.items[i];
        pathf(&at, "Config.FeatureGates[%zu]", i);
        if (strcasecmp(g, "AzureHSMSealing") == 0)
            diag_add(d, DIAG_ERROR, at.s, "feature gate AzureHSMSealing is not supported by Quarry");
        else if (strcasecmp(g, "SignQuoteEndpoint") != 0 && strcasecmp(g, "MonotonicCounter") != 0)
            diag_add(d, DIAG_ERROR, at.s, "unknown feature gate \"%s\"", g);
    }
    if (m->recovery_keys.count < cfg->recovery_threshold)
        diag_add(d, DIAG_ERROR, "Config.RecoveryThreshold",
                 "not enough recovery keys (%zu) defined to meet the recovery threshold of %llu",
                 m->recovery_keys.count, (unsigned long long)cfg->recovery_threshold);
    if (cfg->recovery_threshold == 1)
        diag_add(d, DIAG_ERROR, "Config.RecoveryThreshold",
                 "invalid recovery threshold 1: if set, it must be at least 2");
    for (size_t i = 0; i < m->recovery_keys.count; i++) {
        struct mf_recovery_key *k = &m->recovery_keys.items[i];
        pathf(&at, "RecoveryKeys.%s", k->name);
        int r = crypto_rsa_pubkey_pem_bits(view_str(k->pem), &k->bits);
        if (r < 0)
            diag_add(d, DIAG_ERROR, at.s, "invalid recovery key: %s", err_detail(r));
        else if (k->bits < QY_RSA_MIN_BITS)
            diag_add(d, DIAG_ERROR, at.s, "RSA key of %d bits is too small (at least %u)", k->bits,
                     QY_RSA_MIN_BITS);
    }
}

void mf_check_rules(struct manifest *m, struct diag *d)
{
    check_marbles(m, d);
    check_tls(m, d);
    check_users(m, d);
    check_roles(m, d);
    for (size_t i = 0; i < m->secrets.count; i++)
        check_secret(&m->secrets.items[i], d);
    check_update_threshold(m, d);
    check_config(m, d);
    if (m->infrastructures.count > 0)
        diag_add(d, DIAG_WARNING, "Infrastructures",
                 "parsed but not enforced (as in MarbleRun); the quote's TCB is checked against "
                 "Intel's collateral instead");
}
