/*
 * weights_match.h - pairing a Keras weights file with the graph, validating every
 * weight, diagnosing mismatches, and loading the data.
 *
 * Pairing follows Keras: only layers with weights take part; by name when every
 * model layer's name is in the file (and the counts agree), otherwise by position
 * in Keras's model.layers order (graph/keras_order.h) against the file's
 * layer_names order.
 */
#ifndef CNNRT_IO_WEIGHTS_MATCH_H
#define CNNRT_IO_WEIGHTS_MATCH_H

#include <stdbool.h>

#include "graph/graph.h"
#include "io/keras_h5.h"

struct weights_match {
    bool by_name;
    int n_model;      /* layers of the graph that have weights */
    int *model_nodes; /* their node indices, in Keras model.layers order */
    int n_file;       /* layers of the file whose weight_names is not empty */
    int *file_layers; /* their indices in f->layers, in file order */
    int *partner;     /* per model layer: index into file_layers, or -1 */
};

/* Pairs the graph's weighted layers with the file's. Never fails on a mismatch
 * (that is weights_check's job): layers without a partner get -1. */
cnnrt_status weights_match(const struct graph *g, const struct keras_h5 *f, cnnrt_pairing mode,
                           struct weights_match *m, cnnrt_error *err);

/* Validates the pairing: layer counts, weight counts, dtypes and every shape. The
 * first problem is CNNRT_E_MISMATCH (or CNNRT_E_FORMAT for unreadable datasets) with
 * a diagnosis: what differs, both shapes in (kh, kw, Cin, Cout) orientation, the
 * likely cause and the fix. notes (may be NULL) receives non-fatal remarks such as
 * dtype conversions, one per line. */
cnnrt_status weights_check(const struct graph *g, const struct keras_h5 *f,
                           const struct weights_match *m, char **notes, cnnrt_error *err);

/* Index of the first model layer whose pairing is wrong (missing partner, other
 * weight count or shape), or -1 if every pair fits. */
int weights_first_divergence(const struct graph *g, const struct keras_h5 *f,
                             const struct weights_match *m);

/* A diff of the two weighted-layer sequences: the in-order pairing that matches the
 * most layers whose weights fit exactly (same count and shapes), preferring pairs with
 * equal names. It finds the layer that was added or removed when the counts differ. */
struct weights_alignment {
    int *model_to_file; /* per model layer (index into m->model_nodes): index into
                           m->file_layers, or -1 when it has no partner */
    int *file_to_model; /* per file layer (index into m->file_layers): index into
                           m->model_nodes, or -1 */
};

/* Aligns the sequences of m. CNNRT_E_USAGE when they are too long to align
 * (over WEIGHTS_ALIGN_MAX cells); free with weights_alignment_free. */
#define WEIGHTS_ALIGN_MAX (16u << 20)
cnnrt_status weights_align(const struct graph *g, const struct keras_h5 *f,
                           const struct weights_match *m, struct weights_alignment *a,
                           cnnrt_error *err);

void weights_alignment_free(struct weights_alignment *a);

/* Does file layer L fit model node n exactly (same weight count and shapes)? */
bool weights_pair_fits(const struct h5_layer *L, const struct node *n);

/* The shapes of a layer's weights as one string: "(7, 7, 3, 64) (64,)", repeated
 * shapes collapsed ("4 x (64,)"), "-" for none. Returns buf. */
const char *node_shapes(const struct node *n, char *buf, size_t len);
const char *h5_layer_shapes(const struct h5_layer *L, char *buf, size_t len);

/* Reads the data of every pair into the graph's weights (allocating them). Call
 * after weights_check succeeded. */
cnnrt_status weights_read(struct graph *g, struct keras_h5 *f, const struct weights_match *m,
                          cnnrt_error *err);

/* The same for one node of the graph (nothing to do when it has no weights). */
cnnrt_status weights_read_node(struct graph *g, struct keras_h5 *f, const struct weights_match *m,
                               int node, cnnrt_error *err);

/* Points the weights of one node that are not loaded yet at their values in the
 * file's mapping where they can be used from there (keras_h5_map): they become
 * borrowed (graph.h), valid until the file is closed. weights_read_node then reads
 * only the others. */
cnnrt_status weights_map_node(struct graph *g, struct keras_h5 *f, const struct weights_match *m,
                              int node, cnnrt_error *err);

void weights_match_free(struct weights_match *m);

/* What a layer of the file looks like from its weights alone. */
enum layer_guess { GUESS_CONV, GUESS_CONV_BIAS, GUESS_BATCH_NORM, GUESS_DENSE, GUESS_OTHER };
enum layer_guess h5_layer_guess(const struct h5_layer *L);

/* Architecture a file's weighted layers suggest ("ResNet50", "YOLOv3", "TinyYOLOv3")
 * or NULL; *classes gets the class count the final layer implies (0 if unknown). */
const char *h5_guess_architecture(const struct keras_h5 *f, int *classes);

/* Appends a printf-formatted line to a malloc'd notes string (*notes may be NULL). */
void notes_add(char **notes, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif
