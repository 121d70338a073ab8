/* file_sniff.h - telling what a file is from its first and last bytes, before any
 * parser touches it (HDF5, a truncated HDF5 download, an HTML error page, a PyTorch
 * checkpoint, a Darknet .weights file, ...). */
#ifndef CNNRT_IO_FILE_SNIFF_H
#define CNNRT_IO_FILE_SNIFF_H

#include <stdint.h>

#include "cnnrt.h"

enum file_kind {
    FILE_KIND_EMPTY,
    FILE_KIND_HDF5,
    FILE_KIND_HDF5_TRUNCATED, /* HDF5 signature, but shorter than its superblock says */
    FILE_KIND_HTML,
    FILE_KIND_JSON,
    FILE_KIND_PYTORCH_ZIP,    /* torch.save (>= 1.6): zip with data.pkl */
    FILE_KIND_PYTORCH_LEGACY, /* torch.save legacy pickle */
    FILE_KIND_KERAS3_ZIP,     /* .keras archive */
    FILE_KIND_ZIP,
    FILE_KIND_DARKNET,
    FILE_KIND_UNKNOWN
};

struct file_sniff {
    enum file_kind kind;
    uint64_t size;          /* bytes on disk */
    uint64_t expected_size; /* HDF5: end-of-file address from the superblock */
    int darknet_version[3]; /* Darknet: major, minor, revision */
    uint64_t darknet_floats; /* Darknet: number of float32 values after the header */
};

/* Looks at the file at path. Errors only when the file cannot be opened or read. */
cnnrt_status file_sniff(const char *path, struct file_sniff *out, cnnrt_error *err);

/* One line describing the kind ("an HTML page", "a PyTorch checkpoint (.pt)"). */
const char *file_kind_describe(enum file_kind kind);

/* A full error for a file that should have been a Keras HDF5 weights file but is
 * of another kind: what it is and what to do. Returns CNNRT_E_FORMAT. */
cnnrt_status file_sniff_explain(const char *path, const struct file_sniff *s, cnnrt_error *err);

#endif
