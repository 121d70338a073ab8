/* model_json.h - reading a model JSON (cnnrt's format or Keras model_config) into a graph. */
#ifndef CNNRT_GRAPH_MODEL_JSON_H
#define CNNRT_GRAPH_MODEL_JSON_H

#include "graph/graph.h"

/* Builds g (initialised, possibly holding caller-set parameters that override the
 * JSON's "params") from the JSON file at path, and infers all shapes. */
cnnrt_status model_json_load(struct graph *g, const char *path, cnnrt_error *err);

#endif
