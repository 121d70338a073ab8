/* model_internal.h - the layout of cnnrt_model, for the library's own tools and
 * tests (bench per-layer tables, inspect, the synthetic-weights tool). */
#ifndef CNNRT_API_MODEL_INTERNAL_H
#define CNNRT_API_MODEL_INTERNAL_H

#include <stdbool.h>

#include "cnnrt.h"
#include "graph/graph.h"
#include "io/keras_h5.h"
#include "io/weights_match.h"
#include "plan/plan.h"

/* A checked weights file kept open until prepare has read its values
 * (cnnrt_weights_options.defer_values). */
struct deferred_weights {
    struct keras_h5 file;
    struct weights_match match;
    /* staging memory reused layer after layer: values are read into it, packed by
     * the planner, then given back (no fresh pages to fault in for every layer).
     * Two areas, each for the largest layer: the planner packs a layer from one
     * while the next layer is read into the other (plan.c, reading ahead). */
    struct staging_area {
        float *mem;
        size_t used;  /* floats */
        int borrowed; /* arrays handed out and not given back yet */
    } staging[2];
    int current;       /* the area arrays are handed out from */
    size_t staging_cap; /* floats per area */
};

struct cnnrt_model {
    cnnrt_error err;           /* last error, returned by cnnrt_model_error */
    char *notes;               /* non-fatal remarks from loading */
    struct graph_param *overrides; /* parameters set before the graph was loaded */
    int n_overrides;
    struct graph graph;
    bool graph_loaded;
    struct deferred_weights *deferred; /* non-NULL: values not read yet */
    struct plan plan;
    bool prepared, ran;
    int threads;               /* 0 = default */
};

#endif
