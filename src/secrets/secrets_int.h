/* Private to secrets/: value helpers shared by the set, generation and upload code. */
#ifndef QUARRY_SECRETS_INT_H
#define QUARRY_SECRETS_INT_H

#include "secrets.h"

/* Wipes and frees one value's contents; leaves it zeroed. */
void sec_value_clear(struct sec_value *v);
/* A deep copy of src into dst (cleared on failure). */
int sec_value_copy(struct sec_value *dst, const struct sec_value *src) QY_MUST_USE;
/* Moves *v into the set (replacing a value of the same name); *v is zeroed either way on success.
 */
int sec_set_take(struct sec_set *s, struct sec_value *v) QY_MUST_USE;
/* "symmetric-key" -> MF_SECRET_SYMMETRIC_KEY...; MF_SECRET_UNKNOWN otherwise. */
enum mf_secret_type sec_type_from_name(const char *s);
/* A []byte JSON member (case-insensitive key): absent/null -> nothing appended, else base64 of at
 * most max bytes, appended to out. */
int sec_json_bytes(const json_t *obj, const char *secret, const char *key, size_t max,
                   struct buf *out) QY_MUST_USE;
/* A value with the definition's name, type, size, flags and validity; no bytes yet. */
int sec_value_from_def(const struct mf_secret *s, struct sec_value *v) QY_MUST_USE;
/* A secret name of 1..QY_NAME_MAX bytes. */
int sec_check_name(const char *name) QY_MUST_USE;

#endif
