/* ops.c - shape inference and expected Keras weights for every op. */
#include "graph/ops.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "core/util.h"

/* Largest tensor dimension accepted (guards size products). */
#define DIM_MAX (1 << 20)

const char *act_name(enum act_type act)
{
    static const char *const names[ACT_COUNT] = {"linear", "relu", "leaky_relu", "softmax",
                                                 "sigmoid"};
    return act < ACT_COUNT ? names[act] : "?";
}

bool window_out(int in, int k, int s, bool same, int *out, int *pad_before, int *pad_after)
{
    if (in <= 0 || k <= 0 || s <= 0) return false;
    if (same) {
        int o = (in + s - 1) / s;
        int pad = (o - 1) * s + k - in;
        if (pad < 0) pad = 0;
        *out = o;
        *pad_before = pad / 2;
        *pad_after = pad - pad / 2;
        return true;
    }
    if (in < k) return false;
    *out = (in - k) / s + 1;
    *pad_before = *pad_after = 0;
    return true;
}

static const cnnrt_shape *in_shape(const struct graph *g, const struct node *n, int k)
{
    return &g->nodes[n->inputs[k]].out;
}

static void set_weight(struct node *n, const char *role, int rank, int d0, int d1, int d2, int d3)
{
    struct weight *w = &n->w[n->n_weights++];
    w->role = role;
    w->rank = rank;
    w->dims[0] = d0;
    w->dims[1] = d1;
    w->dims[2] = d2;
    w->dims[3] = d3;
}

static bool shape_ok(cnnrt_shape s)
{
    return s.h > 0 && s.w > 0 && s.c > 0 && s.h <= DIM_MAX && s.w <= DIM_MAX && s.c <= DIM_MAX &&
           shape_elems(s.h, s.w, s.c) != 0 && shape_elems(s.h, s.w, s.c) <= ((size_t)1 << 31);
}

static cnnrt_status infer_input(struct graph *g, struct node *n, cnnrt_error *err)
{
    (void)g;
    n->out = (cnnrt_shape){n->p.input.h, n->p.input.w, n->p.input.c};
    if (!shape_ok(n->out))
        return cnnrt_fail(err, CNNRT_E_FORMAT, "input shape (%d, %d, %d) is invalid", n->out.h,
                          n->out.w, n->out.c);
    return CNNRT_OK;
}

static cnnrt_status infer_zero_pad(struct graph *g, struct node *n, cnnrt_error *err)
{
    const cnnrt_shape *s = in_shape(g, n, 0);
    struct pad4 p = n->p.zero_pad.pad;
    if (p.top < 0 || p.bottom < 0 || p.left < 0 || p.right < 0 || p.top > 4096 ||
        p.bottom > 4096 || p.left > 4096 || p.right > 4096)
        return cnnrt_fail(err, CNNRT_E_FORMAT, "invalid padding");
    n->out = (cnnrt_shape){s->h + p.top + p.bottom, s->w + p.left + p.right, s->c};
    return CNNRT_OK;
}

static cnnrt_status infer_window(const cnnrt_shape *s, int kh, int kw, int sh, int sw, bool same,
                                 struct pad4 *pad, cnnrt_shape *out, cnnrt_error *err)
{
    if (kh <= 0 || kw <= 0 || sh <= 0 || sw <= 0 || kh > 64 || kw > 64 || sh > 64 || sw > 64)
        return cnnrt_fail(err, CNNRT_E_FORMAT, "invalid window %dx%d stride %dx%d", kh, kw, sh, sw);
    if (!window_out(s->h, kh, sh, same, &out->h, &pad->top, &pad->bottom) ||
        !window_out(s->w, kw, sw, same, &out->w, &pad->left, &pad->right))
        return cnnrt_fail(err, CNNRT_E_FORMAT,
                          "a %dx%d window does not fit its %dx%d input (padding \"valid\")", kh,
                          kw, s->h, s->w);
    out->c = s->c;
    return CNNRT_OK;
}

static cnnrt_status infer_conv2d(struct graph *g, struct node *n, cnnrt_error *err)
{
    const cnnrt_shape *s = in_shape(g, n, 0);
    struct conv2d_params *p = &n->p.conv;
    if (p->filters <= 0 || p->filters > DIM_MAX)
        return cnnrt_fail(err, CNNRT_E_FORMAT, "invalid filter count %d", p->filters);
    cnnrt_status st = infer_window(s, p->kh, p->kw, p->sh, p->sw, p->same, &p->pad, &n->out, err);
    if (st) return st;
    n->out.c = p->filters;
    set_weight(n, "kernel", 4, p->kh, p->kw, s->c, p->filters);
    if (p->use_bias) set_weight(n, "bias", 1, p->filters, 0, 0, 0);
    if (p->act == ACT_SOFTMAX)
        return cnnrt_fail(err, CNNRT_E_FORMAT, "softmax activation on a convolution is not supported");
    return CNNRT_OK;
}

static cnnrt_status infer_batch_norm(struct graph *g, struct node *n, cnnrt_error *err)
{
    n->out = *in_shape(g, n, 0);
    if (!(n->p.bn.eps > 0))
        return cnnrt_fail(err, CNNRT_E_FORMAT, "BatchNormalization epsilon must be positive");
    int c = n->out.c;
    if (n->p.bn.scale) set_weight(n, "gamma", 1, c, 0, 0, 0);
    if (n->p.bn.center) set_weight(n, "beta", 1, c, 0, 0, 0);
    set_weight(n, "moving_mean", 1, c, 0, 0, 0);
    set_weight(n, "moving_variance", 1, c, 0, 0, 0);
    return CNNRT_OK;
}

static cnnrt_status infer_same_shape(struct graph *g, struct node *n, cnnrt_error *err)
{
    (void)err;
    n->out = *in_shape(g, n, 0);
    return CNNRT_OK;
}

static cnnrt_status infer_max_pool(struct graph *g, struct node *n, cnnrt_error *err)
{
    struct pool_params *p = &n->p.pool;
    return infer_window(in_shape(g, n, 0), p->kh, p->kw, p->sh, p->sw, p->same, &p->pad, &n->out,
                        err);
}

static cnnrt_status infer_global_avg_pool(struct graph *g, struct node *n, cnnrt_error *err)
{
    (void)err;
    n->out = (cnnrt_shape){1, 1, in_shape(g, n, 0)->c};
    return CNNRT_OK;
}

static cnnrt_status infer_flatten(struct graph *g, struct node *n, cnnrt_error *err)
{
    const cnnrt_shape *s = in_shape(g, n, 0);
    n->out = (cnnrt_shape){1, 1, (int)shape_elems(s->h, s->w, s->c)};
    if (!shape_ok(n->out)) return cnnrt_fail(err, CNNRT_E_FORMAT, "flattened size too large");
    return CNNRT_OK;
}

static cnnrt_status infer_dense(struct graph *g, struct node *n, cnnrt_error *err)
{
    const cnnrt_shape *s = in_shape(g, n, 0);
    struct dense_params *p = &n->p.dense;
    if (p->units <= 0 || p->units > DIM_MAX)
        return cnnrt_fail(err, CNNRT_E_FORMAT, "invalid unit count %d", p->units);
    n->out = (cnnrt_shape){s->h, s->w, p->units};
    if (!shape_ok(n->out)) return cnnrt_fail(err, CNNRT_E_FORMAT, "output too large");
    set_weight(n, "kernel", 2, s->c, p->units, 0, 0);
    if (p->use_bias) set_weight(n, "bias", 1, p->units, 0, 0, 0);
    return CNNRT_OK;
}

static cnnrt_status infer_add(struct graph *g, struct node *n, cnnrt_error *err)
{
    const cnnrt_shape *s0 = in_shape(g, n, 0);
    for (int k = 1; k < n->n_inputs; k++) {
        const cnnrt_shape *s = in_shape(g, n, k);
        if (s->h != s0->h || s->w != s0->w || s->c != s0->c)
            return cnnrt_fail(err, CNNRT_E_FORMAT,
                              "inputs have different shapes: '%s' is (%d, %d, %d), '%s' is "
                              "(%d, %d, %d)",
                              g->nodes[n->inputs[0]].name, s0->h, s0->w, s0->c,
                              g->nodes[n->inputs[k]].name, s->h, s->w, s->c);
    }
    n->out = *s0;
    return CNNRT_OK;
}

static cnnrt_status infer_concat(struct graph *g, struct node *n, cnnrt_error *err)
{
    const cnnrt_shape *s0 = in_shape(g, n, 0);
    long c = 0;
    for (int k = 0; k < n->n_inputs; k++) {
        const cnnrt_shape *s = in_shape(g, n, k);
        if (s->h != s0->h || s->w != s0->w)
            return cnnrt_fail(err, CNNRT_E_FORMAT,
                              "inputs differ in height/width: '%s' is %dx%d, '%s' is %dx%d",
                              g->nodes[n->inputs[0]].name, s0->h, s0->w,
                              g->nodes[n->inputs[k]].name, s->h, s->w);
        c += s->c;
    }
    n->out = (cnnrt_shape){s0->h, s0->w, c > DIM_MAX ? -1 : (int)c};
    if (!shape_ok(n->out)) return cnnrt_fail(err, CNNRT_E_FORMAT, "output too large");
    return CNNRT_OK;
}

static cnnrt_status infer_upsample(struct graph *g, struct node *n, cnnrt_error *err)
{
    const cnnrt_shape *s = in_shape(g, n, 0);
    struct upsample_params *p = &n->p.up;
    if (p->sh <= 0 || p->sw <= 0 || p->sh > 64 || p->sw > 64)
        return cnnrt_fail(err, CNNRT_E_FORMAT, "invalid upsampling size %dx%d", p->sh, p->sw);
    n->out = (cnnrt_shape){s->h * p->sh, s->w * p->sw, s->c};
    if (!shape_ok(n->out)) return cnnrt_fail(err, CNNRT_E_FORMAT, "output too large");
    return CNNRT_OK;
}

static const struct op_def op_defs[] = {
    [OP_INPUT] = {"input", 0, 0, infer_input},
    [OP_ZERO_PAD] = {"zero_pad", 1, 1, infer_zero_pad},
    [OP_CONV2D] = {"conv2d", 1, 1, infer_conv2d},
    [OP_BATCH_NORM] = {"batch_norm", 1, 1, infer_batch_norm},
    [OP_ACTIVATION] = {"activation", 1, 1, infer_same_shape},
    [OP_MAX_POOL] = {"max_pool", 1, 1, infer_max_pool},
    [OP_GLOBAL_AVG_POOL] = {"global_avg_pool", 1, 1, infer_global_avg_pool},
    [OP_FLATTEN] = {"flatten", 1, 1, infer_flatten},
    [OP_DENSE] = {"dense", 1, 1, infer_dense},
    [OP_ADD] = {"add", 2, 0, infer_add},
    [OP_CONCAT] = {"concat", 1, 0, infer_concat},
    [OP_UPSAMPLE] = {"upsample", 1, 1, infer_upsample},
};
_Static_assert(CNNRT_ARRAY_LEN(op_defs) == OP_COUNT, "op table must cover every op");

const struct op_def *op_get(enum op_type op) { return &op_defs[op]; }

cnnrt_status graph_infer_shapes(struct graph *g, cnnrt_error *err)
{
    if (g->input < 0) return cnnrt_fail(err, CNNRT_E_FORMAT, "the model has no InputLayer");
    if (g->n_outputs <= 0) return cnnrt_fail(err, CNNRT_E_FORMAT, "the model has no outputs");
    for (int i = 0; i < g->n_nodes; i++) {
        struct node *n = &g->nodes[i];
        const struct op_def *def = op_get(n->op);
        if (n->n_inputs < def->min_inputs || (def->max_inputs && n->n_inputs > def->max_inputs))
            return cnnrt_fail(err, CNNRT_E_FORMAT, "layer '%s' (%s): takes %d input(s), has %d",
                              n->name, n->class_name, def->min_inputs, n->n_inputs);
        for (int k = 0; k < NODE_MAX_WEIGHTS; k++) {
            free(n->w[k].data);
            n->w[k] = (struct weight){0};
        }
        n->n_weights = 0;
        cnnrt_status st = def->infer(g, n, err);
        if (!st && !shape_ok(n->out))
            st = cnnrt_fail(err, CNNRT_E_FORMAT, "output shape (%d, %d, %d) is invalid", n->out.h,
                            n->out.w, n->out.c);
        if (st) {
            cnnrt_error_prefix(err, "layer '%s' (%s): ", n->name, n->class_name);
            return st;
        }
    }
    return CNNRT_OK;
}
