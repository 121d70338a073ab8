/* util.c - checked sizes, strings, whole-file reads, aligned memory, clock. */
#include "core/util.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "core/error.h"

size_t shape_elems(int h, int w, int c)
{
    if (h <= 0 || w <= 0 || c <= 0) return 0;
    size_t n;
    if (!size_mul((size_t)h, (size_t)w, &n) || !size_mul(n, (size_t)c, &n)) return 0;
    return n;
}

char *str_dup(const char *s)
{
    if (!s) return NULL;
    size_t n = strlen(s) + 1;
    char *d = malloc(n);
    if (d) memcpy(d, s, n);
    return d;
}

bool str_ends_with_ci(const char *s, const char *suffix)
{
    size_t n = strlen(s), m = strlen(suffix);
    if (m > n) return false;
    for (size_t i = 0; i < m; i++)
        if (tolower((unsigned char)s[n - m + i]) != tolower((unsigned char)suffix[i])) return false;
    return true;
}

cnnrt_status file_size(const char *path, uint64_t *size, cnnrt_error *err)
{
    struct stat st;
    if (stat(path, &st) != 0)
        return cnnrt_fail(err, CNNRT_E_IO, "%s: %s", path, strerror(errno));
    if (S_ISDIR(st.st_mode))
        return cnnrt_fail(err, CNNRT_E_IO, "%s: is a directory, expected a file", path);
    if (!S_ISREG(st.st_mode))
        return cnnrt_fail(err, CNNRT_E_IO, "%s: not a regular file", path);
    *size = (uint64_t)st.st_size;
    return CNNRT_OK;
}

cnnrt_status file_read_all(const char *path, size_t max_bytes, char **data, size_t *len,
                           cnnrt_error *err)
{
    *data = NULL;
    *len = 0;
    uint64_t size;
    cnnrt_status st = file_size(path, &size, err);
    if (st) return st;
    if (size > max_bytes)
        return cnnrt_fail(err, CNNRT_E_FORMAT, "%s: file is %llu bytes, more than the %zu allowed",
                          path, (unsigned long long)size, max_bytes);
    FILE *f = fopen(path, "rb");
    if (!f) return cnnrt_fail(err, CNNRT_E_IO, "%s: %s", path, strerror(errno));
    char *buf = malloc((size_t)size + 1);
    if (!buf) {
        fclose(f);
        return CNNRT_NOMEM(err);
    }
    size_t got = fread(buf, 1, (size_t)size, f);
    int failed = ferror(f);
    fclose(f);
    if (failed || got != size) {
        free(buf);
        return cnnrt_fail(err, CNNRT_E_IO, "%s: read failed", path);
    }
    buf[got] = '\0';
    *data = buf;
    *len = got;
    return CNNRT_OK;
}

void *aligned_alloc64(size_t bytes)
{
    void *p = NULL;
    if (bytes == 0) bytes = 64;
    if (posix_memalign(&p, 64, bytes) != 0) return NULL;
    return p;
}

void aligned_free(void *p) { free(p); }

char *atomic_tmp_name(const char *path)
{
    size_t len = strlen(path) + 32;
    char *tmp = malloc(len);
    if (tmp) snprintf(tmp, len, "%s.tmp%ld", path, (long)getpid());
    return tmp;
}

cnnrt_status atomic_file_open(struct atomic_file *af, const char *path, cnnrt_error *err)
{
    af->path = path;
    af->f = NULL;
    af->tmp = atomic_tmp_name(path);
    if (!af->tmp) return CNNRT_NOMEM(err);
    af->f = fopen(af->tmp, "wb");
    if (!af->f) {
        cnnrt_status st = cnnrt_fail(err, CNNRT_E_IO, "%s: cannot write: %s", path, strerror(errno));
        free(af->tmp);
        af->tmp = NULL;
        return st;
    }
    return CNNRT_OK;
}

cnnrt_status atomic_file_finish(struct atomic_file *af, bool ok, cnnrt_error *err)
{
    int saved = 0;
    if (ok && ferror(af->f)) ok = false, saved = errno;
    if (fclose(af->f) != 0 && ok) ok = false, saved = errno;
    if (ok && rename(af->tmp, af->path) != 0) ok = false, saved = errno;
    cnnrt_status st = CNNRT_OK;
    if (!ok) {
        st = cnnrt_fail(err, CNNRT_E_IO, "%s: writing failed%s%s", af->path, saved ? ": " : "",
                        saved ? strerror(saved) : "");
        remove(af->tmp);
    }
    free(af->tmp);
    af->tmp = NULL;
    af->f = NULL;
    return st;
}

double now_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}
