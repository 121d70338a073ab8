/*
 * synthetic_weights.c - seeded stand-in weights for demos, benchmarks and tests.
 *
 * Real trained weights cannot be downloaded on our machines, so tests need weights
 * that exercise every code path like trained ones would: kernels are He-initialised;
 * every BatchNormalization gets statistics measured on its actual input (run on a
 * synthetic image) and then perturbed, so that no BatchNorm is an identity and
 * activations keep a sane scale through 50+ layers; a classifier's logits get a
 * realistic spread; YOLO heads are tuned so that only a few cells fire.
 */
#include "graph/synthetic_weights.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "core/util.h"
#include "exec/graph_exec.h"

struct rng {
    uint64_t state;
};

static uint64_t rng_next(struct rng *r)
{
    uint64_t z = (r->state += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

/* Uniform in [0, 1). */
static double rng_uniform(struct rng *r) { return (double)(rng_next(r) >> 11) * 0x1.0p-53; }

static double rng_normal(struct rng *r)
{
    double u1 = rng_uniform(r), u2 = rng_uniform(r);
    if (u1 < 1e-300) u1 = 1e-300;
    return sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2);
}

static float *node_weight(struct node *n, const char *role)
{
    for (int k = 0; k < n->n_weights; k++)
        if (strcmp(n->w[k].role, role) == 0) return n->w[k].data;
    return NULL;
}

static bool is_output(const struct graph *g, int node)
{
    for (int k = 0; k < g->n_outputs; k++)
        if (g->outputs[k] == node) return true;
    return false;
}

struct calib {
    struct rng rng;
    long classes;   /* detection: class count, else 0 */
};

/* BatchNorm: statistics of the real input, perturbed; random affine. */
static void calibrate_bn(struct calib *c, struct node *n, const float *x, size_t pixels)
{
    const int ch = n->out.c;
    float *gamma = node_weight(n, "gamma"), *beta = node_weight(n, "beta");
    float *mean = node_weight(n, "moving_mean"), *var = node_weight(n, "moving_variance");
    double avg_var = 0;
    double *m = calloc((size_t)ch * 2, sizeof *m);
    if (!m) return; /* weights stay as initialised; the caller's run still works */
    double *v = m + ch;
    for (size_t p = 0; p < pixels; p++)
        for (int k = 0; k < ch; k++) m[k] += x[p * ch + k];
    for (int k = 0; k < ch; k++) m[k] /= (double)pixels;
    for (size_t p = 0; p < pixels; p++)
        for (int k = 0; k < ch; k++) {
            double d = x[p * ch + k] - m[k];
            v[k] += d * d;
        }
    for (int k = 0; k < ch; k++) {
        v[k] /= (double)pixels;
        avg_var += v[k] / ch;
    }
    if (!(avg_var > 0)) avg_var = 1;
    for (int k = 0; k < ch; k++) {
        double vk = v[k] > 0.05 * avg_var ? v[k] : 0.05 * avg_var; /* no near-dead channel blows up */
        double sd = sqrt(vk);
        mean[k] = (float)(m[k] + 0.2 * sd * rng_normal(&c->rng));
        var[k] = (float)(vk * (0.7 + 0.7 * rng_uniform(&c->rng)));
        if (gamma) gamma[k] = (float)(0.6 + 0.8 * rng_uniform(&c->rng));
        if (beta) beta[k] = (float)(0.25 * rng_normal(&c->rng));
    }
    free(m);
}

/* Raw (bias-free) output of a conv/dense node on its input. Caller frees. */
static float *raw_output(struct graph *g, int node, const float *x)
{
    struct node *n = &g->nodes[node];
    const cnnrt_shape *is = &g->nodes[n->inputs[0]].out;
    size_t out_elems = shape_elems(n->out.h, n->out.w, n->out.c);
    float *out = malloc(out_elems * sizeof(float));
    if (!out) return NULL;
    if (n->op == OP_DENSE) {
        dense(x, (size_t)is->h * is->w, is->c, n->p.dense.units, n->w[0].data, NULL, out);
        return out;
    }
    const struct conv2d_params *p = &n->p.conv;
    struct window_desc d = {is->h, is->w, is->c, p->kh, p->kw, p->sh, p->sw,
                            p->pad.top, p->pad.left, n->out.h, n->out.w};
    float *scratch = NULL;
    size_t need = conv2d_gemm_scratch(&d);
    if (need && !(scratch = aligned_alloc64(need * sizeof(float)))) {
        free(out);
        return NULL;
    }
    conv2d_gemm(&d, p->filters, x, n->w[0].data, NULL, out, p->filters, scratch);
    aligned_free(scratch);
    return out;
}

/* Rescales output channel k of a linear node so that its raw values z-score to
 * logit = alpha * (z - t) + offset, i.e. kernel column *= alpha/sd and the bias
 * takes the rest. */
static void set_channel_affine(struct node *n, int k, double mean, double sd, double alpha,
                               double t, double offset)
{
    int cout = n->out.c;
    size_t rows = weight_elems(&n->w[0]) / (size_t)cout;
    double s = sd > 1e-12 ? alpha / sd : 0;
    for (size_t r = 0; r < rows; r++) n->w[0].data[r * cout + k] = (float)(n->w[0].data[r * cout + k] * s);
    float *bias = node_weight(n, "bias");
    if (bias) bias[k] = (float)(-mean * s - alpha * t + offset);
}

static int cmp_desc(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x < y) - (x > y);
}

/* Classifier logits: spread so that softmax is confident but not one-hot. Detection
 * heads: box offsets of moderate size, objectness that fires in few cells, class
 * logits mostly negative. */
static cnnrt_status calibrate_output(struct calib *c, struct graph *g, int node, const float *x,
                                     cnnrt_error *err)
{
    struct node *n = &g->nodes[node];
    float *raw = raw_output(g, node, x);
    if (!raw) return CNNRT_NOMEM(err);
    const int cout = n->out.c;
    const size_t cells = (size_t)n->out.h * n->out.w;
    double *vals = malloc(cells * sizeof *vals);
    if (!vals) {
        free(raw);
        return CNNRT_NOMEM(err);
    }
    const int per_anchor = c->classes > 0 ? (int)(5 + c->classes) : 0;
    const bool yolo = n->op == OP_CONV2D && per_anchor > 0 && cout % per_anchor == 0;
    if (!yolo) {
        /* classifier: logits spread with a standard deviation of 3 across classes */
        double mean = 0, var = 0, count = (double)cells * cout;
        for (size_t i = 0; i < cells * (size_t)cout; i++) mean += raw[i];
        mean /= count;
        for (size_t i = 0; i < cells * (size_t)cout; i++) var += (raw[i] - mean) * (raw[i] - mean);
        double sd = sqrt(var / count);
        for (int k = 0; k < cout; k++)
            set_channel_affine(n, k, mean, sd, 3.0, 0, 0.5 * rng_normal(&c->rng));
        free(vals);
        free(raw);
        return CNNRT_OK;
    }
    for (int k = 0; k < cout; k++) {
        double mean = 0, var = 0;
        for (size_t i = 0; i < cells; i++) mean += raw[i * cout + k];
        mean /= (double)cells;
        for (size_t i = 0; i < cells; i++) {
            double d = raw[i * cout + k] - mean;
            var += d * d;
        }
        double sd = sqrt(var / (double)cells);
        int role = k % per_anchor;
        if (role < 2) { /* tx, ty */
            set_channel_affine(n, k, mean, sd, 1.0, 0, 0);
        } else if (role < 4) { /* tw, th */
            set_channel_affine(n, k, mean, sd, 0.5, 0, 0);
        } else if (role == 4) { /* objectness: about one cell in 300 is positive */
            for (size_t i = 0; i < cells; i++) vals[i] = sd > 0 ? (raw[i * cout + k] - mean) / sd : 0;
            qsort(vals, cells, sizeof *vals, cmp_desc);
            size_t top = cells / 300 + 1;
            double t = vals[top - 1] - 1e-3;
            set_channel_affine(n, k, mean, sd, 3.0, t, 0);
        } else { /* classes: mostly off, a few on */
            set_channel_affine(n, k, mean, sd, 2.5, 0, -4.0 + 1.0 * rng_normal(&c->rng));
        }
    }
    free(vals);
    free(raw);
    return CNNRT_OK;
}

static cnnrt_status before_node(struct graph *g, int node, const float *const *inputs, void *ctx,
                                cnnrt_error *err)
{
    struct calib *c = ctx;
    struct node *n = &g->nodes[node];
    if (n->op == OP_BATCH_NORM) {
        calibrate_bn(c, n, inputs[0], (size_t)n->out.h * n->out.w);
        return CNNRT_OK;
    }
    bool head = is_output(g, node) ||
                (n->op == OP_DENSE && n->p.dense.act == ACT_SOFTMAX);
    if (!head) {
        for (int k = 0; k < g->n_outputs; k++) { /* Dense followed by a Softmax layer */
            const struct node *o = &g->nodes[g->outputs[k]];
            if (o->op == OP_ACTIVATION && o->inputs[0] == node) head = true;
        }
    }
    if (head && (n->op == OP_CONV2D || n->op == OP_DENSE)) return calibrate_output(c, g, node, inputs[0], err);
    return CNNRT_OK;
}

/* An image-like calibration input: a "dead leaves" picture (overlapping discs of
 * random colours with power-law sizes, which has the edge and scale statistics of
 * natural photos) plus a little noise, in the value range the model's preprocessing
 * gives. */
static float *calibration_input(const struct graph *g, struct rng *r)
{
    const cnnrt_shape *s = &g->nodes[g->input].out;
    size_t n = shape_elems(s->h, s->w, s->c);
    float *x = malloc(n * sizeof *x);
    if (!x) return NULL;
    for (size_t i = 0; i < n; i++) x[i] = 0.5f;
    const double side = s->h > s->w ? s->h : s->w;
    for (int disc = 0; disc < 400; disc++) {
        double radius = side * 0.01 * pow(30.0, rng_uniform(r)); /* 1% .. 30% of the side */
        double cx = rng_uniform(r) * s->w, cy = rng_uniform(r) * s->h;
        float colour[4];
        for (int c = 0; c < 4; c++) colour[c] = (float)rng_uniform(r);
        int y0 = (int)fmax(0, cy - radius), y1 = (int)fmin(s->h - 1, cy + radius);
        int x0 = (int)fmax(0, cx - radius), x1 = (int)fmin(s->w - 1, cx + radius);
        for (int y = y0; y <= y1; y++)
            for (int xx = x0; xx <= x1; xx++) {
                double dy = y - cy, dx = xx - cx;
                if (dx * dx + dy * dy > radius * radius) continue;
                for (int c = 0; c < s->c; c++) x[((size_t)y * s->w + xx) * s->c + c] = colour[c % 4];
            }
    }
    const char *pre = g->preprocess ? g->preprocess : "";
    bool unit = g->task && strcmp(g->task, "detection") == 0;
    for (size_t i = 0; i < n; i++) {
        double val = x[i] + 0.03 * (rng_uniform(r) - 0.5);
        val = val < 0 ? 0 : val > 1 ? 1 : val;
        double out;
        if (unit) out = val;
        else if (strcmp(pre, "tf") == 0) out = val * 2 - 1;
        else if (strcmp(pre, "torch") == 0) out = (val - 0.45) / 0.226;
        else if (strcmp(pre, "raw") == 0) out = val * 255;
        else out = val * 255 - 117; /* caffe */
        x[i] = (float)out;
    }
    return x;
}

cnnrt_status synthetic_weights(struct graph *g, uint64_t seed, cnnrt_error *err)
{
    cnnrt_status st = graph_alloc_weights(g, err);
    if (st) return st;
    struct calib c = {{seed * 0x2545F4914F6CDD1Dull + 1}, 0};
    if (g->task && strcmp(g->task, "detection") == 0) graph_param_get(g, "classes", &c.classes);
    for (int i = 0; i < g->n_nodes; i++) {
        struct node *n = &g->nodes[i];
        if (n->op == OP_CONV2D || n->op == OP_DENSE) {
            size_t count = weight_elems(&n->w[0]);
            int cout = n->out.c;
            double fan_in = (double)count / cout;
            double sd = sqrt(2.0 / fan_in);
            for (size_t k = 0; k < count; k++) n->w[0].data[k] = (float)(sd * rng_normal(&c.rng));
            float *bias = node_weight(n, "bias");
            if (bias)
                for (int k = 0; k < cout; k++) bias[k] = (float)(0.05 * rng_normal(&c.rng));
        } else if (n->op == OP_BATCH_NORM) { /* placeholders until calibrated */
            for (int k = 0; k < n->n_weights; k++) {
                float v = strcmp(n->w[k].role, "gamma") == 0 || strcmp(n->w[k].role, "moving_variance") == 0;
                for (size_t e = 0; e < weight_elems(&n->w[k]); e++) n->w[k].data[e] = v;
            }
        }
    }
    float *x = calibration_input(g, &c.rng);
    float **outs = calloc((size_t)g->n_outputs, sizeof *outs);
    if (!x || !outs) {
        free(x);
        free(outs);
        return CNNRT_NOMEM(err);
    }
    st = graph_exec(g, x, false, before_node, &c, outs, err);
    for (int k = 0; k < g->n_outputs; k++) free(outs[k]);
    free(outs);
    free(x);
    if (!st) {
        g->weights_loaded = true;
        g->synthetic_seed = (long)(seed & 0x7fffffffffffffffull);
    }
    return st;
}
