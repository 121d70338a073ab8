/*
 * graph.h - the intermediate representation: one node per Keras layer.
 *
 * A graph is built from a model JSON (model_json.c), its shapes are inferred by the
 * op table (ops.c), and its weights are filled from a weights file (io/) or made up
 * (synthetic.c). The planner (plan/) turns it into something executable; the graph
 * itself is never mutated by planning.
 *
 * Every node produces exactly one tensor (Keras layers used here have one output).
 * Node i may only read nodes j < i: the JSON lists layers in a topological order.
 */
#ifndef CNNRT_GRAPH_H
#define CNNRT_GRAPH_H

#include <stdbool.h>
#include <stddef.h>

#include "cnnrt.h"
#include "kernels.h"

enum op_type {
    OP_INPUT,
    OP_ZERO_PAD,
    OP_CONV2D,
    OP_BATCH_NORM,
    OP_ACTIVATION,
    OP_MAX_POOL,
    OP_GLOBAL_AVG_POOL,
    OP_FLATTEN,
    OP_DENSE,
    OP_ADD,
    OP_CONCAT,
    OP_UPSAMPLE,
    OP_COUNT
};


/* Padding of a 2-D window op, resolved to explicit sides at shape inference. */
struct pad4 {
    int top, bottom, left, right;
};

struct input_params {
    int h, w, c;
};
struct zero_pad_params {
    struct pad4 pad;
};
struct conv2d_params {
    int filters, kh, kw, sh, sw;
    bool same;        /* Keras padding="same" (else "valid") */
    bool use_bias;
    enum act_type act; /* Keras "activation" argument of the layer */
    struct pad4 pad;  /* resolved at shape inference */
};
struct batch_norm_params {
    float eps;
    bool center, scale; /* beta / gamma present */
};
struct activation_params {
    enum act_type act;
    float alpha; /* leaky slope */
};
struct pool_params {
    int kh, kw, sh, sw;
    bool same;
    struct pad4 pad; /* resolved at shape inference */
};
struct dense_params {
    int units;
    bool use_bias;
    enum act_type act;
};
struct upsample_params {
    int sh, sw;
};

/* One weight array of a node, in Keras's weight_names order. */
struct weight {
    const char *role; /* "kernel", "bias", "gamma", "beta", "moving_mean", ... */
    int rank;
    int dims[4];      /* Keras orientation: conv kernel (kh, kw, Cin, Cout) */
    float *data;      /* owned by the graph; NULL until weights are loaded */
    bool borrowed;    /* data lies in the weight source's staging memory instead */
};

#define NODE_MAX_WEIGHTS 4

struct node {
    char *name;            /* Keras layer name, unique in the graph */
    const char *class_name; /* Keras class as written in the JSON ("Conv2D", "ReLU") */
    enum op_type op;
    int *inputs;            /* indices of earlier nodes, in call order */
    int n_inputs;
    cnnrt_shape out;        /* inferred output shape */
    union {
        struct input_params input;
        struct zero_pad_params zero_pad;
        struct conv2d_params conv;
        struct batch_norm_params bn;
        struct activation_params act;
        struct pool_params pool;
        struct dense_params dense;
        struct upsample_params up;
    } p;
    struct weight w[NODE_MAX_WEIGHTS];
    int n_weights; /* expected weights, known after shape inference */
};

/* A named integer parameter of the model JSON ("classes", "size"). */
struct graph_param {
    char *name;
    long value;
    bool used;    /* referenced by an expression of the model JSON */
    char *source; /* where the value came from, for messages (may be NULL) */
};

/* Where weights that are not in memory yet come from: the loader can leave a
 * checked weights file open and have each layer's values read when the planner
 * needs them (see graph_fetch_weights). fetch fills (allocating) every w[].data
 * of one node. */
struct graph;
struct weight_source {
    cnnrt_status (*fetch)(void *ctx, struct graph *g, int node, cnnrt_error *err);
    /* a borrowed array of count floats is no longer used */
    void (*give_back)(void *ctx, const float *data, size_t count);
    void *ctx;
};

struct graph {
    char *name;         /* model name from the JSON */
    char *architecture; /* "ResNet50", "YOLOv3", ... (may be NULL) */
    char *task;         /* "classification" or "detection" (may be NULL) */
    char *preprocess;   /* default preprocessing mode (may be NULL) */
    struct node *nodes;
    int n_nodes, cap_nodes;
    int input;          /* index of the InputLayer node */
    int *outputs;       /* indices of the output nodes, in model output order */
    int n_outputs;
    struct graph_param *params;
    int n_params;
    bool weights_loaded;
    struct weight_source source; /* fetch != NULL: some values are still in the file */
    long synthetic_seed; /* >= 0: the weights are cnnrt's synthetic ones with this seed */
};

/* Empty graph. */
void graph_init(struct graph *g);

/* Frees everything the graph owns and zeroes it. */
void graph_free(struct graph *g);

/* Index of the node named name, or -1. */
int graph_find(const struct graph *g, const char *name);

/* Appends a node (the name is copied); returns its index or -1 when out of memory. */
int graph_add_node(struct graph *g, const char *name, const char *class_name, enum op_type op);

/* Looks up a parameter; false if absent. */
bool graph_param_get(const struct graph *g, const char *name, long *value);

/* Like graph_param_get, and marks the parameter as used. */
bool graph_param_use(struct graph *g, const char *name, long *value);

/* Sets (adds or replaces) a parameter; false when out of memory. */
bool graph_param_set(struct graph *g, const char *name, long value);

/* Records where a parameter's value came from ("classes.json (80 labels)"). */
bool graph_param_set_source(struct graph *g, const char *name, const char *source);

/* Number of consumers of each node (array of n_nodes, caller frees), outputs count
 * as one extra consumer each. NULL when out of memory. */
int *graph_consumer_counts(const struct graph *g);

/* Allocates the data arrays of every weight (contents undefined, filled by the
 * caller). */
cnnrt_status graph_alloc_weights(struct graph *g, cnnrt_error *err);

/* Frees the data arrays of node's weights (borrowed ones go back to g->source). */
void graph_release_node_weights(struct graph *g, int node);

/* The same for every node. */
void graph_drop_weights(struct graph *g);

/* The same for one node's weights (those not allocated yet). */
cnnrt_status graph_alloc_node_weights(struct graph *g, int node, cnnrt_error *err);

/* Makes sure node's weights are in memory: reads them from g->source when they
 * are still in the file. An error when they are neither (none loaded). */
cnnrt_status graph_fetch_weights(struct graph *g, int node, cnnrt_error *err);

/* Whether some weight of node has no values in memory yet. */
bool graph_weights_unread(const struct graph *g, int node);

/* Element count of a weight. */
size_t weight_elems(const struct weight *w);

/* Formats a weight shape as "(3, 3, 64, 128)" into buf. */
const char *format_dims(const int *dims, int rank, char *buf, size_t len);

/* Total parameter count of the graph's expected weights. */
size_t graph_param_count(const struct graph *g);

/* Multiply-accumulate count of one forward pass (conv and dense only). */
double graph_macs(const struct graph *g);

#endif
