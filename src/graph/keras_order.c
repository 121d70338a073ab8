/* keras_order.c - reproduces Keras's functional-model layer ordering
 * (keras/engine/functional.py: _build_map and _map_graph_network). */
#include "graph/keras_order.h"

#include <stdlib.h>

#include "core/error.h"

struct walk {
    const struct graph *g;
    int *visit_index; /* pre-order index of first visit, -1 = unvisited */
    int *post;        /* nodes in DFS post-order (inputs before consumers) */
    int n_post, n_visited;
    int *stack, *next_input; /* explicit DFS stack (graphs can be deep) */
};

static void dfs(struct walk *w, int root)
{
    if (w->visit_index[root] >= 0) return;
    int sp = 0;
    w->stack[sp] = root;
    w->next_input[sp] = 0;
    w->visit_index[root] = w->n_visited++;
    sp++;
    while (sp > 0) {
        int v = w->stack[sp - 1];
        const struct node *n = &w->g->nodes[v];
        if (w->next_input[sp - 1] < n->n_inputs) {
            int u = n->inputs[w->next_input[sp - 1]++];
            if (w->visit_index[u] >= 0) continue; /* finished (graph is acyclic) */
            w->visit_index[u] = w->n_visited++;
            w->stack[sp] = u;
            w->next_input[sp] = 0;
            sp++;
        } else {
            w->post[w->n_post++] = v;
            sp--;
        }
    }
}

struct order_key {
    int node;
    long key; /* -depth * n + first-visit index: one ascending key for both rules */
};

static int cmp_keys(const void *a, const void *b)
{
    long x = ((const struct order_key *)a)->key, y = ((const struct order_key *)b)->key;
    return (x > y) - (x < y);
}

cnnrt_status keras_layer_order(const struct graph *g, int *order, cnnrt_error *err)
{
    int n = g->n_nodes;
    struct walk w = {g, NULL, NULL, 0, 0, NULL, NULL};
    int *depth = calloc((size_t)n, sizeof *depth);
    w.visit_index = malloc((size_t)n * sizeof *w.visit_index);
    w.post = malloc((size_t)n * sizeof *w.post);
    w.stack = malloc((size_t)n * sizeof *w.stack);
    w.next_input = malloc((size_t)n * sizeof *w.next_input);
    cnnrt_status st = CNNRT_OK;
    if (!depth || !w.visit_index || !w.post || !w.stack || !w.next_input) {
        st = CNNRT_NOMEM(err);
        goto done;
    }
    for (int i = 0; i < n; i++) w.visit_index[i] = -1;
    for (int k = 0; k < g->n_outputs; k++) dfs(&w, g->outputs[k]);
    if (w.n_post != n) {
        st = cnnrt_fail(err, CNNRT_E_FORMAT, "the graph has layers that lead to no output");
        goto done;
    }
    /* reversed post-order visits every consumer before its inputs */
    for (int i = n - 1; i >= 0; i--) {
        int v = w.post[i];
        const struct node *nd = &g->nodes[v];
        for (int k = 0; k < nd->n_inputs; k++) {
            int u = nd->inputs[k];
            if (depth[u] < depth[v] + 1) depth[u] = depth[v] + 1;
        }
    }
    struct order_key *keys = malloc((size_t)n * sizeof *keys);
    if (!keys) {
        st = CNNRT_NOMEM(err);
        goto done;
    }
    for (int i = 0; i < n; i++) keys[i] = (struct order_key){i, -(long)depth[i] * n + w.visit_index[i]};
    qsort(keys, (size_t)n, sizeof *keys, cmp_keys);
    for (int i = 0; i < n; i++) order[i] = keys[i].node;
    free(keys);
done:
    free(depth);
    free(w.visit_index);
    free(w.post);
    free(w.stack);
    free(w.next_input);
    return st;
}
