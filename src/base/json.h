/*
 * json.h - part of base.h: strict JSON over jansson.
 *
 * js_parse() is the only way Quarry turns outside bytes into JSON: it refuses inputs over a size
 * limit before parsing, duplicate object keys, nesting deeper than QY_JSON_MAX_DEPTH, and anything
 * after the top-level value; errors carry jansson's line and column. Strings may contain \u0000 (Go
 * accepts it, and manifests decode it); callers that need C strings reject embedded NULs themselves
 * with js_string_view() + memchr. The returned json_t is owned by the caller (json_decref).
 *
 * Memory jansson frees is wiped first (a wiping allocator is installed at load time), so parsed
 * secrets do not linger in freed memory.
 *
 * The js_get_* accessors read one member of an object for API bodies: absent members are ERR_NOT_FOUND
 * when required, wrong types ERR_TYPE, and the detail names the member.
 */
#ifndef QUARRY_BASE_JSON_H
#define QUARRY_BASE_JSON_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "bytes.h"

QY_API int js_parse(struct view in, size_t max_size, json_t **out) QY_MUST_USE;
/* Depth of the deepest value (a scalar is 1); stops counting at limit + 1. */
QY_API int js_depth(const json_t *j, int limit);
QY_API const char *js_type_name(const json_t *j);
/* A string's bytes (may contain NUL), borrowed from j. */
QY_API struct view js_string_view(const json_t *j);
/* The member of `obj` whose name is `key` compared case-insensitively (ASCII), as Go's decoder
 * matches struct fields; *out (borrowed from obj) is NULL when there is none. Two members that both
 * match ("Key" and "key") are ERR_DUPLICATE naming both, where Go would silently keep the last one:
 * every API body is read through this. */
QY_API int js_member_ci(const json_t *obj, const char *key, json_t **out) QY_MUST_USE;
/* The same lookup for input Quarry wrote itself (sealed state): the first match, NULL for none. */
QY_API json_t *js_object_get_ci(const json_t *obj, const char *key);

/* Members of API bodies. `required` false: absent or null leaves *out at its zero value. */
QY_API int js_get_string(const json_t *obj, const char *key, bool required, const char **out) QY_MUST_USE;
QY_API int js_get_bool(const json_t *obj, const char *key, bool required, bool *out) QY_MUST_USE;
QY_API int js_get_u64(const json_t *obj, const char *key, bool required, uint64_t *out) QY_MUST_USE;
/* A base64 string member, decoded into out. */
QY_API int js_get_b64(const json_t *obj, const char *key, bool required, struct buf *out) QY_MUST_USE;

/* Serialise with jansson's flags (JSON_COMPACT, JSON_INDENT(n), JSON_SORT_KEYS...) and append to out. */
QY_API int js_dump(struct buf *out, const json_t *j, size_t flags) QY_MUST_USE;

#endif
