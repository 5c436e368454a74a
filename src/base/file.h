/*
 * file.h - part of base.h: whole-file reads with a size bound, and atomic file writes.
 *
 * file_write_atomic() never leaves a half-written file at `path`: it writes a temporary file in the
 * same directory (created O_EXCL with the final mode, so a secret is never briefly world-readable),
 * fsyncs it, renames it over `path` and fsyncs the directory, so after return the new contents
 * survive a crash. On failure the temporary file is removed and `path` is unchanged. The `fsync`
 * hook exists for fault-injection tests.
 */
#ifndef QUARRY_BASE_FILE_H
#define QUARRY_BASE_FILE_H

#include <stdbool.h>
#include <sys/types.h>

#include "bytes.h"

/* Appends all of `path` (at most max_size bytes; larger files fail with ERR_TOO_LARGE) to out. "-" is
 * standard input. On failure `out` is as it was (what was read is wiped, a buffer allocated here
 * freed), so a caller may return at once. */
QY_API int file_read(const char *path, size_t max_size, struct buf *out) QY_MUST_USE;
QY_API int file_write_atomic(const char *path, struct view data, mode_t mode) QY_MUST_USE;
/* Writes `data` with one write(2), in place (O_TRUNC, mode 0600 when created): for pseudo-files
 * (configfs-tsm, Gramine's /dev/attestation) that take a value in one write and cannot be renamed
 * over. `create` false: the file must exist. ERR_UNAVAILABLE when it (or its folder) does not exist,
 * ERR_IO for any other failure or a short write. */
QY_API int file_write_in_place(const char *path, struct view data, bool create) QY_MUST_USE;
/* Create `path` and its missing parents with `mode` (like mkdir -p). */
QY_API int file_mkdirs(const char *path, mode_t mode) QY_MUST_USE;

/* Test hook: replaces fsync(2) for file_write_atomic (NULL restores it). */
QY_API void file_set_fsync_hook(int (*hook)(int fd));

#endif
