/*
 * synthetic_weights.c - seeded stand-in weights for demos, benchmarks and tests.
 *
 * Real trained weights cannot be downloaded on our machines, so tests need weights
 * that exercise every code path like trained ones would: kernels are He-initialised;
 * every BatchNormalization gets statistics measured on its actual input (run on a
 * synthetic image) and then perturbed, so that no BatchNorm is an identity and
 * activations keep a sane scale through 50+ layers; a classifier's logits get a
 * realistic spread; YOLO heads are tuned so that only a few cells fire.
 *
 * Detection graphs get BatchNorm offsets centred at +0.5 instead of 0. With
 * zero-centred offsets the random 75-layer Darknet is "chaotic": BatchNorm statistics
 * fitted to one calibration image stop fitting at depth, and a real photo's deep
 * activations come out 3 to 6 times larger than the calibration image's, so that
 * thousands of cells fire. Centred at +0.5 (about a third of the values still go
 * through LeakyReLU's negative side) the ratio stays near the input's at every depth.
 * Their calibration image is also finely textured (see calibration_input), so that
 * photos sit at or below it, and on the photos of tests/data/images a handful of
 * objects fire at 50% (tests/py/test_detect.py checks this). Classifier graphs
 * (ResNet50) are calibrated exactly as before these changes.
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
    long classes;      /* detection: class count, else 0 */
    double beta_shift; /* added to every BatchNorm offset (detection only, see above) */
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
        if (beta) beta[k] = (float)(0.25 * rng_normal(&c->rng) + c->beta_shift);
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

#define YOLO_OBJ_GAIN 3.0
#define YOLO_CLASS_GAIN 2.5

/* z with P(N(0,1) > z) = p, by bisection on erfc. */
static double normal_upper_quantile(double p)
{
    double lo = -10, hi = 10;
    for (int it = 0; it < 60; it++) {
        double mid = 0.5 * (lo + hi);
        if (0.5 * erfc(mid / sqrt(2.0)) > p) lo = mid;
        else hi = mid;
    }
    return 0.5 * (lo + hi);
}

/* A YOLO head (channels anchor * (5 + classes) + [tx, ty, tw, th, obj, classes]):
 * offsets of a cell's size, box scales within a factor of about 2 of the anchor,
 * objectness positive at z-scores above 3 (about 1 anchor-cell in 700), each class
 * logit positive with probability 1 / (2 * classes), so that a firing cell shows
 * about half a class: a few objects per image at ImageAI's default 50%. z-scores are
 * taken on the calibration image. raw: the head's output before bias, (cells, cout). */
static void calibrate_yolo_head(struct calib *c, struct node *n, const float *raw, int per_anchor)
{
    const int cout = n->out.c, classes = per_anchor - 5;
    const size_t cells = (size_t)n->out.h * n->out.w;
    const double obj_z = normal_upper_quantile(4.0 / (double)(cells * (size_t)(cout / per_anchor)));
    const double class_z = normal_upper_quantile(0.5 / classes);
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
        if (role < 2) set_channel_affine(n, k, mean, sd, 1.0, 0, 0);        /* tx, ty */
        else if (role < 4) set_channel_affine(n, k, mean, sd, 0.5, 0, 0);   /* tw, th */
        else if (role == 4) set_channel_affine(n, k, mean, sd, YOLO_OBJ_GAIN, obj_z, 0);
        else set_channel_affine(n, k, mean, sd, YOLO_CLASS_GAIN, class_z + 0.3 * rng_normal(&c->rng), 0);
    }
}

/* Classifier logits: spread so that softmax is confident but not one-hot. Detection
 * heads: see calibrate_yolo_head. */
static cnnrt_status calibrate_output(struct calib *c, struct graph *g, int node, const float *x,
                                     cnnrt_error *err)
{
    struct node *n = &g->nodes[node];
    float *raw = raw_output(g, node, x);
    if (!raw) return CNNRT_NOMEM(err);
    const int cout = n->out.c;
    const size_t cells = (size_t)n->out.h * n->out.w;
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
        free(raw);
        return CNNRT_OK;
    }
    calibrate_yolo_head(c, n, raw, per_anchor);
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

/* Paints disc (cx, cy, radius) of x (h, w, ch) with colour, or, when amp > 0, with
 * stripes blending colour into colour2 (angle theta, angular frequency freq). */
struct disc {
    double cx, cy, radius;
    float colour[4], colour2[4];
    double amp, theta, freq;
};

static void paint_disc(float *x, int h, int w, int ch, const struct disc *d)
{
    int y0 = (int)fmax(0, d->cy - d->radius), y1 = (int)fmin(h - 1, d->cy + d->radius);
    int x0 = (int)fmax(0, d->cx - d->radius), x1 = (int)fmin(w - 1, d->cx + d->radius);
    const double ct = cos(d->theta), st = sin(d->theta);
    for (int y = y0; y <= y1; y++)
        for (int xx = x0; xx <= x1; xx++) {
            double dy = y - d->cy, dx = xx - d->cx;
            if (dx * dx + dy * dy > d->radius * d->radius) continue;
            double t = d->amp > 0 ? d->amp * (0.5 + 0.5 * sin(d->freq * (ct * xx + st * y))) : 0;
            for (int c = 0; c < ch; c++)
                x[((size_t)y * w + xx) * ch + c] =
                    (float)(d->colour[c % 4] * (1 - t) + d->colour2[c % 4] * t);
        }
}

/* An image-like calibration input: a "dead leaves" picture (overlapping discs of
 * random colours with power-law sizes, which has the edge and scale statistics of
 * natural photos) plus a little noise, in the value range the model's preprocessing
 * gives. Detection graphs get many more, smaller discs, most of them striped at
 * random angles and periods: photos carry that much fine texture, and calibrating
 * on less leaves their activations larger than the calibration image's all the way
 * to the heads. */
static float *calibration_input(const struct graph *g, struct rng *r)
{
    const cnnrt_shape *s = &g->nodes[g->input].out;
    size_t n = shape_elems(s->h, s->w, s->c);
    float *x = malloc(n * sizeof *x);
    if (!x) return NULL;
    for (size_t i = 0; i < n; i++) x[i] = 0.5f;
    const double side = s->h > s->w ? s->h : s->w;
    const bool textured = g->task && strcmp(g->task, "detection") == 0;
    /* classifier: 400 discs of 1% .. 30% of the side; detection: 4000 per 416x416
     * of 0.3% .. 10%, 70% of them striped */
    const double area = (double)s->h * s->w / (416.0 * 416.0);
    const int discs = textured ? (int)fmax(400, 4000 * area) : 400;
    const double rmin = textured ? 0.003 : 0.01, rmax = textured ? 0.10 : 0.30;
    for (int k = 0; k < discs; k++) {
        struct disc d = {0};
        d.radius = side * rmin * pow(rmax / rmin, rng_uniform(r));
        d.cx = rng_uniform(r) * s->w;
        d.cy = rng_uniform(r) * s->h;
        for (int c = 0; c < 4; c++) d.colour[c] = (float)rng_uniform(r);
        if (textured && rng_uniform(r) < 0.7) {
            for (int c = 0; c < 4; c++) d.colour2[c] = (float)rng_uniform(r);
            d.amp = 0.5 * rng_uniform(r);
            d.theta = 3.141592653589793 * rng_uniform(r);
            d.freq = 6.283185307179586 / (2 + 20 * rng_uniform(r)); /* period 2 .. 22 pixels */
        }
        paint_disc(x, s->h, s->w, s->c, &d);
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
    struct calib c = {{seed * 0x2545F4914F6CDD1Dull + 1}, 0, 0};
    if (g->task && strcmp(g->task, "detection") == 0) {
        graph_param_get(g, "classes", &c.classes);
        c.beta_shift = 0.5;
    }
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
