/* graph_exec.h - running a graph node by node, without a plan.
 *
 * Used as the test oracle (with the reference kernels) and by the synthetic-weight
 * calibration, which must see every layer's input before that layer runs. Each node's
 * value lives in its own buffer, freed after its last reader. */
#ifndef CNNRT_EXEC_GRAPH_EXEC_H
#define CNNRT_EXEC_GRAPH_EXEC_H

#include <stdbool.h>

#include "graph/graph.h"

/* Called before node `node` runs; `inputs` are the values of its inputs. May change
 * the node's weights. Returns non-OK to stop the run. */
typedef cnnrt_status (*graph_exec_hook)(struct graph *g, int node, const float *const *inputs,
                                        void *ctx, cnnrt_error *err);

/* Runs g on input. reference = true uses the plain reference kernels, else the fast
 * ones. outputs[k] receives a malloc'd copy of output k (caller frees each). hook may
 * be NULL. */
cnnrt_status graph_exec(struct graph *g, const float *input, bool reference, graph_exec_hook hook,
                        void *ctx, float **outputs, cnnrt_error *err);

#endif
