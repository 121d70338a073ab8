/* weights_match.c - Keras-compatible layer pairing, strict validation and
 * diagnoses that say what is wrong and how to fix it. */
#include "io/weights_match.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "core/util.h"
#include "graph/keras_order.h"

void notes_add(char **notes, const char *fmt, ...)
{
    if (!notes) return;
    char line[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    size_t old = *notes ? strlen(*notes) : 0, add = strlen(line);
    char *grown = realloc(*notes, old + add + 2);
    if (!grown) return;
    memcpy(grown + old, line, add);
    grown[old + add] = '\n';
    grown[old + add + 1] = '\0';
    *notes = grown;
}

void weights_match_free(struct weights_match *m)
{
    free(m->model_nodes);
    free(m->file_layers);
    free(m->partner);
    memset(m, 0, sizeof *m);
}

cnnrt_status weights_match(const struct graph *g, const struct keras_h5 *f, cnnrt_pairing mode,
                           struct weights_match *m, cnnrt_error *err)
{
    memset(m, 0, sizeof *m);
    int *order = malloc((size_t)g->n_nodes * sizeof *order);
    m->model_nodes = malloc((size_t)g->n_nodes * sizeof *m->model_nodes);
    m->partner = malloc((size_t)g->n_nodes * sizeof *m->partner);
    m->file_layers = malloc(((size_t)f->n_layers + 1) * sizeof *m->file_layers);
    if (!order || !m->model_nodes || !m->partner || !m->file_layers) {
        free(order);
        weights_match_free(m);
        return CNNRT_NOMEM(err);
    }
    cnnrt_status st = keras_layer_order(g, order, err);
    if (st) {
        free(order);
        weights_match_free(m);
        return st;
    }
    for (int i = 0; i < g->n_nodes; i++)
        if (g->nodes[order[i]].n_weights > 0) m->model_nodes[m->n_model++] = order[i];
    free(order);
    for (int i = 0; i < f->n_layers; i++)
        if (f->layers[i].n_weights > 0) m->file_layers[m->n_file++] = i;

    /* by name if every model layer finds its name among the file's weighted layers */
    int found = 0;
    for (int i = 0; i < m->n_model; i++) {
        m->partner[i] = -1;
        const char *name = g->nodes[m->model_nodes[i]].name;
        for (int j = 0; j < m->n_file; j++)
            if (strcmp(f->layers[m->file_layers[j]].name, name) == 0) {
                m->partner[i] = j;
                found++;
                break;
            }
    }
    /* Keras 3 files have no layer order: extra file layers cannot shift anything */
    bool names_match = found == m->n_model &&
                       (m->n_file == m->n_model || f->layout == H5_LAYOUT_KERAS3_WEIGHTS);
    if (mode == CNNRT_PAIR_BY_NAME || (mode == CNNRT_PAIR_AUTO && names_match)) {
        m->by_name = true;
        return CNNRT_OK;
    }
    m->by_name = false;
    for (int i = 0; i < m->n_model; i++) m->partner[i] = i < m->n_file ? i : -1;
    return CNNRT_OK;
}

/* -------------------------------------------------------------- guessing -- */

enum layer_guess h5_layer_guess(const struct h5_layer *L)
{
    if (L->n_weights < 1) return GUESS_OTHER;
    const struct h5_dataset *w0 = &L->weights[0];
    if (w0->rank == 4 && (L->n_weights == 1 || L->n_weights == 2))
        return L->n_weights == 1 ? GUESS_CONV : GUESS_CONV_BIAS;
    if (w0->rank == 2 && L->n_weights <= 2) return GUESS_DENSE;
    if (w0->rank == 1 && L->n_weights >= 2 && L->n_weights <= 4) {
        for (int k = 1; k < L->n_weights; k++)
            if (L->weights[k].rank != 1 || L->weights[k].dims[0] != w0->dims[0]) return GUESS_OTHER;
        return GUESS_BATCH_NORM;
    }
    return GUESS_OTHER;
}

static const char *guess_name(enum layer_guess g)
{
    switch (g) {
    case GUESS_CONV: return "a Conv2D without bias";
    case GUESS_CONV_BIAS: return "a Conv2D with bias";
    case GUESS_BATCH_NORM: return "a BatchNormalization";
    case GUESS_DENSE: return "a Dense";
    case GUESS_OTHER: break;
    }
    return "an unrecognised layer";
}

const char *h5_guess_architecture(const struct keras_h5 *f, int *classes)
{
    int conv = 0, bn = 0, dense = 0, weighted = 0, last = -1, last_conv_bias = 0;
    int n_conv_bias = 0;
    for (int i = 0; i < f->n_layers; i++) {
        const struct h5_layer *L = &f->layers[i];
        if (L->n_weights == 0) continue;
        weighted++;
        switch (h5_layer_guess(L)) {
        case GUESS_CONV: conv++; break;
        case GUESS_CONV_BIAS:
            conv++;
            n_conv_bias++;
            last_conv_bias = i;
            break;
        case GUESS_BATCH_NORM: bn++; break;
        case GUESS_DENSE: dense++; break;
        case GUESS_OTHER: break;
        }
        last = i;
    }
    *classes = 0;
    if (weighted == 107 && conv == 53 && bn == 53 && dense == 1) {
        const struct h5_dataset *k = &f->layers[last].weights[0];
        if (k->rank == 2) *classes = (int)k->dims[1];
        return "ResNet50";
    }
    /* YOLO heads: convs with bias and 3*(5+C) filters */
    if (n_conv_bias >= 2 && dense == 0) {
        const struct h5_dataset *k = &f->layers[last_conv_bias].weights[0];
        int64_t out = k->rank == 4 ? k->dims[3] : 0;
        if (out > 0 && out % 3 == 0 && out / 3 > 5) *classes = (int)(out / 3 - 5);
        if (weighted == 147 && conv == 75 && bn == 72) return "YOLOv3";
        if (weighted == 24 && conv == 13 && bn == 11) return "TinyYOLOv3";
        *classes = 0;
    }
    return NULL;
}

/* Short description of a file's weighted layers: "147 weighted layers: 75 conv, 72 BN". */
static void describe_file_layers(const struct keras_h5 *f, char *buf, size_t len)
{
    int n = 0, conv = 0, bn = 0, dense = 0;
    for (int i = 0; i < f->n_layers; i++) {
        if (f->layers[i].n_weights == 0) continue;
        n++;
        enum layer_guess g = h5_layer_guess(&f->layers[i]);
        conv += g == GUESS_CONV || g == GUESS_CONV_BIAS;
        bn += g == GUESS_BATCH_NORM;
        dense += g == GUESS_DENSE;
    }
    snprintf(buf, len, "%d layers with weights: %d Conv2D, %d BatchNormalization, %d Dense", n,
             conv, bn, dense);
}

static void describe_model_layers(const struct graph *g, const struct weights_match *m, char *buf,
                                  size_t len)
{
    int conv = 0, bn = 0, dense = 0;
    for (int i = 0; i < m->n_model; i++) {
        enum op_type op = g->nodes[m->model_nodes[i]].op;
        conv += op == OP_CONV2D;
        bn += op == OP_BATCH_NORM;
        dense += op == OP_DENSE;
    }
    snprintf(buf, len, "%d layers with weights: %d Conv2D, %d BatchNormalization, %d Dense",
             m->n_model, conv, bn, dense);
}

/* ------------------------------------------------------------- checking -- */

static bool dims_equal(const struct h5_dataset *d, const struct weight *w)
{
    if (d->rank != w->rank) return false;
    for (int k = 0; k < w->rank; k++)
        if (d->dims[k] != w->dims[k]) return false;
    return true;
}

bool weights_pair_fits(const struct h5_layer *L, const struct node *n)
{
    if (L->n_weights != n->n_weights) return false;
    for (int k = 0; k < n->n_weights; k++)
        if (!dims_equal(&L->weights[k], &n->w[k])) return false;
    return true;
}

int weights_first_divergence(const struct graph *g, const struct keras_h5 *f,
                             const struct weights_match *m)
{
    for (int i = 0; i < m->n_model; i++) {
        if (m->partner[i] < 0) return i;
        if (!weights_pair_fits(&f->layers[m->file_layers[m->partner[i]]], &g->nodes[m->model_nodes[i]]))
            return i;
    }
    return -1;
}

/* --------------------------------------------------------------- aligning -- */

/* Score of pairing model layer i with file layer j: 0 if they do not fit, more when
 * the names agree too. */
static int align_score(const struct graph *g, const struct keras_h5 *f,
                       const struct weights_match *m, int i, int j)
{
    const struct node *n = &g->nodes[m->model_nodes[i]];
    const struct h5_layer *L = &f->layers[m->file_layers[j]];
    if (!weights_pair_fits(L, n)) return 0;
    return strcmp(n->name, L->name) == 0 ? 3 : 2;
}

void weights_alignment_free(struct weights_alignment *a)
{
    free(a->model_to_file);
    free(a->file_to_model);
    memset(a, 0, sizeof *a);
}

cnnrt_status weights_align(const struct graph *g, const struct keras_h5 *f,
                           const struct weights_match *m, struct weights_alignment *a,
                           cnnrt_error *err)
{
    memset(a, 0, sizeof *a);
    size_t cols = (size_t)m->n_file + 1, cells;
    if (!size_mul((size_t)m->n_model + 1, cols, &cells) || cells > WEIGHTS_ALIGN_MAX)
        return cnnrt_fail(err, CNNRT_E_USAGE, "too many layers to align (%d x %d)", m->n_model,
                          m->n_file);
    /* best[i * cols + j]: highest total score aligning model layers i.. with file layers j.. */
    int *best = malloc(cells * sizeof *best);
    a->model_to_file = malloc(((size_t)m->n_model + 1) * sizeof *a->model_to_file);
    a->file_to_model = malloc(((size_t)m->n_file + 1) * sizeof *a->file_to_model);
    if (!best || !a->model_to_file || !a->file_to_model) {
        free(best);
        weights_alignment_free(a);
        return CNNRT_NOMEM(err);
    }
    for (int i = m->n_model; i >= 0; i--)
        for (int j = m->n_file; j >= 0; j--) {
            size_t at = (size_t)i * cols + (size_t)j;
            if (i == m->n_model || j == m->n_file) {
                best[at] = 0;
                continue;
            }
            int v = CNNRT_MAX(best[at + cols], best[at + 1]);
            int s = align_score(g, f, m, i, j);
            if (s && s + best[at + cols + 1] > v) v = s + best[at + cols + 1];
            best[at] = v;
        }
    for (int i = 0; i < m->n_model; i++) a->model_to_file[i] = -1;
    for (int j = 0; j < m->n_file; j++) a->file_to_model[j] = -1;
    int i = 0, j = 0;
    while (i < m->n_model && j < m->n_file) {
        size_t at = (size_t)i * cols + (size_t)j;
        int s = align_score(g, f, m, i, j);
        if (s && best[at] == s + best[at + cols + 1]) {
            a->model_to_file[i++] = j;
            a->file_to_model[j++] = i - 1;
        } else if (best[at] == best[at + cols]) {
            i++;
        } else {
            j++;
        }
    }
    free(best);
    return CNNRT_OK;
}

/* "(3, 3, 64, 128) (128,)" or "4 x (64,)": the shapes of a layer's weights, repeated
 * equal shapes collapsed. */
static void append_shape(char *buf, size_t len, size_t *pos, const char *shape, int repeat)
{
    if (*pos >= len) return;
    int n = repeat > 1 ? snprintf(buf + *pos, len - *pos, "%s%d x %s", *pos ? " " : "", repeat, shape)
                       : snprintf(buf + *pos, len - *pos, "%s%s", *pos ? " " : "", shape);
    if (n > 0) *pos += (size_t)n;
}

const char *node_shapes(const struct node *n, char *buf, size_t len)
{
    size_t pos = 0;
    buf[0] = '\0';
    if (n->n_weights == 0) snprintf(buf, len, "-");
    for (int k = 0; k < n->n_weights;) {
        int r = 1;
        while (k + r < n->n_weights && n->w[k + r].rank == n->w[k].rank &&
               memcmp(n->w[k + r].dims, n->w[k].dims, sizeof n->w[k].dims[0] * (size_t)n->w[k].rank) == 0)
            r++;
        char one[96];
        append_shape(buf, len, &pos, format_dims(n->w[k].dims, n->w[k].rank, one, sizeof one), r);
        k += r;
    }
    return buf;
}

const char *h5_layer_shapes(const struct h5_layer *L, char *buf, size_t len)
{
    size_t pos = 0;
    buf[0] = '\0';
    if (L->n_weights == 0) snprintf(buf, len, "-");
    for (int k = 0; k < L->n_weights;) {
        const struct h5_dataset *d = &L->weights[k];
        int r = 1;
        while (k + r < L->n_weights && L->weights[k + r].rank == d->rank &&
               memcmp(L->weights[k + r].dims, d->dims, sizeof d->dims[0] * (size_t)CNNRT_MAX(d->rank, 0)) == 0)
            r++;
        char one[128];
        append_shape(buf, len, &pos, h5_format_dims(d, one, sizeof one), r);
        k += r;
    }
    return buf;
}

static const char *axis_names(const struct weight *w)
{
    if (w->rank == 4) return " = (kh, kw, Cin, Cout)";
    if (w->rank == 2) return " = (in, out)";
    return "";
}

/* Is node the last weighted layer feeding an output (the class-dependent layer)? */
static bool is_class_layer(const struct graph *g, int node)
{
    for (int k = 0; k < g->n_outputs; k++)
        if (g->outputs[k] == node) return true;
    /* Dense followed only by a softmax activation */
    for (int k = 0; k < g->n_outputs; k++) {
        const struct node *o = &g->nodes[g->outputs[k]];
        if (o->op == OP_ACTIVATION && o->n_inputs == 1 && o->inputs[0] == node) return true;
    }
    return false;
}

static const char *class_source(const struct graph *g)
{
    for (int i = 0; i < g->n_params; i++)
        if (strcmp(g->params[i].name, "classes") == 0 && g->params[i].source)
            return g->params[i].source;
    return NULL;
}

/* Number of classes implied by the width of a class layer. */
static long classes_from_width(const struct graph *g, long width)
{
    long model_classes, model_width = 0;
    if (!graph_param_get(g, "classes", &model_classes)) return -1;
    for (int k = 0; k < g->n_outputs; k++) {
        const struct node *o = &g->nodes[g->outputs[k]];
        if (o->op == OP_CONV2D) model_width = o->p.conv.filters;
    }
    if (model_width > 0 && model_width != model_classes) { /* YOLO: anchors*(5+C) */
        long anchors = model_width / (5 + model_classes);
        if (anchors > 0 && width % anchors == 0 && width / anchors > 5) return width / anchors - 5;
        return -1;
    }
    return width;
}

static cnnrt_status fail_class_count(const struct graph *g, const struct keras_h5 *f,
                                     const struct node *n, const struct h5_dataset *d,
                                     const struct weight *w, cnnrt_error *err)
{
    char fs[96], ms[96];
    long model_classes = 0;
    graph_param_get(g, "classes", &model_classes);
    long file_classes = classes_from_width(g, (long)d->dims[d->rank - 1]);
    const char *src = class_source(g);
    bool detection = n->op == OP_CONV2D;
    if (file_classes > 0)
        cnnrt_fail(err, CNNRT_E_MISMATCH,
                   "%s: class count: the weights are for %ld classes, but the model is set up "
                   "for %ld.\n",
                   f->path, file_classes, model_classes);
    else
        cnnrt_fail(err, CNNRT_E_MISMATCH,
                   "%s: class count: the final layer of the weights has %lld outputs, which "
                   "does not fit the model's %ld classes.\n",
                   f->path, (long long)d->dims[d->rank - 1], model_classes);
    cnnrt_error_append(err,
                       "  layer '%s' (%s), weight '%s': file %s, model %s%s.\n"
                       "  the model's class count (%ld) comes from %s.\n"
                       "  likely cause: the %s does not belong to this weights file (a custom "
                       "model needs the %s saved with it).\n",
                       n->name, n->class_name, w->role, h5_format_dims(d, fs, sizeof fs),
                       format_dims(w->dims, w->rank, ms, sizeof ms), axis_names(w),
                       model_classes, src ? src : "the model's \"classes\" parameter",
                       detection ? "detection config" : "class list",
                       detection ? "detection_config.json" : "model_class.json");
    if (detection)
        cnnrt_error_append(err, "  fix: pass the detection_config.json saved with this model "
                                "(--config)");
    else
        cnnrt_error_append(err, "  fix: pass the model_class.json saved with this model "
                                "(--classes)");
    if (file_classes > 0)
        cnnrt_error_append(err, "; its %s must have exactly %ld entries.",
                           detection ? "\"labels\" list" : "class list", file_classes);
    else
        cnnrt_error_append(err, ".");
    return CNNRT_E_MISMATCH;
}

static bool is_channels_first(const struct h5_dataset *d, const struct weight *w)
{
    /* Theano / channels_first Keras 1 kernels: (Cout, Cin, kh, kw) */
    return w->rank == 4 && d->rank == 4 && d->dims[0] == w->dims[3] && d->dims[1] == w->dims[2] &&
           d->dims[2] == w->dims[0] && d->dims[3] == w->dims[1] && !dims_equal(d, w);
}

/* What to run a file of architecture arch with. */
static const char *architecture_hint(const char *arch)
{
    if (strcmp(arch, "ResNet50") == 0)
        return "it is a classifier: run it with predict --model models/resnet50.json";
    if (strcmp(arch, "YOLOv3") == 0)
        return "it is a detector: run it with detect --model models/yolov3.json";
    return "it is a detector: run it with detect --model models/yolov3-tiny.json";
}

/* Explains, from the alignment, which layer has no partner. Appends to err. */
static void explain_unpartnered(const struct graph *g, const struct keras_h5 *f,
                                const struct weights_match *m, const struct weights_alignment *a,
                                cnnrt_error *err)
{
    int miss_model = 0, miss_file = 0, first_model = -1, first_file = -1;
    for (int i = 0; i < m->n_model; i++)
        if (a->model_to_file[i] < 0 && miss_model++ == 0) first_model = i;
    for (int j = 0; j < m->n_file; j++)
        if (a->file_to_model[j] < 0 && miss_file++ == 0) first_file = j;
    /* which comes first along the two sequences: the model layer first_model sits
     * after file layer (partner of the paired model layer before it) */
    bool model_first = first_model >= 0;
    if (first_model >= 0 && first_file >= 0) {
        int file_before = -1; /* file position reached when first_model is met */
        for (int i = first_model - 1; i >= 0 && file_before < 0; i--)
            if (a->model_to_file[i] >= 0) file_before = a->model_to_file[i];
        model_first = file_before < first_file;
    }
    char shapes[256];
    if (model_first) {
        const struct node *n = &g->nodes[m->model_nodes[first_model]];
        int prev = -1, next = -1;
        for (int i = first_model - 1; i >= 0 && prev < 0; i--) prev = a->model_to_file[i];
        for (int i = first_model + 1; i < m->n_model && next < 0; i++) next = a->model_to_file[i];
        cnnrt_error_append(err,
                           "  first layer without a partner: the model's layer '%s' (%s, %s), "
                           "weighted layer %d of %d, is not in the file",
                           n->name, n->class_name, node_shapes(n, shapes, sizeof shapes),
                           first_model + 1, m->n_model);
        if (prev >= 0 && next >= 0)
            cnnrt_error_append(err, " (the file goes from '%s' straight to '%s')",
                               f->layers[m->file_layers[prev]].name,
                               f->layers[m->file_layers[next]].name);
        else if (prev >= 0)
            cnnrt_error_append(err, " (the file ends after '%s')",
                               f->layers[m->file_layers[prev]].name);
        cnnrt_error_append(err, ".\n");
        if (miss_model == 1 && miss_file == 0 && first_model == m->n_model - 1 &&
            is_class_layer(g, m->model_nodes[first_model]))
            cnnrt_error_append(err, "  the file has no classification layer: it is a feature "
                                    "extractor saved without its top (include_top=False, a "
                                    "'notop' file).\n"
                                    "  fix: use the full weights file, with the classification "
                                    "layer.");
    } else {
        const struct h5_layer *L = &f->layers[m->file_layers[first_file]];
        int prev = -1, next = -1;
        for (int j = first_file - 1; j >= 0 && prev < 0; j--) prev = a->file_to_model[j];
        for (int j = first_file + 1; j < m->n_file && next < 0; j++) next = a->file_to_model[j];
        cnnrt_error_append(err,
                           "  first layer without a partner: the file's layer '%s' (looks like "
                           "%s, %s), weighted layer %d of %d, is not in the model",
                           L->name, guess_name(h5_layer_guess(L)),
                           h5_layer_shapes(L, shapes, sizeof shapes), first_file + 1, m->n_file);
        if (prev >= 0 && next >= 0)
            cnnrt_error_append(err, " (the model goes from '%s' straight to '%s')",
                               g->nodes[m->model_nodes[prev]].name,
                               g->nodes[m->model_nodes[next]].name);
        else if (prev >= 0)
            cnnrt_error_append(err, " (the model ends after '%s')",
                               g->nodes[m->model_nodes[prev]].name);
        cnnrt_error_append(err, ".\n");
    }
    if (miss_model + miss_file > 1)
        cnnrt_error_append(err, "  in all, %d model layer(s) and %d file layer(s) have no "
                                "partner.\n",
                           miss_model, miss_file);
}

static cnnrt_status fail_count(const struct graph *g, const struct keras_h5 *f,
                               const struct weights_match *m, cnnrt_error *err)
{
    char fdesc[160], mdesc[160];
    describe_file_layers(f, fdesc, sizeof fdesc);
    describe_model_layers(g, m, mdesc, sizeof mdesc);
    int classes;
    const char *arch = h5_guess_architecture(f, &classes);
    const char *model_arch = g->architecture ? g->architecture : (g->name ? g->name : "the model");
    cnnrt_fail(err, CNNRT_E_MISMATCH,
               "%s: the file has %d layers with weights, the model %s has %d (Keras: \"You are "
               "trying to load a weight file containing %d layers into a model with %d layers\").\n"
               "  file:  %s\n"
               "  model: %s\n",
               f->path, m->n_file, model_arch, m->n_model, m->n_file, m->n_model, fdesc, mdesc);
    if (arch && (!g->architecture || strcmp(arch, g->architecture) != 0)) {
        char cls[48] = "";
        if (classes > 0) snprintf(cls, sizeof cls, " (%d classes)", classes);
        cnnrt_error_append(err,
                           "  likely cause: wrong model type: the file is a %s model%s, not %s.\n"
                           "  fix: %s; or use the %s weights file for this model.",
                           arch, cls, model_arch, architecture_hint(arch), model_arch);
        return CNNRT_E_MISMATCH;
    }
    struct weights_alignment a;
    cnnrt_error ignored;
    size_t before = err ? strlen(err->message) : 0;
    if (weights_align(g, f, m, &a, &ignored) == CNNRT_OK) {
        explain_unpartnered(g, f, m, &a, err);
        weights_alignment_free(&a);
    }
    if (err && strstr(err->message + before, "fix:")) return CNNRT_E_MISMATCH;
    cnnrt_error_append(err, "  likely cause: the model's architecture was changed after these "
                            "weights were saved (a layer added or removed), or the weights belong "
                            "to another model.\n"
                            "  fix: use the model definition the weights were trained with "
                            "(`inspect FILE --model MODEL.json` shows both side by side).");
    return CNNRT_E_MISMATCH;
}

/* Weights stored as another float width than float32, converted on reading. */
struct dtype_tally {
    int count[2];        /* [0] float16, [1] float64 */
    char first[2][256];  /* the first such weight, "layer 'x', weight 'y'" */
};

static void tally_dtype(struct dtype_tally *t, const struct h5_layer *L, const struct h5_dataset *d)
{
    int k = d->dtype_bytes == 2 ? 0 : 1;
    if (t->count[k]++ == 0)
        snprintf(t->first[k], sizeof t->first[k], "layer '%s', weight '%s'", L->name, d->name);
}

static void tally_notes(const struct dtype_tally *t, const struct keras_h5 *f, char **notes)
{
    static const char *const names[2] = {"float16", "float64"};
    for (int k = 0; k < 2; k++) {
        if (t->count[k] == 0) continue;
        notes_add(notes, "%s: %d weight(s) are stored as %s (the first: %s); converted to float32%s",
                  f->path, t->count[k], names[k], t->first[k],
                  k == 0 ? " (values are exact; the precision is float16's)" : "");
    }
}

static cnnrt_status check_pair(const struct graph *g, const struct keras_h5 *f,
                               const struct weights_match *m, int i,
                               struct dtype_tally *tally, cnnrt_error *err)
{
    const struct node *n = &g->nodes[m->model_nodes[i]];
    const struct h5_layer *L = &f->layers[m->file_layers[m->partner[i]]];
    char fs[96], ms[96];
    const char *how = m->by_name ? "by name" : "by position";
    char fshapes[256], mshapes[256];

    if (L->n_weights != n->n_weights) {
        enum layer_guess guess = h5_layer_guess(L);
        bool kind_differs = !((n->op == OP_CONV2D && (guess == GUESS_CONV || guess == GUESS_CONV_BIAS)) ||
                              (n->op == OP_BATCH_NORM && guess == GUESS_BATCH_NORM) ||
                              (n->op == OP_DENSE && guess == GUESS_DENSE));
        if (kind_differs)
            return cnnrt_fail(err, CNNRT_E_MISMATCH,
                              "%s: layers are out of step at weighted layer %d: model layer '%s' "
                              "(%s, %s) is paired %s with file layer '%s', which looks like %s "
                              "(%s).\n"
                              "  likely cause: the architecture differs from the one the weights "
                              "were saved from (a layer was added or removed before this point).\n"
                              "  fix: use the model definition the weights were trained with "
                              "(`inspect FILE --model MODEL.json` shows both side by side).",
                              f->path, i + 1, n->name, n->class_name,
                              node_shapes(n, mshapes, sizeof mshapes), how, L->name,
                              guess_name(guess), h5_layer_shapes(L, fshapes, sizeof fshapes));
        const char *detail = "";
        if (n->op == OP_CONV2D)
            detail = n->p.conv.use_bias ? " (the model's Conv2D has use_bias=True, the file's has "
                                          "no bias)"
                                        : " (the model's Conv2D has use_bias=False, the file's "
                                          "has a bias)";
        else if (n->op == OP_BATCH_NORM)
            detail = " (BatchNormalization center/scale settings differ)";
        return cnnrt_fail(err, CNNRT_E_MISMATCH,
                          "%s: layer '%s' (%s) has %d weights in the file but the model expects "
                          "%d%s.\n"
                          "  file layer '%s': %s; model: %s.\n"
                          "  fix: make the model JSON's layer match the trained layer.",
                          f->path, n->name, n->class_name, L->n_weights, n->n_weights, detail,
                          L->name, h5_layer_shapes(L, fshapes, sizeof fshapes),
                          node_shapes(n, mshapes, sizeof mshapes));
    }
    for (int k = 0; k < n->n_weights; k++) {
        const struct h5_dataset *d = &L->weights[k];
        const struct weight *w = &n->w[k];
        if (d->problem)
            return cnnrt_fail(err, CNNRT_E_FORMAT, "%s: layer '%s', weight '%s' %s", f->path,
                              L->name, d->name, d->problem);
        if (d->dtype != H5_DTYPE_FLOAT)
            return cnnrt_fail(err, CNNRT_E_FORMAT,
                              "%s: layer '%s', weight '%s' is stored as %s (%d bytes), not as "
                              "floating point.\n"
                              "  fix: save the model's weights as float32.",
                              f->path, L->name, d->name,
                              d->dtype == H5_DTYPE_INT ? "integers" : "a non-numeric type",
                              d->dtype_bytes);
        if (d->dtype_bytes != 2 && d->dtype_bytes != 4 && d->dtype_bytes != 8)
            return cnnrt_fail(err, CNNRT_E_FORMAT,
                              "%s: layer '%s', weight '%s' is stored as a %d-byte floating point "
                              "type; cnnrt converts float16, float32 and float64 only.\n"
                              "  fix: save the model's weights as float32.",
                              f->path, L->name, d->name, d->dtype_bytes);
        if (dims_equal(d, w)) {
            if (d->dtype_bytes != 4) tally_dtype(tally, L, d);
            continue;
        }
        h5_format_dims(d, fs, sizeof fs);
        format_dims(w->dims, w->rank, ms, sizeof ms);
        if (is_channels_first(d, w))
            return cnnrt_fail(err, CNNRT_E_MISMATCH,
                              "%s: layer '%s', weight '%s': the kernel is stored channels-first "
                              "%s = (Cout, Cin, kh, kw); the model expects %s = (kh, kw, Cin, "
                              "Cout).\n"
                              "  likely cause: an old Keras 1 / Theano ('th' dim ordering) "
                              "weights file.\n"
                              "  fix: convert it to TensorFlow ordering (Keras "
                              "utils.convert_all_kernels_in_model, then save_weights) or use the "
                              "'_tf_dim_ordering_tf_kernels' release of the weights.",
                              f->path, L->name, d->name, fs, ms);
        bool last_axis_only = d->rank == w->rank;
        for (int a = 0; a + 1 < w->rank && last_axis_only; a++)
            last_axis_only = d->dims[a] == w->dims[a];
        if (last_axis_only && is_class_layer(g, m->model_nodes[i]) &&
            (strcmp(w->role, "kernel") == 0 || strcmp(w->role, "bias") == 0))
            return fail_class_count(g, f, n, d, w, err);
        cnnrt_fail(err, CNNRT_E_MISMATCH,
                   "%s: layer '%s' (%s), weight '%s' (paired %s with file layer '%s'): the file "
                   "has shape %s, the model expects %s%s.\n",
                   f->path, n->name, n->class_name, w->role, how, L->name, fs, ms, axis_names(w));
        if (w->rank == 4 && d->rank == 4 && (d->dims[0] != w->dims[0] || d->dims[1] != w->dims[1]))
            cnnrt_error_append(err, "  the kernel sizes differ (%lldx%lld in the file, %dx%d in the "
                                    "model).\n",
                               (long long)d->dims[0], (long long)d->dims[1], w->dims[0], w->dims[1]);
        else if (w->rank == 4 && d->rank == 4 && d->dims[2] != w->dims[2])
            cnnrt_error_append(err, "  the input channels differ: the layers before this one are "
                                    "not the same as in the trained model.\n");
        cnnrt_error_append(err, "  likely cause: the weights belong to a different architecture or "
                                "configuration (number of filters, input size of the classifier, "
                                "class count).\n"
                                "  fix: use the model definition and config files the weights were "
                                "saved with (`inspect FILE --model MODEL.json` compares them).");
        return CNNRT_E_MISMATCH;
    }
    return CNNRT_OK;
}

cnnrt_status weights_check(const struct graph *g, const struct keras_h5 *f,
                           const struct weights_match *m, char **notes, cnnrt_error *err)
{
    if (m->by_name) {
        for (int i = 0; i < m->n_model; i++)
            if (m->partner[i] < 0) {
                const struct node *n = &g->nodes[m->model_nodes[i]];
                return cnnrt_fail(err, CNNRT_E_MISMATCH,
                                  "%s: pairing by name, but the model's layer '%s' (%s) is not "
                                  "in the file.\n"
                                  "  fix: use the layer names the weights were saved with, or pair "
                                  "by position.",
                                  f->path, n->name, n->class_name);
            }
        if (m->n_file > m->n_model)
            notes_add(notes, "%s: %d layers of the file are not in the model and were ignored "
                             "(pairing by name)",
                      f->path, m->n_file - m->n_model);
    } else if (f->layout == H5_LAYOUT_KERAS3_WEIGHTS) {
        /* Keras 3 files record layers by name only (HDF5 lists them alphabetically) */
        int missing = -1;
        for (int i = 0; i < m->n_model; i++) {
            const char *name = g->nodes[m->model_nodes[i]].name;
            bool found = false;
            for (int j = 0; j < m->n_file && !found; j++)
                found = strcmp(f->layers[m->file_layers[j]].name, name) == 0;
            if (!found) {
                missing = i;
                break;
            }
        }
        if (missing < 0)
            return cnnrt_fail(err, CNNRT_E_USAGE,
                              "%s: a Keras 3 .weights.h5 file stores layers by name without "
                              "their order; pair it by name (the default), not by position",
                              f->path);
        const struct node *n = &g->nodes[m->model_nodes[missing]];
        return cnnrt_fail(err, CNNRT_E_MISMATCH,
                          "%s: a Keras 3 .weights.h5 file (layers/<name>/vars/<i>) stores layers "
                          "by name without their order, so it can only be paired by name; the "
                          "model's layer '%s' (%s) is not in the file (the file has %d layers "
                          "with weights, the model %d).\n"
                          "  fix: use a model JSON with the layer names of the Keras 3 model, or "
                          "save the weights in Keras 2 format (model.save_weights(\"x.h5\") with "
                          "Keras 2 or tf.keras 2.x).",
                          f->path, n->name, n->class_name, m->n_file, m->n_model);
    } else if (m->n_file != m->n_model) {
        return fail_count(g, f, m, err);
    }
    struct dtype_tally tally = {{0, 0}, {"", ""}};
    for (int i = 0; i < m->n_model; i++) {
        cnnrt_status st = check_pair(g, f, m, i, &tally, err);
        if (st) return st;
    }
    tally_notes(&tally, f, notes);
    return CNNRT_OK;
}

static cnnrt_status read_pair(struct graph *g, struct keras_h5 *f, const struct weights_match *m,
                              int i, cnnrt_error *err)
{
    struct node *n = &g->nodes[m->model_nodes[i]];
    int l = m->file_layers[m->partner[i]];
    cnnrt_status st = graph_alloc_node_weights(g, m->model_nodes[i], err);
    for (int k = 0; k < n->n_weights && !st; k++)
        if (!keras_h5_mapped(f, n->w[k].data))
            st = keras_h5_read(f, l, k, n->w[k].data, weight_elems(&n->w[k]), err);
    return st;
}

cnnrt_status weights_read(struct graph *g, struct keras_h5 *f, const struct weights_match *m,
                          cnnrt_error *err)
{
    for (int i = 0; i < m->n_model; i++) {
        cnnrt_status st = read_pair(g, f, m, i, err);
        if (st) return st;
    }
    return CNNRT_OK;
}

/* The pair of model node `node`, or -1 (a node without weights). */
static int pair_of(const struct weights_match *m, int node)
{
    for (int i = 0; i < m->n_model; i++)
        if (m->model_nodes[i] == node) return i;
    return -1;
}

cnnrt_status weights_read_node(struct graph *g, struct keras_h5 *f, const struct weights_match *m,
                               int node, cnnrt_error *err)
{
    const int i = pair_of(m, node);
    return i >= 0 ? read_pair(g, f, m, i, err) : CNNRT_OK;
}

cnnrt_status weights_map_node(struct graph *g, struct keras_h5 *f, const struct weights_match *m,
                              int node, cnnrt_error *err)
{
    const int i = pair_of(m, node);
    if (i < 0) return CNNRT_OK;
    struct node *n = &g->nodes[node];
    const int l = m->file_layers[m->partner[i]];
    for (int k = 0; k < n->n_weights; k++) {
        if (n->w[k].data) continue;
        float *x;
        cnnrt_status st = keras_h5_map(f, l, k, weight_elems(&n->w[k]), &x, err);
        if (st) return st;
        if (x) {
            n->w[k].data = x;
            n->w[k].borrowed = true;
        }
    }
    return CNNRT_OK;
}
