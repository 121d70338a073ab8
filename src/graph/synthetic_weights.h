/* synthetic_weights.h - seeded, calibrated stand-in weights (see the .c file). */
#ifndef CNNRT_GRAPH_SYNTHETIC_WEIGHTS_H
#define CNNRT_GRAPH_SYNTHETIC_WEIGHTS_H

#include <stdint.h>

#include "graph/graph.h"

/* Fills every weight of g (allocating them): deterministic for a seed and graph. */
cnnrt_status synthetic_weights(struct graph *g, uint64_t seed, cnnrt_error *err);

#endif
