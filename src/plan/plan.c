/* plan.c - fusion, BatchNorm folding, weight preparation and the memory plan. */
#include "plan/plan.h"

#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "core/util.h"

const char *step_kind_name(enum step_kind kind)
{
    static const char *const names[] = {"conv",   "max_pool", "global_avg_pool", "dense",
                                        "add",    "concat",   "upsample",        "activation",
                                        "softmax", "batch_norm", "zero_pad",     "copy"};
    _Static_assert(CNNRT_ARRAY_LEN(names) == STEP_COUNT, "a name for every step kind");
    return kind < STEP_COUNT ? names[kind] : "?";
}

/* Planning state: which tensor holds each node's value. */
struct builder {
    struct graph *g;
    bool consume;     /* free graph weights once the plan has its own copy */
    struct plan *p;
    int *consumers;   /* per node */
    int *tensor_of;   /* per node: tensor index, -1 if not materialised */
    bool *folded_pad; /* per node: a ZeroPadding2D folded into its consumers */
    bool *absorbed;   /* per node: computed inside an earlier node's step */
    int chain[8];     /* nodes fused into the step being built, head first */
    int n_chain;
    int cap_steps, cap_tensors;
    cnnrt_error *err;
    int ahead_failed;      /* node whose reading ahead failed, or -1 (see read_ahead) */
    cnnrt_error ahead_err; /* and why */
};

static int new_tensor(struct builder *b, cnnrt_shape shape)
{
    struct plan *p = b->p;
    if (p->n_tensors == b->cap_tensors) {
        int cap = b->cap_tensors ? b->cap_tensors * 2 : 64;
        struct plan_tensor *t = realloc(p->tensors, (size_t)cap * sizeof *t);
        if (!t) return -1;
        p->tensors = t;
        b->cap_tensors = cap;
    }
    struct plan_tensor *t = &p->tensors[p->n_tensors];
    memset(t, 0, sizeof *t);
    t->shape = shape;
    t->size = shape_elems(shape.h, shape.w, shape.c);
    t->first = t->last = -1;
    t->shares = -1;
    return p->n_tensors++;
}

static struct step *new_step(struct builder *b, enum step_kind kind, int node)
{
    struct plan *p = b->p;
    if (p->n_steps == b->cap_steps) {
        int cap = b->cap_steps ? b->cap_steps * 2 : 64;
        struct step *s = realloc(p->steps, (size_t)cap * sizeof *s);
        if (!s) return NULL;
        p->steps = s;
        b->cap_steps = cap;
    }
    struct step *s = &p->steps[p->n_steps++];
    memset(s, 0, sizeof *s);
    s->kind = kind;
    s->node = node;
    s->residual = -1;
    s->label = str_dup(b->g->nodes[node].name);
    if (!s->label) return NULL;
    return s;
}

/* Adds node to the step being built: its name joins the label. */
static bool fuse(struct builder *b, struct step *s, int node)
{
    b->chain[b->n_chain++] = node;
    const char *name = b->g->nodes[node].name;
    size_t a = strlen(s->label), n = strlen(name);
    char *l = realloc(s->label, a + n + 2);
    if (!l) return false;
    l[a] = '+';
    memcpy(l + a + 1, name, n + 1);
    s->label = l;
    return true;
}

/* The single consumer of node, or -1 if it has none or several (or is an output). */
static int sole_consumer(const struct builder *b, int node)
{
    if (b->consumers[node] != 1) return -1;
    for (int k = 0; k < b->g->n_outputs; k++)
        if (b->g->outputs[k] == node) return -1;
    for (int i = node + 1; i < b->g->n_nodes; i++) {
        const struct node *n = &b->g->nodes[i];
        for (int k = 0; k < n->n_inputs; k++)
            if (n->inputs[k] == node) return i;
    }
    return -1;
}

static bool fusable_act(enum act_type a)
{
    return a == ACT_RELU || a == ACT_LEAKY || a == ACT_SIGMOID || a == ACT_LINEAR;
}

/* Input geometry of a window op reading node `in`, with a folded padding added. */
static void window_from(const struct builder *b, int in, const struct pad4 *own, int kh, int kw,
                        int sh, int sw, cnnrt_shape out, struct window_desc *d)
{
    int src = b->folded_pad[in] ? b->g->nodes[in].inputs[0] : in;
    const cnnrt_shape *s = &b->g->nodes[src].out;
    d->h = s->h;
    d->w = s->w;
    d->c = s->c;
    d->kh = kh;
    d->kw = kw;
    d->sh = sh;
    d->sw = sw;
    d->pad_top = own->top;
    d->pad_left = own->left;
    if (b->folded_pad[in]) {
        const struct pad4 *zp = &b->g->nodes[in].p.zero_pad.pad;
        d->pad_top += zp->top;
        d->pad_left += zp->left;
    }
    d->oh = out.h;
    d->ow = out.w;
}

/* Folds a BatchNorm into per-channel scale/shift (double precision). */
static void bn_scale_shift(const struct node *bn, int c, double *scale, double *shift)
{
    const float *gamma = NULL, *beta = NULL, *mean = NULL, *var = NULL;
    for (int k = 0; k < bn->n_weights; k++) {
        const char *r = bn->w[k].role;
        if (strcmp(r, "gamma") == 0) gamma = bn->w[k].data;
        else if (strcmp(r, "beta") == 0) beta = bn->w[k].data;
        else if (strcmp(r, "moving_mean") == 0) mean = bn->w[k].data;
        else if (strcmp(r, "moving_variance") == 0) var = bn->w[k].data;
    }
    for (int k = 0; k < c; k++) {
        double s = (gamma ? gamma[k] : 1.0) / sqrt((double)var[k] + bn->p.bn.eps);
        scale[k] = s;
        shift[k] = (beta ? beta[k] : 0.0) - mean[k] * s;
    }
}

/* Winograd tile size for a convolution: 0 = direct GEMM. Only 3x3 stride 1 with
 * enough input channels for the transformed GEMMs to pay. F(4x4) needs 36 transformed
 * weights per 9 (4x the memory) and enough 4x4 output tiles to reuse them: it is used
 * from about 24x24 outputs; F(2x2) (16 per 9) on the small maps (13x13, 14x14), where
 * F(4x4)'s extra weight memory would cost hundreds of MB for YOLOv3 for a small gain,
 * and on 7x7 (ResNet50's last stage), where F(4x4)'s padded tiles waste most work;
 * direct below that. Measured per layer on this machine (README, "Performance").
 * CNNRT_WINOGRAD=0|2|4 overrides. */
static int winograd_tile(const struct plan *p, const struct window_desc *w, int cin)
{
    if (p->winograd == 0 || w->kh != 3 || w->kw != 3 || w->sh != 1 || w->sw != 1 || cin < 32)
        return 0;
    if (p->winograd > 0) return p->winograd;
    const int tiles4 = ((w->oh + 3) / 4) * ((w->ow + 3) / 4);
    const int tiles2 = ((w->oh + 1) / 2) * ((w->ow + 1) / 2);
    if (tiles4 >= 36) return 4;
    if (tiles2 >= 16) return 2;
    return 0;
}

/* The BatchNorm folded into the Conv or Dense `node` (directly after it, no
 * activation in between), or -1. */
static int folded_batch_norm(const struct builder *b, int node)
{
    const struct node *n = &b->g->nodes[node];
    enum act_type own_act = n->op == OP_CONV2D ? n->p.conv.act : n->p.dense.act;
    int next = sole_consumer(b, node);
    return own_act == ACT_LINEAR && next >= 0 && b->g->nodes[next].op == OP_BATCH_NORM ? next : -1;
}

/* Reading ahead. Values still in the weights file are read layer by layer just
 * before they are packed; the file read runs on one core. While a layer is packed,
 * one thread of the packing team reads the next layer's values (and its folded
 * BatchNorm's) instead, so the read and the packing overlap. A failed read is kept
 * and reported when the planner reaches that layer, exactly as if read then. */
struct read_ahead {
    struct builder *b;
    int node, bn; /* to read; bn may be -1 */
};

static void read_ahead_run(void *ctx)
{
    struct read_ahead *ra = ctx;
    const int nodes[2] = {ra->node, ra->bn};
    for (int k = 0; k < 2 && nodes[k] >= 0; k++)
        if (graph_fetch_weights(ra->b->g, nodes[k], &ra->b->ahead_err) != CNNRT_OK) {
            ra->b->ahead_failed = nodes[k];
            return;
        }
}

/* The side job reading the layer after node `after` (NULL when there is nothing to
 * read, or an earlier read ahead failed). */
static const struct side_job *plan_read_ahead(struct builder *b, int after, struct read_ahead *ra,
                                              struct side_job *job)
{
    const struct graph *g = b->g;
    if (!g->source.fetch || b->ahead_failed >= 0) return NULL;
    for (int j = after + 1; j < g->n_nodes; j++) {
        if (!graph_weights_unread(g, j)) continue;
        const struct node *n = &g->nodes[j];
        ra->b = b;
        ra->node = j;
        ra->bn = n->op == OP_CONV2D || n->op == OP_DENSE ? folded_batch_norm(b, j) : -1;
        *job = (struct side_job){read_ahead_run, ra};
        return job;
    }
    return NULL;
}

/* graph_fetch_weights, or the error its reading ahead met. */
static cnnrt_status fetch_weights(struct builder *b, int node)
{
    if (node == b->ahead_failed) {
        *b->err = b->ahead_err;
        return b->ahead_err.status;
    }
    return graph_fetch_weights(b->g, node, b->err);
}

/* Conv or Dense: copies the kernel/bias, folds a following BatchNorm, fuses the
 * activation, the residual Add and the activation after it. Returns the last node
 * absorbed into the step. */
static int plan_linear(struct builder *b, int node, struct step *s)
{
    const struct graph *g = b->g;
    const struct node *n = &g->nodes[node];
    const bool conv = n->op == OP_CONV2D;
    const int cout = conv ? n->p.conv.filters : n->p.dense.units;
    const size_t kelems = weight_elems(&n->w[0]);
    const int rows = (int)(kelems / (size_t)cout); /* K of the GEMM */
    s->cout = cout;
    s->bias = aligned_alloc64((size_t)cout * sizeof(float));
    double *scale = malloc((size_t)cout * 2 * sizeof(double));
    if (!s->bias || !scale) {
        free(scale);
        return -1;
    }
    double *shift = scale + cout;
    bool has_bias = conv ? n->p.conv.use_bias : n->p.dense.use_bias;
    enum act_type own_act = conv ? n->p.conv.act : n->p.dense.act;
    int last = node;

    /* BatchNorm right after a linear (no activation in between): y = x*scale + shift
     * per output channel, folded into the kernel columns and the bias */
    bool folded = false;
    int next = folded_batch_norm(b, node);
    if (next >= 0) {
        bn_scale_shift(&g->nodes[next], cout, scale, shift);
        folded = true;
        if (!fuse(b, s, next)) {
            free(scale);
            return -1;
        }
        last = next;
    }
    for (int k = 0; k < cout; k++) {
        double v = has_bias ? n->w[1].data[k] : 0.0;
        s->bias[k] = (float)(folded ? v * scale[k] + shift[k] : v);
    }
    if (folded) has_bias = true;
    if (!has_bias) {
        aligned_free(s->bias);
        s->bias = NULL;
    }
    const double *col_scale = folded ? scale : NULL;
    int rc = 0;
    if (!b->p->blas) { /* pack or Winograd-transform once, straight from the graph */
        const int cin = conv ? rows / (s->win.kh * s->win.kw) : rows;
        const int tile = conv ? winograd_tile(b->p, &s->win, cin) : 0;
        struct read_ahead ra;
        struct side_job job;
        const struct side_job *side = plan_read_ahead(b, last, &ra, &job);
        if (tile) rc = winograd_prepare(n->w[0].data, cin, cout, tile, col_scale, side, &s->wino);
        else rc = gemm_pack_b(n->w[0].data, rows, cout, cout, col_scale, side, &s->packed);
    } else { /* the BLAS path: a folded plain copy */
        s->kernel = aligned_alloc64(kelems * sizeof(float));
        if (!s->kernel) rc = -1;
        else
            for (size_t r = 0; r < (size_t)rows; r++)
                for (int k = 0; k < cout; k++)
                    s->kernel[r * cout + k] =
                        folded ? (float)(n->w[0].data[r * cout + k] * scale[k]) : n->w[0].data[r * cout + k];
    }
    free(scale);
    if (rc != 0) return -1;

    /* activation: the layer's own, or a following Activation/ReLU/LeakyReLU */
    s->act1 = own_act;
    s->act2 = ACT_LINEAR;
    if (own_act == ACT_SOFTMAX) return last; /* executor applies softmax after */
    next = sole_consumer(b, last);
    if (own_act == ACT_LINEAR && next >= 0 && g->nodes[next].op == OP_ACTIVATION &&
        fusable_act(g->nodes[next].p.act.act)) {
        s->act1 = g->nodes[next].p.act.act;
        s->alpha1 = g->nodes[next].p.act.alpha;
        if (!fuse(b, s, next)) return -1;
        last = next;
    }
    if (!conv) return last;

    /* residual Add whose other input is ready before this step runs */
    next = sole_consumer(b, last);
    if (next >= 0 && g->nodes[next].op == OP_ADD && g->nodes[next].n_inputs == 2) {
        const struct node *add = &g->nodes[next];
        int other = add->inputs[0] == last ? add->inputs[1] : add->inputs[0];
        if (other < node && b->tensor_of[other] >= 0 && !b->folded_pad[other]) {
            s->residual = b->tensor_of[other];
            if (!fuse(b, s, next)) return -1;
            last = next;
            next = sole_consumer(b, last);
            if (next >= 0 && g->nodes[next].op == OP_ACTIVATION &&
                fusable_act(g->nodes[next].p.act.act) && g->nodes[next].p.act.act != ACT_LINEAR) {
                s->act2 = g->nodes[next].p.act.act;
                s->alpha2 = g->nodes[next].p.act.alpha;
                if (!fuse(b, s, next)) return -1;
                last = next;
            }
        }
    }
    return last;
}

/* May a ZeroPadding2D be folded into every one of its consumers? */
static bool pad_foldable(const struct builder *b, int pad_node)
{
    const struct graph *g = b->g;
    for (int k = 0; k < g->n_outputs; k++)
        if (g->outputs[k] == pad_node) return false;
    for (int i = pad_node + 1; i < g->n_nodes; i++) {
        const struct node *n = &g->nodes[i];
        for (int k = 0; k < n->n_inputs; k++) {
            if (n->inputs[k] != pad_node) continue;
            if (n->op == OP_CONV2D) continue;
            if (n->op == OP_MAX_POOL && !n->p.pool.same) continue; /* all padding is zeros */
            return false;
        }
    }
    return true;
}

static cnnrt_status build_steps(struct builder *b)
{
    struct graph *g = b->g;
    cnnrt_error *err = b->err;
    for (int i = 0; i < g->n_nodes; i++) {
        const struct node *n = &g->nodes[i];
        if (b->absorbed[i]) continue;
        /* values still in the weights file are read layer by layer, just before they
         * are folded and packed, so the whole file is never in memory twice */
        cnnrt_status st = fetch_weights(b, i);
        const int bn = n->op == OP_CONV2D || n->op == OP_DENSE ? folded_batch_norm(b, i) : -1;
        if (!st && bn >= 0) st = fetch_weights(b, bn); /* folded in below */
        if (st) return st;
        if (n->op == OP_INPUT) {
            b->tensor_of[i] = b->p->input = new_tensor(b, n->out);
            if (b->p->input < 0) return CNNRT_NOMEM(err);
            continue;
        }
        if (n->op == OP_ZERO_PAD && pad_foldable(b, i)) {
            b->folded_pad[i] = true; /* consumers read the unpadded input */
            continue;
        }
        enum step_kind kind;
        switch (n->op) {
        case OP_CONV2D: kind = STEP_CONV; break;
        case OP_DENSE: kind = STEP_DENSE; break;
        case OP_MAX_POOL: kind = STEP_MAX_POOL; break;
        case OP_GLOBAL_AVG_POOL: kind = STEP_GLOBAL_AVG_POOL; break;
        case OP_ADD: kind = STEP_ADD; break;
        case OP_CONCAT: kind = STEP_CONCAT; break;
        case OP_UPSAMPLE: kind = STEP_UPSAMPLE; break;
        case OP_ACTIVATION: kind = n->p.act.act == ACT_SOFTMAX ? STEP_SOFTMAX : STEP_ACTIVATION; break;
        case OP_BATCH_NORM: kind = STEP_BATCH_NORM; break;
        case OP_ZERO_PAD: kind = STEP_ZERO_PAD; break;
        case OP_FLATTEN: kind = STEP_COPY; break;
        default: return cnnrt_fail(err, CNNRT_E_INTERNAL, "plan: unexpected op in '%s'", n->name);
        }
        struct step *s = new_step(b, kind, i);
        if (!s) return CNNRT_NOMEM(err);
        b->chain[0] = i;
        b->n_chain = 1;
        int step_index = b->p->n_steps - 1;
        s->n_in = n->n_inputs > STEP_MAX_INPUTS ? -1 : n->n_inputs;
        if (s->n_in < 0)
            return cnnrt_fail(err, CNNRT_E_FORMAT, "layer '%s' has more than %d inputs", n->name,
                              STEP_MAX_INPUTS);
        for (int k = 0; k < n->n_inputs; k++) {
            int src = n->inputs[k];
            if (b->folded_pad[src]) src = g->nodes[src].inputs[0];
            s->in[k] = b->tensor_of[src];
            if (s->in[k] < 0)
                return cnnrt_fail(err, CNNRT_E_INTERNAL, "plan: input of '%s' not ready", n->name);
        }
        int last = i;
        switch (n->op) {
        case OP_CONV2D: {
            const struct conv2d_params *cp = &n->p.conv;
            window_from(b, n->inputs[0], &cp->pad, cp->kh, cp->kw, cp->sh, cp->sw, n->out, &s->win);
            s->pointwise = cp->kh == 1 && cp->kw == 1 && cp->sh == 1 && cp->sw == 1 &&
                           s->win.pad_top == 0 && s->win.pad_left == 0 && s->win.oh == s->win.h &&
                           s->win.ow == s->win.w;
            s->flops = 2.0 * n->out.h * n->out.w * cp->filters * cp->kh * cp->kw * s->win.c;
            last = plan_linear(b, i, s);
            break;
        }
        case OP_DENSE:
            s->flops = 2.0 * n->out.h * n->out.w * n->p.dense.units * g->nodes[n->inputs[0]].out.c;
            last = plan_linear(b, i, s);
            break;
        case OP_MAX_POOL: {
            const struct pool_params *pp = &n->p.pool;
            window_from(b, n->inputs[0], &pp->pad, pp->kh, pp->kw, pp->sh, pp->sw, n->out, &s->win);
            s->pad_value = b->folded_pad[n->inputs[0]] ? 0.0f : -INFINITY;
            break;
        }
        case OP_ACTIVATION:
            s->act1 = n->p.act.act;
            s->alpha1 = n->p.act.alpha;
            break;
        case OP_UPSAMPLE:
            s->up_sh = n->p.up.sh;
            s->up_sw = n->p.up.sw;
            break;
        case OP_ZERO_PAD: s->pad = n->p.zero_pad.pad; break;
        case OP_BATCH_NORM: {
            int c = n->out.c;
            double *tmp = malloc((size_t)c * 2 * sizeof(double));
            s->bn_params = malloc((size_t)c * 2 * sizeof(float));
            if (!tmp || !s->bn_params) {
                free(tmp);
                return CNNRT_NOMEM(err);
            }
            bn_scale_shift(n, c, tmp, tmp + c);
            for (int k = 0; k < 2 * c; k++) s->bn_params[k] = (float)tmp[k];
            free(tmp);
            s->bn_scale = s->bn_params;
            s->bn_shift = s->bn_params + c;
            break;
        }
        default: break;
        }
        if (last < 0) return CNNRT_NOMEM(err);
        s = &b->p->steps[step_index];
        s->out = new_tensor(b, g->nodes[last].out);
        if (s->out < 0) return CNNRT_NOMEM(err);
        /* only the chain's last node has a materialised value */
        for (int k = 1; k < b->n_chain; k++) b->absorbed[b->chain[k]] = true;
        b->tensor_of[last] = s->out;
        for (int k = 0; k < b->n_chain && b->consume; k++)
            graph_release_node_weights(g, b->chain[k]);
    }
    return CNNRT_OK;
}

/* Whether conv step s may write its output over its residual (a ResNet block's
 * shortcut): the residual must die at this step and have the output's size. The
 * output pass then reads each residual value just before it stores the output value
 * at the same address, so the residual stream and the output's cache-line fills are
 * one stream. With K cut into blocks, the GEMM starts from the residual and adds the
 * partial sums into it (kernels/gemm.h), which needs no activation before the add. */
static bool residual_in_place(const struct plan *p, int s)
{
    const struct step *st = &p->steps[s];
    if (st->kind != STEP_CONV || st->residual < 0 || p->blas) return false;
    const struct plan_tensor *r = &p->tensors[st->residual], *o = &p->tensors[st->out];
    if (st->residual == p->input || r->last != s || r->size != o->size || o->first != s)
        return false;
    for (int k = 0; k < st->n_in; k++)
        if (st->in[k] == st->residual) return false;
    if (st->act1 == ACT_SIGMOID || st->act2 == ACT_SIGMOID) return false;
    return st->wino.m || st->packed.kc >= st->packed.k || st->act1 == ACT_LINEAR;
}

/* First-fit placement of tensors in one arena, by decreasing size, so that tensors
 * alive at the same time never overlap. A tensor that replaces a residual in place
 * shares its owner's memory, whose lifetime grows to cover both. */
static cnnrt_status plan_memory(struct plan *p, cnnrt_error *err)
{
    for (int s = 0; s < p->n_steps; s++) {
        const struct step *st = &p->steps[s];
        for (int k = 0; k < st->n_in; k++) {
            struct plan_tensor *t = &p->tensors[st->in[k]];
            if (t->last < s) t->last = s;
        }
        if (st->residual >= 0 && p->tensors[st->residual].last < s) p->tensors[st->residual].last = s;
        if (p->tensors[st->out].first < 0) p->tensors[st->out].first = s;
    }
    p->tensors[p->input].first = -1;
    if (p->tensors[p->input].last < 0) p->tensors[p->input].last = 0;
    for (int k = 0; k < p->n_outputs; k++) p->tensors[p->outputs[k]].last = p->n_steps;
    for (int s = 0; s < p->n_steps; s++) {
        if (!residual_in_place(p, s)) continue;
        const struct step *st = &p->steps[s];
        const int r = st->residual, owner = p->tensors[r].shares >= 0 ? p->tensors[r].shares : r;
        p->tensors[st->out].shares = owner;
        if (p->tensors[owner].last < p->tensors[st->out].last)
            p->tensors[owner].last = p->tensors[st->out].last;
    }

    int n = p->n_tensors;
    int *order = malloc((size_t)n * sizeof *order);
    int *placed = malloc((size_t)n * sizeof *placed);
    if (!order || !placed) {
        free(order);
        free(placed);
        return CNNRT_NOMEM(err);
    }
    for (int i = 0; i < n; i++) order[i] = i;
    for (int i = 1; i < n; i++) { /* insertion sort by size, descending (n is small) */
        int v = order[i], j = i;
        while (j > 0 && p->tensors[order[j - 1]].size < p->tensors[v].size) {
            order[j] = order[j - 1];
            j--;
        }
        order[j] = v;
    }
    const size_t align = 16; /* floats: 64 bytes */
    size_t total = 0;
    int n_placed = 0;
    for (int i = 0; i < n; i++) {
        struct plan_tensor *t = &p->tensors[order[i]];
        if (t->shares >= 0) continue;
        size_t size = (t->size + align - 1) / align * align;
        size_t offset = 0;
        for (bool moved = true; moved;) {
            moved = false;
            for (int j = 0; j < n_placed; j++) {
                const struct plan_tensor *o = &p->tensors[placed[j]];
                bool live_together = !(o->last < t->first || t->last < o->first);
                size_t osize = (o->size + align - 1) / align * align;
                if (live_together && offset < o->offset + osize && o->offset < offset + size) {
                    offset = o->offset + osize;
                    moved = true;
                }
            }
        }
        t->offset = offset;
        placed[n_placed++] = order[i];
        if (offset + size > total) total = offset + size;
    }
    for (int i = 0; i < n; i++)
        if (p->tensors[i].shares >= 0) p->tensors[i].offset = p->tensors[p->tensors[i].shares].offset;
    free(order);
    free(placed);
    p->arena_floats = total;
    p->arena = aligned_alloc64(total * sizeof(float));
    if (!p->arena) return CNNRT_NOMEM(err);
    /* zeroed (nothing reads what no step wrote, but a fresh arena is not left to
     * chance) by the team: touching the fresh pages is most of the cost (25 ms for
     * YOLOv3-416's 32 MiB on one thread) */
    const size_t chunk = 1u << 18; /* floats */
    const long chunks = (long)((total + chunk - 1) / chunk);
#pragma omp parallel for schedule(static) if (chunks > 1)
    for (long c = 0; c < chunks; c++) {
        const size_t at = (size_t)c * chunk, len = total - at < chunk ? total - at : chunk;
        memset(p->arena + at, 0, len * sizeof(float));
    }
    return CNNRT_OK;
}

cnnrt_status plan_build(struct graph *g, int threads, bool consume, struct plan *p,
                        cnnrt_error *err)
{
    memset(p, 0, sizeof *p);
    p->input = -1;
    const char *conv = getenv("CNNRT_CONV");
    p->blas = conv && strcmp(conv, "blas") == 0;
    const char *wino = getenv("CNNRT_WINOGRAD");
    p->winograd = wino ? atoi(wino) : -1;
    if (p->winograd != 2 && p->winograd != 4 && p->winograd != -1) p->winograd = 0;
    struct builder b = {.g = g, .consume = consume, .p = p, .err = err, .ahead_failed = -1};
    b.consumers = graph_consumer_counts(g);
    b.tensor_of = malloc((size_t)g->n_nodes * sizeof *b.tensor_of);
    b.folded_pad = calloc((size_t)g->n_nodes, sizeof *b.folded_pad);
    b.absorbed = calloc((size_t)g->n_nodes, sizeof *b.absorbed);
    p->outputs = malloc((size_t)g->n_outputs * sizeof *p->outputs);
    cnnrt_status st = CNNRT_OK;
    if (!b.consumers || !b.tensor_of || !b.folded_pad || !b.absorbed || !p->outputs) {
        st = CNNRT_NOMEM(err);
        goto done;
    }
    for (int i = 0; i < g->n_nodes; i++) b.tensor_of[i] = -1;
    if ((st = build_steps(&b))) goto done;
    for (int k = 0; k < g->n_outputs; k++) {
        p->outputs[k] = b.tensor_of[g->outputs[k]];
        if (p->outputs[k] < 0) {
            st = cnnrt_fail(err, CNNRT_E_INTERNAL, "plan: output '%s' has no tensor",
                            g->nodes[g->outputs[k]].name);
            goto done;
        }
    }
    p->n_outputs = g->n_outputs;
    if ((st = plan_memory(p, err))) goto done;
    for (int s = 0; s < p->n_steps && p->blas; s++)
        if (p->steps[s].kind == STEP_CONV) {
            size_t need = conv2d_gemm_scratch(&p->steps[s].win);
            if (need > p->scratch_floats) p->scratch_floats = need;
        }
    if (p->scratch_floats) {
        p->scratch = aligned_alloc64(p->scratch_floats * sizeof(float));
        if (!p->scratch) st = CNNRT_NOMEM(err);
    }
    p->max_threads = omp_get_num_procs();
    if (threads > p->max_threads) p->max_threads = threads;
    if (p->max_threads < 1) p->max_threads = 1;
    p->gemm_scratch = aligned_alloc64(gemm_scratch_per_thread() * (size_t)p->max_threads * sizeof(float));
    if (!st && !p->gemm_scratch) st = CNNRT_NOMEM(err);
    for (int s = 0; s < p->n_steps; s++)
        if (p->steps[s].wino.m) {
            size_t need = winograd_scratch(&p->steps[s].win, &p->steps[s].wino, p->max_threads);
            if (need > p->wino_scratch_floats) p->wino_scratch_floats = need;
        }
    if (!st && p->wino_scratch_floats) {
        p->wino_scratch = aligned_alloc64(p->wino_scratch_floats * sizeof(float));
        if (!p->wino_scratch) st = CNNRT_NOMEM(err);
    }
done:
    free(b.consumers);
    free(b.tensor_of);
    free(b.folded_pad);
    free(b.absorbed);
    if (st) plan_free(p);
    return st;
}

double plan_flops(const struct plan *p)
{
    double f = 0;
    for (int s = 0; s < p->n_steps; s++) f += p->steps[s].flops;
    return f;
}

void plan_free(struct plan *p)
{
    if (!p) return;
    for (int s = 0; s < p->n_steps; s++) {
        free(p->steps[s].label);
        aligned_free(p->steps[s].kernel);
        gemm_b_free(&p->steps[s].packed);
        winograd_free(&p->steps[s].wino);
        aligned_free(p->steps[s].bias);
        free(p->steps[s].bn_params);
    }
    free(p->steps);
    free(p->tensors);
    free(p->outputs);
    aligned_free(p->arena);
    aligned_free(p->scratch);
    aligned_free(p->gemm_scratch);
    aligned_free(p->wino_scratch);
    memset(p, 0, sizeof *p);
}
