/* keras_h5_write.h - writing a graph's weights as a Keras 2 HDF5 file. */
#ifndef CNNRT_IO_KERAS_H5_WRITE_H
#define CNNRT_IO_KERAS_H5_WRITE_H

#include <stdbool.h>

#include "graph/graph.h"

struct h5_write_options {
    const char *scheme; /* layer naming scheme (io/naming_schemes.h); NULL = graph names */
    bool full_model;    /* model.save layout with model_config, else save_weights layout */
    bool vlen_strings;  /* variable-length string attributes (newer h5py) */
    int split_attrs;    /* > 0: split layer_names into chunks of this many entries */
    bool float64;       /* store datasets as float64 */
};

/* Writes the file under a temporary name, then renames it into place. */
cnnrt_status keras_h5_write(const struct graph *g, const char *path, const struct h5_write_options *o,
                            cnnrt_error *err);

#endif
