/* Runs a libFuzzer target's entry point over every file in the given directories (or files), so
 * seed corpora and past crashes are replayed by `make check` without clang. */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "base/base.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int run_file(const char *path)
{
    struct buf b = BUF_INIT;
    int r = file_read(path, 64u * 1024 * 1024, &b);
    if (r < 0) {
        fprintf(stderr, "replay: %s\n", err_detail(r));
        return -1;
    }
    LLVMFuzzerTestOneInput(b.ptr ? b.ptr : (const uint8_t *)"", b.size);
    buf_free(&b);
    return 0;
}

int main(int argc, char **argv)
{
    size_t n = 0;
    for (int i = 1; i < argc; i++) {
        struct stat st;
        if (stat(argv[i], &st) != 0) {
            fprintf(stderr, "replay: cannot stat %s\n", argv[i]);
            return 1;
        }
        if (!S_ISDIR(st.st_mode)) {
            if (run_file(argv[i]) < 0)
                return 1;
            n++;
            continue;
        }
        DIR *d = opendir(argv[i]);
        struct dirent *e;
        while (d && (e = readdir(d)) != NULL) {
            if (e->d_name[0] == '.')
                continue;
            char path[4096];
            snprintf(path, sizeof(path), "%s/%s", argv[i], e->d_name);
            if (run_file(path) < 0)
                return 1;
            n++;
        }
        if (d)
            closedir(d);
    }
    printf("[====] Synthesis: Tested: %zu | Passing: %zu | Failing: 0 | Crashing: 0\n", n, n);
    return n > 0 ? 0 : 1;
}
