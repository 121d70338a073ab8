/*
 * keras_h5.h - reading the structure and data of Keras HDF5 weight files.
 *
 * Opening reads only the structure: the layer list (layer_names, in the saving
 * model's model.layers order) and, per layer, its datasets resolved through
 * weight_names with their dtype and shape. Data is read later, one dataset at a
 * time, after the caller has validated shapes (so nothing is allocated from sizes
 * that the file alone claims). See ../shared/FORMATS.md section 1 for the layout.
 */
#ifndef CNNRT_IO_KERAS_H5_H
#define CNNRT_IO_KERAS_H5_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cnnrt.h"

enum h5_layout {
    H5_LAYOUT_KERAS2_WEIGHTS, /* model.save_weights: layer groups at the root */
    H5_LAYOUT_KERAS2_FULL,    /* model.save: layer groups under /model_weights */
    H5_LAYOUT_KERAS3_WEIGHTS  /* Keras 3 .weights.h5: /layers/<name>/vars/<i> */
};

enum h5_dtype { H5_DTYPE_FLOAT, H5_DTYPE_INT, H5_DTYPE_OTHER };

#define H5_MAX_RANK 8

struct h5_dataset {
    char *name;          /* as in weight_names, e.g. "conv2d_1/kernel:0" */
    int rank;            /* -1 if the dataset could not be opened */
    int64_t dims[H5_MAX_RANK];
    enum h5_dtype dtype;
    int dtype_bytes;     /* 2 = float16, 4 = float32, 8 = float64 */
    char *problem;       /* NULL, or why the dataset cannot be read */
};

struct h5_layer {
    char *name;
    struct h5_dataset *weights; /* in weight_names order */
    int n_weights;
};

struct keras_h5 {
    char *path;
    int64_t file;   /* hid_t of the file */
    int64_t group;  /* hid_t of the group holding the layer groups */
    enum h5_layout layout;
    char *keras_version; /* NULL if absent */
    char *backend;       /* NULL if absent */
    char *model_config;  /* full-model files: the Keras model JSON, else NULL */
    long synthetic_seed; /* >= 0: written by cnnrt's synthetic-weights tool */
    struct h5_layer *layers; /* every entry of layer_names, in order */
    int n_layers;
    /* keras_h5_map: the whole file mapped (private, copy on write) once it is asked */
    void *map;
    size_t map_bytes;
    int map_state; /* 0: not tried yet; 1: mapped; -1: cannot be (values are read) */
};

/* Opens path read-only and reads its structure. The file must already be known to be
 * HDF5 (file_sniff). Errors name the file and what is wrong. */
cnnrt_status keras_h5_open(const char *path, struct keras_h5 *f, cnnrt_error *err);

/* Reads dataset w of layer l as float32 into dst, which holds count values (the
 * dataset's element count must equal count). float16/float64 are converted; NaN or
 * infinite values are an error. */
cnnrt_status keras_h5_read(struct keras_h5 *f, int l, int w, float *dst, size_t count,
                           cnnrt_error *err);

/* Dataset w of layer l where it lies in the file, when its values can be used from
 * there: stored in one contiguous extent (no chunks, filters or external file) as
 * little-endian float32 at a float's alignment, inside the file, with count elements
 * (how h5py, hence Keras, and cnnrt's writer store weights). *out is then a pointer
 * into a private mapping of the file, valid until keras_h5_close; else NULL (read
 * the dataset with keras_h5_read, which also converts other types). The values are
 * checked as keras_h5_read checks them. Nothing is copied out of the page cache. */
cnnrt_status keras_h5_map(struct keras_h5 *f, int l, int w, size_t count, float **out,
                          cnnrt_error *err);

/* Whether p points into the file's mapping (a value keras_h5_map handed out). */
bool keras_h5_mapped(const struct keras_h5 *f, const float *p);

/* Done with count values keras_h5_map handed out at p: the whole pages among them
 * are dropped from the process (they stay in the page cache), so that a model's
 * resident memory does not grow by the file as its layers are packed. */
void keras_h5_unmap(struct keras_h5 *f, const float *p, size_t count);

/* The structure hand-over from the probing child (keras_h5_open) as a flat stream:
 * encode puts f's structure (not its file handles) into a malloc'ed buffer (false
 * when out of memory); decode fills f from one, with f->path, file and group unset,
 * and returns false (f closed) when the bytes do not parse exactly. */
bool keras_h5_structure_encode(const struct keras_h5 *f, char **buf, size_t *len);
bool keras_h5_structure_decode(const char *buf, size_t len, struct keras_h5 *f);

/* Closes the file, unmaps it, and frees everything. Safe on a zeroed or failed
 * struct. */
void keras_h5_close(struct keras_h5 *f);

/* Number of elements of a dataset (0 if unknown or overflowing). */
uint64_t h5_dataset_elems(const struct h5_dataset *d);

/* Writes "(3, 3, 64, 128)" for a dataset's shape. */
const char *h5_format_dims(const struct h5_dataset *d, char *buf, size_t len);

/* Makes HDF5 quiet (no printed error stacks) and safe (no filter plugins).
 * Idempotent; called by keras_h5_open and the writer. */
void h5_library_init(void);

/* The innermost HDF5 error message of the current error stack ("" if none), for
 * translating HDF5 failures into cnnrt messages. */
const char *h5_last_error(char *buf, size_t len);

#endif
