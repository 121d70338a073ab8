/* cli_common.h - what the command-line tools share: option parsing, messages, exit
 * codes, paths. Only the tools print or exit; the library never does. */
#ifndef CNNRT_CLI_COMMON_H
#define CNNRT_CLI_COMMON_H

#include <stdbool.h>

#include "cnnrt.h"

/* Exit codes, documented in the README. */
enum {
    EXIT_OK = 0,
    EXIT_USAGE = 2,    /* bad command line */
    EXIT_INPUT = 3,    /* a file is missing, unreadable or invalid */
    EXIT_MISMATCH = 4, /* the weights do not fit the model */
    EXIT_INTERNAL = 5  /* out of memory or a bug */
};

/* How the tools that run a model load weights: everything checked at once, values
 * read by prepare layer by layer (faster, less memory; see defer_values). */
extern const cnnrt_weights_options cli_weights_deferred;

/* Prints "PROGRAM: error: message" to stderr (message may span lines). */
void cli_error(const char *program, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Prints each non-empty line of notes as "PROGRAM: note: line" to stderr. */
void cli_print_notes(const char *program, const char *notes);

/* Parses a whole decimal integer in [min, max]; false otherwise. */
bool cli_parse_int(const char *s, long min, long max, long *out);

/* Parses a decimal number in [min, max]; false otherwise. */
bool cli_parse_double(const char *s, double min, double max, double *out);

/* The value of option argv[*i] (advancing *i), or NULL with an error printed. */
const char *cli_option_value(const char *program, int argc, char **argv, int *i);

/* Last path component of path. */
const char *cli_basename(const char *path);

/* Creates directory path (and parents) if missing. */
bool cli_make_dirs(const char *path);

/* Directory holding the running executable's data: CNNRT_DATA_DIR if set, else the
 * source tree's root baked in at build time. Default model paths are relative to it
 * when they do not exist relative to the current directory. */
const char *cli_resolve_data_path(const char *relative, char *buf, size_t len);

/* Writes a JSON string literal (quotes, escapes) to stdout. */
void cli_print_json_string(const char *s);

/* True when paths a and b name the same existing file (same device and inode). */
bool cli_same_file(const char *a, const char *b);

/* Writes every output of the last run of m as DIR/<image file name>.out<i>.npy,
 * float32 NHWC with shape (1, H, W, C) (a vector output: (1, C)). Prints errors;
 * returns an exit code. */
int cli_dump_outputs(const char *program, const char *dir, const char *image, cnnrt_model *m);

#endif
