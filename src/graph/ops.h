/* ops.h - the op table: names, shape inference and expected weights of each op. */
#ifndef CNNRT_GRAPH_OPS_H
#define CNNRT_GRAPH_OPS_H

#include "graph/graph.h"

struct op_def {
    const char *name; /* short internal name, used in messages and per-layer tables */
    int min_inputs, max_inputs; /* max_inputs 0 = unbounded */
    /* Sets n->out (and resolves padding) from the shapes of n's inputs and fills
     * n->w[] / n->n_weights with the weights Keras stores for this layer. */
    cnnrt_status (*infer)(struct graph *g, struct node *n, cnnrt_error *err);
};

/* Definition of op (op < OP_COUNT). */
const struct op_def *op_get(enum op_type op);

/* Name of an activation ("relu", "leaky_relu", ...). */
const char *act_name(enum act_type act);

/* Infers every node's shape in order and checks the graph; the first problem is an
 * error naming the node. */
cnnrt_status graph_infer_shapes(struct graph *g, cnnrt_error *err);

/* Output size and padding of a window of size k, stride s on an input of size in,
 * Keras/TensorFlow "same" or "valid". Returns false if the window does not fit. */
bool window_out(int in, int k, int s, bool same, int *out, int *pad_before, int *pad_after);

#endif
