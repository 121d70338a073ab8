/* error.h - building cnnrt_error values inside the library. */
#ifndef CNNRT_CORE_ERROR_H
#define CNNRT_CORE_ERROR_H

#include "cnnrt.h"

/* Records status and a printf-formatted message in err (err may be NULL) and
 * returns status, so that callers can write `return cnnrt_fail(err, ...)`. */
cnnrt_status cnnrt_fail(cnnrt_error *err, cnnrt_status status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Puts "prefix" (printf-formatted) in front of the message already in err. */
void cnnrt_error_prefix(cnnrt_error *err, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Appends text (printf-formatted) to the message already in err. */
void cnnrt_error_append(cnnrt_error *err, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Resets err to CNNRT_OK with an empty message. */
void cnnrt_error_clear(cnnrt_error *err);

/* Shorthand for the out-of-memory failure. */
#define CNNRT_NOMEM(err) cnnrt_fail((err), CNNRT_E_NOMEM, "out of memory")

#endif
