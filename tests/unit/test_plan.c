/*
 * test_plan.c - the planner and executor against the unplanned reference run, and
 * the public API's error paths.
 *
 * Every model is built through the public API (load_graph, synthetic_weights,
 * prepare with keep_originals, run) and each output is compared with graph_exec
 * (reference = true) on the same input: node by node, unfused, BatchNorm applied as
 * such, padding materialised, reference kernels accumulating in double.
 *
 * Tolerance: max |plan - reference| <= 1e-4 * max |reference| over each output
 * (relative to the output's largest magnitude, because single values of a deep net
 * can cancel to near zero while their error keeps the scale of the layer). The plan
 * computes in float with folded BatchNorm; observed errors are ~7e-6 of the maximum
 * on ResNet50's pooled features (53 convolutions), ~3e-6 on YOLOv3's heads and
 * ~1e-7..1e-6 on the small models, while a mistake in folding, fusion, padding or
 * memory reuse gives errors of the order of the values themselves. NaN or Inf never
 * passes.
 *
 * Run with CNNRT_TEST_VERBOSE=1 to print the observed errors.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/model_internal.h"
#include "core/util.h"
#include "cnnrt.h"
#include "exec/graph_exec.h"
#include "test.h"

#define PLAN_RTOL 1e-4

/* OpenBLAS 0.3.21 (Debian 12) sgemm does not give the same bits with 1 and 2
 * threads (its blocking depends on the thread count), and conv2d_gemm and dense call
 * it, so whole-model outputs differ in the last bits between thread counts. Reported
 * to the lead; while true, such differences are printed as a known bug instead of
 * failing. Set to false once the convolutions no longer depend on OpenBLAS's
 * threading. The same switch is in test_kernels.c. */
#define KNOWN_BUG_GEMM_THREADS false

static bool verbose(void)
{
    const char *v = getenv("CNNRT_TEST_VERBOSE");
    return v && *v && strcmp(v, "0") != 0;
}

/* Writes a model JSON (single quotes stand for double quotes) to the scratch dir;
 * returns the path (static storage, one per name). */
static const char *write_model(const char *name, const char *text)
{
    static char path[1024];
    snprintf(path, sizeof path, "%s/%s.json", test_tmp_dir(), name);
    FILE *f = fopen(path, "w");
    if (!f) return NULL;
    for (const char *c = text; *c; c++) fputc(*c == '\'' ? '"' : *c, f);
    fclose(f);
    return path;
}

/* Outputs of one run, copied. */
struct outputs {
    int n;
    float **data;
    cnnrt_shape *shape;
};

static void outputs_free(struct outputs *o)
{
    for (int k = 0; k < o->n; k++) free(o->data[k]);
    free(o->data);
    free(o->shape);
    memset(o, 0, sizeof *o);
}

static size_t shape_size(cnnrt_shape s) { return (size_t)s.h * s.w * s.c; }

/* Runs m on input and copies every output; false (with a recorded failure) if the
 * run fails. */
static bool run_copy(cnnrt_model *m, const float *input, size_t n, struct outputs *o)
{
    memset(o, 0, sizeof *o);
    cnnrt_status st = cnnrt_model_run(m, input, n);
    CHECK_MSG(st == CNNRT_OK, "run: %s", cnnrt_model_error(m));
    if (st) return false;
    o->n = cnnrt_model_output_count(m);
    o->data = calloc((size_t)o->n, sizeof *o->data);
    o->shape = calloc((size_t)o->n, sizeof *o->shape);
    for (int k = 0; k < o->n; k++) {
        const float *y = cnnrt_model_output(m, k, &o->shape[k]);
        CHECK_MSG(y != NULL, "output %d missing", k);
        if (!y) return false;
        size_t sz = shape_size(o->shape[k]);
        o->data[k] = malloc(sz * sizeof(float));
        memcpy(o->data[k], y, sz * sizeof(float));
    }
    return true;
}

static bool outputs_identical(const struct outputs *a, const struct outputs *b)
{
    if (a->n != b->n) return false;
    for (int k = 0; k < a->n; k++)
        if (memcmp(a->data[k], b->data[k], shape_size(a->shape[k]) * sizeof(float)) != 0)
            return false;
    return true;
}

/* max |got - want| / max |want|; INFINITY if either holds NaN or Inf. */
static double relative_to_max(const float *got, const float *want, size_t n, size_t *at)
{
    double err = 0, scale = 0;
    *at = 0;
    for (size_t i = 0; i < n; i++) {
        if (!isfinite(got[i]) || !isfinite(want[i])) {
            *at = i;
            return INFINITY;
        }
        double e = fabs((double)got[i] - want[i]);
        if (e > err) {
            err = e;
            *at = i;
        }
        if (fabs(want[i]) > scale) scale = fabs(want[i]);
    }
    return scale > 0 ? err / scale : (err > 0 ? INFINITY : 0);
}

struct model_spec {
    const char *label;
    const char *path;
    const char *param_names[2];
    long param_values[2];
    const char *extra_output; /* a layer made an extra model output, or NULL */
    float in_lo, in_hi; /* input value range (the model's preprocessed range) */
    unsigned seed;
};

/* Makes layer `name` an extra output of the loaded graph (through the internals). */
static cnnrt_status add_output(cnnrt_model *m, const char *name)
{
    struct graph *g = &m->graph;
    int node = graph_find(g, name);
    CHECK_MSG(node >= 0, "no layer %s", name);
    int *outs = realloc(g->outputs, ((size_t)g->n_outputs + 1) * sizeof *outs);
    if (node < 0 || !outs) return CNNRT_E_USAGE;
    g->outputs = outs;
    g->outputs[g->n_outputs++] = node;
    return CNNRT_OK;
}

/* Checks the shapes and values of a run's outputs against the reference's. */
static void compare_to_reference(const char *label, int threads, const struct graph *g,
                                 const struct outputs *got, float *const *ref)
{
    for (int k = 0; k < got->n; k++) {
        const struct node *o = &g->nodes[g->outputs[k]];
        const cnnrt_shape s = got->shape[k];
        CHECK_MSG(s.h == o->out.h && s.w == o->out.w && s.c == o->out.c,
                  "%s: output %d (%s) is %dx%dx%d, the graph says %dx%dx%d", label, k, o->name,
                  s.h, s.w, s.c, o->out.h, o->out.w, o->out.c);
        if (s.h != o->out.h || s.w != o->out.w || s.c != o->out.c) continue;
        size_t at;
        double r = relative_to_max(got->data[k], ref[k], shape_size(s), &at);
        CHECK_MSG(r <= PLAN_RTOL, "%s, %d thread(s): output %d (%s) differs from the reference by "
                  "%.3g of its maximum; worst at %zu (pixel %zu, channel %zu): %.9g, expected %.9g",
                  label, threads, k, o->name, r, at, at / (size_t)s.c, at % (size_t)s.c,
                  (double)got->data[k][at], (double)ref[k][at]);
        if (verbose())
            printf("    %s output %s (%dx%dx%d), %d thread(s): %.2e of max\n", label, o->name, s.h,
                   s.w, s.c, threads, r);
    }
}

/* Builds the model, runs the plan with 1 and 2 threads and graph_exec as reference;
 * returns the model (prepared, ran) for extra checks, or NULL after a failure. */
static cnnrt_model *check_model(const struct model_spec *spec)
{
    cnnrt_model *m = cnnrt_model_new();
    if (!m) return NULL;
    for (int k = 0; k < 2 && spec->param_names[k]; k++)
        CHECK(cnnrt_model_set_param(m, spec->param_names[k], spec->param_values[k]) == CNNRT_OK);
    cnnrt_status st = cnnrt_model_load_graph(m, spec->path);
    CHECK_MSG(st == CNNRT_OK, "%s: load_graph: %s", spec->label, cnnrt_model_error(m));
    if (!st && spec->extra_output) st = add_output(m, spec->extra_output);
    if (!st) {
        st = cnnrt_model_synthetic_weights(m, spec->seed);
        CHECK_MSG(st == CNNRT_OK, "%s: synthetic weights: %s", spec->label, cnnrt_model_error(m));
    }
    if (!st) {
        cnnrt_prepare_options po = {1, 1};
        st = cnnrt_model_prepare(m, &po);
        CHECK_MSG(st == CNNRT_OK, "%s: prepare: %s", spec->label, cnnrt_model_error(m));
    }
    if (st) {
        cnnrt_model_free(m);
        return NULL;
    }
    cnnrt_shape is;
    if (cnnrt_model_input_shape(m, &is) != CNNRT_OK) {
        test_fail(__FILE__, __LINE__, "%s: input_shape: %s", spec->label, cnnrt_model_error(m));
        cnnrt_model_free(m);
        return NULL;
    }
    const size_t n = shape_size(is);
    float *x = malloc(n * sizeof *x), *x2 = malloc(n * sizeof *x2);
    test_fill_random(x, n, spec->seed + 1, spec->in_lo, spec->in_hi);
    test_fill_random(x2, n, spec->seed + 2, spec->in_lo, spec->in_hi);

    struct outputs one = {0}, two = {0}, other = {0}, again = {0};
    CHECK(cnnrt_model_set_threads(m, 1) == CNNRT_OK);
    bool ok = run_copy(m, x, n, &one);

    /* reference: the same graph and weights, node by node */
    const struct graph *g = &m->graph;
    float **ref = calloc((size_t)g->n_outputs, sizeof *ref);
    cnnrt_error err = {0};
    if (ok) {
        st = graph_exec(&m->graph, x, true, NULL, NULL, ref, &err);
        CHECK_MSG(st == CNNRT_OK, "%s: graph_exec: %s", spec->label, err.message);
        ok = st == CNNRT_OK;
    }
    if (ok) compare_to_reference(spec->label, 1, g, &one, ref);

    /* 2 threads: bitwise identical */
    if (ok) {
        CHECK(cnnrt_model_set_threads(m, 2) == CNNRT_OK);
        ok = run_copy(m, x, n, &two);
    }
    if (ok) compare_to_reference(spec->label, 2, g, &two, ref);
    if (ok && !outputs_identical(&one, &two)) {
        if (KNOWN_BUG_GEMM_THREADS)
            printf("    known bug (not counted): %s: 1 and 2 threads give different bits\n",
                   spec->label);
        else
            test_fail(__FILE__, __LINE__, "%s: 1 and 2 threads give different outputs", spec->label);
    }
    /* nothing carries over between runs: another input, then the first again */
    if (ok) ok = run_copy(m, x2, n, &other) && run_copy(m, x, n, &again);
    if (ok) CHECK_MSG(outputs_identical(&two, &again), "%s: a second run on the same input "
                      "differs (state left over from the run before)", spec->label);

    for (int k = 0; k < g->n_outputs; k++) free(ref[k]);
    free(ref);
    outputs_free(&one);
    outputs_free(&two);
    outputs_free(&other);
    outputs_free(&again);
    free(x);
    free(x2);
    if (!ok) {
        cnnrt_model_free(m);
        return NULL;
    }
    return m;
}

/* Number of plan steps of a kind whose label contains part (NULL = any) and, for
 * want_residual, that read a fused residual. Used to check that a model really
 * exercises the fused path it was written for. */
static int count_steps(const cnnrt_model *m, enum step_kind kind, const char *part,
                       bool want_residual)
{
    int n = 0;
    for (int i = 0; i < m->plan.n_steps; i++) {
        const struct step *s = &m->plan.steps[i];
        if (s->kind != kind) continue;
        if (part && !strstr(s->label, part)) continue;
        if (want_residual && s->residual < 0) continue;
        n++;
    }
    return n;
}

/* ------------------------------------------------------- small models -- */

#define MODEL(h, w, c)                                                                    \
    "{'name': 'test', 'preprocess': 'tf', 'layers': [{'name': 'in', 'class_name': "       \
    "'InputLayer', 'config': {'batch_input_shape': [null, " #h ", " #w ", " #c "]}, "     \
    "'inputs': []}"
#define L(name, cls, cfg, ins) \
    ", {'name': '" name "', 'class_name': '" cls "', 'config': {" cfg "}, 'inputs': [" ins "]}"
#define OUTPUTS(list) "], 'outputs': [" list "]}"
#define CONV(f, k, s, pad) "'filters': " #f ", 'kernel_size': " #k ", 'strides': " #s ", 'padding': '" pad "'"

static struct model_spec small_spec(const char *label, const char *text, unsigned seed)
{
    struct model_spec s = {label, write_model(label, text), {NULL, NULL}, {0, 0}, NULL,
                           -1.0f, 1.0f, seed};
    return s;
}

TEST(plan_conv_bn_activation_chains)
{
    const char *text = MODEL(12, 12, 3)
        L("pad1", "ZeroPadding2D", "'padding': 1", "'in'")
        L("c1", "Conv2D", CONV(8, 3, 1, "valid"), "'pad1'")
        L("bn1", "BatchNormalization", "'epsilon': 0.001", "'c1'")
        L("r1", "ReLU", "", "'bn1'")
        L("c2", "Conv2D", CONV(16, 3, 2, "same") ", 'use_bias': false", "'r1'")
        L("bn2", "BatchNormalization", "'epsilon': 0.001, 'scale': false", "'c2'")
        L("l2", "LeakyReLU", "'alpha': 0.1", "'bn2'")
        L("pad2", "ZeroPadding2D", "'padding': [[1, 0], [1, 0]]", "'l2'")
        L("c3", "Conv2D", CONV(12, 3, 2, "valid") ", 'use_bias': false", "'pad2'")
        L("bn3", "BatchNormalization", "'epsilon': 0.001", "'c3'")
        L("l3", "LeakyReLU", "'alpha': 0.1", "'bn3'")
        L("c4", "Conv2D", CONV(10, 1, 1, "valid") ", 'activation': 'relu'", "'l3'")
        L("bn4", "BatchNormalization", "'center': false", "'c4'")
        L("c5", "Conv2D", CONV(5, 1, 1, "same") ", 'activation': 'sigmoid'", "'bn4'")
        L("c6", "Conv2D", CONV(6, 3, 1, "same"), "'c5'")
        L("a6", "Activation", "'activation': 'relu'", "'c6'")
        OUTPUTS("'a6'");
    struct model_spec spec = small_spec("chain", text, 11);
    cnnrt_model *m = check_model(&spec);
    REQUIRE(m);
    CHECK(count_steps(m, STEP_CONV, "c1+bn1+r1", false) == 1);
    CHECK(count_steps(m, STEP_CONV, "c3+bn3+l3", false) == 1);
    CHECK(count_steps(m, STEP_ZERO_PAD, NULL, false) == 0); /* both paddings folded */
    CHECK(count_steps(m, STEP_BATCH_NORM, "bn4", false) == 1); /* after an activation */
    cnnrt_model_free(m);
}

TEST(plan_residual_adds)
{
    const char *text = MODEL(8, 8, 8)
        L("c1", "Conv2D", CONV(8, 1, 1, "valid"), "'in'")
        L("b1", "BatchNormalization", "", "'c1'")
        L("r1", "Activation", "'activation': 'relu'", "'b1'")
        L("c2", "Conv2D", CONV(8, 3, 1, "same"), "'r1'")
        L("b2", "BatchNormalization", "", "'c2'")
        L("add1", "Add", "", "'r1', 'b2'")
        L("o1", "Activation", "'activation': 'relu'", "'add1'")
        L("c3", "Conv2D", CONV(8, 3, 1, "same"), "'o1'")
        L("add2", "Add", "", "'c3', 'o1'")
        L("o2", "LeakyReLU", "'alpha': 0.1", "'add2'")
        L("c4", "Conv2D", CONV(8, 1, 1, "valid") ", 'activation': 'relu'", "'o2'")
        L("add3", "Add", "", "'o2', 'c4'")
        L("o3", "Activation", "'activation': 'sigmoid'", "'add3'")
        L("c5", "Conv2D", CONV(8, 1, 1, "valid"), "'o3'")
        L("b5", "BatchNormalization", "", "'c5'")
        L("add4", "Add", "", "'b5', 'o3'")
        L("c6", "Conv2D", CONV(8, 3, 1, "same"), "'add4'")
        L("add5", "Add", "", "'add4', 'c6', 'o3'")
        L("r6", "ReLU", "", "'add5'")
        L("p1", "Conv2D", CONV(16, 1, 2, "valid"), "'r6'")
        L("pb1", "BatchNormalization", "", "'p1'")
        L("q1", "Conv2D", CONV(16, 3, 2, "same"), "'r6'")
        L("qb1", "BatchNormalization", "", "'q1'")
        L("add6", "Add", "", "'pb1', 'qb1'")
        L("o6", "Activation", "'activation': 'relu'", "'add6'")
        OUTPUTS("'o6'");
    struct model_spec spec = small_spec("residual", text, 12);
    cnnrt_model *m = check_model(&spec);
    REQUIRE(m);
    CHECK(count_steps(m, STEP_CONV, "c2+b2+add1+o1", true) == 1);
    CHECK(count_steps(m, STEP_CONV, "c3+add2+o2", true) == 1);
    CHECK(count_steps(m, STEP_CONV, "+add3+o3", true) == 1);
    CHECK(count_steps(m, STEP_CONV, "+add4", true) == 1);
    CHECK(count_steps(m, STEP_ADD, "add5", false) == 1); /* three inputs: not fused */
    CHECK(count_steps(m, STEP_CONV, "+add6+o6", true) == 1);
    cnnrt_model_free(m);
}

/* Conv steps whose output took over their residual's memory, and whether the
 * labelled one did. */
static int count_in_place(const cnnrt_model *m, const char *part, bool *found)
{
    int n = 0;
    *found = false;
    for (int i = 0; i < m->plan.n_steps; i++) {
        const struct step *s = &m->plan.steps[i];
        if (s->kind != STEP_CONV || s->residual < 0) continue;
        const struct plan_tensor *o = &m->plan.tensors[s->out], *r = &m->plan.tensors[s->residual];
        if (o->shares < 0 || o->offset != r->offset) continue;
        n++;
        if (strstr(s->label, part)) *found = true;
    }
    return n;
}

TEST(plan_residual_in_place)
{
    /* Shortcuts that die at their Add are overwritten by the conv that adds them:
     * several K blocks with no activation before the add (a1, a2: K = 2100), Winograd
     * (a3), one K block (m6). Not in place: several K blocks with an activation
     * before the add (a4), a shortcut that is also the conv's input (a5), one that is
     * read later (a6), a model output (a7) or input. check_model compares every output with
     * the node-by-node reference and 1 vs 2 threads. */
    const char *text = MODEL(6, 7, 40)
        L("s0", "Conv2D", CONV(40, 3, 1, "same"), "'in'")
        L("x1", "Conv2D", CONV(2100, 1, 1, "valid") ", 'activation': 'relu'", "'s0'")
        L("y1", "Conv2D", CONV(40, 1, 1, "valid"), "'x1'")
        L("a1", "Add", "", "'y1', 's0'")
        L("o1", "Activation", "'activation': 'relu'", "'a1'")
        L("x2", "Conv2D", CONV(2100, 1, 1, "valid") ", 'activation': 'relu'", "'o1'")
        L("y2", "Conv2D", CONV(40, 1, 1, "valid"), "'x2'")
        L("b2", "BatchNormalization", "", "'y2'")
        L("a2", "Add", "", "'b2', 'o1'")
        L("o2", "LeakyReLU", "'alpha': 0.1", "'a2'")
        L("x3", "Conv2D", CONV(24, 1, 1, "valid") ", 'activation': 'relu'", "'o2'")
        L("y3", "Conv2D", CONV(40, 3, 1, "same") ", 'activation': 'relu'", "'x3'")
        L("a3", "Add", "", "'o2', 'y3'")
        L("x4", "Conv2D", CONV(2100, 1, 1, "valid") ", 'activation': 'relu'", "'a3'")
        L("y4", "Conv2D", CONV(40, 1, 1, "valid") ", 'activation': 'relu'", "'x4'")
        L("a4", "Add", "", "'y4', 'a3'")
        L("y5", "Conv2D", CONV(40, 1, 1, "valid"), "'a4'")
        L("a5", "Add", "", "'y5', 'a4'")
        L("y6", "Conv2D", CONV(40, 1, 1, "valid"), "'a5'")
        L("a6", "Add", "", "'y6', 'a5'")
        L("z6", "Conv2D", CONV(40, 1, 1, "valid"), "'a5'")
        L("m6", "Add", "", "'z6', 'a6'")
        L("x7", "Conv2D", CONV(40, 1, 1, "valid"), "'m6'")
        L("y7", "Conv2D", CONV(40, 1, 1, "valid"), "'m6'")
        L("a7", "Add", "", "'y7', 'x7'")
        OUTPUTS("'a7', 'x7'");
    struct model_spec spec = small_spec("in_place", text, 17);
    cnnrt_model *m = check_model(&spec);
    REQUIRE(m);
    bool found;
    const char *yes[] = {"y1+a1", "y2+b2+a2", "y3+a3", "z6+m6"};
    for (int k = 0; k < 4; k++) {
        count_in_place(m, yes[k], &found);
        CHECK_MSG(found, "%s: not in place", yes[k]);
    }
    const char *no[] = {"y4+a4", "y5+a5", "y6+a6", "y7+a7"};
    for (int k = 0; k < 4; k++) {
        count_in_place(m, no[k], &found);
        CHECK_MSG(!found, "%s: in place", no[k]);
    }
    CHECK(count_in_place(m, "", &found) == 4);
    cnnrt_model_free(m);
}

TEST(plan_add_inputs_in_any_order)
{
    /* the other input of an Add comes later in the JSON than the conv feeding it, so
     * it cannot be fused into that conv's step */
    const char *text = MODEL(8, 8, 3)
        L("a", "Conv2D", CONV(3, 3, 1, "same"), "'in'")
        L("p", "MaxPooling2D", "'pool_size': 3, 'strides': 1, 'padding': 'same'", "'in'")
        L("add1", "Add", "", "'a', 'p'")
        L("r1", "ReLU", "", "'add1'")
        L("d", "Conv2D", CONV(4, 3, 1, "same"), "'r1'")
        L("b", "Conv2D", CONV(4, 1, 1, "same"), "'r1'")
        L("add2", "Add", "", "'b', 'd'")
        L("e", "Conv2D", CONV(4, 3, 1, "same"), "'add2'")
        L("bne", "BatchNormalization", "", "'e'")
        L("f", "BatchNormalization", "", "'add2'")
        L("add3", "Add", "", "'bne', 'f'")
        L("l3", "LeakyReLU", "'alpha': 0.2", "'add3'")
        OUTPUTS("'l3'");
    struct model_spec spec = small_spec("add_order", text, 13);
    cnnrt_model *m = check_model(&spec);
    REQUIRE(m);
    CHECK(count_steps(m, STEP_ADD, "add1", false) == 1);
    cnnrt_model_free(m);
}

TEST(plan_padding_into_conv_and_pool)
{
    const char *text = MODEL(11, 11, 4)
        L("c", "Conv2D", CONV(6, 3, 1, "same"), "'in'")
        L("zp", "ZeroPadding2D", "'padding': 1", "'c'")
        L("mp", "MaxPooling2D", "'pool_size': 3, 'strides': 2", "'zp'")
        L("cz", "Conv2D", CONV(5, 3, 1, "valid"), "'zp'")
        L("ms", "MaxPooling2D", "'pool_size': 2, 'strides': 1, 'padding': 'same'", "'c'")
        L("zq", "ZeroPadding2D", "'padding': [[0, 1], [0, 1]]", "'c'")
        L("mq", "MaxPooling2D", "'pool_size': 2, 'strides': 1, 'padding': 'same'", "'zq'")
        L("zo", "ZeroPadding2D", "'padding': [[2, 0], [1, 3]]", "'cz'")
        L("co", "Conv2D", CONV(3, 3, 2, "valid"), "'zo'")
        L("ma", "MaxPooling2D", "'pool_size': 2", "'in'")
        OUTPUTS("'mp', 'ms', 'mq', 'zo', 'co', 'ma'");
    struct model_spec spec = small_spec("padding", text, 14);
    cnnrt_model *m = check_model(&spec);
    REQUIRE(m);
    int zero_padded = 0, inf_padded = 0;
    for (int i = 0; i < m->plan.n_steps; i++) {
        const struct step *s = &m->plan.steps[i];
        if (s->kind != STEP_MAX_POOL) continue;
        if (strcmp(s->label, "mp") == 0) zero_padded += s->pad_value == 0.0f;
        if (strcmp(s->label, "ms") == 0) inf_padded += isinf(s->pad_value) && s->pad_value < 0;
    }
    CHECK(zero_padded == 1 && inf_padded == 1);
    cnnrt_shape s = {0, 0, 0};
    CHECK(cnnrt_model_output(m, 5, &s) && s.h == 5 && s.w == 5 && s.c == 4); /* strides = pool */
    CHECK(count_steps(m, STEP_ZERO_PAD, NULL, false) == 2); /* zq (before a same pool), zo */
    cnnrt_model_free(m);
}

TEST(plan_concat_and_upsample)
{
    const char *text = MODEL(8, 8, 3)
        L("c0", "Conv2D", CONV(6, 3, 1, "same"), "'in'")
        L("l0", "LeakyReLU", "'alpha': 0.1", "'c0'")
        L("c1", "Conv2D", CONV(8, 3, 2, "same"), "'l0'")
        L("c2", "Conv2D", CONV(4, 1, 1, "same"), "'c1'")
        L("up", "UpSampling2D", "'size': 2", "'c2'")
        L("cat", "Concatenate", "'axis': -1", "'up', 'l0'")
        L("c3", "Conv2D", CONV(5, 1, 1, "same"), "'cat'")
        L("s3", "Activation", "'activation': 'sigmoid'", "'c3'")
        L("up2", "UpSampling2D", "'size': [2, 3]", "'c2'")
        L("cat3", "Concatenate", "", "'in', 'l0', 'up'")
        L("c4", "Conv2D", CONV(2, 3, 1, "same"), "'cat3'")
        OUTPUTS("'s3', 'up2', 'c4'");
    struct model_spec spec = small_spec("concat", text, 15);
    cnnrt_model *m = check_model(&spec);
    cnnrt_model_free(m);
}

TEST(plan_dense_heads)
{
    const char *text = MODEL(6, 6, 5)
        L("c", "Conv2D", CONV(8, 3, 1, "same") ", 'activation': 'relu'", "'in'")
        L("gap", "GlobalAveragePooling2D", "", "'c'")
        L("d1", "Dense", "'units': 16, 'activation': 'relu'", "'gap'")
        L("d2", "Dense", "'units': 7, 'activation': 'softmax'", "'d1'")
        L("fl", "Flatten", "", "'c'")
        L("d3", "Dense", "'units': 4, 'use_bias': false", "'fl'")
        L("bn3", "BatchNormalization", "", "'d3'")
        L("sm", "Softmax", "", "'bn3'")
        L("dp", "Dense", "'units': 3, 'activation': 'sigmoid'", "'c'")
        OUTPUTS("'d2', 'sm', 'dp'");
    struct model_spec spec = small_spec("dense", text, 16);
    cnnrt_model *m = check_model(&spec);
    REQUIRE(m);
    /* softmax outputs sum to 1 */
    for (int k = 0; k < 2; k++) {
        cnnrt_shape s;
        const float *y = cnnrt_model_output(m, k, &s);
        REQUIRE(y);
        double sum = 0;
        for (int i = 0; i < s.c; i++) sum += y[i];
        CHECK_MSG(fabs(sum - 1) < 1e-5, "softmax output %d sums to %.9g", k, sum);
    }
    cnnrt_model_free(m);
}

TEST(plan_outputs_read_by_other_layers)
{
    const char *text = MODEL(8, 8, 4)
        L("b0", "BatchNormalization", "", "'in'")
        L("c1", "Conv2D", CONV(6, 3, 1, "same"), "'b0'")
        L("bn1", "BatchNormalization", "", "'c1'")
        L("r1", "ReLU", "", "'bn1'")
        L("c2", "Conv2D", CONV(6, 1, 1, "same"), "'c1'")
        L("c3", "Conv2D", CONV(6, 3, 1, "same"), "'r1'")
        L("add", "Add", "", "'c2', 'c3'")
        L("mp", "MaxPooling2D", "'pool_size': 2", "'add'")
        L("bnp", "BatchNormalization", "", "'mp'")
        OUTPUTS("'c1', 'r1', 'bnp'");
    struct model_spec spec = small_spec("shared_outputs", text, 17);
    cnnrt_model *m = check_model(&spec);
    REQUIRE(m);
    CHECK(count_steps(m, STEP_BATCH_NORM, NULL, false) == 3); /* b0, bn1 (c1 is an output), bnp */
    cnnrt_model_free(m);
}

/* ------------------------------------------------------- shipped models -- */

static const char *model_path(const char *name)
{
    static char path[1024];
    snprintf(path, sizeof path, "%s/models/%s", test_source_dir(), name);
    return path;
}

TEST(plan_resnet50_small)
{
    /* caffe preprocessing: BGR minus the ImageNet means, about -124 .. 152. On noise
     * at this size the softmax saturates (one class gets 1.0), so the pooled features
     * are made an output as well: they depend on every convolution. */
    struct model_spec spec = {"resnet50@64", model_path("resnet50.json"), {"size", NULL},
                              {64, 0}, "avg_pool", -124.0f, 152.0f, 21};
    cnnrt_model *m = check_model(&spec);
    REQUIRE(m);
    CHECK(count_steps(m, STEP_CONV, "_add+", true) == 16); /* every block's residual */
    CHECK(count_steps(m, STEP_ZERO_PAD, NULL, false) == 0);
    CHECK(count_steps(m, STEP_BATCH_NORM, NULL, false) == 0);
    cnnrt_model_free(m);
}

TEST(plan_yolov3_small)
{
    struct model_spec spec = {"yolov3@64", model_path("yolov3.json"), {"size", "classes"},
                              {64, 3}, NULL, 0.0f, 1.0f, 22};
    cnnrt_model *m = check_model(&spec);
    REQUIRE(m);
    CHECK(count_steps(m, STEP_CONV, "add_", true) == 23);
    CHECK(count_steps(m, STEP_ZERO_PAD, NULL, false) == 0);
    cnnrt_model_free(m);
}

/* ---------------------------------------------------------- API errors -- */

/* The call failed with status want and left a message on the handle. */
#define CHECK_FAILS(call, want, m, part)                                                        \
    do {                                                                                        \
        cnnrt_status st_ = (call);                                                              \
        CHECK_MSG(st_ == (want), "%s returned %s, expected %s", #call, cnnrt_status_name(st_),  \
                  cnnrt_status_name(want));                                                     \
        CHECK_MSG(strstr(cnnrt_model_error(m), (part)) != NULL,                                 \
                  "%s: message \"%s\" does not mention \"%s\"", #call, cnnrt_model_error(m),    \
                  (part));                                                                      \
    } while (0)

TEST(plan_api_error_paths)
{
    const char *path = write_model("errors",
        "{'params': {'size': 8}, 'layers': [{'name': 'in', 'class_name': 'InputLayer', "
        "'config': {'batch_input_shape': [null, 'size', 'size', 2]}, 'inputs': []}"
        L("c", "Conv2D", CONV(3, 3, 1, "same"), "'in'")
        OUTPUTS("'c'"));
    REQUIRE(path);
    char json_path[1024], missing[1024];
    snprintf(json_path, sizeof json_path, "%s", path);
    snprintf(missing, sizeof missing, "%s/no-such-file.h5", test_tmp_dir());
    float x[32] = {0};

    /* no handle */
    CHECK(cnnrt_model_run(NULL, x, 32) == CNNRT_E_USAGE);
    CHECK(cnnrt_model_load_graph(NULL, json_path) == CNNRT_E_USAGE);
    CHECK(cnnrt_model_prepare(NULL, NULL) == CNNRT_E_USAGE);
    CHECK(cnnrt_model_error(NULL) != NULL);
    CHECK(cnnrt_model_output(NULL, 0, NULL) == NULL);
    CHECK(cnnrt_model_output_count(NULL) == 0);
    cnnrt_model_free(NULL);

    cnnrt_model *m = cnnrt_model_new();
    REQUIRE(m);
    CHECK(strcmp(cnnrt_model_error(m), "") == 0);
    /* out of order: everything needs a graph first */
    CHECK_FAILS(cnnrt_model_run(m, x, 32), CNNRT_E_USAGE, m, "not prepared");
    CHECK_FAILS(cnnrt_model_load_weights(m, missing, NULL), CNNRT_E_USAGE, m, "graph");
    CHECK_FAILS(cnnrt_model_synthetic_weights(m, 1), CNNRT_E_USAGE, m, "graph");
    CHECK_FAILS(cnnrt_model_prepare(m, NULL), CNNRT_E_USAGE, m, "graph");
    cnnrt_shape s;
    CHECK_FAILS(cnnrt_model_input_shape(m, &s), CNNRT_E_USAGE, m, "graph");
    CHECK(cnnrt_model_output_count(m) == 0);
    /* a missing graph file is an I/O error naming the file */
    snprintf(missing, sizeof missing, "%s/no-such-model.json", test_tmp_dir());
    CHECK_FAILS(cnnrt_model_load_graph(m, missing), CNNRT_E_IO, m, "no-such-model.json");

    /* a success clears the message */
    CHECK(cnnrt_model_set_param(m, "size", 4) == CNNRT_OK);
    CHECK(strcmp(cnnrt_model_error(m), "") == 0);
    CHECK(cnnrt_model_load_graph(m, json_path) == CNNRT_OK);
    CHECK(strcmp(cnnrt_model_error(m), "") == 0);
    CHECK_FAILS(cnnrt_model_set_param(m, "size", 8), CNNRT_E_USAGE, m, "before");
    long v = -1;
    CHECK_FAILS(cnnrt_model_param(m, "no_such_param", &v), CNNRT_E_USAGE, m, "no_such_param");
    CHECK(v == -1);
    CHECK_FAILS(cnnrt_model_prepare(m, NULL), CNNRT_E_USAGE, m, "weights");
    CHECK_FAILS(cnnrt_model_run(m, x, 32), CNNRT_E_USAGE, m, "not prepared");
    snprintf(missing, sizeof missing, "%s/no-such-file.h5", test_tmp_dir());
    CHECK_FAILS(cnnrt_model_load_weights(m, missing, NULL), CNNRT_E_IO, m, "no-such-file.h5");
    CHECK_FAILS(cnnrt_model_load_weights(m, json_path, NULL), CNNRT_E_FORMAT, m, "errors.json");
    CHECK_FAILS(cnnrt_model_set_threads(m, -1), CNNRT_E_USAGE, m, "-1");

    CHECK(cnnrt_model_synthetic_weights(m, 3) == CNNRT_OK);
    CHECK(cnnrt_model_prepare(m, NULL) == CNNRT_OK);
    CHECK(cnnrt_model_output(m, 0, NULL) == NULL); /* nothing ran yet */
    CHECK_FAILS(cnnrt_model_run(m, x, 31), CNNRT_E_USAGE, m, "31");
    CHECK(strstr(cnnrt_model_error(m), "32") != NULL);
    CHECK_FAILS(cnnrt_model_run(m, x, 33), CNNRT_E_USAGE, m, "33");
    CHECK_FAILS(cnnrt_model_run(m, NULL, 32), CNNRT_E_USAGE, m, "input");
    /* prepare without keep_originals drops the Keras weights */
    CHECK_FAILS(cnnrt_model_save_weights(m, missing, NULL, 0), CNNRT_E_USAGE, m, "weights");
    CHECK(cnnrt_model_run(m, x, 32) == CNNRT_OK);
    CHECK(strcmp(cnnrt_model_error(m), "") == 0);
    cnnrt_shape os = {0, 0, 0};
    CHECK(cnnrt_model_output(m, 0, &os) != NULL);
    CHECK(os.h == 4 && os.w == 4 && os.c == 3);
    CHECK(cnnrt_model_output(m, 1, NULL) == NULL);
    CHECK(cnnrt_model_output(m, -1, NULL) == NULL);
    /* loading the graph again drops the plan */
    CHECK(cnnrt_model_load_graph(m, json_path) == CNNRT_OK);
    CHECK_FAILS(cnnrt_model_run(m, x, 32), CNNRT_E_USAGE, m, "not prepared");
    CHECK(cnnrt_model_output(m, 0, NULL) == NULL);
    cnnrt_model_free(m);
}

TEST(plan_synthetic_weights_are_deterministic)
{
    const char *path = write_model("seeded", MODEL(6, 6, 3)
        L("c", "Conv2D", CONV(4, 3, 1, "same"), "'in'")
        L("bn", "BatchNormalization", "", "'c'")
        L("d", "Dense", "'units': 5, 'activation': 'softmax'", "'bn'")
        OUTPUTS("'d'"));
    REQUIRE(path);
    float *w[3] = {NULL, NULL, NULL};
    size_t count = 0;
    for (int k = 0; k < 3; k++) {
        cnnrt_model *m = cnnrt_model_new();
        REQUIRE(m && cnnrt_model_load_graph(m, path) == CNNRT_OK);
        REQUIRE(cnnrt_model_synthetic_weights(m, k < 2 ? 7 : 8) == CNNRT_OK);
        const struct graph *g = &m->graph;
        count = 0;
        for (int i = 0; i < g->n_nodes; i++)
            for (int j = 0; j < g->nodes[i].n_weights; j++) count += weight_elems(&g->nodes[i].w[j]);
        w[k] = malloc(count * sizeof(float));
        size_t at = 0;
        for (int i = 0; i < g->n_nodes; i++)
            for (int j = 0; j < g->nodes[i].n_weights; j++) {
                size_t n = weight_elems(&g->nodes[i].w[j]);
                memcpy(w[k] + at, g->nodes[i].w[j].data, n * sizeof(float));
                at += n;
            }
        cnnrt_model_free(m);
    }
    CHECK(memcmp(w[0], w[1], count * sizeof(float)) == 0);
    CHECK(memcmp(w[0], w[2], count * sizeof(float)) != 0);
    for (int k = 0; k < 3; k++) free(w[k]);
}

/* ------------------------------------------------------- deferred loading -- */

/* Prepared and run once on a fixed input; NULL (with a recorded failure) on error. */
static cnnrt_model *load_run(const char *json, const char *h5, int defer, uint64_t seed_first,
                             struct outputs *o)
{
    static float x[10 * 10 * 3];
    for (size_t i = 0; i < CNNRT_ARRAY_LEN(x); i++) x[i] = (float)((i * 37) % 101) / 50.0f - 1.0f;
    cnnrt_model *m = cnnrt_model_new();
    if (!m || cnnrt_model_load_graph(m, json) != CNNRT_OK) {
        CHECK_MSG(false, "load_graph: %s", m ? cnnrt_model_error(m) : "no memory");
        cnnrt_model_free(m);
        return NULL;
    }
    if (seed_first) CHECK(cnnrt_model_synthetic_weights(m, seed_first) == CNNRT_OK);
    const cnnrt_weights_options wo = {CNNRT_PAIR_AUTO, defer};
    cnnrt_status st = cnnrt_model_load_weights(m, h5, &wo);
    if (!st) st = cnnrt_model_prepare(m, NULL);
    CHECK_MSG(st == CNNRT_OK, "load (defer %d): %s", defer, cnnrt_model_error(m));
    if (st || !run_copy(m, x, CNNRT_ARRAY_LEN(x), o)) {
        cnnrt_model_free(m);
        return NULL;
    }
    return m;
}

/* Values read by prepare layer by layer (through reused staging memory) give the
 * same bits as values read up front; earlier weights do not survive a deferred
 * load; saving reads the deferred values first; a NaN in the file is found by
 * prepare instead of load_weights, with the same message. */
TEST(plan_deferred_weights_match_eager)
{
    const char *text = MODEL(10, 10, 3)
        L("c1", "Conv2D", CONV(8, 3, 1, "same"), "'in'")
        L("bn1", "BatchNormalization", "'epsilon': 0.001", "'c1'")
        L("r1", "ReLU", "", "'bn1'")
        L("c2", "Conv2D", CONV(12, 3, 2, "same") ", 'activation': 'relu'", "'r1'")
        L("bn2", "BatchNormalization", "", "'c2'")
        L("c3", "Conv2D", CONV(6, 1, 1, "valid") ", 'use_bias': false", "'bn2'")
        L("bn3", "BatchNormalization", "'scale': false", "'c3'")
        L("gap", "GlobalAveragePooling2D", "", "'bn3'")
        L("d", "Dense", "'units': 5, 'activation': 'softmax'", "'gap'")
        OUTPUTS("'d', 'bn3'");
    char json[1024], h5[1024], copy[1024], nan_h5[1024];
    snprintf(json, sizeof json, "%s", write_model("deferred", text));
    snprintf(h5, sizeof h5, "%s/deferred.h5", test_tmp_dir());
    snprintf(copy, sizeof copy, "%s/deferred-copy.h5", test_tmp_dir());
    snprintf(nan_h5, sizeof nan_h5, "%s/deferred-nan.h5", test_tmp_dir());

    cnnrt_model *w = cnnrt_model_new();
    REQUIRE(w && cnnrt_model_load_graph(w, json) == CNNRT_OK);
    REQUIRE(cnnrt_model_synthetic_weights(w, 21) == CNNRT_OK);
    REQUIRE(cnnrt_model_save_weights(w, h5, NULL, 0) == CNNRT_OK);
    int bn2 = graph_find(&w->graph, "bn2");
    REQUIRE(bn2 >= 0);
    w->graph.nodes[bn2].w[0].data[3] = NAN;
    REQUIRE(cnnrt_model_save_weights(w, nan_h5, NULL, 0) == CNNRT_OK);
    cnnrt_model_free(w);

    struct outputs eager, deferred, over, saved;
    cnnrt_model *a = load_run(json, h5, 0, 0, &eager);
    cnnrt_model *b = load_run(json, h5, 1, 0, &deferred);
    cnnrt_model *c = load_run(json, h5, 1, 5, &over); /* synthetic values first */
    REQUIRE(a && b && c);
    CHECK(outputs_identical(&eager, &deferred));
    CHECK(outputs_identical(&eager, &over));
    CHECK(b->deferred == NULL && c->deferred == NULL); /* the file is closed after prepare */

    /* save_weights after a deferred load reads the values, then writes them */
    cnnrt_model *d = cnnrt_model_new();
    const cnnrt_weights_options defer = {CNNRT_PAIR_AUTO, 1};
    REQUIRE(d && cnnrt_model_load_graph(d, json) == CNNRT_OK);
    REQUIRE(cnnrt_model_load_weights(d, h5, &defer) == CNNRT_OK);
    CHECK_MSG(cnnrt_model_save_weights(d, copy, NULL, 0) == CNNRT_OK, "%s", cnnrt_model_error(d));
    cnnrt_model_free(d);
    cnnrt_model *e = load_run(json, copy, 1, 0, &saved);
    REQUIRE(e);
    CHECK(outputs_identical(&eager, &saved));

    /* NaN: refused by load_weights when eager, by prepare when deferred */
    cnnrt_model *f = cnnrt_model_new();
    REQUIRE(f && cnnrt_model_load_graph(f, json) == CNNRT_OK);
    CHECK_FAILS(cnnrt_model_load_weights(f, nan_h5, NULL), CNNRT_E_FORMAT, f, "NaN");
    CHECK(strstr(cnnrt_model_error(f), "bn2") != NULL);
    CHECK(cnnrt_model_load_weights(f, nan_h5, &defer) == CNNRT_OK);
    CHECK_FAILS(cnnrt_model_prepare(f, NULL), CNNRT_E_FORMAT, f, "NaN");
    CHECK(strstr(cnnrt_model_error(f), "bn2") != NULL);
    CHECK(f->deferred == NULL);
    CHECK_FAILS(cnnrt_model_run(f, NULL, 0), CNNRT_E_USAGE, f, "not prepared");
    CHECK_FAILS(cnnrt_model_prepare(f, NULL), CNNRT_E_USAGE, f, "weights");
    cnnrt_model_free(f);

    outputs_free(&eager);
    outputs_free(&deferred);
    outputs_free(&over);
    outputs_free(&saved);
    cnnrt_model_free(a);
    cnnrt_model_free(b);
    cnnrt_model_free(c);
    cnnrt_model_free(e);
}

/* The model JSON text as test_tmp_dir()/name.json and its synthetic weights (seed)
 * as name.h5, whose path goes to h5; false if any step failed. */
static bool write_synthetic_file(const char *name, const char *text, uint64_t seed, char *h5,
                                 size_t len)
{
    const char *json = write_model(name, text);
    snprintf(h5, len, "%s/%s.h5", test_tmp_dir(), name);
    cnnrt_model *w = json ? cnnrt_model_new() : NULL;
    bool ok = w && cnnrt_model_load_graph(w, json) == CNNRT_OK &&
              cnnrt_model_synthetic_weights(w, seed) == CNNRT_OK &&
              cnnrt_model_save_weights(w, h5, NULL, 0) == CNNRT_OK;
    cnnrt_model_free(w);
    return ok;
}

/* Values used where they lie in the file (keras_h5_map): the synthetic-weights
 * writer puts every dataset of 1 KiB or more on a 64-byte boundary, so those are
 * mapped, and a mapped value is bit for bit what keras_h5_read gives, also after its
 * pages were dropped (keras_h5_unmap) and come back from the file. */
TEST(keras_h5_values_used_in_place)
{
    const char *text = MODEL(8, 8, 3)
        L("c1", "Conv2D", CONV(16, 3, 1, "same"), "'in'")
        L("bn1", "BatchNormalization", "", "'c1'")
        L("c2", "Conv2D", CONV(40, 3, 1, "same"), "'bn1'")
        L("gap", "GlobalAveragePooling2D", "", "'c2'")
        L("d", "Dense", "'units': 7", "'gap'")
        OUTPUTS("'d'");
    char h5[1024];
    REQUIRE(write_synthetic_file("in_place", text, 9, h5, sizeof h5));

    struct keras_h5 f;
    cnnrt_error err;
    REQUIRE(keras_h5_open(h5, &f, &err) == CNNRT_OK);
    int mapped = 0, large = 0;
    for (int l = 0; l < f.n_layers; l++)
        for (int k = 0; k < f.layers[l].n_weights; k++) {
            const size_t count = (size_t)h5_dataset_elems(&f.layers[l].weights[k]);
            float *x = NULL, *copy = malloc(count * sizeof(float));
            REQUIRE(copy);
            CHECK(keras_h5_map(&f, l, k, count, &x, &err) == CNNRT_OK);
            CHECK(keras_h5_read(&f, l, k, copy, count, &err) == CNNRT_OK);
            if (count * sizeof(float) >= 1024) {
                large++;
                CHECK_MSG(x != NULL && (uintptr_t)x % 64 == 0,
                          "layer %s weight %d (%zu values) not mapped on a 64-byte boundary",
                          f.layers[l].name, k, count);
            }
            if (x) {
                mapped++;
                CHECK(keras_h5_mapped(&f, x) && !keras_h5_mapped(&f, copy));
                CHECK(memcmp(x, copy, count * sizeof(float)) == 0);
                keras_h5_unmap(&f, x, count);
                CHECK(memcmp(x, copy, count * sizeof(float)) == 0);
            }
            free(copy);
        }
    CHECK_MSG(large == 3 && mapped >= large, "%d datasets mapped, %d large", mapped, large);
    keras_h5_close(&f);
}

static bool same_str(const char *a, const char *b)
{
    return a == b || (a && b && strcmp(a, b) == 0);
}

/* The structure the probing child hands to keras_h5_open survives the stream intact
 * (every field, NULL strings and dataset problems included), and no truncated or
 * corrupted stream is taken: decode either refuses it or yields a structure that
 * closes cleanly (the sanitizer build checks the rest). */
TEST(keras_h5_structure_stream_round_trip)
{
    const char *text = MODEL(6, 6, 3)
        L("c1", "Conv2D", CONV(4, 3, 1, "same"), "'in'")
        L("bn1", "BatchNormalization", "", "'c1'")
        L("gap", "GlobalAveragePooling2D", "", "'bn1'")
        L("d", "Dense", "'units': 3", "'gap'")
        OUTPUTS("'d'");
    char h5[1024];
    REQUIRE(write_synthetic_file("stream", text, 3, h5, sizeof h5));

    struct keras_h5 f, g;
    cnnrt_error err;
    REQUIRE(keras_h5_open(h5, &f, &err) == CNNRT_OK);
    /* in, c1, bn1, gap, d: every layer is listed, with or without weights */
    CHECK_MSG(f.n_layers == 5 && f.synthetic_seed == 3 && f.keras_version && !f.model_config,
              "%d layers, seed %ld", f.n_layers, f.synthetic_seed);
    free(f.layers[1].weights[0].problem); /* a problem string travels too */
    f.layers[1].weights[0].problem = str_dup("is a test");
    char *buf;
    size_t len;
    REQUIRE(keras_h5_structure_encode(&f, &buf, &len));
    REQUIRE(keras_h5_structure_decode(buf, len, &g));
    CHECK(g.layout == f.layout && g.synthetic_seed == f.synthetic_seed);
    CHECK(same_str(g.keras_version, f.keras_version) && same_str(g.backend, f.backend) &&
          same_str(g.model_config, f.model_config));
    CHECK(g.n_layers == f.n_layers && g.file < 0 && g.group < 0 && !g.path);
    for (int i = 0; i < f.n_layers && i < g.n_layers; i++) {
        const struct h5_layer *a = &f.layers[i], *b = &g.layers[i];
        CHECK_MSG(same_str(a->name, b->name) && a->n_weights == b->n_weights, "layer %d", i);
        for (int k = 0; k < a->n_weights && k < b->n_weights; k++) {
            const struct h5_dataset *x = &a->weights[k], *y = &b->weights[k];
            CHECK_MSG(same_str(x->name, y->name) && x->rank == y->rank && x->dtype == y->dtype &&
                          x->dtype_bytes == y->dtype_bytes && same_str(x->problem, y->problem) &&
                          memcmp(x->dims, y->dims, sizeof x->dims) == 0,
                      "layer %d weight %d", i, k);
        }
    }
    keras_h5_close(&g);
    for (size_t cut = 0; cut < len; cut++) { /* every truncation is refused */
        CHECK_MSG(!keras_h5_structure_decode(buf, cut, &g), "%zu of %zu bytes taken", cut, len);
        keras_h5_close(&g);
    }
    for (size_t at = 0; at < len; at++) { /* a byte changed anywhere: no crash, no leak */
        buf[at] ^= 0x5a;
        if (keras_h5_structure_decode(buf, len, &g)) keras_h5_close(&g);
        buf[at] ^= 0x5a;
    }
    free(buf);
    keras_h5_close(&f);
}
