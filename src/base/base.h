/*
 * base - the ground floor: errors, bytes, the bounded reader, limits, logging, JSON, encodings,
 * diagnostics and files. Every other component includes this header and nothing else from here.
 *
 * What it does: the conventions every component follows. Functions return 0 or a negative ERR_*
 * from one table (err.h), and record a human detail of where and why. Bytes are either borrowed
 * (struct view) or owned (struct buf, wiped when freed). Binary input is read only through the
 * bounded reader (rd.h); JSON only through js_parse (json.h), which refuses duplicates, deep nesting
 * and oversize input. Every bound on outside input lives in limits.h with its reason. Logs are
 * structured lines that cannot carry raw bytes, so secrets cannot be logged by accident.
 *
 * What it does not do: no cryptography (that is crypto/, the only caller of OpenSSL's EVP, RAND and
 * KDF), no networking, no knowledge of manifests or quotes. It depends on libc and jansson only.
 *
 * Ownership: every prototype says what it borrows and what it returns owned. Nothing here keeps
 * global state except the log configuration (set once at start) and each thread's last error.
 */
#ifndef QUARRY_BASE_BASE_H
#define QUARRY_BASE_BASE_H

#include "err.h"
#include "limits.h"
#include "bytes.h"
#include "rd.h"
#include "enc.h"
#include "diag.h"
#include "log.h"
#include "json.h"
#include "file.h"
#include "timefmt.h"
#include "uuid.h"

#define QY_ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

#endif
