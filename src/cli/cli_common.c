/* cli_common.c - shared command-line helpers. */
#include "cli/cli_common.h"

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

const cnnrt_weights_options cli_weights_deferred = {CNNRT_PAIR_AUTO, 1};

void cli_error(const char *program, const char *fmt, ...)
{
    fprintf(stderr, "%s: error: ", program);
    va_list ap;
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
}

void cli_print_notes(const char *program, const char *notes)
{
    while (notes && *notes) {
        const char *end = strchr(notes, '\n');
        int len = end ? (int)(end - notes) : (int)strlen(notes);
        if (len > 0) fprintf(stderr, "%s: note: %.*s\n", program, len, notes);
        notes += len + (end ? 1 : 0);
    }
}

bool cli_parse_int(const char *s, long min, long max, long *out)
{
    if (!s || !*s) return false;
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || *end || v < min || v > max) return false;
    *out = v;
    return true;
}

bool cli_parse_double(const char *s, double min, double max, double *out)
{
    if (!s || !*s) return false;
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (errno || *end || !isfinite(v) || v < min || v > max) return false;
    *out = v;
    return true;
}

const char *cli_option_value(const char *program, int argc, char **argv, int *i)
{
    const char *arg = argv[*i];
    const char *eq = strchr(arg, '=');
    if (arg[0] == '-' && arg[1] == '-' && eq) return eq + 1;
    if (*i + 1 >= argc) {
        cli_error(program, "option %s needs a value", arg);
        return NULL;
    }
    return argv[++*i];
}

const char *cli_basename(const char *path)
{
    const char *slash = strrchr(path, '/');
    return slash ? slash + 1 : path;
}

bool cli_make_dirs(const char *path)
{
    char buf[PATH_MAX];
    if (strlen(path) >= sizeof buf) return false;
    strcpy(buf, path);
    for (char *p = buf + 1;; p++) {
        if (*p == '/' || *p == '\0') {
            char saved = *p;
            *p = '\0';
            if (mkdir(buf, 0777) != 0 && errno != EEXIST) return false;
            *p = saved;
            if (!saved) break;
        }
    }
    struct stat st;
    return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

const char *cli_resolve_data_path(const char *relative, char *buf, size_t len)
{
    if (access(relative, F_OK) == 0 || relative[0] == '/') return relative;
    const char *dir = getenv("CNNRT_DATA_DIR");
#ifdef CNNRT_SOURCE_DIR
    if (!dir) dir = CNNRT_SOURCE_DIR;
#endif
    if (!dir) return relative;
    snprintf(buf, len, "%s/%s", dir, relative);
    return access(buf, F_OK) == 0 ? buf : relative;
}

void cli_print_json_string(const char *s)
{
    putchar('"');
    for (const unsigned char *c = (const unsigned char *)s; *c; c++) {
        switch (*c) {
        case '"': fputs("\\\"", stdout); break;
        case '\\': fputs("\\\\", stdout); break;
        case '\n': fputs("\\n", stdout); break;
        case '\r': fputs("\\r", stdout); break;
        case '\t': fputs("\\t", stdout); break;
        default:
            if (*c < 0x20) printf("\\u%04x", *c);
            else putchar(*c);
        }
    }
    putchar('"');
}

bool cli_same_file(const char *a, const char *b)
{
    struct stat sa, sb;
    return stat(a, &sa) == 0 && stat(b, &sb) == 0 && sa.st_dev == sb.st_dev && sa.st_ino == sb.st_ino;
}

int cli_dump_outputs(const char *program, const char *dir, const char *image, cnnrt_model *m)
{
    for (int i = 0; i < cnnrt_model_output_count(m); i++) {
        cnnrt_shape s;
        const float *y = cnnrt_model_output(m, i, &s);
        if (!y) {
            cli_error(program, "output %d of the model is not available", i);
            return EXIT_INTERNAL;
        }
        int shape[4] = {1, s.h, s.w, s.c}, rank = 4;
        if (s.h == 1 && s.w == 1) {
            shape[1] = s.c;
            rank = 2;
        }
        char path[4096];
        snprintf(path, sizeof path, "%s/%s.out%d.npy", dir, cli_basename(image), i);
        cnnrt_error err;
        if (cnnrt_npy_save(path, shape, rank, y, &err)) {
            cli_error(program, "%s", err.message);
            return cnnrt_status_exit_code(err.status);
        }
    }
    return EXIT_OK;
}
