/* graph_exec.c - unplanned, unfused node-by-node execution. */
#include "exec/graph_exec.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "core/util.h"

static const float *weight(const struct node *n, const char *role)
{
    for (int k = 0; k < n->n_weights; k++)
        if (strcmp(n->w[k].role, role) == 0) return n->w[k].data;
    return NULL;
}

static cnnrt_status run_node(const struct graph *g, const struct node *n, const float *const *in,
                             bool ref, float *out, cnnrt_error *err)
{
    const cnnrt_shape *is = n->n_inputs ? &g->nodes[n->inputs[0]].out : NULL;
    const size_t out_elems = shape_elems(n->out.h, n->out.w, n->out.c);
    const size_t pixels = (size_t)n->out.h * n->out.w;
    switch (n->op) {
    case OP_INPUT: break;
    case OP_ZERO_PAD: {
        const struct pad4 *p = &n->p.zero_pad.pad;
        zero_pad_ref(in[0], is->h, is->w, is->c, p->top, p->bottom, p->left, p->right, out);
        break;
    }
    case OP_CONV2D: {
        const struct conv2d_params *p = &n->p.conv;
        struct window_desc d = {is->h, is->w, is->c, p->kh, p->kw, p->sh, p->sw,
                                p->pad.top, p->pad.left, n->out.h, n->out.w};
        struct epilogue ep = {weight(n, "bias"), p->act, 0, NULL, 0, ACT_LINEAR, 0};
        if (ref) {
            conv2d_ref(&d, p->filters, in[0], n->w[0].data, &ep, out, p->filters);
        } else {
            float *scratch = NULL;
            size_t need = conv2d_gemm_scratch(&d);
            if (need && !(scratch = aligned_alloc64(need * sizeof(float)))) return CNNRT_NOMEM(err);
            conv2d_gemm(&d, p->filters, in[0], n->w[0].data, &ep, out, p->filters, scratch);
            aligned_free(scratch);
        }
        break;
    }
    case OP_BATCH_NORM:
        batch_norm_ref(in[0], pixels, n->out.c, weight(n, "gamma"), weight(n, "beta"),
                       weight(n, "moving_mean"), weight(n, "moving_variance"), n->p.bn.eps, out);
        break;
    case OP_ACTIVATION:
        if (n->p.act.act == ACT_SOFTMAX) softmax_ref(in[0], pixels, n->out.c, out);
        else activation_ref(in[0], out_elems, n->p.act.act, n->p.act.alpha, out);
        break;
    case OP_MAX_POOL: {
        const struct pool_params *p = &n->p.pool;
        struct window_desc d = {is->h, is->w, is->c, p->kh, p->kw, p->sh, p->sw,
                                p->pad.top, p->pad.left, n->out.h, n->out.w};
        if (ref) max_pool_ref(&d, -INFINITY, in[0], out);
        else max_pool(&d, -INFINITY, in[0], out);
        break;
    }
    case OP_GLOBAL_AVG_POOL: global_avg_pool_ref(in[0], is->h, is->w, is->c, out); break;
    case OP_FLATTEN: memcpy(out, in[0], out_elems * sizeof(float)); break;
    case OP_DENSE: {
        const struct dense_params *p = &n->p.dense;
        struct epilogue ep = {weight(n, "bias"), p->act == ACT_SOFTMAX ? ACT_LINEAR : p->act, 0,
                              NULL, 0, ACT_LINEAR, 0};
        if (ref) dense_ref(in[0], pixels, is->c, p->units, n->w[0].data, &ep, out);
        else dense(in[0], pixels, is->c, p->units, n->w[0].data, &ep, out);
        if (p->act == ACT_SOFTMAX) softmax_ref(out, pixels, p->units, out);
        break;
    }
    case OP_ADD: add_ref(in, n->n_inputs, out_elems, out); break;
    case OP_CONCAT: {
        int *cs = malloc((size_t)n->n_inputs * sizeof *cs);
        if (!cs) return CNNRT_NOMEM(err);
        for (int k = 0; k < n->n_inputs; k++) cs[k] = g->nodes[n->inputs[k]].out.c;
        concat_ref(in, cs, n->n_inputs, pixels, out);
        free(cs);
        break;
    }
    case OP_UPSAMPLE:
        upsample_nearest_ref(in[0], is->h, is->w, is->c, n->p.up.sh, n->p.up.sw, out);
        break;
    case OP_COUNT: return cnnrt_fail(err, CNNRT_E_INTERNAL, "graph_exec: bad op");
    }
    return CNNRT_OK;
}

cnnrt_status graph_exec(struct graph *g, const float *input, bool reference, graph_exec_hook hook,
                        void *ctx, float **outputs, cnnrt_error *err)
{
    const int n = g->n_nodes;
    float **val = calloc((size_t)n, sizeof *val);
    int *remaining = graph_consumer_counts(g);
    const float **ins = malloc(((size_t)n + 1) * sizeof *ins);
    cnnrt_status st = CNNRT_OK;
    if (!val || !remaining || !ins) {
        st = CNNRT_NOMEM(err);
        goto done;
    }
    for (int i = 0; i < n && !st; i++) {
        struct node *nd = &g->nodes[i];
        size_t elems = shape_elems(nd->out.h, nd->out.w, nd->out.c);
        val[i] = malloc(elems * sizeof(float));
        if (!val[i]) {
            st = CNNRT_NOMEM(err);
            break;
        }
        if (nd->op == OP_INPUT) {
            memcpy(val[i], input, elems * sizeof(float));
            continue;
        }
        for (int k = 0; k < nd->n_inputs; k++) ins[k] = val[nd->inputs[k]];
        if (hook && (st = hook(g, i, ins, ctx, err))) break;
        st = run_node(g, nd, ins, reference, val[i], err);
        for (int k = 0; k < nd->n_inputs; k++) {
            int src = nd->inputs[k];
            if (--remaining[src] == 0) {
                free(val[src]);
                val[src] = NULL;
            }
        }
    }
    for (int k = 0; k < g->n_outputs; k++) {
        int o = g->outputs[k];
        size_t elems = shape_elems(g->nodes[o].out.h, g->nodes[o].out.w, g->nodes[o].out.c);
        outputs[k] = NULL;
        if (st || !val[o]) continue;
        outputs[k] = malloc(elems * sizeof(float));
        if (!outputs[k]) st = CNNRT_NOMEM(err);
        else memcpy(outputs[k], val[o], elems * sizeof(float));
    }
    if (st)
        for (int k = 0; k < g->n_outputs; k++) {
            free(outputs[k]);
            outputs[k] = NULL;
        }
done:
    if (val)
        for (int i = 0; i < n; i++) free(val[i]);
    free(val);
    free(remaining);
    free(ins);
    return st;
}
