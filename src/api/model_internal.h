/* model_internal.h - the layout of cnnrt_model, for the library's own tools and
 * tests (bench per-layer tables, inspect, the synthetic-weights tool). */
#ifndef CNNRT_API_MODEL_INTERNAL_H
#define CNNRT_API_MODEL_INTERNAL_H

#include <stdbool.h>

#include "cnnrt.h"
#include "graph/graph.h"
#include "plan/plan.h"

struct cnnrt_model {
    cnnrt_error err;           /* last error, returned by cnnrt_model_error */
    char *notes;               /* non-fatal remarks from loading */
    struct graph_param *overrides; /* parameters set before the graph was loaded */
    int n_overrides;
    struct graph graph;
    bool graph_loaded;
    struct plan plan;
    bool prepared, ran;
    int threads;               /* 0 = default */
};

#endif
