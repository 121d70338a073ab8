/* weights_report.c - summaries, guesses and the side-by-side comparison behind
 * `inspect`. */
#include "io/weights_report.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"

/* ---------------------------------------------------------------- naming -- */

/* If name is "conv2d" or "conv2d_N" (a Keras auto-name of a Conv2D), the number
 * (0 for the bare name), else -1. */
static long conv_auto_index(const char *name)
{
    static const char prefix[] = "conv2d";
    size_t n = sizeof prefix - 1;
    if (strncmp(name, prefix, n) != 0) return -1;
    if (name[n] == '\0') return 0;
    if (name[n] != '_' || !isdigit((unsigned char)name[n + 1])) return -1;
    char *end;
    long v = strtol(name + n + 1, &end, 10);
    return *end ? -1 : v;
}

/* res2a_branch2a, res5c_branch1, bn3d_branch2c: keras-applications v1 ResNet names. */
static bool is_apps_v1_name(const char *name)
{
    int stage;
    char block, rest[16];
    return sscanf(name, "res%1d%c_branch%15s", &stage, &block, rest) == 3 ||
           sscanf(name, "bn%1d%c_branch%15s", &stage, &block, rest) == 3 ||
           strcmp(name, "fc1000") == 0 || strcmp(name, "bn_conv1") == 0;
}

static bool is_apps_name(const char *name)
{
    int stage, block;
    return strcmp(name, "conv1_conv") == 0 ||
           sscanf(name, "conv%1d_block%d_", &stage, &block) == 2;
}

static struct naming_guess naming(enum naming_scheme s, long first)
{
    struct naming_guess g = {s, "unknown", "unknown (not a naming scheme cnnrt knows)", first};
    switch (s) {
    case NAMING_KERAS2:
        g.id = "keras2";
        g.description = "standalone Keras 2 auto-names numbered from 1 (conv2d_1, "
                        "batch_normalization_1): Keras <= 2.3, keras-yolo3's convert.py";
        break;
    case NAMING_TF_KERAS:
        g.id = "tf-keras";
        g.description = "tf.keras auto-names, the first without a number (conv2d, conv2d_1, "
                        "...): TensorFlow 2.x";
        break;
    case NAMING_KERAS_AUTO:
        g.id = "keras-auto";
        g.description = "Keras auto-names that do not start at 1 (conv2d_N): the model was not "
                        "the first one built in its Keras session";
        break;
    case NAMING_IMAGEAI:
        g.id = "imageai";
        g.description = "ImageAI 2.x YOLOv3 (output convs last1, last2, last3; the other layers "
                        "Keras auto-names)";
        break;
    case NAMING_KERAS_APPS:
        g.id = "keras-apps";
        g.description = "keras.applications ResNet50 names (conv1_conv, conv2_block1_1_conv, "
                        "predictions): Keras >= 2.2.5 / tf.keras, ImageAI 2.1.x";
        break;
    case NAMING_KERAS_APPS_V1:
        g.id = "keras-apps-v1";
        g.description = "original keras-applications ResNet50 names (conv1, bn_conv1, "
                        "res2a_branch2a, fc1000): Keras before 2019, ImageAI 2.0";
        break;
    case NAMING_KERAS3:
        g.id = "keras3";
        g.description = "Keras 3 .weights.h5 layout (layers/<name>/vars/<i>)";
        break;
    case NAMING_UNKNOWN: break;
    }
    return g;
}

struct naming_guess h5_guess_naming(const struct keras_h5 *f)
{
    bool last = false, apps = false, apps_v1 = false;
    long first_auto = -1;
    for (int i = 0; i < f->n_layers; i++) {
        const char *name = f->layers[i].name;
        if (strcmp(name, "last1") == 0 || strcmp(name, "last2") == 0 || strcmp(name, "last3") == 0)
            last = true;
        /* weighted layers only: the weightless ones (relu, add, pad) kept their
         * names across the keras-applications renaming in some files */
        bool weighted = f->layers[i].n_weights > 0;
        apps |= weighted && is_apps_name(name);
        apps_v1 |= weighted && is_apps_v1_name(name);
        long k = conv_auto_index(name);
        if (k >= 0 && (first_auto < 0 || k < first_auto)) first_auto = k;
    }
    if (f->layout == H5_LAYOUT_KERAS3_WEIGHTS) return naming(NAMING_KERAS3, first_auto);
    if (last) return naming(NAMING_IMAGEAI, first_auto);
    if (apps_v1) return naming(NAMING_KERAS_APPS_V1, first_auto);
    if (apps) return naming(NAMING_KERAS_APPS, first_auto);
    if (first_auto == 0) return naming(NAMING_TF_KERAS, first_auto);
    if (first_auto == 1) return naming(NAMING_KERAS2, first_auto);
    if (first_auto > 1) return naming(NAMING_KERAS_AUTO, first_auto);
    return naming(NAMING_UNKNOWN, first_auto);
}

/* --------------------------------------------------------------- summary -- */

void h5_summarize(const struct keras_h5 *f, struct h5_summary *s)
{
    memset(s, 0, sizeof *s);
    s->layers = f->n_layers;
    for (int i = 0; i < f->n_layers; i++) {
        const struct h5_layer *L = &f->layers[i];
        if (L->n_weights == 0) continue;
        s->weighted_layers++;
        switch (h5_layer_guess(L)) {
        case GUESS_CONV:
        case GUESS_CONV_BIAS: s->conv++; break;
        case GUESS_BATCH_NORM: s->batch_norm++; break;
        case GUESS_DENSE: s->dense++; break;
        case GUESS_OTHER: s->other++; break;
        }
        for (int k = 0; k < L->n_weights; k++) {
            const struct h5_dataset *d = &L->weights[k];
            s->parameters += h5_dataset_elems(d);
            s->problems += d->problem != NULL;
            if (d->rank < 0) continue;
            if (d->dtype != H5_DTYPE_FLOAT) s->non_float++;
            else if (d->dtype_bytes == 2) s->float16++;
            else if (d->dtype_bytes == 8) s->float64++;
        }
    }
    s->architecture = h5_guess_architecture(f, &s->classes);
    s->naming = h5_guess_naming(f);
}

const char *h5_layout_describe(enum h5_layout layout)
{
    switch (layout) {
    case H5_LAYOUT_KERAS2_WEIGHTS: return "Keras 2 weights-only file (model.save_weights)";
    case H5_LAYOUT_KERAS2_FULL: return "Keras 2 full model file (model.save: architecture and weights)";
    case H5_LAYOUT_KERAS3_WEIGHTS: return "Keras 3 weights file (.weights.h5)";
    }
    return "unknown layout";
}

const char *h5_layout_id(enum h5_layout layout)
{
    switch (layout) {
    case H5_LAYOUT_KERAS2_WEIGHTS: return "keras2-weights";
    case H5_LAYOUT_KERAS2_FULL: return "keras2-full-model";
    case H5_LAYOUT_KERAS3_WEIGHTS: return "keras3-weights";
    }
    return "unknown";
}

const char *h5_dtype_name(const struct h5_dataset *d, char *buf, size_t len)
{
    if (d->rank < 0) return "unknown";
    switch (d->dtype) {
    case H5_DTYPE_FLOAT: snprintf(buf, len, "float%d", d->dtype_bytes * 8); break;
    case H5_DTYPE_INT: snprintf(buf, len, "int%d", d->dtype_bytes * 8); break;
    case H5_DTYPE_OTHER: snprintf(buf, len, "non-numeric (%d bytes)", d->dtype_bytes); break;
    }
    return buf;
}

/* --------------------------------------------------------------- darknet -- */

const char *darknet_guess_architecture(uint64_t values, int *classes)
{
    static const struct {
        const char *name;
        uint64_t at80, per_class;
    } known[] = {
        {"YOLOv3", DARKNET_YOLOV3_VALUES_80, DARKNET_YOLOV3_VALUES_PER_CLASS},
        {"TinyYOLOv3", DARKNET_TINY_VALUES_80, DARKNET_TINY_VALUES_PER_CLASS},
    };
    *classes = 0;
    for (size_t i = 0; i < sizeof known / sizeof known[0]; i++) {
        /* values = at80 + (C - 80) * per_class for C >= 1 */
        uint64_t at1 = known[i].at80 - 79 * known[i].per_class;
        if (values < at1 || (values - at1) % known[i].per_class != 0) continue;
        uint64_t c = 1 + (values - at1) / known[i].per_class;
        if (c > 100000) continue;
        *classes = (int)c;
        return known[i].name;
    }
    return NULL;
}

/* ------------------------------------------------------------ comparison -- */

void weights_comparison_free(struct weights_comparison *c)
{
    weights_match_free(&c->match);
    free(c->rows);
    memset(c, 0, sizeof *c);
}

cnnrt_status weights_compare(const struct graph *g, const struct keras_h5 *f, cnnrt_pairing mode,
                             struct weights_comparison *c, cnnrt_error *err)
{
    memset(c, 0, sizeof *c);
    c->first_divergence = -1;
    cnnrt_status st = weights_match(g, f, mode, &c->match, err);
    if (st) return st;
    const struct weights_match *m = &c->match;
    c->rows = calloc((size_t)m->n_model + (size_t)m->n_file + 1, sizeof *c->rows);
    bool *used = calloc((size_t)m->n_file + 1, sizeof *used);
    if (!c->rows || !used) {
        free(used);
        weights_comparison_free(c);
        return CNNRT_NOMEM(err);
    }
    for (int i = 0; i < m->n_model; i++) {
        int j = m->partner[i];
        struct compare_row *r = &c->rows[c->n_rows++];
        r->model = i;
        r->file = j;
        if (j >= 0) {
            used[j] = true;
            r->fits = weights_pair_fits(&f->layers[m->file_layers[j]], &g->nodes[m->model_nodes[i]]);
        }
    }
    for (int j = 0; j < m->n_file; j++)
        if (!used[j]) c->rows[c->n_rows++] = (struct compare_row){-1, j, false};
    free(used);
    for (int r = 0; r < c->n_rows && c->first_divergence < 0; r++)
        if (!c->rows[r].fits) c->first_divergence = r;
    return CNNRT_OK;
}
