/* keras_order.h - the order of Keras's model.layers for a graph. */
#ifndef CNNRT_GRAPH_KERAS_ORDER_H
#define CNNRT_GRAPH_KERAS_ORDER_H

#include "graph/graph.h"

/* Fills order[0..n_nodes) with node indices in the order Keras lists model.layers
 * for the same functional model: decreasing depth (longest path to an output),
 * ties broken by first visit of a depth-first walk from the outputs (outputs in
 * order, each layer's inputs in call order, pre-order). This is the order of the
 * layer_names attribute of a file Keras saved from that model, and the order in
 * which Keras pairs layers by position. */
cnnrt_status keras_layer_order(const struct graph *g, int *order, cnnrt_error *err);

#endif
