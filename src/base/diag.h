/*
 * diag.h - part of base.h: diagnostics, i.e. lists of "path: message" problems with a level.
 *
 * Validators that must report every problem (the manifest checker, the template dry run) add to a
 * struct diag instead of failing at the first error. Each entry owns copies of its path and message.
 * Counting never fails: when memory runs out or QY_DIAG_MAX entries exist, the entry is dropped but
 * still counted, so "errors > 0" stays true. A jpath builds dotted JSON paths
 * ("Marbles.web.Parameters.Files./etc/key.pem", "Users.alice.Roles[1]") without allocating.
 */
#ifndef QUARRY_BASE_DIAG_H
#define QUARRY_BASE_DIAG_H

#include <stddef.h>

#include "err.h"
#include "limits.h"

enum diag_level { DIAG_ERROR, DIAG_WARNING };

struct diag_entry {
    enum diag_level level;
    char *path;    /* "" for the document as a whole */
    char *message;
};

struct diag {
    struct diag_entry *items;
    size_t count, cap;
    size_t errors, warnings; /* including dropped entries */
    size_t dropped;
};

#define DIAG_INIT {NULL, 0, 0, 0, 0, 0}

QY_API void diag_add(struct diag *d, enum diag_level level, const char *path, const char *fmt, ...)
    QY_PRINTF(4, 5);
QY_API void diag_vadd(struct diag *d, enum diag_level level, const char *path, const char *fmt,
                      va_list ap) QY_PRINTF(4, 0);
/* Stable sort: errors first, then by path (deterministic output whatever the discovery order). */
QY_API void diag_sort(struct diag *d);
QY_API void diag_free(struct diag *d);

struct jpath {
    char s[QY_DIAG_PATH_MAX];
    size_t len;
    int truncated;
};

#define JPATH_INIT {{0}, 0, 0}

/* Push returns the previous length; pass it to jpath_pop to restore. Keys are joined with '.',
 * indices appended as "[i]". */
QY_API size_t jpath_push(struct jpath *p, const char *key);
QY_API size_t jpath_push_index(struct jpath *p, size_t index);
QY_API void jpath_pop(struct jpath *p, size_t mark);
QY_API const char *jpath_str(const struct jpath *p);

#endif
