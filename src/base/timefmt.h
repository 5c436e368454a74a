/*
 * timefmt.h - part of base.h: RFC 3339 timestamps <-> Unix seconds, without the C library's
 * time-zone state (no TZ, no locale, no 2038 limit). Years 0001..9999, as Go's time package.
 */
#ifndef QUARRY_BASE_TIMEFMT_H
#define QUARRY_BASE_TIMEFMT_H

#include <stddef.h>
#include <stdint.h>

#include "err.h"

/* "2026-11-25T10:00:00Z", "2026-11-25T10:00:00.5+01:00" -> Unix seconds (fraction dropped). */
QY_API int qtime_parse_rfc3339(const char *s, int64_t *out) QY_MUST_USE;
/* Unix seconds -> "2026-11-25T10:00:00Z" (out has room for 21 bytes + NUL). */
QY_API int qtime_format_rfc3339(int64_t t, char out[32]) QY_MUST_USE;
/* Calendar date (UTC) -> Unix seconds, for year 1..9999; no validation beyond ranges. */
QY_API int64_t qtime_from_civil(int64_t year, int month, int day, int hour, int min, int sec);
/* Current wall-clock time in Unix seconds. */
QY_API int64_t qtime_now(void);

#endif
