#include "file.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "limits.h"

static int (*fsync_fn)(int fd) = fsync;

void file_set_fsync_hook(int (*hook)(int fd))
{
    fsync_fn = hook ? hook : fsync;
}

int file_read(const char *path, size_t max_size, struct buf *out)
{
    int r = ERR_INTERNAL;
    size_t start = out->size;
    bool allocated_here = out->ptr == NULL;
    bool own = strcmp(path, "-") != 0;
    int fd = own ? open(path, O_RDONLY | O_CLOEXEC) : 0;
    ENSURE(fd >= 0, errno == ENOENT ? ERR_NOT_FOUND : ERR_IO, "cannot open %s: %s", path, strerror(errno));
    for (;;) {
        TRY_OUT(buf_reserve(out, 64 * 1024));
        ssize_t n = read(fd, out->ptr + out->size, out->cap - out->size - 1);
        if (n < 0 && errno == EINTR)
            continue;
        ENSURE_OUT(n >= 0, ERR_IO, "cannot read %s: %s", path, strerror(errno));
        if (n == 0)
            break;
        out->size += (size_t)n;
        ENSURE_OUT(out->size - start <= max_size, ERR_TOO_LARGE, "%s is larger than %zu bytes", path, max_size);
    }
    r = 0;
out:
    if (own)
        close(fd);
    if (r < 0 && allocated_here) { /* as it was: nothing, or its contents before the call */
        buf_free(out);
    } else if (r < 0) {
        mem_wipe(out->ptr + start, out->size - start);
        out->size = start;
    }
    return r;
}

static int write_all(int fd, struct view data)
{
    size_t off = 0;
    while (off < data.size) {
        ssize_t n = write(fd, data.ptr + off, data.size - off);
        if (n < 0 && errno == EINTR)
            continue;
        ENSURE(n > 0, ERR_IO, "write failed: %s", n < 0 ? strerror(errno) : "no progress");
        off += (size_t)n;
    }
    return 0;
}

static int fsync_dir(const char *path)
{
    char tmp[QY_PATH_MAX];
    ENSURE(strlen(path) < sizeof(tmp), ERR_TOO_LARGE, "path too long");
    snprintf(tmp, sizeof(tmp), "%s", path);
    int fd = open(dirname(tmp), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    ENSURE(fd >= 0, ERR_IO, "cannot open directory of %s: %s", path, strerror(errno));
    int rc = fsync_fn(fd);
    int saved = errno;
    close(fd);
    ENSURE(rc == 0, ERR_IO, "cannot fsync directory of %s: %s", path, strerror(saved));
    return 0;
}

int file_write_in_place(const char *path, struct view data, bool create)
{
    int fd = open(path, O_WRONLY | O_CLOEXEC | O_TRUNC | (create ? O_CREAT : 0), 0600);
    ENSURE(fd >= 0, errno == ENOENT ? ERR_UNAVAILABLE : ERR_IO, "cannot open %s: %s", path, strerror(errno));
    ssize_t n;
    do
        n = write(fd, data.ptr, data.size);
    while (n < 0 && errno == EINTR);
    int e = errno;
    close(fd);
    ENSURE(n == (ssize_t)data.size, ERR_IO, "cannot write %s: %s", path, n < 0 ? strerror(e) : "short write");
    return 0;
}

int file_write_atomic(const char *path, struct view data, mode_t mode)
{
    int r = ERR_INTERNAL;
    char tmp[QY_PATH_MAX];
    int fd = -1;
    int n = snprintf(tmp, sizeof(tmp), "%s.tmp.XXXXXX", path);
    ENSURE(n > 0 && (size_t)n < sizeof(tmp), ERR_TOO_LARGE, "path too long: %s", path);
    fd = mkostemp(tmp, O_CLOEXEC);
    ENSURE(fd >= 0, ERR_IO, "cannot create a temporary file next to %s: %s", path, strerror(errno));
    ENSURE_OUT(fchmod(fd, mode) == 0, ERR_IO, "cannot chmod %s: %s", tmp, strerror(errno));
    TRY_OUT(write_all(fd, data));
    ENSURE_OUT(fsync_fn(fd) == 0, ERR_IO, "cannot fsync %s: %s", tmp, strerror(errno));
    ENSURE_OUT(close(fd) == 0, ERR_IO, "cannot close %s: %s", tmp, strerror(errno));
    fd = -1;
    ENSURE_OUT(rename(tmp, path) == 0, ERR_IO, "cannot rename %s to %s: %s", tmp, path, strerror(errno));
    tmp[0] = '\0';
    TRY_OUT(fsync_dir(path));
    r = 0;
out:
    if (fd >= 0)
        close(fd);
    if (tmp[0] != '\0')
        unlink(tmp);
    return r;
}

int file_mkdirs(const char *path, mode_t mode)
{
    char tmp[QY_PATH_MAX];
    size_t len = strlen(path);
    ENSURE(len > 0 && len < sizeof(tmp), ERR_INVALID_ARG, "bad directory path");
    memcpy(tmp, path, len + 1);
    for (size_t i = 1; i <= len; i++) {
        if (tmp[i] != '/' && tmp[i] != '\0')
            continue;
        char c = tmp[i];
        tmp[i] = '\0';
        if (mkdir(tmp, mode) != 0 && errno != EEXIST)
            FAIL(ERR_IO, "cannot create directory %s: %s", tmp, strerror(errno));
        tmp[i] = c;
    }
    struct stat st;
    ENSURE(stat(path, &st) == 0 && S_ISDIR(st.st_mode), ERR_IO, "%s is not a directory", path);
    return 0;
}
