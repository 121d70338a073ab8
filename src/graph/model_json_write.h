/* model_json_write.h - a graph as a Keras 2 model_config JSON (for full-model files). */
#ifndef CNNRT_GRAPH_MODEL_JSON_WRITE_H
#define CNNRT_GRAPH_MODEL_JSON_WRITE_H

#include "graph/graph.h"

/* Keras "Model" config of g, layer i named names[i] (names may be NULL: the graph's
 * names). Returns a malloc'd compact JSON string, or NULL when out of memory. The
 * result reads back with model_json_load. */
char *model_json_keras_config(const struct graph *g, char *const *names);

#endif
