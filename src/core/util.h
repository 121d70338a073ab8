/* util.h - small helpers shared by the library: checked sizes, strings, files. */
#ifndef CNNRT_CORE_UTIL_H
#define CNNRT_CORE_UTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "cnnrt.h"

#define CNNRT_MIN(a, b) ((a) < (b) ? (a) : (b))
#define CNNRT_MAX(a, b) ((a) > (b) ? (a) : (b))
#define CNNRT_ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

/* *out = a * b; false on overflow of size_t. */
static inline bool size_mul(size_t a, size_t b, size_t *out)
{
    return !__builtin_mul_overflow(a, b, out);
}

/* Number of elements of a tensor h x w x c; 0 on overflow or non-positive dims. */
size_t shape_elems(int h, int w, int c);

/* strdup that returns NULL when out of memory (and for NULL). */
char *str_dup(const char *s);

/* true if s ends with suffix, ignoring ASCII case. */
bool str_ends_with_ci(const char *s, const char *suffix);

/* Reads a whole file (at most max_bytes) into a NUL-terminated buffer.
 * Caller frees *data. */
cnnrt_status file_read_all(const char *path, size_t max_bytes, char **data, size_t *len,
                           cnnrt_error *err);

/* Size of a regular file in bytes; error if it is not a readable regular file. */
cnnrt_status file_size(const char *path, uint64_t *size, cnnrt_error *err);

/* 64-byte aligned allocation (for SIMD kernels); free with aligned_free. */
void *aligned_alloc64(size_t bytes);

void aligned_free(void *p);

/* Output written under a temporary name beside its final path and renamed into place
 * only when complete, so that a reader never sees a partial file. */
struct atomic_file {
    FILE *f;         /* write here */
    char *tmp;       /* the temporary name */
    const char *path;
};

/* Opens a temporary file for path. */
cnnrt_status atomic_file_open(struct atomic_file *af, const char *path, cnnrt_error *err);

/* Closes the file; if ok (and closing succeeded) renames it to its path, else removes
 * it. Returns the first failure as an error naming path. */
cnnrt_status atomic_file_finish(struct atomic_file *af, bool ok, cnnrt_error *err);

/* "path.tmp<pid>", malloc'd (NULL when out of memory): for writers that create the
 * file by name (HDF5). */
char *atomic_tmp_name(const char *path);

/* Monotonic clock in seconds. */
double now_seconds(void);

#endif
