/* inspect.c - `inspect`: what a weights file is, what it holds, and why it does or
 * does not fit a model.
 *
 *   inspect [--json] FILE
 *       the file's kind, Keras version and backend, every layer with its weights,
 *       counts, and guesses (architecture, class count, naming scheme).
 *   inspect [--json] FILE --model MODEL.json [--classes FILE | --config FILE]
 *       the model's and the file's weighted layers side by side, paired exactly as the
 *       loader pairs them, the first divergence marked, and the loader's verdict.
 *
 * Exit codes: 0 the file was recognised (alone) / the weights fit (with --model);
 * 2 usage; 3 the file is not a usable model file (empty, truncated, a web page, not
 * Keras, damaged, a weight that no model could load: unreadable, stored outside the
 * file, not floating point); 4 the weights do not fit the model; 5 internal error.
 * Darknet and PyTorch files are recognised, so `inspect FILE` exits 0 for them; with
 * --model the loader's verdict (exit 3) applies.
 */
#include <cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/model_internal.h"
#include "cli/cli_common.h"
#include "cnnrt.h"
#include "io/file_sniff.h"
#include "io/json_file.h"
#include "io/keras_h5.h"
#include "io/weights_match.h"
#include "io/weights_report.h"

#define PROGRAM "inspect"
#define CONFIG_MAX_BYTES (16u << 20)

static void usage(FILE *out)
{
    fprintf(out,
            "usage: inspect [--json] FILE\n"
            "       inspect [--json] FILE --model MODEL.json [--classes FILE | --config FILE]\n"
            "Tells what a weights file is and holds; with --model, whether and why it fits.\n"
            "\n"
            "  --json             one JSON object on stdout instead of text\n"
            "  --model FILE       model JSON to compare the weights with (e.g. models/yolov3.json)\n"
            "  --classes FILE     class list (model_class.json or one name per line): its size\n"
            "                     sets the model's class count, as predict --classes does\n"
            "  --config FILE      ImageAI detection_config.json: its \"labels\" count sets the\n"
            "                     class count, as detect --config does\n"
            "  --pairing MODE     auto (default, as the loader), name or position\n"
            "  -h, --help         this help\n"
            "\n"
            "Exit codes: 0 ok (alone: the file is a recognised model file, Keras or not;\n"
            "with --model: the weights fit), 2 usage, 3 the file is not a usable model file,\n"
            "4 the weights do not fit the model, 5 internal error.\n");
}

struct options {
    const char *file, *model, *classes, *config;
    cnnrt_pairing pairing;
    bool json;
};

static int parse_args(int argc, char **argv, struct options *o)
{
    *o = (struct options){NULL, NULL, NULL, NULL, CNNRT_PAIR_AUTO, false};
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v;
#define OPT(name) (strcmp(a, name) == 0 || strncmp(a, name "=", sizeof(name)) == 0)
        if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
            usage(stdout);
            exit(EXIT_OK);
        } else if (strcmp(a, "--json") == 0) {
            o->json = true;
        } else if (OPT("--model")) {
            if (!(o->model = cli_option_value(PROGRAM, argc, argv, &i))) return EXIT_USAGE;
        } else if (OPT("--classes")) {
            if (!(o->classes = cli_option_value(PROGRAM, argc, argv, &i))) return EXIT_USAGE;
        } else if (OPT("--config")) {
            if (!(o->config = cli_option_value(PROGRAM, argc, argv, &i))) return EXIT_USAGE;
        } else if (OPT("--pairing")) {
            if (!(v = cli_option_value(PROGRAM, argc, argv, &i))) return EXIT_USAGE;
            if (strcmp(v, "auto") == 0) o->pairing = CNNRT_PAIR_AUTO;
            else if (strcmp(v, "name") == 0) o->pairing = CNNRT_PAIR_BY_NAME;
            else if (strcmp(v, "position") == 0) o->pairing = CNNRT_PAIR_BY_POSITION;
            else {
                cli_error(PROGRAM, "--pairing must be auto, name or position, not \"%s\"", v);
                return EXIT_USAGE;
            }
        } else if (a[0] == '-' && a[1] != '\0') {
            cli_error(PROGRAM, "unknown option %s (see inspect --help)", a);
            return EXIT_USAGE;
        } else if (o->file) {
            cli_error(PROGRAM, "one FILE at a time (got %s and %s)", o->file, a);
            return EXIT_USAGE;
        } else {
            o->file = a;
        }
#undef OPT
    }
    if (!o->file) {
        cli_error(PROGRAM, "no FILE given (see inspect --help)");
        return EXIT_USAGE;
    }
    if (o->classes && o->config) {
        cli_error(PROGRAM, "--classes (classifier) and --config (detector) exclude each other");
        return EXIT_USAGE;
    }
    if ((o->classes || o->config || o->pairing != CNNRT_PAIR_AUTO) && !o->model) {
        cli_error(PROGRAM, "--classes, --config and --pairing need --model");
        return EXIT_USAGE;
    }
    return EXIT_OK;
}

/* ------------------------------------------------------------ file kinds -- */

/* Identifier of a non-HDF5 (or broken) file kind for JSON. */
static const char *kind_id(enum file_kind k)
{
    switch (k) {
    case FILE_KIND_EMPTY: return "empty";
    case FILE_KIND_HDF5: return "hdf5";
    case FILE_KIND_HDF5_TRUNCATED: return "hdf5-truncated";
    case FILE_KIND_HTML: return "html";
    case FILE_KIND_JSON: return "json";
    case FILE_KIND_PYTORCH_ZIP: return "pytorch-zip";
    case FILE_KIND_PYTORCH_LEGACY: return "pytorch-legacy";
    case FILE_KIND_KERAS3_ZIP: return "keras3-archive";
    case FILE_KIND_ZIP: return "zip";
    case FILE_KIND_DARKNET: return "darknet";
    case FILE_KIND_UNKNOWN: return "unknown";
    }
    return "unknown";
}

/* A model file of another format: recognised, so inspecting it is not an error. */
static bool kind_is_other_model(enum file_kind k)
{
    return k == FILE_KIND_DARKNET || k == FILE_KIND_PYTORCH_ZIP || k == FILE_KIND_PYTORCH_LEGACY ||
           k == FILE_KIND_KERAS3_ZIP;
}

/* --------------------------------------------------------------- helpers -- */

static cJSON *json_dims(const int64_t *dims, int rank)
{
    cJSON *a = cJSON_CreateArray();
    for (int k = 0; a && k < rank; k++) cJSON_AddItemToArray(a, cJSON_CreateNumber((double)dims[k]));
    return a;
}

static cJSON *json_string_or_null(const char *s)
{
    return s ? cJSON_CreateString(s) : cJSON_CreateNull();
}

/* Replaces each byte that is not part of a valid UTF-8 sequence with '?' (JSON must be
 * UTF-8; paths given on the command line need not be). */
static void utf8_sanitize(char *s)
{
    unsigned char *p = (unsigned char *)s;
    while (*p) {
        int extra = *p < 0x80 ? 0 : (*p & 0xE0) == 0xC0 ? 1 : (*p & 0xF0) == 0xE0 ? 2
                                  : (*p & 0xF8) == 0xF0 ? 3 : -1;
        bool ok = extra >= 0 && !(*p >= 0xC0 && *p < 0xC2) && *p <= 0xF4;
        for (int k = 1; ok && k <= extra; k++) ok = (p[k] & 0xC0) == 0x80;
        if (!ok) {
            *p++ = '?';
            continue;
        }
        p += 1 + extra;
    }
}

/* Prints a cJSON object on stdout (it is freed); false when out of memory. */
static bool json_emit(cJSON *root)
{
    char *text = root ? cJSON_Print(root) : NULL;
    cJSON_Delete(root);
    if (!text) return false;
    utf8_sanitize(text);
    puts(text);
    free(text);
    return true;
}

/* Prints lines of text: the first after label, the others indented under it. Lines
 * of text that start with spaces (continuations of one message) keep them. */
static void print_labelled(const char *label, int width, const char *text)
{
    bool first = true;
    while (text && *text) {
        const char *end = strchr(text, '\n');
        int len = end ? (int)(end - text) : (int)strlen(text);
        if (len > 0) printf("%-*s%.*s\n", width, first ? label : "", len, text);
        first = false;
        text += len + (end ? 1 : 0);
    }
}

/* The class name and layer count recorded in a full-model file's model_config. */
static void model_config_summary(const char *config, char *buf, size_t len)
{
    buf[0] = '\0';
    cJSON *j = config ? cJSON_Parse(config) : NULL;
    if (!j) {
        if (config) snprintf(buf, len, "present but not valid JSON");
        return;
    }
    const cJSON *cls = cJSON_GetObjectItemCaseSensitive(j, "class_name");
    const cJSON *cfg = cJSON_GetObjectItemCaseSensitive(j, "config");
    const cJSON *name = cfg ? cJSON_GetObjectItemCaseSensitive(cfg, "name") : NULL;
    const cJSON *layers = cfg ? cJSON_GetObjectItemCaseSensitive(cfg, "layers") : NULL;
    snprintf(buf, len, "%s model '%s', %d layers",
             cJSON_IsString(cls) ? cls->valuestring : "unknown",
             cJSON_IsString(name) ? name->valuestring : "?",
             cJSON_IsArray(layers) ? cJSON_GetArraySize(layers) : 0);
    cJSON_Delete(j);
}

/* ----------------------------------------------------------- file alone -- */

static void text_guess(const char *arch, int classes, const char *basis)
{
    if (arch) {
        printf("guess:      %s", arch);
        if (classes > 0) printf(", %d classes", classes);
        printf(" (from the %s)\n", basis);
    } else {
        printf("guess:      unknown architecture (not ResNet50, YOLOv3 or TinyYOLOv3 by its %s)\n",
               basis);
    }
}

/* A file that is not HDF5 (or a truncated one): what it is. */
static int report_not_hdf5(const struct options *o, const struct file_sniff *s)
{
    cnnrt_error why;
    file_sniff_explain(o->file, s, &why);
    bool recognised = kind_is_other_model(s->kind);
    const char *arch = NULL;
    int classes = 0;
    char desc[256];
    snprintf(desc, sizeof desc, "%s", file_kind_describe(s->kind));
    if (s->kind == FILE_KIND_DARKNET) {
        arch = darknet_guess_architecture(s->darknet_floats, &classes);
        snprintf(desc, sizeof desc, "%s (version %d.%d.%d, %llu float32 values)",
                 file_kind_describe(s->kind), s->darknet_version[0], s->darknet_version[1],
                 s->darknet_version[2], (unsigned long long)s->darknet_floats);
    }
    if (o->json) {
        cJSON *j = cJSON_CreateObject();
        cJSON_AddStringToObject(j, "file", o->file);
        cJSON_AddNumberToObject(j, "size", (double)s->size);
        cJSON_AddStringToObject(j, "kind", kind_id(s->kind));
        cJSON_AddStringToObject(j, "description", desc);
        cJSON_AddItemToObject(j, "layers", cJSON_CreateArray());
        cJSON_AddItemToObject(j, "counts", cJSON_CreateNull());
        cJSON *g = cJSON_AddObjectToObject(j, "guess");
        cJSON_AddItemToObject(g, "architecture", json_string_or_null(arch));
        if (classes > 0) cJSON_AddNumberToObject(g, "classes", classes);
        else cJSON_AddNullToObject(g, "classes");
        cJSON_AddNullToObject(g, "naming");
        if (recognised) {
            cJSON_AddNullToObject(j, "problem");
            cJSON_AddStringToObject(j, "note", why.message);
        } else {
            cJSON_AddStringToObject(j, "problem", why.message);
        }
        if (!json_emit(j)) return EXIT_INTERNAL;
    } else {
        printf("file:       %s (%llu bytes)\n", o->file, (unsigned long long)s->size);
        printf("kind:       %s\n", desc);
        if (s->kind == FILE_KIND_DARKNET) text_guess(arch, classes, "value count");
        if (recognised) print_labelled("note:", 12, why.message);
    }
    if (recognised) return EXIT_OK;
    cli_error(PROGRAM, "%s", why.message);
    return cnnrt_status_exit_code(why.status);
}

static void text_layers(const struct keras_h5 *f)
{
    printf("\n    #  %-30s %-40s %-22s %s\n", "layer", "weight", "shape", "dtype");
    for (int i = 0; i < f->n_layers; i++) {
        const struct h5_layer *L = &f->layers[i];
        if (L->n_weights == 0) {
            printf("%5d  %-30s -\n", i + 1, L->name);
            continue;
        }
        for (int k = 0; k < L->n_weights; k++) {
            const struct h5_dataset *d = &L->weights[k];
            char dims[128], dt[48];
            if (k == 0) printf("%5d  %-30s ", i + 1, L->name);
            else printf("%5s  %-30s ", "", "");
            printf("%-40s %-22s %s", d->name, h5_format_dims(d, dims, sizeof dims),
                   h5_dtype_name(d, dt, sizeof dt));
            if (d->problem) printf("  ! %s", d->problem);
            putchar('\n');
        }
    }
}

static cJSON *json_layers(const struct keras_h5 *f)
{
    cJSON *arr = cJSON_CreateArray();
    for (int i = 0; arr && i < f->n_layers; i++) {
        const struct h5_layer *L = &f->layers[i];
        cJSON *l = cJSON_CreateObject();
        cJSON_AddStringToObject(l, "name", L->name);
        cJSON *ws = cJSON_AddArrayToObject(l, "weights");
        for (int k = 0; k < L->n_weights; k++) {
            const struct h5_dataset *d = &L->weights[k];
            char dt[48];
            cJSON *w = cJSON_CreateObject();
            cJSON_AddStringToObject(w, "name", d->name);
            cJSON_AddItemToObject(w, "shape", d->rank >= 0 ? json_dims(d->dims, d->rank)
                                                          : cJSON_CreateNull());
            cJSON_AddStringToObject(w, "dtype", h5_dtype_name(d, dt, sizeof dt));
            cJSON_AddItemToObject(w, "problem", json_string_or_null(d->problem));
            cJSON_AddItemToArray(ws, w);
        }
        cJSON_AddItemToArray(arr, l);
    }
    return arr;
}

/* The first weight the loader would refuse whatever the model (unreadable, refused
 * storage, not floating point), as a message in buf; false if there is none. */
static bool first_bad_weight(const struct keras_h5 *f, char *buf, size_t len)
{
    for (int i = 0; i < f->n_layers; i++)
        for (int k = 0; k < f->layers[i].n_weights; k++) {
            const struct h5_dataset *d = &f->layers[i].weights[k];
            char dt[48];
            if (!d->problem && (d->rank < 0 || d->dtype == H5_DTYPE_FLOAT)) continue;
            snprintf(buf, len, "%s: layer '%s', weight '%s' %s%s", f->path, f->layers[i].name,
                     d->name, d->problem ? d->problem : "is stored as ",
                     d->problem ? "" : h5_dtype_name(d, dt, sizeof dt));
            return true;
        }
    return false;
}

static int report_keras(const struct options *o, const struct file_sniff *s,
                        const struct keras_h5 *f)
{
    struct h5_summary sum;
    h5_summarize(f, &sum);
    char bad[1024];
    bool unusable = first_bad_weight(f, bad, sizeof bad);
    int rc = unusable ? EXIT_INPUT : EXIT_OK;
    char config[256];
    model_config_summary(f->model_config, config, sizeof config);
    if (o->json) {
        cJSON *j = cJSON_CreateObject();
        cJSON_AddStringToObject(j, "file", o->file);
        cJSON_AddNumberToObject(j, "size", (double)s->size);
        cJSON_AddStringToObject(j, "kind", h5_layout_id(f->layout));
        cJSON_AddStringToObject(j, "description", h5_layout_describe(f->layout));
        cJSON_AddItemToObject(j, "keras_version", json_string_or_null(f->keras_version));
        cJSON_AddItemToObject(j, "backend", json_string_or_null(f->backend));
        cJSON_AddItemToObject(j, "model_config", json_string_or_null(config[0] ? config : NULL));
        if (f->synthetic_seed >= 0) cJSON_AddNumberToObject(j, "synthetic_seed", (double)f->synthetic_seed);
        else cJSON_AddNullToObject(j, "synthetic_seed");
        cJSON *c = cJSON_AddObjectToObject(j, "counts");
        cJSON_AddNumberToObject(c, "layers", sum.layers);
        cJSON_AddNumberToObject(c, "weighted_layers", sum.weighted_layers);
        cJSON_AddNumberToObject(c, "conv2d", sum.conv);
        cJSON_AddNumberToObject(c, "batch_normalization", sum.batch_norm);
        cJSON_AddNumberToObject(c, "dense", sum.dense);
        cJSON_AddNumberToObject(c, "other", sum.other);
        cJSON_AddNumberToObject(c, "parameters", (double)sum.parameters);
        cJSON_AddNumberToObject(c, "float16_weights", sum.float16);
        cJSON_AddNumberToObject(c, "float64_weights", sum.float64);
        cJSON_AddNumberToObject(c, "non_float_weights", sum.non_float);
        cJSON_AddNumberToObject(c, "unreadable_weights", sum.problems);
        cJSON_AddItemToObject(j, "layers", json_layers(f));
        cJSON *g = cJSON_AddObjectToObject(j, "guess");
        cJSON_AddItemToObject(g, "architecture", json_string_or_null(sum.architecture));
        if (sum.classes > 0) cJSON_AddNumberToObject(g, "classes", sum.classes);
        else cJSON_AddNullToObject(g, "classes");
        cJSON_AddStringToObject(g, "naming", sum.naming.id);
        cJSON_AddStringToObject(g, "naming_description", sum.naming.description);
        cJSON_AddItemToObject(j, "problem", json_string_or_null(unusable ? bad : NULL));
        if (!json_emit(j)) return EXIT_INTERNAL;
        if (unusable) cli_error(PROGRAM, "%s", bad);
        return rc;
    }
    printf("file:       %s (%llu bytes)\n", o->file, (unsigned long long)s->size);
    printf("kind:       %s\n", h5_layout_describe(f->layout));
    printf("keras:      version %s, backend %s\n", f->keras_version ? f->keras_version : "unknown",
           f->backend ? f->backend : "unknown");
    if (config[0]) printf("config:     %s\n", config);
    if (f->synthetic_seed >= 0)
        printf("synthetic:  yes: made by cnnrt's synthetic-weights tool (seed %ld); random "
               "weights, not a trained model\n",
               f->synthetic_seed);
    printf("layers:     %d in the file, %d with weights (%d Conv2D, %d BatchNormalization, %d "
           "Dense, %d other)\n",
           sum.layers, sum.weighted_layers, sum.conv, sum.batch_norm, sum.dense, sum.other);
    printf("parameters: %llu", (unsigned long long)sum.parameters);
    if (sum.float16 || sum.float64)
        printf(" (%d float16 and %d float64 weights: converted to float32 when loaded)",
               sum.float16, sum.float64);
    putchar('\n');
    if (sum.non_float || sum.problems)
        printf("problems:   %d weights are not floating point, %d cannot be read (marked ! "
               "below)\n",
               sum.non_float, sum.problems);
    text_guess(sum.architecture, sum.classes, "layer counts and shapes");
    printf("names:      %s\n", sum.naming.description);
    text_layers(f);
    if (unusable) cli_error(PROGRAM, "%s", bad);
    return rc;
}

static int inspect_alone(const struct options *o, const struct file_sniff *s)
{
    if (s->kind != FILE_KIND_HDF5) return report_not_hdf5(o, s);
    struct keras_h5 f;
    cnnrt_error err;
    if (keras_h5_open(o->file, &f, &err)) {
        /* an HDF5 file, but not (or not a readable) Keras one */
        if (o->json) {
            cJSON *j = cJSON_CreateObject();
            cJSON_AddStringToObject(j, "file", o->file);
            cJSON_AddNumberToObject(j, "size", (double)s->size);
            cJSON_AddStringToObject(j, "kind", "hdf5");
            cJSON_AddStringToObject(j, "description", "an HDF5 file that is not a readable Keras "
                                                      "weights file");
            cJSON_AddItemToObject(j, "layers", cJSON_CreateArray());
            cJSON_AddNullToObject(j, "counts");
            cJSON *g = cJSON_AddObjectToObject(j, "guess");
            cJSON_AddNullToObject(g, "architecture");
            cJSON_AddNullToObject(g, "classes");
            cJSON_AddNullToObject(g, "naming");
            cJSON_AddStringToObject(j, "problem", err.message);
            if (!json_emit(j)) return EXIT_INTERNAL;
        } else {
            printf("file:       %s (%llu bytes)\n", o->file, (unsigned long long)s->size);
            printf("kind:       an HDF5 file that is not a readable Keras weights file\n");
        }
        cli_error(PROGRAM, "%s", err.message);
        return cnnrt_status_exit_code(err.status);
    }
    int rc = report_keras(o, s, &f);
    keras_h5_close(&f);
    return rc;
}

/* ------------------------------------------------------------ with model -- */

/* Sets the model's class count from --classes or --config; returns an exit code. */
static int set_classes(const struct options *o, cnnrt_model *m)
{
    char source[1200];
    cnnrt_error err;
    long count;
    if (o->classes) {
        cnnrt_labels labels;
        if (cnnrt_labels_load(o->classes, &labels, &err)) {
            cli_error(PROGRAM, "%s", err.message);
            return cnnrt_status_exit_code(err.status);
        }
        count = labels.count;
        cnnrt_labels_free(&labels);
        snprintf(source, sizeof source, "the class list %s (%ld names)", o->classes, count);
    } else if (o->config) {
        /* only the "labels" count matters here */
        cJSON *root;
        if (json_load_file(o->config, CONFIG_MAX_BYTES, &root, &err)) {
            cli_error(PROGRAM, "%s", err.message);
            return cnnrt_status_exit_code(err.status);
        }
        const cJSON *labels = cJSON_IsObject(root) ? cJSON_GetObjectItemCaseSensitive(root, "labels")
                                                   : NULL;
        bool ok = cJSON_IsArray(labels) && cJSON_GetArraySize(labels) > 0;
        const cJSON *item;
        cJSON_ArrayForEach(item, labels) ok = ok && cJSON_IsString(item);
        count = ok ? cJSON_GetArraySize(labels) : 0;
        cJSON_Delete(root);
        if (!ok) {
            cli_error(PROGRAM,
                      "%s: not an ImageAI detection_config.json: it needs a non-empty \"labels\" "
                      "list of class names",
                      o->config);
            return EXIT_INPUT;
        }
        snprintf(source, sizeof source, "the detection config %s (%ld labels)", o->config, count);
    } else {
        return EXIT_OK;
    }
    cnnrt_status st = cnnrt_model_set_param_from(m, "classes", count, source);
    if (st) {
        cli_error(PROGRAM, "%s", cnnrt_model_error(m));
        return cnnrt_status_exit_code(st);
    }
    return EXIT_OK;
}

static cJSON *json_shapes_node(const struct node *n)
{
    cJSON *a = cJSON_CreateArray();
    for (int k = 0; a && k < n->n_weights; k++) {
        int64_t dims[4];
        for (int d = 0; d < n->w[k].rank; d++) dims[d] = n->w[k].dims[d];
        cJSON_AddItemToArray(a, json_dims(dims, n->w[k].rank));
    }
    return a;
}

static cJSON *json_shapes_file(const struct h5_layer *L)
{
    cJSON *a = cJSON_CreateArray();
    for (int k = 0; a && k < L->n_weights; k++)
        cJSON_AddItemToArray(a, L->weights[k].rank >= 0
                                    ? json_dims(L->weights[k].dims, L->weights[k].rank)
                                    : cJSON_CreateNull());
    return a;
}

static void text_compare(const struct graph *g, const struct keras_h5 *f,
                         const struct weights_comparison *c)
{
    const struct weights_match *m = &c->match;
    printf("\n      #  %-26s %-19s %-26s | %-26s %s\n", "model layer", "kind", "shapes",
           "file layer", "shapes");
    for (int r = 0; r < c->n_rows; r++) {
        const struct compare_row *row = &c->rows[r];
        char ms[256] = "", fs[256] = "";
        const struct node *n = row->model >= 0 ? &g->nodes[m->model_nodes[row->model]] : NULL;
        const struct h5_layer *L = row->file >= 0 ? &f->layers[m->file_layers[row->file]] : NULL;
        if (n) node_shapes(n, ms, sizeof ms);
        if (L) h5_layer_shapes(L, fs, sizeof fs);
        const char *mark = r == c->first_divergence ? ">>" : row->fits ? "  " : " !";
        char line[1024];
        int len = snprintf(line, sizeof line, "%s %4d  %-26s %-19s %-26s | %-26s %s%s", mark, r + 1,
                           n ? n->name : "(none)", n ? n->class_name : "", ms,
                           L ? L->name : "(none)", fs,
                           r == c->first_divergence ? "   <- first divergence" : "");
        if (len < 0) continue;
        if ((size_t)len >= sizeof line) len = (int)sizeof line - 1;
        while (len > 0 && line[len - 1] == ' ') len--;
        printf("%.*s\n", len, line);
    }
}

static int inspect_with_model(const struct options *o, const struct file_sniff *s)
{
    cnnrt_model *m = cnnrt_model_new();
    if (!m) {
        cli_error(PROGRAM, "out of memory");
        return EXIT_INTERNAL;
    }
    int rc = set_classes(o, m);
    char path_buf[1024];
    const char *model_path = cli_resolve_data_path(o->model, path_buf, sizeof path_buf);
    cnnrt_status st = CNNRT_OK;
    if (!rc && (st = cnnrt_model_load_graph(m, model_path))) {
        cli_error(PROGRAM, "%s", cnnrt_model_error(m));
        rc = cnnrt_status_exit_code(st);
    }
    if (rc) {
        cnnrt_model_free(m);
        return rc;
    }
    const struct graph *g = &m->graph;
    long classes = 0;
    bool has_classes = graph_param_get(g, "classes", &classes);
    const char *classes_source = NULL;
    for (int i = 0; i < g->n_params; i++)
        if (strcmp(g->params[i].name, "classes") == 0) classes_source = g->params[i].source;

    /* the table: only for Keras files (anything else is refused by the loader) */
    struct keras_h5 f;
    struct weights_comparison cmp;
    bool have_table = false, have_file = false;
    cnnrt_error err;
    if (s->kind == FILE_KIND_HDF5 && keras_h5_open(o->file, &f, &err) == CNNRT_OK) {
        have_file = true;
        if ((st = weights_compare(g, &f, o->pairing, &cmp, &err))) {
            cli_error(PROGRAM, "%s", err.message);
            keras_h5_close(&f);
            cnnrt_model_free(m);
            return cnnrt_status_exit_code(st);
        }
        have_table = true;
    }

    /* the verdict: the loader itself */
    cnnrt_weights_options wo = {o->pairing, 0}; /* values read now: NaN is part of the verdict */
    st = cnnrt_model_load_weights(m, o->file, &wo);
    rc = cnnrt_status_exit_code(st);
    const char *pairing = have_table ? (cmp.match.by_name ? "by name" : "by position") : NULL;
    int n_model = 0;
    for (int i = 0; i < g->n_nodes; i++) n_model += g->nodes[i].n_weights > 0;

    if (o->json) {
        cJSON *j = cJSON_CreateObject();
        cJSON_AddStringToObject(j, "file", o->file);
        cJSON_AddStringToObject(j, "model", o->model);
        cJSON_AddStringToObject(j, "kind", have_file ? h5_layout_id(f.layout) : kind_id(s->kind));
        if (has_classes) cJSON_AddNumberToObject(j, "classes", classes);
        else cJSON_AddNullToObject(j, "classes");
        cJSON_AddItemToObject(j, "classes_source", json_string_or_null(classes_source));
        cJSON_AddItemToObject(j, "pairing", json_string_or_null(pairing));
        cJSON *rows = cJSON_AddArrayToObject(j, "rows");
        for (int r = 0; have_table && r < cmp.n_rows; r++) {
            const struct compare_row *row = &cmp.rows[r];
            cJSON *o_row = cJSON_CreateObject();
            if (row->model >= 0) {
                const struct node *n = &g->nodes[cmp.match.model_nodes[row->model]];
                cJSON *mo = cJSON_AddObjectToObject(o_row, "model");
                cJSON_AddStringToObject(mo, "name", n->name);
                cJSON_AddStringToObject(mo, "class_name", n->class_name);
                cJSON_AddItemToObject(mo, "shapes", json_shapes_node(n));
            } else {
                cJSON_AddNullToObject(o_row, "model");
            }
            if (row->file >= 0) {
                const struct h5_layer *L = &f.layers[cmp.match.file_layers[row->file]];
                cJSON *fo = cJSON_AddObjectToObject(o_row, "file");
                cJSON_AddStringToObject(fo, "name", L->name);
                cJSON_AddItemToObject(fo, "shapes", json_shapes_file(L));
            } else {
                cJSON_AddNullToObject(o_row, "file");
            }
            cJSON_AddBoolToObject(o_row, "fits", row->fits);
            cJSON_AddItemToArray(rows, o_row);
        }
        if (have_table && cmp.first_divergence >= 0)
            cJSON_AddNumberToObject(j, "first_divergence", cmp.first_divergence);
        else
            cJSON_AddNullToObject(j, "first_divergence");
        cJSON *v = cJSON_AddObjectToObject(j, "verdict");
        cJSON_AddBoolToObject(v, "ok", st == CNNRT_OK);
        cJSON_AddStringToObject(v, "status", cnnrt_status_name(st));
        cJSON_AddNumberToObject(v, "exit_code", rc);
        cJSON_AddStringToObject(v, "message", st ? cnnrt_model_error(m) : "");
        cJSON *notes = cJSON_AddArrayToObject(j, "notes");
        for (const char *p = cnnrt_model_notes(m); *p;) {
            const char *end = strchr(p, '\n');
            size_t len = end ? (size_t)(end - p) : strlen(p);
            char *line = strndup(p, len);
            if (line && *line) cJSON_AddItemToArray(notes, cJSON_CreateString(line));
            free(line);
            p += len + (end ? 1 : 0);
        }
        if (!json_emit(j)) rc = EXIT_INTERNAL;
    } else {
        printf("weights:    %s (%s", o->file,
               have_file ? h5_layout_describe(f.layout) : file_kind_describe(s->kind));
        if (have_table) printf(", %d layers with weights", cmp.match.n_file);
        printf(")\n");
        printf("model:      %s (%s, %d layers with weights", o->model,
               g->architecture ? g->architecture : (g->name ? g->name : "unnamed"), n_model);
        if (has_classes) printf("; %ld classes, from %s", classes,
                                classes_source ? classes_source : "the model JSON");
        printf(")\n");
        if (have_table) {
            printf("pairing:    %s, as predict and detect pair them%s\n", pairing,
                   cmp.match.by_name ? "" : " (Keras model.layers order)");
            text_compare(g, &f, &cmp);
        }
        putchar('\n');
        if (st == CNNRT_OK) {
            printf("verdict:    OK: all %d layers fit (paired %s)\n", n_model,
                   pairing ? pairing : "?");
            for (const char *p = cnnrt_model_notes(m); *p;) { /* one note per line */
                const char *end = strchr(p, '\n');
                int len = end ? (int)(end - p) : (int)strlen(p);
                if (len > 0) printf("note:       %.*s\n", len, p);
                p += len + (end ? 1 : 0);
            }
        } else {
            printf("verdict:    %s (exit %d)\n", cnnrt_status_name(st), rc);
            print_labelled("", 2, cnnrt_model_error(m));
        }
    }
    if (st && o->json) cli_error(PROGRAM, "%s", cnnrt_model_error(m));
    else if (st)
        cli_error(PROGRAM, "%s does not load into %s: %s (the verdict above says why)", o->file,
                  o->model, cnnrt_status_name(st));
    if (have_table) weights_comparison_free(&cmp);
    if (have_file) keras_h5_close(&f);
    cnnrt_model_free(m);
    return rc;
}

int main(int argc, char **argv)
{
    struct options o;
    int rc = parse_args(argc, argv, &o);
    if (rc) return rc;
    struct file_sniff s;
    cnnrt_error err;
    if (file_sniff(o.file, &s, &err)) {
        cli_error(PROGRAM, "%s", err.message);
        return cnnrt_status_exit_code(err.status);
    }
    return o.model ? inspect_with_model(&o, &s) : inspect_alone(&o, &s);
}
