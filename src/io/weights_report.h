/*
 * weights_report.h - what a weights file is and what it holds, for `inspect`:
 * counts, guesses (architecture, class count, naming scheme) and the side-by-side
 * comparison with a model. Nothing here prints; the CLI formats these values.
 */
#ifndef CNNRT_IO_WEIGHTS_REPORT_H
#define CNNRT_IO_WEIGHTS_REPORT_H

#include <stdbool.h>
#include <stdint.h>

#include "graph/graph.h"
#include "io/keras_h5.h"
#include "io/weights_match.h"

/* Which Keras version or tool named a file's layers. */
enum naming_scheme {
    NAMING_UNKNOWN,
    NAMING_KERAS2,        /* standalone Keras 2 / keras-yolo3: conv2d_1, batch_normalization_1 */
    NAMING_TF_KERAS,      /* tf.keras: conv2d, conv2d_1, ... */
    NAMING_KERAS_AUTO,    /* Keras auto-names numbered from N > 1 (not the session's first model) */
    NAMING_IMAGEAI,       /* ImageAI 2.x YOLOv3: output convs last1..last3 */
    NAMING_KERAS_APPS,    /* keras.applications ResNet50: conv1_conv, conv2_block1_1_conv */
    NAMING_KERAS_APPS_V1, /* original keras-applications ResNet50: conv1, res2a_branch2a, fc1000 */
    NAMING_KERAS3         /* Keras 3 .weights.h5 (layers/<name>/vars/<i>) */
};

struct naming_guess {
    enum naming_scheme scheme;
    const char *id;          /* "keras2", "tf-keras", "keras-auto", "imageai", "keras-apps",
                                "keras-apps-v1", "keras3" or "unknown"; static */
    const char *description; /* one line for people; static */
    long first_auto_index;   /* lowest N of the Keras auto-names conv2d_N (0 for plain
                                "conv2d"), -1 if there are none */
};

/* Guesses the naming scheme from the file's layer names. */
struct naming_guess h5_guess_naming(const struct keras_h5 *f);

/* Counts and guesses of one Keras HDF5 file. */
struct h5_summary {
    int layers;          /* entries of layer_names (every layer, weightless ones too) */
    int weighted_layers; /* layers with at least one weight */
    int conv, batch_norm, dense, other; /* weighted layers by the look of their weights */
    uint64_t parameters; /* sum of the element counts of every dataset */
    int float16, float64, non_float, problems; /* datasets of each kind */
    const char *architecture; /* "ResNet50", "YOLOv3", "TinyYOLOv3" or NULL (static) */
    int classes;              /* class count the final layer implies, 0 if unknown */
    struct naming_guess naming;
};

void h5_summarize(const struct keras_h5 *f, struct h5_summary *s);

/* "Keras 2 weights-only file (model.save_weights)", ... (static). */
const char *h5_layout_describe(enum h5_layout layout);

/* Short identifier of a layout for JSON: "keras2-weights", "keras2-full-model",
 * "keras3-weights" (static). */
const char *h5_layout_id(enum h5_layout layout);

/* "float32", "float16", "float64", "int32", ... for a dataset (static or buf). */
const char *h5_dtype_name(const struct h5_dataset *d, char *buf, size_t len);

/* Architecture of a Darknet .weights file from the number of float32 values after its
 * header: Darknet stores exactly as many values as Keras has parameters (per conv:
 * biases or BN beta, [gamma, mean, variance], kernel), so YOLOv3 and TinyYOLOv3 are
 * recognised for any class count. Returns "YOLOv3", "TinyYOLOv3" or NULL; *classes
 * gets the class count (0 if unknown). */
const char *darknet_guess_architecture(uint64_t values, int *classes);

/* Darknet value counts at 80 classes and their growth per class (exposed for tests). */
#define DARKNET_YOLOV3_VALUES_80 62001757ull
#define DARKNET_YOLOV3_VALUES_PER_CLASS 5385ull /* 3 anchors x (1024+512+256 inputs + bias) */
#define DARKNET_TINY_VALUES_80 8858734ull
#define DARKNET_TINY_VALUES_PER_CLASS 2310ull /* 3 anchors x (512+256 inputs + bias) */

/* One row of the side-by-side table: a model layer and the file layer the loader
 * pairs it with. */
struct compare_row {
    int model; /* index into match.model_nodes, or -1 (a file layer left over) */
    int file;  /* index into match.file_layers, or -1 (no partner) */
    bool fits; /* both present, same weight count and shapes */
};

struct weights_comparison {
    struct weights_match match; /* exactly the loader's pairing */
    struct compare_row *rows;   /* model layers in Keras order, then unpaired file layers */
    int n_rows;
    int first_divergence;       /* index into rows of the first row that does not fit, or -1 */
};

/* Pairs g with f as cnnrt_model_load_weights does (same mode) and lays the pairs
 * out as rows. Free with weights_comparison_free. */
cnnrt_status weights_compare(const struct graph *g, const struct keras_h5 *f, cnnrt_pairing mode,
                             struct weights_comparison *c, cnnrt_error *err);

void weights_comparison_free(struct weights_comparison *c);

#endif
