/* npy.c - NumPy .npy (format 1.0) writer for float32 arrays. */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cnnrt.h"
#include "core/error.h"
#include "core/util.h"

cnnrt_status cnnrt_npy_save(const char *path, const int *shape, int rank, const float *data,
                            cnnrt_error *err)
{
    if (rank < 0 || rank > 8) return cnnrt_fail(err, CNNRT_E_USAGE, "npy: invalid rank %d", rank);
    char header[256];
    int pos = snprintf(header, sizeof header, "{'descr': '<f4', 'fortran_order': False, 'shape': (");
    size_t count = 1;
    for (int d = 0; d < rank; d++) {
        pos += snprintf(header + pos, sizeof header - (size_t)pos, d ? ", %d" : "%d", shape[d]);
        count *= (size_t)shape[d];
    }
    pos += snprintf(header + pos, sizeof header - (size_t)pos, rank == 1 ? ",), }" : "), }");
    /* magic (6) + version (2) + header length (2) + header, padded with spaces to a
     * multiple of 64 and ended by a newline */
    int total = 10 + pos + 1;
    int padded = (total + 63) / 64 * 64;
    while (pos < padded - 10 - 1) header[pos++] = ' ';
    header[pos++] = '\n';
    struct atomic_file af;
    cnnrt_status st = atomic_file_open(&af, path, err);
    if (st) return st;
    unsigned char pre[10] = {0x93, 'N', 'U', 'M', 'P', 'Y', 1, 0, (unsigned char)(pos & 0xff),
                             (unsigned char)(pos >> 8)};
    bool ok = fwrite(pre, 1, 10, af.f) == 10 && fwrite(header, 1, (size_t)pos, af.f) == (size_t)pos &&
              fwrite(data, sizeof(float), count, af.f) == count;
    return atomic_file_finish(&af, ok, err);
}
