/* graph.c - the IR container: nodes, parameters, weight storage. */
#include "graph/graph.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "core/util.h"

void graph_init(struct graph *g)
{
    memset(g, 0, sizeof *g);
    g->input = -1;
    g->synthetic_seed = -1;
}

void graph_free(struct graph *g)
{
    if (!g) return;
    for (int i = 0; i < g->n_nodes; i++) {
        struct node *n = &g->nodes[i];
        free(n->name);
        free(n->inputs);
        for (int k = 0; k < NODE_MAX_WEIGHTS; k++)
            if (!n->w[k].borrowed) free(n->w[k].data);
    }
    free(g->nodes);
    free(g->outputs);
    for (int i = 0; i < g->n_params; i++) {
        free(g->params[i].name);
        free(g->params[i].source);
    }
    free(g->params);
    free(g->name);
    free(g->architecture);
    free(g->task);
    free(g->preprocess);
    graph_init(g);
}

int graph_find(const struct graph *g, const char *name)
{
    for (int i = 0; i < g->n_nodes; i++)
        if (strcmp(g->nodes[i].name, name) == 0) return i;
    return -1;
}

int graph_add_node(struct graph *g, const char *name, const char *class_name, enum op_type op)
{
    if (g->n_nodes == g->cap_nodes) {
        int cap = g->cap_nodes ? g->cap_nodes * 2 : 64;
        struct node *nn = realloc(g->nodes, (size_t)cap * sizeof *nn);
        if (!nn) return -1;
        g->nodes = nn;
        g->cap_nodes = cap;
    }
    struct node *n = &g->nodes[g->n_nodes];
    memset(n, 0, sizeof *n);
    n->name = str_dup(name);
    if (!n->name) return -1;
    n->class_name = class_name;
    n->op = op;
    return g->n_nodes++;
}

bool graph_param_get(const struct graph *g, const char *name, long *value)
{
    for (int i = 0; i < g->n_params; i++)
        if (strcmp(g->params[i].name, name) == 0) {
            *value = g->params[i].value;
            return true;
        }
    return false;
}

bool graph_param_use(struct graph *g, const char *name, long *value)
{
    for (int i = 0; i < g->n_params; i++)
        if (strcmp(g->params[i].name, name) == 0) {
            *value = g->params[i].value;
            g->params[i].used = true;
            return true;
        }
    return false;
}

bool graph_param_set(struct graph *g, const char *name, long value)
{
    for (int i = 0; i < g->n_params; i++)
        if (strcmp(g->params[i].name, name) == 0) {
            g->params[i].value = value;
            return true;
        }
    struct graph_param *np = realloc(g->params, (size_t)(g->n_params + 1) * sizeof *np);
    if (!np) return false;
    g->params = np;
    char *copy = str_dup(name);
    if (!copy) return false;
    g->params[g->n_params].name = copy;
    g->params[g->n_params].value = value;
    g->params[g->n_params].used = false;
    g->params[g->n_params].source = NULL;
    g->n_params++;
    return true;
}

bool graph_param_set_source(struct graph *g, const char *name, const char *source)
{
    for (int i = 0; i < g->n_params; i++)
        if (strcmp(g->params[i].name, name) == 0) {
            char *copy = str_dup(source);
            if (!copy) return false;
            free(g->params[i].source);
            g->params[i].source = copy;
            return true;
        }
    return false;
}

int *graph_consumer_counts(const struct graph *g)
{
    int *count = calloc((size_t)g->n_nodes + 1, sizeof *count);
    if (!count) return NULL;
    for (int i = 0; i < g->n_nodes; i++)
        for (int k = 0; k < g->nodes[i].n_inputs; k++) count[g->nodes[i].inputs[k]]++;
    for (int k = 0; k < g->n_outputs; k++) count[g->outputs[k]]++;
    return count;
}

size_t weight_elems(const struct weight *w)
{
    size_t n = 1;
    for (int d = 0; d < w->rank; d++)
        if (!size_mul(n, (size_t)w->dims[d], &n)) return 0;
    return n;
}

cnnrt_status graph_alloc_node_weights(struct graph *g, int node, cnnrt_error *err)
{
    struct node *n = &g->nodes[node];
    for (int k = 0; k < n->n_weights; k++) {
        if (n->w[k].data) continue;
        size_t cnt = weight_elems(&n->w[k]);
        if (cnt == 0 || cnt > ((size_t)1 << 31))
            return cnnrt_fail(err, CNNRT_E_FORMAT, "layer '%s': weight '%s' has an invalid size",
                              n->name, n->w[k].role);
        n->w[k].data = malloc(cnt * sizeof(float)); /* filled by the caller */
        if (!n->w[k].data) return CNNRT_NOMEM(err);
    }
    return CNNRT_OK;
}

cnnrt_status graph_alloc_weights(struct graph *g, cnnrt_error *err)
{
    for (int i = 0; i < g->n_nodes; i++) {
        cnnrt_status st = graph_alloc_node_weights(g, i, err);
        if (st) return st;
    }
    return CNNRT_OK;
}

void graph_release_node_weights(struct graph *g, int node)
{
    struct node *n = &g->nodes[node];
    for (int k = 0; k < n->n_weights; k++) {
        struct weight *w = &n->w[k];
        if (w->borrowed) {
            if (g->source.give_back) g->source.give_back(g->source.ctx, w->data, weight_elems(w));
        } else {
            free(w->data);
        }
        w->data = NULL;
        w->borrowed = false;
    }
}

void graph_drop_weights(struct graph *g)
{
    for (int i = 0; i < g->n_nodes; i++) graph_release_node_weights(g, i);
}

bool graph_weights_unread(const struct graph *g, int node)
{
    const struct node *n = &g->nodes[node];
    for (int k = 0; k < n->n_weights; k++)
        if (!n->w[k].data) return true;
    return false;
}

cnnrt_status graph_fetch_weights(struct graph *g, int node, cnnrt_error *err)
{
    const struct node *n = &g->nodes[node];
    if (!graph_weights_unread(g, node)) return CNNRT_OK;
    if (!g->source.fetch)
        return cnnrt_fail(err, CNNRT_E_USAGE, "layer '%s': its weights are not loaded", n->name);
    return g->source.fetch(g->source.ctx, g, node, err);
}

const char *format_dims(const int *dims, int rank, char *buf, size_t len)
{
    size_t pos = 0;
    pos += (size_t)snprintf(buf + pos, len - pos, "(");
    for (int d = 0; d < rank && pos < len; d++)
        pos += (size_t)snprintf(buf + pos, len - pos, d ? ", %d" : "%d", dims[d]);
    if (rank == 1 && pos < len) pos += (size_t)snprintf(buf + pos, len - pos, ",");
    if (pos < len) snprintf(buf + pos, len - pos, ")");
    return buf;
}

size_t graph_param_count(const struct graph *g)
{
    size_t total = 0;
    for (int i = 0; i < g->n_nodes; i++)
        for (int k = 0; k < g->nodes[i].n_weights; k++) total += weight_elems(&g->nodes[i].w[k]);
    return total;
}

double graph_macs(const struct graph *g)
{
    double macs = 0;
    for (int i = 0; i < g->n_nodes; i++) {
        const struct node *n = &g->nodes[i];
        if (n->op == OP_CONV2D) {
            const struct node *in = &g->nodes[n->inputs[0]];
            macs += (double)n->out.h * n->out.w * n->out.c * n->p.conv.kh * n->p.conv.kw * in->out.c;
        } else if (n->op == OP_DENSE) {
            const struct node *in = &g->nodes[n->inputs[0]];
            macs += (double)in->out.h * in->out.w * in->out.c * n->p.dense.units;
        }
    }
    return macs;
}
