/* error.c - cnnrt_error helpers and status names. */
#include "core/error.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

const char *cnnrt_status_name(cnnrt_status status)
{
    switch (status) {
    case CNNRT_OK: return "ok";
    case CNNRT_E_USAGE: return "usage error";
    case CNNRT_E_IO: return "input/output error";
    case CNNRT_E_FORMAT: return "invalid file";
    case CNNRT_E_MISMATCH: return "model mismatch";
    case CNNRT_E_NOMEM: return "out of memory";
    case CNNRT_E_INTERNAL: return "internal error";
    }
    return "unknown status";
}

int cnnrt_status_exit_code(cnnrt_status status)
{
    switch (status) {
    case CNNRT_OK: return 0;
    case CNNRT_E_USAGE: return 2;
    case CNNRT_E_IO:
    case CNNRT_E_FORMAT: return 3;
    case CNNRT_E_MISMATCH: return 4;
    case CNNRT_E_NOMEM:
    case CNNRT_E_INTERNAL: return 5;
    }
    return 5;
}

cnnrt_status cnnrt_fail(cnnrt_error *err, cnnrt_status status, const char *fmt, ...)
{
    if (!err) return status;
    err->status = status;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err->message, sizeof err->message, fmt, ap);
    va_end(ap);
    return status;
}

void cnnrt_error_prefix(cnnrt_error *err, const char *fmt, ...)
{
    if (!err) return;
    char prefix[CNNRT_ERRMSG_MAX];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(prefix, sizeof prefix, fmt, ap);
    va_end(ap);
    if (n < 0) return;
    size_t plen = strlen(prefix), mlen = strlen(err->message);
    if (plen >= sizeof err->message) return;
    if (plen + mlen >= sizeof err->message) mlen = sizeof err->message - plen - 1;
    memmove(err->message + plen, err->message, mlen);
    memcpy(err->message, prefix, plen);
    err->message[plen + mlen] = '\0';
}

void cnnrt_error_append(cnnrt_error *err, const char *fmt, ...)
{
    if (!err) return;
    size_t len = strlen(err->message);
    if (len + 1 >= sizeof err->message) return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err->message + len, sizeof err->message - len, fmt, ap);
    va_end(ap);
}

void cnnrt_error_clear(cnnrt_error *err)
{
    if (!err) return;
    err->status = CNNRT_OK;
    err->message[0] = '\0';
}
